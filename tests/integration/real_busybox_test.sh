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
      # poweroff: SIGUSR2 to init, which runs ::shutdown: (rcK, umount -a -r), then
      # reboot(2), which in a PID namespace ends its init (pid_namespaces(7)).
      x poweroff >/dev/null 2>&1 || true
      check "$label: poweroff ends PID 1" rfw_wait_ready "$RFW_INST" 20
      check "$label: rcK ran at shutdown" grep -qa 'FIRMWARED-SHUTDOWN busybox' "$log"
      rfw_note "  $label: exit status after poweroff: $(fw_inst_prop "$RFW_INST" exit_status)"
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
