#!/usr/bin/env bash
# The daemon started as systemd starts it (systemd-socket-activate: LISTEN_FDS and
# LISTEN_PID, no systemd PID 1 needed) with a notification socket: it serves on the passed
# socket and neither recreates nor unlinks it, says READY=1 once it answers and STOPPING=1
# on SIGTERM, and an instance starts and stops as usual. A passed socket bound to another
# path than socket_path is refused before anything is created.
source "$(dirname "$0")/../lib/harness.sh"
require_root
command -v systemd-socket-activate >/dev/null || skip "needs systemd-socket-activate (systemd)"
fw_inst_setup
build_example_firmware

NOTIFY_LOG=$FW_TMP/notify.log
"$PYTHON" "$FW_SOURCE_DIR/tests/lib/notify_listener.py" "$FW_TMP/notify.sock" "$NOTIFY_LOG" &
LISTENER=$!
trap 'kill $LISTENER 2>/dev/null; fw_inst_on_exit' EXIT
fw_inst_wait_for 5 test -S "$FW_TMP/notify.sock" || { echo "notify listener did not start" >&2; exit 1; }
touch "$NOTIFY_LOG"

# systemd-socket-activate binds the socket and, at the first connection, execs the daemon
# (same pid) with only the variables named by -E: the first client starts it.
activate() {  # activate SOCKET_PATH: starts the daemon in the background, FW_DAEMON_PID
  local vars=() v
  for v in $(compgen -e | grep -E '^FIRMWARED_'); do vars+=(-E "$v"); done
  NOTIFY_SOCKET=$FW_TMP/notify.sock systemd-socket-activate -l "$1" -E NOTIFY_SOCKET \
    -E PATH "${vars[@]}" "$FIRMWARED" >>"$FW_LOG" 2>&1 &
  FW_DAEMON_PID=$!
}

# ---- a passed socket bound elsewhere: refused, nothing created ------------------------------
OTHER=$FW_TMP/other.sock
activate "$OTHER"
PID=$FW_DAEMON_PID
FW_DAEMON_PID=""
fw_inst_wait_for 5 test -S "$OTHER" || { echo "systemd-socket-activate did not listen" >&2; exit 1; }
run env FIRMWARED_SOCKET_PATH="$OTHER" timeout 10 "$FWCTL" ping
check "the client that started it gets no PONG" test "$OUT" != PONG
if ! fw_inst_wait_for 10 eval "! kill -0 $PID 2>/dev/null"; then
  kill -KILL "$PID"
  echo "the refused daemon did not exit" >&2
fi
RC=0
wait "$PID" || RC=$?
expect_eq "a socket bound to another path: exit 1" 1 "$RC"
check "the refusal names both paths" grep -qF \
  "the service manager passed a socket bound to '$OTHER' but socket_path is '$FIRMWARED_SOCKET_PATH'" \
  "$FW_LOG"
check "no catalogue was created" test ! -e "$(dirname "$FIRMWARED_DATABASE_PATH")"
check "no socket was created at socket_path" test ! -e "$FIRMWARED_SOCKET_PATH"
expect_eq "no READY=1 from the refused daemon" "" "$(cat "$NOTIFY_LOG")"
rm -f "$OTHER"

# ---- activated at socket_path -----------------------------------------------------------------
activate "$FIRMWARED_SOCKET_PATH"
check "systemd-socket-activate made the socket" fw_inst_wait_for 5 test -S "$FIRMWARED_SOCKET_PATH"
INODE=$(stat -c %i "$FIRMWARED_SOCKET_PATH")
expect_eq "no READY=1 before a client connects" "" "$(cat "$NOTIFY_LOG")"
run timeout 20 "$FWCTL" ping
expect_eq "the first client starts the daemon and gets its PONG" "PONG" "$OUT"
check "READY=1 arrives" fw_inst_wait_for 10 grep -q "READY=1" "$NOTIFY_LOG"
expect_match "READY=1 with STATUS and the daemon's MAINPID" \
  "^READY=1\|STATUS=ready on $FIRMWARED_SOCKET_PATH\|MAINPID=$FW_DAEMON_PID$" \
  "$(grep READY=1 "$NOTIFY_LOG")"
run fwctl ping
expect_eq "fwctl ping over the passed socket, once ready" "PONG" "$OUT"
expect_eq "the daemon kept the passed socket file (same inode)" "$INODE" \
  "$(stat -c %i "$FIRMWARED_SOCKET_PATH")"
check "the daemon says it serves the passed socket" \
  grep -q "listening on the socket systemd passed, $FIRMWARED_SOCKET_PATH" "$FW_LOG"
check "it took the single-instance lock" test -e "$FIRMWARED_SOCKET_PATH.lock"

# A second daemon started by hand on the same socket_path refuses (the lock).
run "$FIRMWARED"
expect_eq "a second daemon by hand: exit 1" 1 "$RC"
check "it names the lock" grep -q "another firmwared" <<<"$ERR"

# ---- an instance, the ordinary way --------------------------------------------------------
run fwctl prepare firmwares "$FW_EX_EXT2"
FW=$(field sha1 "$OUT")
run fwctl prepare instances "$FW"
I=$(field sha1 "$OUT")
run fwctl start "$I"
expect_eq "START through the activated daemon" 0 "$RC"
check "the instance is started" fw_inst_wait_state "$I" started
MONITOR=$(fw_run_monitor_pids "firmwared-monitor .*--workspace $FIRMWARED_MOUNT_PATH/" | head -n 1)
check "the instance has a monitor" test -n "$MONITOR"
expect_eq "the monitor inherited neither LISTEN_* nor NOTIFY_SOCKET" "" \
  "$(tr '\0' '\n' <"/proc/$MONITOR/environ" | grep -E '^(LISTEN_|NOTIFY_SOCKET)' || true)"
run fwctl exec "$I" -- /bin/echo hello
expect_eq "EXEC in it" "hello" "$OUT"
run fwctl kill "$I"
check "it dies" fw_inst_wait_state "$I" ready
run fwctl drop instances "$I"
expect_eq "DROP the instance" 0 "$RC"
run fwctl drop firmwares "$FW"
expect_eq "DROP the firmware" 0 "$RC"

# ---- SIGTERM: STOPPING=1, the socket file stays -------------------------------------------
PID=$FW_DAEMON_PID
stop_daemon
RC=$?
expect_eq "the daemon exits 0 on SIGTERM" 0 "$RC"
check "STOPPING=1 arrives" fw_inst_wait_for 5 grep -q "^STOPPING=1|STATUS=shutting down: " \
  "$NOTIFY_LOG"
check "the socket file is still there" test -S "$FIRMWARED_SOCKET_PATH"
expect_eq "and is the same one" "$INODE" "$(stat -c %i "$FIRMWARED_SOCKET_PATH" 2>/dev/null)"
expect_eq "the daemon notified as itself only (MAINPID)" "1" \
  "$(grep -c "MAINPID=$PID" "$NOTIFY_LOG")"

# ---- by hand, the same configuration: its own socket, no notification ---------------------
rm -f "$FIRMWARED_SOCKET_PATH"
: >"$NOTIFY_LOG"
start_daemon
check "by hand: its own socket" test -S "$FIRMWARED_SOCKET_PATH"
stop_daemon
check "by hand: its socket is unlinked at exit" test ! -e "$FIRMWARED_SOCKET_PATH"
expect_eq "by hand: no notification" "" "$(cat "$NOTIFY_LOG")"
assert_no_leaks
