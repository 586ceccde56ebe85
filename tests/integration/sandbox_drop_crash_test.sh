#!/usr/bin/env bash
# A DROP the daemon dies in, with the instance's standby sandbox up (premade_sandbox=y): the
# restarted daemon finishes it and nothing of the standby is left, neither in the kernel (no
# mount below the trash, no netns pin, no veth) nor on disk (the trash ends empty). Twice:
# the daemon killed at the fault point right after the workspace went to the trash, and a
# crash with the standby's network up followed by the rename (as if the daemon had died
# just after it), which moves the standby's netns pin into the trash with the workspace.
# About 10 s on a loaded 2-core VM.
source "$(dirname "$0")/../lib/harness.sh"
require_root
fw_inst_setup
export FIRMWARED_PREMADE_SANDBOX=y
build_example_firmware
MNT=$FIRMWARED_MOUNT_PATH
TRASH=$MNT/trash
PREFIX=$FIRMWARED_HOST_INTERFACE_PREFIX
start_daemon

sandbox_is() { [[ "$(fw_inst_prop "$1" sandbox)" == "$2" ]]; }
veths() { ip -o link show | grep -c ": $PREFIX[0-9]*@" || true; }
netns_pins() { awk -v m="$MNT/" 'index($5, m) == 1 && $5 ~ /\/netns$/' /proc/self/mountinfo | wc -l; }
trash_empty() { [[ -z "$(ls -A "$TRASH" 2>/dev/null)" ]]; }
# The daemon exited (a zombie until reaped: it is this shell's child).
daemon_dead() {
  local s
  s=$(awk '/^State:/ { print $2 }' "/proc/$FW_DAEMON_PID/status" 2>/dev/null || true)
  [[ -z "$s" || "$s" == Z ]]
}
nothing_left() { [[ "$(fw_inst_mounts_below "$TRASH") $(netns_pins) $(veths)" == "0 0 0" ]]; }
# After a restart: the interrupted DROP of $1 finished, nothing of its standby left.
expect_finished() {
  expect_eq "$2: the DROP is finished at start" "" "$(fwctl list instances | grep -F "$1" || true)"
  check "$2: the trash ends empty" fw_inst_wait_for 20 trash_empty
  check "$2: no mount below the trash, no netns pin, no veth" fw_inst_wait_for 10 nothing_left
  expect_eq "$2: mounts below the trash, netns pins, veths" "0 0 0" \
    "$(fw_inst_mounts_below "$TRASH") $(netns_pins) $(veths)"
}

run fwctl prepare firmwares "$FW_EX_DIR"
FW=$(field sha1 "$OUT")

if "$FIRMWARED" --list-fault-points | grep -qx drop.trashed; then
  # ---- the daemon dies at the DROP's trash step ---------------------------------------------
  run fwctl prepare instances "$FW"
  A=$(field name "$OUT")
  check "A's standby is made" fw_inst_wait_for 10 sandbox_is "$A" ready
  stop_daemon
  FIRMWARED_FAULT_POINT=drop.trashed start_daemon
  check "A's standby is made again" fw_inst_wait_for 10 sandbox_is "$A" ready
  expect_eq "a standby's veth up" 1 "$(veths)"
  "$FWCTL" drop instances "$A" >/dev/null 2>&1 || true
  check "the daemon died at drop.trashed" fw_inst_wait_for 5 daemon_dead
  wait "$FW_DAEMON_PID" 2>/dev/null || true
  FW_DAEMON_PID=""
  start_daemon
  expect_finished "$A" "killed at drop.trashed"
fi

# ---- a crash with the standby's network up, then the rename --------------------------------
run fwctl prepare instances "$FW"
B=$(field name "$OUT")
WS="$MNT/instances/$(field sha1 "$OUT")"
check "B's standby is made" fw_inst_wait_for 10 sandbox_is "$B" ready
expect_eq "its netns pinned in its workspace" 1 "$(netns_pins)"
fw_inst_crash_daemon
umount "$WS/union" "$WS/ro"
mv "$WS" "$TRASH/$(basename "$WS").0123456789abcdef"
expect_eq "the pin went to the trash with the workspace" 1 "$(fw_inst_mounts_below "$TRASH")"
start_daemon
expect_finished "$B" "the pin moved to the trash"

run fwctl drop firmwares "$FW"
expect_eq "drop the firmware" 0 "$RC"
stop_daemon
fw_inst_expect_no_leftovers "end"
assert_no_leaks
