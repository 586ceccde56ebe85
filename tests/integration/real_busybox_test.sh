#!/usr/bin/env bash
# A Buildroot-style BusyBox firmware boots as an instance, from a directory and from a
# squashfs image, in each userns mode: BusyBox init reads /etc/inittab, its rcS mounts proc,
# sysfs, devpts and tmpfs and brings the network up (marker on the console), init respawns
# the console shell after it is killed, `fwctl exec` runs inside, a poweroff runs the
# ::shutdown: actions (rcK, umount -a -r) and PID 1 exits; nothing leaks. The boot time to
# the marker is printed per run.
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/../lib/real_firmware.sh"
source "$(dirname "$0")/../lib/real_busybox.sh"
require_root
command -v mksquashfs >/dev/null || skip "needs mksquashfs (squashfs-tools)"
rfw_setup fwrbb 10.250.
rfw_busybox_tree "$FW_TMP/busybox"
start_daemon

CC=("$PYTHON" "$FW_SOURCE_DIR/tests/lib/console_client.py" fwctl "$FWCTL" console)
x() { "$FWCTL" exec "$RFW_INST" -- "$@"; }
# The pid of the shell init respawns on the console (a child of PID 1 running -/bin/sh).
console_shell_pid() {
  x ps -o pid,ppid,args | awk '$2 == 1 && $3 == "-/bin/sh" { print $1 }'
}
shell_pid_changed() { local p; p=$(console_shell_pid) && [[ -n "$p" && "$p" != "$1" ]]; }
# The host directories of the running instance's cgroup (one per hierarchy).
# The instance's cgroups that hold a process (the standby made for the next run has empty
# ones of the same name).
instance_cgroups() {
  local d
  for d in $(fw_test_cgroups | grep "/$FIRMWARED_CGROUP/$(fw_inst_prop "$RFW_INST" sha1)\$" || true); do
    # (the next standby's PID 1 waits in a cgroup of that name: not the run's)
    [[ -n "$(fw_inst_cgroup_run_procs "$d")" ]] && echo "$d"
  done
  return 0
}
init_pid_changed() {
  local p
  p=$(fw_inst_prop "$RFW_INST" init_pid) && [[ "$(fw_inst_prop "$RFW_INST" state)" == started &&
    "$p" != 0 && "$p" != "$1" ]]
}
marker_count() { grep -caF -- "$RFW_MARKER_BUSYBOX" "$log" || true; }
markers_above() { (($(marker_count) > $1)); }

# lifecycle LABEL: on the booted instance RFW_INST: its cgroup (namespace, limits, device
# policy, OOM, stats), a graceful STOP running rcK, a fresh writable root at the next START
# (rcK's umount -a -r remounted the overlay read-only), a reboot from inside restarting it.
lifecycle() {
  local label=$1 stats before pid
  expect_eq "$label: stop_signal chosen from BusyBox init" SIGUSR2 \
    "$(fw_inst_prop "$RFW_INST" stop_signal)"
  check "$label: its cgroup exists on the host" test -n "$(instance_cgroups)"
  expect_eq "$label: PID 1 sits at the root of its cgroup namespace" "" \
    "$(x cat /proc/1/cgroup | grep -v ':/$' || true)"
  check "$label: /sys/fs/cgroup is mounted inside" x grep -q ' /sys/fs/cgroup' /proc/mounts
  stats=$("$FWCTL" --json stats "$RFW_INST")
  expect_match "$label: stats count its memory" '"memory_current":[1-9]' "$stats"
  expect_match "$label: stats count its processes" '"pids_current":[1-9]' "$stats"
  check "$label: ps shows its memory" test -n "$("$FWCTL" ps | awk -v n="$RFW_INST" '$1 == n && $7 != "-"')"
  # The host's block devices are not the instance's, whatever its root does.
  run "$FWCTL" exec "$RFW_INST" -- sh -c 'mknod /tmp/blk b 7 0 2>/dev/null; dd if=/tmp/blk of=/dev/null count=1'
  check "$label: a block device cannot be read" test "$RC" -ne 0
  # A memory limit, set while it runs, OOM-kills a hog inside and nothing else.
  check "$label: memory_max 512MB is refused" test "$("$FWCTL" set_property instances "$RFW_INST" memory_max 512MB >/dev/null 2>&1; echo $?)" -ne 0
  check "$label: memory_max set while started" quiet_fwctl set_property instances "$RFW_INST" memory_max 24M
  run "$FWCTL" exec "$RFW_INST" -- sh -c 'tail /dev/zero'
  expect_eq "$label: the hog is OOM-killed" 137 "$RC"
  expect_match "$label: stats count the OOM kill" '"oom_kills":[1-9]' "$("$FWCTL" --json stats "$RFW_INST")"
  expect_eq "$label: the instance survives its OOM" started "$(fw_inst_prop "$RFW_INST" state)"
  check "$label: memory_max cleared" quiet_fwctl set_property instances "$RFW_INST" memory_max ""

  # Graceful stop: SIGUSR2, rcK, no SIGKILL.
  run "$FWCTL" stop "$RFW_INST" --timeout 20
  expect_eq "$label: fwctl stop" "$RFW_INST stopped (SIGUSR2)" "$OUT"
  check "$label: rcK ran at stop" grep -qa 'FIRMWARED-SHUTDOWN busybox' "$log"
  expect_eq "$label: exit_reason after stop" stopped "$(fw_inst_prop "$RFW_INST" exit_reason)"
  check "$label: not killed (status $(fw_inst_prop "$RFW_INST" exit_status))" \
    test "$(fw_inst_prop "$RFW_INST" exit_status)" != 137
  expect_eq "$label: its cgroup is gone after the stop" "" "$(instance_cgroups)"
  run "$FWCTL" stop "$RFW_INST"
  expect_match "$label: STOP of a ready instance is refused" 'not started' "$ERR"

  # The next START has a writable root again.
  check "$label: boots again after the stop" rfw_boot "$RFW_INST" "$RFW_MARKER_BUSYBOX" 30
  check "$label: its root is writable again" x sh -c 'echo rw >/rw-check && rm /rw-check'

  # reboot inside: PID 1 ends by SIGHUP and the instance starts again (on_reboot=restart).
  before=$(marker_count)
  pid=$(fw_inst_prop "$RFW_INST" init_pid)
  rfw_events_start "$FW_TMP/events"
  x reboot >/dev/null 2>&1 || true
  check "$label: a reboot inside starts it again" fw_inst_wait_for 30 init_pid_changed "$pid"
  check "$label: it boots to its marker again" fw_inst_wait_for 30 markers_above "$before"
  rfw_events_stop
  expect_match "$label: DEAD says reboot" "^DEAD .*name=$RFW_INST .*reason=reboot" \
    "$(grep '^DEAD' "$FW_TMP/events" || true)"
  expect_match "$label: REBOOTED follows" "^REBOOTED .*name=$RFW_INST" \
    "$(grep '^REBOOTED' "$FW_TMP/events" || true)"
  # on_reboot=stop: a reboot leaves it stopped.
  check "$label: on_reboot stop" quiet_fwctl set_property instances "$RFW_INST" on_reboot stop
  x reboot >/dev/null 2>&1 || true
  check "$label: with on_reboot=stop a reboot stops it" rfw_wait_ready "$RFW_INST" 30
  expect_eq "$label: exit_reason reboot" reboot "$(fw_inst_prop "$RFW_INST" exit_reason)"
  check "$label: on_reboot restart" quiet_fwctl set_property instances "$RFW_INST" on_reboot restart
  check "$label: boots again for the poweroff" rfw_boot "$RFW_INST" "$RFW_MARKER_BUSYBOX" 30
}

FW_DIR=$(rfw_prepare_firmware "$FW_TMP/busybox/rootfs")
FW_IMG=$(rfw_prepare_firmware "$FW_TMP/busybox/rootfs.squashfs")

for mode in "${RFW_MODES[@]}"; do
  for kind in dir squashfs; do
    fw=$FW_DIR
    [[ $kind == squashfs ]] && fw=$FW_IMG
    label="busybox $kind userns=$mode"
    rc=0
    rfw_prepare_instance "$fw" "$mode" || rc=$?
    [[ $rc -eq 2 ]] && break
    rfw_check "$label: prepare instance" test "$rc" -eq 0 || continue
    if ! rfw_boot "$RFW_INST" "$RFW_MARKER_BUSYBOX" 30; then
      check "$label: boots to its marker" false
      rfw_record_console "$label" "$RFW_INST"
      rfw_kill_drop "$label" "$RFW_INST"
      continue
    fi
    rfw_note "boot-time: $label: ${RFW_BOOT_MS} ms to '$RFW_MARKER_BUSYBOX'"
    log=$("$FWCTL" get_property instances "$RFW_INST" console_log)
    mounts=$(grep -a '^mounts: ' "$log" || true)
    for m in /proc:proc /sys:sysfs /dev/pts:devpts /dev/shm:tmpfs /tmp:tmpfs /run:tmpfs; do
      expect_match "$label: rcS mounted $m" " $m( |$)" "$mounts"
    done
    # ifup's loopback method adds 127.0.0.1/8 to lo, which the instance's lo already has
    # (the net helper brought it up): S40network then says FAIL, the summary shows it.
    check "$label: S40network ran" grep -qa 'Starting network: ' "$log"
    expect_match "$label: after S40network, eth0 has the instance's address and lo its own" \
      "lo=127.0.0.1/8 eth0=$(fw_inst_prop "$RFW_INST" ip)/24" \
      "$(grep -a '^addresses: ' "$log" || true)"
    expect_match "$label: eth0 is up" '[<,]UP[,>]' "$(x ip -o link show eth0)"
    expect_eq "$label: PID 1 is busybox init" init "$(x cat /proc/1/comm)"
    expect_match "$label: exec cat /etc/os-release" 'PRETTY_NAME="Buildroot' "$(x cat /etc/os-release)"
    expect_eq "$label: rcS set the hostname" buildroot "$(x hostname)"

    # The respawned shell answers on the console, and is respawned once killed.
    check "$label: the console shell answers" "${CC[@]}" "$RFW_INST" -- \
      expect="[attached to $RFW_INST" send='\r' expect='# ' send='echo shell-$((6*7))\r' expect='shell-42' send='\x1d' exit=0
    shell=$(console_shell_pid)
    check "$label: a console shell runs ($shell)" test -n "$shell"
    x kill -KILL "$shell" || true
    check "$label: init respawns the console shell" fw_inst_wait_for 10 shell_pid_changed "$shell"
    check "$label: the respawned shell answers" "${CC[@]}" "$RFW_INST" -- \
      expect="[attached to $RFW_INST" send='\r' expect='# ' send='echo again-$((6*8))\r' expect='again-48' send='\x1d' exit=0

    if [[ $kind == dir ]]; then
      lifecycle "$label"
    fi
    if [[ $kind == dir ]]; then
      # poweroff: SIGUSR2 to init, which runs ::shutdown: (rcK, umount -a -r), then
      # reboot(2), which in a PID namespace ends its init by SIGINT (pid_namespaces(7)).
      shutdowns=$(grep -caF 'FIRMWARED-SHUTDOWN busybox' "$log" || true)
      x poweroff >/dev/null 2>&1 || true
      check "$label: poweroff ends PID 1" rfw_wait_ready "$RFW_INST" 20
      check "$label: rcK ran at shutdown" \
        test "$(grep -caF 'FIRMWARED-SHUTDOWN busybox' "$log" || true)" -gt "$shutdowns"
      expect_eq "$label: a poweroff inside is a halt" halt "$(fw_inst_prop "$RFW_INST" exit_reason)"
      expect_eq "$label: no cgroup left after the run" "" "$(instance_cgroups)"
      rfw_record_console "$label" "$RFW_INST"
      rfw_drop "$label" "$RFW_INST"
    else
      rfw_record_console "$label" "$RFW_INST"
      rfw_kill_drop "$label" "$RFW_INST"
    fi
  done
done

check "drop the directory firmware" quiet_fwctl drop firmwares "$FW_DIR"
check "drop the squashfs firmware" quiet_fwctl drop firmwares "$FW_IMG"
stop_daemon
rfw_expect_no_leaks
