#!/usr/bin/env bash
# Consoles: CONSOLE turns a connection into a raw relay with an
# instance's console, `fwctl console` attaches a terminal to it (raw mode, Ctrl-] detaches,
# waits for the start, re-attaches after a restart), LOGS and `fwctl logs [-f]` read
# console.log across rotations (logs_test.sh: the whole history and its options), the outer
# pts works for any program, `fwctl ps` and `fwctl restart`; nothing leaks (daemon fds,
# mounts, processes).
source "$(dirname "$0")/../lib/harness.sh"
require_root
setup
# Own names for kernel objects shared by all daemons on the host: root tests run in parallel.
export FIRMWARED_HOST_INTERFACE_PREFIX=fwcons FIRMWARED_NET_FIRST_TWO_BYTES=10.231.
build_example_firmware
start_daemon
INIT="" SH="" FOLLOW="" HOLD=""
# Instances outlive the daemon by design: kill ours before the harness cleans up, also when
# a failing command ends the script early.
console_cleanup() {
  local rc=$? id
  set +e
  for id in $INIT $SH; do "$FWCTL" kill "$id" >/dev/null 2>&1; done
  [[ -z "$FOLLOW$HOLD" ]] || kill $FOLLOW $HOLD 2>/dev/null
  (exit "$rc")
  fw_cleanup
}
trap console_cleanup EXIT

CC=("$PYTHON" "$FW_SOURCE_DIR/tests/lib/console_client.py")
fd_count() { ls "/proc/$FW_DAEMON_PID/fd" | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$FW_DAEMON_PID/status"; }
# until_ok SECONDS COMMAND...: retries COMMAND every 0.1 s; its last status.
until_ok() {
  local limit=$(($1 * 10)) i
  shift
  for ((i = 0; i < limit; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  "$@"
}
quiet() { "$FWCTL" "$@" >/dev/null; }
logs_have() { "$FWCTL" logs "$1" | grep -q -- "$2"; }
file_has() { grep -q -- "$2" "$1" 2>/dev/null; }
fd_count_is() { [[ $(fd_count) == "$1" ]]; }
fd_list() { ls -l "/proc/$FW_DAEMON_PID/fd" | awk 'NR > 1 { print $9, $10, $11 }'; }
# The fds once the connections of the previous fwctl calls are closed (the daemon closes
# its end asynchronously): two equal listings 0.2 s apart.
settled_fd_list() {
  local a b
  b=$(fd_list)
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    a=$b
    sleep 0.2
    b=$(fd_list)
    [[ "$a" == "$b" ]] && break
  done
  echo "$b"
}
# expect_fds DESCRIPTION LISTING: the daemon's fds come back to LISTING (a fd_list) within
# 3 s; shows the difference otherwise.
expect_fds() {
  FW_CHECKS=$((FW_CHECKS + 1))
  if ! until_ok 3 fd_count_is "$(wc -l <<<"$2")"; then
    FW_FAILURES=$((FW_FAILURES + 1))
    echo "  not ok: $1" >&2
    diff <(echo "$2") <(fd_list) | sed 's/^/    /' >&2
  fi
}

run fwctl prepare firmwares "$FW_EX_DIR"
FW=$(field name "$OUT")
run fwctl prepare instances "$FW"
INIT=$(field name "$OUT")  # runs the firmware's /sbin/init
run fwctl prepare instances "$FW"
SH=$(field name "$OUT")  # runs /bin/sh on its console, to type on
fwctl set_property instances "$SH" cmdline /bin/sh
SH_WS=$(fwctl get_property instances "$SH" base_workspace)
FD_IDLE=$(settled_fd_list)

# --- LOGS and fwctl logs -------------------------------------------------------------
run fwctl logs "$INIT"
expect_eq "logs of a never started instance: empty" "0:" "$RC:$OUT"
check "start $INIT" quiet start "$INIT"
check "logs shows 'firmware booted' after start" until_ok 10 logs_have "$INIT" "firmware booted"
run "$PYTHON" "$FW_SOURCE_DIR/tests/lib/fwclient.py" "$FIRMWARED_SOCKET_PATH" \
  "{\"seq\": 1, \"command\": \"LOGS\", \"args\": [\"$INIT\", \"0\"]}" \
  "{\"seq\": 2, \"command\": \"LOGS\", \"args\": [\"$INIT\", \"99999999\"]}" \
  "{\"seq\": 3, \"command\": \"LOGS\", \"args\": [\"$INIT\", \"-1\"]}"
size=$(stat -c %s "$(fwctl get_property instances "$INIT" console_log)")
expect_match "LOGS from 0 reads the log, offset at its end" \
  "\"answer\": \"LOGS\", \"data\": \"-- run 1 started [^\"]*firmware booted[^\"]*\", \"end\": $size, \"first\": 0, \"lines\": \[\[0, [0-9]+, 1, 1\], \[[0-9]+, [0-9]+, 1, 0\].*\], \"name\": \"$INIT\", \"offset\": $size, \"rotated\": false, \"seq\": 1, \"sha1\": \"[0-9a-f]{40}\", \"start\": 0, \"truncated\": false" \
  "$(sed -n 1p <<<"$OUT")"
expect_match "LOGS past the end: rotated, read again from 0" \
  "\"offset\": $size, \"rotated\": true" "$(sed -n 2p <<<"$OUT")"
expect_match "LOGS with a bad offset: EINVAL" '"error": "EINVAL".*not a byte offset' \
  "$(sed -n 3p <<<"$OUT")"
run fwctl logs no_such_instance
expect_eq "logs of an unknown instance exits 1" 1 "$RC"
expect_match "logs of an unknown instance says so" "no instance named 'no_such_instance'" "$ERR"

check "start $SH" quiet start "$SH"
SH_PTS=$(field outer_pts "$(fwctl show instances "$SH")")
expect_match "SHOW gives outer_pts, a pts" '^/dev/pts/[0-9]+$' "$SH_PTS"
"$FWCTL" logs "$SH" -f >"$FW_TMP/follow.out" 2>&1 &
FOLLOW=$!
check "a plain program can use outer_pts" \
  "${CC[@]}" pts "$SH_PTS" 'echo direct-$((5*5))' direct-25
check "logs -f picks up new output" until_ok 10 file_has "$FW_TMP/follow.out" "direct-25"
# More than the 1 MiB cap: console.log is rotated while followed.
check "a flood of output" "${CC[@]}" pts "$SH_PTS" \
  "head -c 1200000 /dev/zero | tr '\\0' x; echo; echo after-\$((20+1))" ""
check "logs -f follows across the rotation" until_ok 15 file_has "$FW_TMP/follow.out" "after-21"
check "console.log was rotated" test -s "$SH_WS/console.log.1"
kill -INT "$FOLLOW"
rc=0
wait "$FOLLOW" || rc=$?
expect_eq "logs -f exits 0 when interrupted" 0 "$rc"

# --- fwctl console ---------------------------------------------------------------------
FD_STARTED=$(settled_fd_list)
check "console: type a command, see its output, Ctrl-] detaches" \
  "${CC[@]}" fwctl "$FWCTL" console "$SH" -- expect="[attached to $SH" send='\r' expect='# ' \
  send='echo hello-$((6*7))\r' expect=hello-42 send='\x1d' expect='\r\n[detached]\r\n' exit=0
expect_fds "daemon fds back after the relay" "$FD_STARTED"

"$FWCTL" logs "$SH" -f >"$FW_TMP/follow-end.out" 2>&1 &
FOLLOW=$!
check "kill $SH" quiet kill "$SH"
follower_gone() { ! kill -0 "$FOLLOW" 2>/dev/null; }
check "logs -f ends when the instance's run ends" until_ok 10 follower_gone
kill "$FOLLOW" 2>/dev/null || true
wait "$FOLLOW" 2>/dev/null || true
check "console before START waits, attaches; re-attaches after kill + start" \
  "${CC[@]}" fwctl "$FWCTL" console "$SH" -- expect="[waiting for $SH to start]" \
  sleep=0.3 sh="'$FWCTL' start '$SH' >/dev/null" expect="[attached to $SH" expect='# ' \
  send='echo one-$((6*7))\r' expect=one-42 \
  sh="'$FWCTL' kill '$SH' >/dev/null" \
  expect="[$SH stopped, waiting for it to start again; Ctrl-] to quit]" \
  sh="'$FWCTL' start '$SH' >/dev/null" expect="[attached to $SH" expect='# ' \
  send='echo two-$((6*7))\r' expect=two-42 send='\x1d' expect='[detached]' exit=0
expect_fds "daemon fds back after the relays" "$FD_STARTED"

check "kill $SH" quiet kill "$SH"
check "Ctrl-] while waiting detaches" \
  "${CC[@]}" fwctl "$FWCTL" console "$SH" -- expect="[waiting for $SH to start]" \
  send='\x1d' expect='[detached]' exit=0
run fwctl console no_such_instance </dev/null
expect_eq "console on an unknown instance exits 1" 1 "$RC"
expect_eq "console on an unknown instance says so" \
  "firmwared error: no instance named 'no_such_instance'" "$ERR"

check "start $SH" quiet start "$SH"
run sh -c "sleep 0.5; printf 'echo piped-\$((3*3))\\n' | '$FWCTL' console '$SH'"
expect_eq "console with a non-terminal stdin: its end detaches, exit 0" 0 "$RC"
check "what a non-terminal stdin sent reached the console" until_ok 10 logs_have "$SH" "piped-9"

# A client that never reads: the daemon stops reading the console instead of growing.
SH_PTS=$(fwctl get_property instances "$SH" outer_pts)
"${CC[@]}" hold "$FIRMWARED_SOCKET_PATH" "$SH" 4 >"$FW_TMP/hold.out" &
HOLD=$!
check "a raw CONSOLE client is answered" until_ok 5 file_has "$FW_TMP/hold.out" attached
rss_before=$(rss_kb)
check "a flood to a client that does not read" "${CC[@]}" pts "$SH_PTS" \
  "head -c 4000000 /dev/zero | tr '\\0' y; echo; echo flood-\$((1+1))" ""
check "the flood ends (in the log)" until_ok 20 logs_have "$SH" "flood-2"
rss_after=$(rss_kb)
grew=$((rss_after - rss_before))
check "daemon RSS grew by less than 2 MiB ($grew kB)" test "$grew" -lt 2048
wait "$HOLD" || true
expect_fds "daemon fds back after the non-reading client left" "$FD_STARTED"

# --- fwctl ps and fwctl restart -------------------------------------------------------------
run fwctl ps
expect_match "ps header" '^NAME +ID +STATE +PID +FIRMWARE +UPTIME +MEMORY +EXIT$' "$(head -1 <<<"$OUT")"
INIT_SHA1=$(fwctl get_property instances "$INIT" sha1)
expect_match "ps: the started row (ID is the sha1's first 12 digits)" \
  "^$INIT +${INIT_SHA1:0:12} +started +[0-9]+ +$FW +[0-9]+(s|m[0-9]{2}s) +[0-9.]+[BKMG] +-$" \
  "$(grep "^$INIT " <<<"$OUT")"
SHORT_ID=$(awk -v n="$INIT" '$1 == n { print $2 }' <<<"$OUT")
expect_eq "ps: commands accept the ID column" "$INIT" \
  "$(fwctl get_property instances "$SHORT_ID" name)"
check "kill $INIT" quiet kill "$INIT"
run timeout 5 "$FWCTL" logs "$INIT" -f
expect_eq "logs -f of an instance that does not run returns" 0 "$RC"
check "logs -f of a ready instance printed its log" grep -q "firmware booted" <<<"$OUT"
run timeout 5 "$FWCTL" console "$INIT" </dev/null
expect_eq "console of a ready instance with stdin at its end detaches at once" 0 "$RC"
expect_match "console </dev/null says it detached" '\[detached\]' "$OUT$ERR"
run fwctl ps
expect_match "ps: ready after kill, with PID 1's exit status" \
  "^$INIT +${INIT_SHA1:0:12} +ready +- +$FW +- +- +137$" "$(grep "^$INIT " <<<"$OUT")"
run fwctl ps --json
check "ps --json: an array of objects with the table's keys" "$PYTHON" -c '
import json, sys
rows = json.loads(sys.argv[1])
assert isinstance(rows, list) and len(rows) == 2, rows
for r in rows:
    assert sorted(r) == ["exit_status", "firmware", "id", "index", "labels", "memory", "name",
                         "pid", "sha1", "state", "uptime", "uptime_seconds"], r
    assert r["labels"] == {}, r
    assert r["id"] == r["sha1"][:12] and len(r["sha1"]) == 40, r
    assert isinstance(r["index"], int), r
init = [r for r in rows if r["name"] == sys.argv[2]][0]
sh = [r for r in rows if r["name"] == sys.argv[3]][0]
assert init["state"] == "ready" and init["pid"] is None and init["uptime"] is None, init
assert init["memory"] is None and init["exit_status"] == 137, init
assert sh["state"] == "started" and isinstance(sh["pid"], int) and sh["uptime"], sh
assert init["uptime_seconds"] is None and isinstance(sh["uptime_seconds"], int), (init, sh)
assert isinstance(sh["memory"], int) and sh["memory"] > 0, sh
assert sh["exit_status"] is None and sh["firmware"] == sys.argv[4], sh
' "$OUT" "$INIT" "$SH" "$FW"

run fwctl restart "$INIT"
expect_eq "restart of a ready instance" "0:$INIT restarted" "$RC:$OUT"
expect_eq "restarted instance is started" started "$(fwctl get_property instances "$INIT" state)"
pid1=$(fwctl get_property instances "$INIT" init_pid)
run fwctl restart "$INIT"
expect_eq "restart of a started instance" "0:$INIT restarted" "$RC:$OUT"
pid2=$(fwctl get_property instances "$INIT" init_pid)
check "restart ran a new PID 1 ($pid1 then $pid2)" test "$pid1" != "$pid2"
check "restart: the new run logged its boot" until_ok 10 logs_have "$INIT" "firmware booted"
run fwctl restart no_such_instance
expect_eq "restart of an unknown instance exits 1" 1 "$RC"

# --- help ------------------------------------------------------------------------------
run fwctl --help
for verb in console logs ps restart; do
  expect_match "--help lists $verb" "^  $verb " "$(grep "^  $verb " <<<"$OUT")"
done
run fwctl help console
expect_match "help console" "^Command CONSOLE"$'\n'"Synopsis: CONSOLE ID" "$OUT"
run fwctl help logs
expect_match "help logs" "Usage: fwctl logs ID \[-f\] \[--follow-restarts\] \[-t\] \[--since TIME\] \[--tail N\]" "$OUT"
run fwctl console
expect_eq "console without an id: usage, exit 1" \
  "$(printf '1:fwctl: console: missing operand (expected ID)\nfwctl: usage: fwctl console ID')" "$RC:$ERR"

# --- cleanup -----------------------------------------------------------------------------
check "kill $INIT" quiet kill "$INIT"
check "kill $SH" quiet kill "$SH"
expect_fds "daemon fds as before any start" "$FD_IDLE"
check "drop $INIT" quiet drop instances "$INIT"
check "drop $SH" quiet drop instances "$SH"
check "drop $FW" quiet drop firmwares "$FW"
stop_daemon
assert_no_leaks
expect_eq "no process of this test left" "" "$(pgrep -af "$FW_TMP" || true)"
