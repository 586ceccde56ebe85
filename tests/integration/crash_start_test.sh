#!/usr/bin/env bash
# A daemon SIGKILLed at any moment of a START leaves no instance nobody
# owns: after the restart the instance is either started, re-adopted with exactly one live
# monitor (KILL works), or ready with none; a following START works; an upper dir is never
# mounted by two overlays; nothing of the test is left running.
source "$(dirname "$0")/../lib/harness.sh"
require_root
fw_inst_setup
export FIRMWARED_HOST_INTERFACE_PREFIX=fwtcr
export FIRMWARED_NET_FIRST_TWO_BYTES=10.236.
TRIES=${FW_CRASH_TRIES:-60}
# A START takes ~0.2 s on a loaded 2-core machine: kill anywhere in 0..MAX_MS after sending it.
MAX_MS=${FW_CRASH_MAX_MS:-250}
build_example_firmware
start_daemon

run fwctl prepare firmwares "$FW_EX_EXT2"
FW=$(field sha1 "$OUT")
run fwctl prepare instances "$FW"
I=$(field name "$OUT")
WS="$FIRMWARED_MOUNT_PATH/instances/$(field sha1 "$OUT")"
ESC=$(printf '%s' "$WS" | sed 's/[.[\*^$()+?{|]/\\&/g')

# Monitors of runs (a ready instance's standby, fw-standby, is not one).
monitors() { fw_run_monitor_pids "firmwared-monitor .*--workspace $ESC( |$)" | wc -l; }
# Overlay superblocks on the upper dir, over every mount namespace (a superblock has one
# device number, whichever namespace shows it). In a user namespace the overlay names the
# upper dir through its idmapped mount, .idmap/up/rw.
overlays_on_upper() {
  cat /proc/[0-9]*/mountinfo 2>/dev/null |
    awk -v u="upperdir=$WS/rw" -v i="upperdir=$WS/.idmap/up/rw" '
      function on(x) { return index($0, x ",") || index($0, x " ") || substr($0, length($0) - length(x) + 1) == x }
      on(u) || on(i) { print $3 }' |
    sort -u | wc -l
}
monitors_are() { [[ "$(monitors)" == "$1" ]]; }

started=0 ready=0
for ((try = 1; try <= TRIES; try++)); do
  "$FWCTL" start "$I" >/dev/null 2>&1 &
  client=$!
  sleep "$(printf '0.%03d' $((RANDOM % (MAX_MS + 1))))"
  fw_inst_crash_daemon
  wait "$client" 2>/dev/null || true
  start_daemon
  state=$(fw_inst_prop "$I" state)
  case $state in
    started)
      started=$((started + 1))
      expect_eq "try $try: a started instance has one monitor" 1 "$(monitors)"
      expect_eq "try $try: one overlay on the upper dir" 1 "$(overlays_on_upper)"
      check "try $try: its host veth is kept" ip link show "fwtcr$(fw_inst_prop "$I" id)"
      run fwctl kill "$I"
      expect_eq "try $try: KILL of the re-adopted instance" "$I killed" "$OUT"
      ;;
    ready)
      ready=$((ready + 1))
      check "try $try: a ready instance has no monitor" fw_inst_wait_for 5 monitors_are 0
      expect_eq "try $try: one overlay on the upper dir" 1 "$(overlays_on_upper)"
      ;;
    *) expect_eq "try $try: state started or ready" "started|ready" "$state" ;;
  esac
  run fwctl start "$I"
  expect_eq "try $try: a following START works" "$I started" "$OUT"
  expect_eq "try $try: still one overlay on the upper dir" 1 "$(overlays_on_upper)"
  expect_eq "try $try: one monitor" 1 "$(monitors)"
  run fwctl kill "$I"
  expect_eq "try $try: KILL" "$I killed" "$OUT"
  [[ $FW_FAILURES -eq 0 ]] || break
done
echo "$TRIES tries: $started re-adopted started, $ready ready"

run fwctl drop instances "$I"
expect_eq "drop" "$I dropped" "$OUT"
run fwctl drop firmwares "$FW"
expect_eq "drop the firmware" 0 "$RC"
stop_daemon
fw_inst_expect_no_leftovers "end"
assert_no_leaks
