#!/usr/bin/env bash
# fwctl logs gives the whole console history: more than one LOGS chunk (64 KiB) comes back
# whole and in order, across console.log.1 (console_log_max made small), starting on a line;
# past the bound it says "earlier output was rotated away". Run separators, --tail, --since,
# --timestamps, --json, their combinations with -f, and bad option values.
source "$(dirname "$0")/../lib/harness.sh"
require_root
setup
export FIRMWARED_HOST_INTERFACE_PREFIX=fwlogs FIRMWARED_NET_FIRST_TWO_BYTES=10.233.
# 256 KiB: the 315 KB history of BIG spans one rotation, LOSS's 650 KB loses its start.
export FIRMWARED_CONSOLE_LOG_MAX=262144
build_example_firmware
# The firmware plus /sbin/spew COUNT TAG [DELAY]: COUNT numbered lines of 44 bytes, then exits.
FW_DIR="$FW_TMP/logs-rootfs"
cp -a "$FW_EX_DIR" "$FW_DIR"
cat >"$FW_DIR/sbin/spew" <<'EOF'
#!/bin/sh
i=1
while [ "$i" -le "$1" ]; do
  printf '%s %06d %s\n' "$2" "$i" "................................"
  [ -z "$3" ] || sleep "$3"
  i=$((i + 1))
done
EOF
chmod 755 "$FW_DIR/sbin/spew"
start_daemon
BIG="" LOSS="" SLOW=""
logs_cleanup() {
  local rc=$? id
  set +e
  for id in $BIG $LOSS $SLOW; do "$FWCTL" kill "$id" >/dev/null 2>&1; done
  (exit "$rc")
  fw_cleanup
}
trap logs_cleanup EXIT

quiet() { "$FWCTL" "$@" >/dev/null; }
iso_now() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }
# numbers TAG: the numbers of the TAG lines of stdin, one per line.
numbers() { tr -d '\r' | awk -v t="$1" '$1 == t { print $2 }'; }
new_instance() {  # new_instance CMDLINE: prints the name of a prepared instance running it
  local name
  name=$(field name "$("$FWCTL" prepare instances "$FW")")
  "$FWCTL" set_property instances "$name" cmdline "$1" >/dev/null
  echo "$name"
}
run_to_end() {  # run_to_end NAME: starts it and waits for its run (spew) to end
  quiet start "$1" && fw_inst_wait_state "$1" ready 60
}

run fwctl prepare firmwares "$FW_DIR"
FW=$(field name "$OUT")

# --- the whole history, across one rotation ------------------------------------------------
BIG=$(new_instance "/sbin/spew 7000 big")
WS=$(fwctl get_property instances "$BIG" base_workspace)
T_BEFORE=$(iso_now)
check "run 1 of $BIG writes 7000 lines and ends" run_to_end "$BIG"
T_AFTER=$(iso_now)
check "console.log was rotated once (console_log_max 256 KiB)" test -s "$WS/console.log.1"
run fwctl logs "$BIG"
expect_eq "logs exits 0 and says nothing on stderr" "0:" "$RC:$ERR"
echo "$OUT" >"$FW_TMP/big.out"
expect_eq "logs is console.log.1 then console.log, byte for byte" \
  "$(cat "$WS/console.log.1" "$WS/console.log" | md5sum)" "$(printf '%s\n' "$OUT" | md5sum)"
expect_eq "more than 64 KiB came back" 1 "$(( $(wc -c <"$FW_TMP/big.out") > 300000 ))"
expect_eq "every line, in order" "$(seq -f %06g 1 7000)" "$(numbers big <<<"$OUT")"
expect_match "the history starts with the run 1 separator" \
  '^-- run 1 started [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z --$' \
  "$(head -1 <<<"$OUT")"
expect_eq "the first output line is whole" "big 000001 ................................" \
  "$(sed -n 2p <<<"$OUT" | tr -d '\r')"

run fwctl logs "$BIG" --tail 5
expect_eq "--tail 5: the last 5 lines" "$(seq -f 'big %06g ................................' 6996 7000)" \
  "$(tr -d '\r' <<<"$OUT")"
expect_eq "--tail 5 says nothing on stderr" "" "$ERR"
run fwctl logs "$BIG" --tail 0
expect_eq "--tail 0: nothing" "0:" "$RC:$OUT"

run fwctl logs "$BIG" --timestamps
expect_eq "--timestamps: one line each" 7001 "$(wc -l <<<"$OUT")"
TS=$(awk '{ print $1 }' <<<"$OUT")
expect_eq "--timestamps: every line starts with an ISO 8601 UTC time" "" \
  "$(grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z$' <<<"$TS")"
check "--timestamps: the times never go back" sort -c <<<"$TS"
expect_eq "--timestamps: the times lie within the run" "$T_BEFORE $T_AFTER" \
  "$(printf '%s\n%s\n%s\n' "$T_BEFORE" "$TS" "$T_AFTER" | sort | sed -n '1p;$p' | paste -sd' ')"
expect_eq "--timestamps: the line follows its time" "big 007000 ................................" \
  "$(tail -1 <<<"$OUT" | cut -d' ' -f2- | tr -d '\r')"

run fwctl --json logs "$BIG"
echo "$OUT" >"$FW_TMP/big.json"
check "--json: one object per line: separator, then lines with time, run, line" \
  "$PYTHON" - "$FW_TMP/big.json" <<'EOF'
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
assert len(objs) == 7001, len(objs)
sep = objs[0]
assert sep["event"] == "start" and sep["run"] == 1 and "line" not in sep, sep
for i, o in enumerate(objs[1:], 1):
    assert o["line"] == "big %06d %s" % (i, "." * 32), o
    assert o["run"] == 1 and "event" not in o, o
    assert o["time"].endswith("Z") and abs(o["time_epoch"] - o["time_ns"] / 1e9) < 1e-3, o
    assert objs[i - 1]["time_ns"] <= o["time_ns"], o
EOF

# --- separators and --since -----------------------------------------------------------------
sleep 1.1
T_BETWEEN=$(iso_now)
sleep 0.1
quiet set_property instances "$BIG" cmdline "/sbin/spew 5 second"
check "run 2 of $BIG" run_to_end "$BIG"
run fwctl logs "$BIG"
expect_match "a separator opens run 2, after run 1's last line" \
  $'big 007000 \\.+\r?\n-- run 2 started [-0-9T:]+Z --\nsecond 000001' "$OUT"
run fwctl logs "$BIG" --since "$T_BETWEEN"
expect_match "--since TIME: run 2 alone" \
  "^-- run 2 started [-0-9T:]+Z --"$'\n'"second 000001" "$(tr -d '\r' <<<"$OUT")"
expect_eq "--since TIME: 6 lines" 6 "$(wc -l <<<"$OUT")"
run fwctl logs "$BIG" --since 10m
expect_eq "--since 10m: everything" 7007 "$(wc -l <<<"$OUT")"
run fwctl logs "$BIG" --since "$T_BETWEEN" --tail 2 --timestamps
expect_match "--since, --tail and --timestamps combine" \
  "^[-0-9T:.]+Z second 000004 [.]+"$'\n'"[-0-9T:.]+Z second 000005 [.]+$" "$(tr -d '\r' <<<"$OUT")"
run timeout 10 "$FWCTL" logs "$BIG" -f --tail 1
expect_eq "-f --tail 1 of an instance that does not run: its last line, at once" \
  "0:second 000005 ................................" "$RC:$(tr -d '\r' <<<"$OUT")"
run fwctl --json logs "$BIG" --since "$T_BETWEEN"
expect_match "--json: the run 2 separator is an event, not a line" \
  '^\{"event": ?"start", ?"run": ?2, ?"time": ?"[-0-9T:.]+Z"' "$(head -1 <<<"$OUT")"

# --- past the bound -------------------------------------------------------------------------
LOSS=$(new_instance "/sbin/spew 15000 loss")
check "$LOSS writes 15000 lines (650 KB: more than twice console_log_max)" run_to_end "$LOSS"
run fwctl logs "$LOSS"
expect_eq "logs past the bound: exit 0" 0 "$RC"
expect_eq "logs past the bound says so on stderr" "fwctl: earlier output was rotated away" "$ERR"
expect_match "... and starts on a whole line" '^loss [0-9]{6} [.]{32}$' "$(head -1 <<<"$OUT" | tr -d '\r')"
FIRST=$(numbers loss <<<"$OUT" | sed -n 1p)
expect_eq "... then every line to the end, in order" "$(seq -f %06g "$((10#$FIRST))" 15000)" \
  "$(numbers loss <<<"$OUT")"
expect_eq "at least console_log_max of the history is kept" 1 "$(( $(wc -c <<<"$OUT") >= 262144 ))"
run fwctl logs "$LOSS" --tail 3
expect_eq "--tail 3 within what is kept: no warning" "0:" "$RC:$ERR"

# --- -f with --timestamps on a running instance ----------------------------------------------
SLOW=$(new_instance "/sbin/spew 3 slow 1")
# Started first: a follower of a ready instance ends at once (it raced the START once in CI).
# What PID 1 wrote before the follower came is in the history it prints first.
check "start $SLOW" quiet start "$SLOW"
"$FWCTL" logs "$SLOW" -f --timestamps >"$FW_TMP/slow.out" 2>&1 &
FOLLOW=$!
follower_gone() { ! kill -0 "$FOLLOW" 2>/dev/null; }
check "logs -f --timestamps ends with the run" fw_inst_wait_for 20 follower_gone
wait "$FOLLOW" 2>/dev/null || true
expect_match "-f --timestamps: the separator and the 3 lines, timed" \
  "^[-0-9T:.]+Z -- run 1 started [-0-9T:]+Z --"$'\n'"[-0-9T:.]+Z slow 000001 [.]+"$'\n'"[-0-9T:.]+Z slow 000002 [.]+"$'\n'"[-0-9T:.]+Z slow 000003 [.]+$" \
  "$(tr -d '\r' <"$FW_TMP/slow.out")"

# --- bad values -----------------------------------------------------------------------------
run fwctl logs "$BIG" --since yesterday
expect_match "--since with a bad time: exit 1 naming it" "^1:fwctl: --since: 'yesterday' is not a time" "$RC:$ERR"
run fwctl logs "$BIG" --tail -3
expect_match "--tail with a bad count: exit 1 naming it" "^1:fwctl: --tail '-3' is not a number of lines" "$RC:$ERR"
run fwctl logs "$BIG" --bogus
expect_match "an unknown option: exit 1 naming it" "^1:fwctl: logs: unknown option '--bogus'" "$RC:$ERR"
run fwctl logs "$BIG" --since
expect_match "--since without a value: exit 1" "^1:fwctl: logs: option '--since' needs a value" "$RC:$ERR"

# --- cleanup --------------------------------------------------------------------------------
for i in "$BIG" "$LOSS" "$SLOW"; do check "drop $i" quiet drop instances "$i"; done
BIG="" LOSS="" SLOW=""
check "drop $FW" quiet drop firmwares "$FW"
stop_daemon
assert_no_leaks
expect_eq "no process of this test left" "" "$(pgrep -af "$FW_TMP" || true)"
