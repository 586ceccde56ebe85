#!/usr/bin/env bash
# Pre-made sandboxes (premade_sandbox=y, the default): a ready instance keeps a standby
# monitor (named fw-standby) that pins no host mount (another instance's overlay dropped on
# the host is not held by it), is made again after a property change (the new hostname and
# interface name are what the next run sees) and after it dies; a daemon killed with
# standbys up leaves nothing behind once restarted (no second veth, netns pin, cgroup or
# overlay), makes them again, and its instances start. About 20 s on a loaded 2-core VM.
source "$(dirname "$0")/../lib/harness.sh"
require_root
fw_inst_setup
build_example_firmware
start_daemon
MNT=$FIRMWARED_MOUNT_PATH
PREFIX=$FIRMWARED_HOST_INTERFACE_PREFIX

run fwctl prepare firmwares "$FW_EX_DIR"
FW=$(field sha1 "$OUT")
run fwctl prepare instances "$FW"
A=$(field name "$OUT")
A_SHA1=$(field sha1 "$OUT")
run fwctl prepare instances "$FW"
B=$(field name "$OUT")
B_SHA1=$(field sha1 "$OUT")

sandbox_is() { [[ "$(fw_inst_prop "$1" sandbox)" == "$2" ]]; }
# The standby monitor of the instance with sha1 $1 (its workspace's).
standby_of() {
  local p
  for p in $(pgrep -f -- "firmwared-monitor .*--workspace $MNT/instances/$1( |$)" || true); do
    if [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == fw-standby ]]; then echo "$p"; fi
  done
}
veths() { ip -o link show | grep -c ": $PREFIX[0-9]*@" || true; }
netns_pins() { awk -v m="$MNT/instances/" 'index($5, m) == 1 && $5 ~ /\/netns$/' /proc/self/mountinfo | wc -l; }
# Instance cgroups (by name, over every hierarchy).
cgroups() { fw_test_cgroups | grep -oE "/$FIRMWARED_CGROUP/[^/]+$" | sort -u | wc -l; }
no_monitor() { ! pgrep -f -- "firmwared-monitor .*--workspace $MNT/" >/dev/null; }
# Overlay superblocks on the upper dir of $1 (sha1), over every mount namespace.
overlays_on() {
  cat /proc/[0-9]*/mountinfo 2>/dev/null |
    awk -v u="upperdir=$MNT/instances/$1/" '/ - overlay / && index($0, u) { print $3 }' |
    sort -u | wc -l
}

check "A's standby is made after PREPARE" fw_inst_wait_for 10 sandbox_is "$A" ready
check "B's too" fw_inst_wait_for 10 sandbox_is "$B" ready
expect_eq "A is ready (a standby is no run)" "ready" "$(fw_inst_prop "$A" state)"
SA=$(standby_of "$A_SHA1")
check "A's standby monitor runs" test -n "$SA"
expect_eq "KILL of a ready instance with a standby" 1 "$(fwctl kill "$A" >/dev/null 2>&1; echo $?)"
expect_eq "one veth per standby" 2 "$(veths)"

# ---- no pinning --------------------------------------------------------------------------
# The standby pivoted into its instance's root: its mount table holds the instance's mounts
# only, never the host's (B's overlay among them).
expect_eq "A's standby sees no mount of B" "" \
  "$(grep -F "$MNT/instances/$B_SHA1" "/proc/$SA/mountinfo" || true)"
expect_eq "A's standby sees no host mount point" "" \
  "$(awk '$5 ~ "^/(run|tmp|var|home|etc)(/|$)" || ($5 ~ "^/proc(/|$)" && $9 !~ "^(proc|tmpfs)$")' \
    "/proc/$SA/mountinfo")"
# PID 1 is made ahead too: the standby's child, waiting in the new PID namespace, whose /proc
# (mounted by it) shows it alone.
SA_INIT=$(pgrep -P "$SA" | head -1)
check "A's PID 1 waits beside its standby" test -n "$SA_INIT"
expect_eq "A's PID 1 is PID 1 of its namespace" 1 \
  "$(awk '/^NSpid:/ { print $NF }' "/proc/$SA_INIT/status" 2>/dev/null)"
expect_eq "A's /proc shows PID 1 alone" 1 "$(ls "/proc/$SA/root/proc" | grep -c '^[0-9]*$')"
expect_eq "A's PID 1 has its cgroup namespace" 1 \
  "$([[ "$(readlink "/proc/$SA_INIT/ns/cgroup")" != "$(readlink /proc/self/ns/cgroup)" ]] && echo 1)"
expect_eq "A's waiting PID 1 holds its pipes, nothing of the monitor's" "" \
  "$(ls -l "/proc/$SA_INIT/fd/" | awk 'NR > 1 && $NF !~ /^(pipe:|\/dev\/)/ && $NF !~ /monitor\.log$/')"
run fwctl drop instances "$B"
expect_eq "drop B" "$B dropped" "$OUT"
expect_eq "B's overlay is gone everywhere (A's standby does not hold it)" 0 "$(overlays_on "$B_SHA1")"
fw_inst_expect_settled "B's veth is gone" 1 veths

# ---- property changes rebuild the standby --------------------------------------------------
run fwctl set_property instances "$A" name renamed-a
expect_eq "rename A" 0 "$RC"
run fwctl set_property instances renamed-a interface eth7
expect_eq "A's interface" 0 "$RC"
check "A's standby is made again" fw_inst_wait_for 10 sandbox_is renamed-a ready
check "by a new monitor" test "$(standby_of "$A_SHA1")" != "$SA"
run fwctl start renamed-a
expect_eq "START from the new standby" "renamed-a started" "$OUT"
P1=$(fw_inst_prop renamed-a init_pid)
expect_eq "the new hostname inside" "renamed-a" "$(fw_inst_exec "$P1" hostname)"
check "the new interface name inside" fw_inst_exec "$P1" cat /sys/class/net/eth7/ifindex
expect_eq "running: one overlay on A's upper dir" 1 "$(overlays_on "$A_SHA1")"
run fwctl kill renamed-a
expect_eq "KILL" "renamed-a killed" "$OUT"
check "a fresh standby after the run" fw_inst_wait_for 10 sandbox_is renamed-a ready

# ---- a standby that dies is made again -------------------------------------------------------
SA=$(standby_of "$A_SHA1")
kill -KILL "$SA"
check "the killed standby is made again" fw_inst_wait_for 10 sandbox_is renamed-a ready
check "by a new monitor" test -n "$(standby_of "$A_SHA1")"
check "the dead one is gone" bash -c "! kill -0 $SA 2>/dev/null"

# ---- a daemon crash with standbys up ------------------------------------------------------
run fwctl prepare instances "$FW"
C=$(field name "$OUT")
check "C's standby" fw_inst_wait_for 10 sandbox_is "$C" ready
fw_inst_crash_daemon
check "the standbys exit with their daemon (EOF on their control pipe)" \
  fw_inst_wait_for 5 no_monitor
start_daemon
check "A's standby is made again" fw_inst_wait_for 10 sandbox_is renamed-a ready
check "C's too" fw_inst_wait_for 10 sandbox_is "$C" ready
expect_eq "one veth per instance, nothing of the dead standbys" 2 "$(veths)"
expect_eq "one netns pin per instance" 2 "$(netns_pins)"
expect_eq "one cgroup per standby" 2 "$(cgroups)"
expect_eq "after the crash: one overlay on A's upper dir" 1 "$(overlays_on "$A_SHA1")"
for i in renamed-a "$C"; do
  run fwctl start "$i"
  expect_eq "START $i after the crash" "$i started" "$OUT"
  run fwctl kill "$i"
  expect_eq "KILL $i" "$i killed" "$OUT"
done

# ---- premade_sandbox=n: nothing stands by ---------------------------------------------------
stop_daemon
expect_eq "the standbys go with a stopped daemon" "" "$(pgrep -f "firmwared-monitor .*--workspace $MNT/" || true)"
expect_eq "and give their network back" "0 0" "$(veths) $(netns_pins)"
FIRMWARED_PREMADE_SANDBOX=n start_daemon
expect_eq "premade_sandbox=n: no standby" "none" "$(fw_inst_prop renamed-a sandbox)"
run fwctl start renamed-a
expect_eq "START the whole way" "renamed-a started" "$OUT"
run fwctl kill renamed-a
expect_eq "KILL" "renamed-a killed" "$OUT"
expect_eq "still none after the run" "none" "$(fw_inst_prop renamed-a sandbox)"

for i in renamed-a "$C"; do
  run fwctl drop instances "$i"
  expect_eq "drop $i" "$i dropped" "$OUT"
done
run fwctl drop firmwares "$FW"
expect_eq "drop the firmware" 0 "$RC"
stop_daemon
fw_inst_expect_no_leftovers "end"
assert_no_leaks
