#!/usr/bin/env bash
# Connection limits and timeouts (firmwared.conf(5): max_connections,
# max_connections_per_uid, client_line_timeout, client_idle_timeout): a member of group
# firmwared opening 1024 connections that each send "{" locks nobody else out; root keeps
# its reserve; partial lines and idle connections are closed with ETIMEDOUT; accept(2)
# running out of descriptors refuses clients without spinning.
source "$(dirname "$0")/../lib/harness.sh"
require_root
setup
LIMITS="$FW_SOURCE_DIR/tests/lib/limit_clients.py"

# Two throwaway members of group firmwared (created before the daemon, which gives the
# socket to the group at start); removed on exit, even on failure.
USER_A="fwtsla$$"
USER_B="fwtslb$$"
created_group=0
limits_cleanup() {
  local rc=$?
  set +e
  userdel "$USER_A" 2>/dev/null || true
  userdel "$USER_B" 2>/dev/null || true
  [[ $created_group -eq 1 ]] && groupdel firmwared 2>/dev/null
  (exit $rc)  # fw_cleanup reads the test's status from $?
  fw_cleanup
}
trap limits_cleanup EXIT
if ! getent group firmwared >/dev/null; then
  groupadd --system firmwared
  created_group=1
fi
useradd --system --no-create-home --no-user-group --gid nogroup --groups firmwared \
  --shell /usr/sbin/nologin "$USER_A"
useradd --system --no-create-home --no-user-group --gid nogroup --groups firmwared \
  --shell /usr/sbin/nologin "$USER_B"
as_user() {  # as_user NAME COMMAND...: runs COMMAND as NAME with its groups
  local name=$1
  shift
  setpriv --reuid="$name" --regid=nogroup --groups="$(getent group firmwared | cut -d: -f3)" "$@"
}
uid_a=$(id -u "$USER_A")

# --- Defaults (64 per uid) with a 3 s line timeout -------------------------------------
export FIRMWARED_CLIENT_LINE_TIMEOUT=3
start_daemon
flood_out="$FW_TMP/flood.out"
as_user "$USER_A" "$PYTHON" "$LIMITS" "$FIRMWARED_SOCKET_PATH" flood 1024 20 >"$flood_out" 2>&1 &
flood_pid=$!
for _ in $(seq 1 400); do
  grep -q '^settled' "$flood_out" && break
  sleep 0.05
done
grep -q '^settled' "$flood_out" || sed 's/^/flood: /' "$flood_out" >&2
expect_eq "first user: 64 partial-line connections kept, 960 refused with EUSERS" \
  "settled open=64 EUSERS=960" "$(grep '^settled' "$flood_out")"
start=$(date +%s%N)
run timeout 2 "$FWCTL" ping
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "root still answered while the first user floods" "PONG" "$OUT"
check "root answered at once (${elapsed_ms} ms)" test "$elapsed_ms" -lt 1000
run as_user "$USER_B" timeout 2 "$FWCTL" ping
expect_eq "a second member of group firmwared still connects" "PONG" "$OUT"
wait "$flood_pid" || true
expect_eq "the refusal names the uid and the limit" \
  "message EUSERS too many connections: uid $uid_a already has 64 open, max_connections_per_uid is 64" \
  "$(grep '^message EUSERS' "$flood_out")"
expect_eq "partial-line connections closed with ETIMEDOUT" \
  "message ETIMEDOUT closing the connection: a request line begun 3 s ago is still not complete (client_line_timeout)" \
  "$(grep '^message ETIMEDOUT' "$flood_out")"
expect_match "the 64 kept connections timed out after about 3 s" \
  "^final open=0 ETIMEDOUT=64 EUSERS=960 closed_after=[34]\.[0-9]\.\.[34]\.[0-9]$" \
  "$(grep '^final' "$flood_out")"
check "daemon alive after the flood" fwctl ping

# Idle timeout (2 s): an idle connection is closed with ETIMEDOUT; a subscribed one is not.
stop_daemon
export FIRMWARED_CLIENT_IDLE_TIMEOUT=2
start_daemon
idle_probe='
import json, socket, sys, time
def conn(first):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(6)
    s.sendall(json.dumps(first).encode() + b"\n"); return s
idle = conn({"seq": 1, "command": "PING"})
sub = conn({"seq": 1, "command": "SUBSCRIBE"})
t = time.monotonic()
data = b""
while True:
    chunk = idle.recv(4096)
    if not chunk: break
    data += chunk
lines = [json.loads(l) for l in data.split(b"\n") if l]
print(lines[0]["answer"], lines[1]["error"], round(time.monotonic() - t))
sub.settimeout(1)
try:
    print("subscriber", "closed" if sub.recv(4096).count(b"\n") < 1 else "open")
except socket.timeout:
    print("subscriber open")
'
run "$PYTHON" -c "$idle_probe" "$FIRMWARED_SOCKET_PATH"
# The timeouts are checked once a second: closed 2 to 3 s after the reply.
expect_match "idle connection closed with ETIMEDOUT after 2 s; subscriber kept" \
  "^PONG ETIMEDOUT [23]"$'\n'"subscriber open$" "$OUT"
unset FIRMWARED_CLIENT_IDLE_TIMEOUT

# --- Root reserve: max_connections 64, so non-root clients get 32 --------------------
stop_daemon
export FIRMWARED_MAX_CONNECTIONS=64 FIRMWARED_MAX_CONNECTIONS_PER_UID=1000
start_daemon
as_user "$USER_A" "$PYTHON" "$LIMITS" "$FIRMWARED_SOCKET_PATH" flood 100 20 >"$flood_out" 2>&1 &
flood_pid=$!
for _ in $(seq 1 400); do
  grep -q '^settled' "$flood_out" && break
  sleep 0.05
done
grep -q '^settled' "$flood_out" || sed 's/^/flood: /' "$flood_out" >&2
expect_eq "non-root clients stop at max_connections - 32" \
  "settled open=32 EAGAIN=68" "$(grep '^settled' "$flood_out")"
run as_user "$USER_B" timeout 2 "$FWCTL" ping
expect_eq "another non-root client is refused too" 1 "$RC"
expect_eq "its refusal names the reserve" \
  "firmwared error: too many connections: 32 open, the last 32 of max_connections 64 are kept for root" \
  "$ERR"
run timeout 2 "$FWCTL" ping
expect_eq "root uses the reserve" "PONG" "$OUT"
wait "$flood_pid" || true

# --- Out of descriptors: clients refused with EMFILE, the daemon does not spin --------
daemon_pid=$FW_DAEMON_PID
prlimit --pid "$daemon_pid" --nofile=40:
as_user "$USER_A" "$PYTHON" "$LIMITS" "$FIRMWARED_SOCKET_PATH" flood 60 8 >"$flood_out" 2>&1 &
flood_pid=$!
for _ in $(seq 1 400); do
  grep -q '^settled' "$flood_out" && break
  sleep 0.05
done
grep -q '^settled' "$flood_out" || sed 's/^/flood: /' "$flood_out" >&2
expect_match "clients past the descriptor limit get EMFILE" "^settled open=[0-9]+ EMFILE=[0-9]+$" \
  "$(grep '^settled' "$flood_out")"
ticks() { awk '{ print $14 + $15 }' "/proc/$daemon_pid/stat"; }
before=$(ticks)
sleep 1
cpu=$(($(ticks) - before))
check "the daemon does not spin while out of descriptors ($cpu ticks in 1 s)" test "$cpu" -lt 20
wait "$flood_pid" || true
expect_match "EMFILE message" "^message EMFILE (firmwared is out of file descriptors, try again later|looking up group firmwared: Too many open files)$" \
  "$(grep '^message EMFILE' "$flood_out")"
run timeout 2 "$FWCTL" ping
expect_eq "root served once descriptors are free again" "PONG" "$OUT"
unset FIRMWARED_MAX_CONNECTIONS FIRMWARED_MAX_CONNECTIONS_PER_UID FIRMWARED_CLIENT_LINE_TIMEOUT

run stop_daemon
expect_eq "daemon exits 0" 0 "$RC"
