#!/usr/bin/env bash
# EXEC follows its client like `podman exec`: the signals fwctl exec gets (INT, TERM, ...)
# reach the command (with -t, the pty's foreground group), a client that dies (kill -9, a
# CI timeout) takes its command and everything it started down with it (SIGTERM, SIGKILL
# after the grace), and `exec -t` and `console` follow the terminal's window size.
# EXEC_SIGNAL only finds the EXECs of its own connection.
source "$(dirname "$0")/../lib/harness.sh"
require_root
setup
export FIRMWARED_HOST_INTERFACE_PREFIX=fwtsg FIRMWARED_NET_FIRST_TWO_BYTES=10.242.
build_example_firmware
start_daemon
INST="" FW=""
signals_cleanup() {
  local rc=$? id
  set +e
  for id in $INST; do "$FWCTL" kill "$id" >/dev/null 2>&1; done
  (exit "$rc")
  fw_inst_on_exit
}
trap signals_cleanup EXIT
CC=("$PYTHON" "$FW_SOURCE_DIR/tests/lib/console_client.py")

FW=$(field name "$("$FWCTL" prepare firmwares "$FW_EX_DIR")")
INST=$(field name "$("$FWCTL" prepare instances "$FW")")
run "$FWCTL" start --wait-console 'firmware booted' --timeout 30 "$INST"
expect_eq "the instance boots" 0 "$RC"
[[ $RC == 0 ]] || exit 1
INIT_PID=$(fw_inst_prop "$INST" init_pid)

# Host pids of the instance's processes whose command line matches $1 (the instance's PID
# namespace is the one of its PID 1).
in_instance() {
  local ns pid
  ns=$(readlink "/proc/$INIT_PID/ns/pid")
  for pid in $(pgrep -f -- "$1"); do
    [[ "$(readlink "/proc/$pid/ns/pid" 2>/dev/null)" == "$ns" ]] && echo "$pid"
  done
}
none_in_instance() { [[ -z "$(in_instance "$1")" ]]; }
some_in_instance() { [[ -n "$(in_instance "$1")" ]]; }
file_has() { grep -q -- "$2" "$1" 2>/dev/null; }

# Starts `fwctl exec` in the background with $@ as its command, output to $FW_TMP/out, and
# waits until the command printed "ready". Sets BG.
start_bg() {
  : >"$FW_TMP/out"
  "$FWCTL" exec "$INST" -- "$@" >"$FW_TMP/out" 2>&1 </dev/null &
  BG=$!
  fw_inst_wait_for 10 file_has "$FW_TMP/out" ready ||
    { echo "FAIL: the command did not start: $(cat "$FW_TMP/out")" >&2; exit 1; }
}

# ---- forwarded signals ------------------------------------------------------------------
start_bg sh -c 'trap "echo caught INT; exit 42" INT; echo ready; while :; do sleep 0.1; done'
kill -INT "$BG"
RC=0; wait "$BG" || RC=$?
expect_eq "SIGINT to fwctl exec reaches the command's trap: its exit status" 42 "$RC"
expect_match "the INT trap ran inside" "caught INT" "$(cat "$FW_TMP/out")"

start_bg sh -c 'trap "echo caught TERM; exit 43" TERM; echo ready; while :; do sleep 0.1; done'
kill -TERM "$BG"
RC=0; wait "$BG" || RC=$?
expect_eq "SIGTERM is forwarded" 43 "$RC"
expect_match "the TERM trap ran inside" "caught TERM" "$(cat "$FW_TMP/out")"

for sig in HUP USR1 USR2 QUIT WINCH; do
  start_bg sh -c "trap 'echo caught $sig; exit 44' $sig; echo ready; while :; do sleep 0.1; done"
  kill "-$sig" "$BG"
  RC=0; wait "$BG" || RC=$?
  expect_eq "SIG$sig is forwarded" 44 "$RC"
  expect_match "the $sig trap ran inside" "caught $sig" "$(cat "$FW_TMP/out")"
done

start_bg sh -c 'echo ready; exec sleep 4240'
kill -INT "$BG"
RC=0; wait "$BG" || RC=$?
expect_eq "a command without a trap dies of the forwarded SIGINT: 130" 130 "$RC"
check "the command is gone" fw_inst_wait_for 5 none_in_instance 'sleep 4240'

# A background job of the command is in its process group: it gets the signal too.
start_bg sh -c 'sleep 4241 & echo ready; wait'
kill -TERM "$BG"
RC=0; wait "$BG" || RC=$?
expect_eq "SIGTERM ends sh waiting for its job: 143" 143 "$RC"
check "the command's job got SIGTERM too" fw_inst_wait_for 5 none_in_instance 'sleep 4241'

# ---- EXEC_SIGNAL belongs to the EXEC's own connection ------------------------------------
start_bg sh -c 'echo ready; exec sleep 4245'
# fwctl's EXEC is its connection's request 1: the same seq on another connection.
run "$PYTHON" "$FW_SOURCE_DIR/tests/lib/fwclient.py" "$FIRMWARED_SOCKET_PATH" \
  '{"seq":1,"command":"EXEC_SIGNAL","args":["1","KILL"]}'
expect_match "another connection's EXEC_SIGNAL finds no EXEC (ESRCH)" "ESRCH|No such process|no command" "$OUT$ERR"
check "the command of the other client still runs" some_in_instance 'sleep 4245'
run "$PYTHON" "$FW_SOURCE_DIR/tests/lib/fwclient.py" "$FIRMWARED_SOCKET_PATH" \
  '{"seq":1,"command":"EXEC_SIGNAL","args":["1","NOPE"]}'
expect_match "a bad signal is EINVAL, named" "NOPE" "$OUT$ERR"
kill -INT "$BG"
wait "$BG" || true

# ---- the client goes away ---------------------------------------------------------------
start_bg sh -c 'sleep 4242 & echo ready; exec sleep 4243'
kill -9 "$BG"
wait "$BG" 2>/dev/null || true
check "kill -9 of fwctl exec: the command and its job leave the instance" \
  fw_inst_wait_for 5 none_in_instance 'sleep 424[23]'
# A command that ignores SIGTERM and SIGHUP is SIGKILLed after the grace.
start_bg sh -c 'trap "" TERM HUP; sleep 4244 & echo ready; while :; do sleep 0.1; done'
kill -9 "$BG"
wait "$BG" 2>/dev/null || true
sleep 1
check "within the grace, a command ignoring SIGTERM still runs" some_in_instance 'sleep 4244'
check "after the grace it is SIGKILLed, with its job" fw_inst_wait_for 6 none_in_instance \
  'sleep 4244'
check "the instance survives its EXEC's teardown" fw_inst_state_is "$INST" started
# With -t: the same, SIGHUP first (a terminal that hangs up).
"${CC[@]}" fwctl --size=24x80 "$FWCTL" exec -t "$INST" -- sh -c 'echo ready; sleep 4246' --- \
  expect=ready sleep=5 >/dev/null 2>&1 &
CCPID=$!
fw_inst_wait_for 10 some_in_instance 'sleep 4246'
pkill -9 -f -- "^$FWCTL exec -t $INST" || true
wait "$CCPID" 2>/dev/null || true
check "kill -9 of fwctl exec -t: the command leaves the instance" \
  fw_inst_wait_for 5 none_in_instance 'sleep 4246'

# ---- window size ------------------------------------------------------------------------
run "${CC[@]}" fwctl --size=24x80 "$FWCTL" exec -t "$INST" -- sh -c \
  'stty size; echo ready; while :; do sleep 0.2; stty size; done' --- \
  expect='24 80' expect=ready size=50x132 expect='50 132' size=30x100 expect='30 100' \
  send='\x03' exit=130
expect_eq "exec -t starts with the terminal's size and follows SIGWINCH; ^C ends it" 0 "$RC"
[[ $RC == 0 ]] || echo "$ERR" >&2
run "${CC[@]}" fwctl --size=24x80 "$FWCTL" exec -t "$INST" -- sh -c \
  'trap "echo caught INT; exit 45" INT; echo ready; while :; do sleep 0.1; done' --- \
  expect=ready kill=INT expect='caught INT' exit=45
expect_eq "exec -t: SIGINT to fwctl goes to the pty's foreground group" 0 "$RC"
[[ $RC == 0 ]] || echo "$ERR" >&2

console_size() { "$FWCTL" exec "$INST" -- stty -F /dev/console size; }
console_size_is() { [[ "$(console_size)" == "$1" ]]; }
run "$FWCTL" console_resize "$INST" 40x120
expect_eq "fwctl console_resize: exit 0" 0 "$RC"
check "CONSOLE_RESIZE reaches PID 1's console (40 120)" fw_inst_wait_for 5 console_size_is "40 120"
run "$FWCTL" console_resize "$INST" 0x120
expect_eq "CONSOLE_RESIZE 0x120: refused" 1 "$RC"
expect_match "CONSOLE_RESIZE 0x120: named" "0x120" "$ERR"
run "${CC[@]}" fwctl --size=33x99 "$FWCTL" console "$INST" -- expect='[attached' \
  sh="sleep 0.5; test \"\$($FWCTL exec $INST -- stty -F /dev/console size)\" = '33 99'" \
  size=45x140 sleep=0.5 \
  sh="test \"\$($FWCTL exec $INST -- stty -F /dev/console size)\" = '45 140'" \
  send='\x1d' exit=0
expect_eq "fwctl console gives the console its size and follows SIGWINCH" 0 "$RC"
[[ $RC == 0 ]] || echo "$ERR" >&2

# ---- privileged mode --------------------------------------------------------------------
# Above, the instance ran as chosen by userns=auto; the same forwarding and teardown in the
# other mode (the waiter then signals as host root, not as the instance's root).
# uid_base is 0 in privileged mode.
if [[ "$(fw_inst_prop "$INST" uid_base)" == 0 ]]; then other=y; else other=n; fi
"$FWCTL" kill "$INST" >/dev/null
run "$FWCTL" set_property instances "$INST" userns "$other"
expect_eq "userns $other" 0 "$RC"
run "$FWCTL" start --wait-console 'firmware booted' --timeout 30 "$INST"
expect_eq "the instance boots with userns=$other" 0 "$RC"
[[ $RC == 0 ]] || exit 1
INIT_PID=$(fw_inst_prop "$INST" init_pid)
start_bg sh -c 'trap "echo caught INT; exit 42" INT; echo ready; while :; do sleep 0.1; done'
kill -INT "$BG"
RC=0; wait "$BG" || RC=$?
expect_eq "userns=$other: SIGINT is forwarded" 42 "$RC"
start_bg sh -c 'trap "" TERM HUP; sleep 4247 & echo ready; exec sleep 4248'
kill -9 "$BG"
wait "$BG" 2>/dev/null || true
check "userns=$other: kill -9 of fwctl exec ends the command and its job" \
  fw_inst_wait_for 6 none_in_instance 'sleep 424[78]'

"$FWCTL" kill "$INST" >/dev/null
"$FWCTL" drop instances "$INST" >/dev/null
INST=""
"$FWCTL" drop firmwares "$FW" >/dev/null
fw_inst_expect_no_leftovers "exec_signals"
stop_daemon
assert_no_leaks
