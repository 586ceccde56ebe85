#!/usr/bin/env bash
# The daemon under abuse: malformed and oversized requests, floods, slow and vanishing
# clients, unauthorised peers, concurrent clients, a second daemon, a stale socket, bad
# configuration, signals.
source "$(dirname "$0")/../lib/harness.sh"
require_root
setup
STRESS="$FW_SOURCE_DIR/tests/lib/stress_clients.py"

# A stale socket file left by a crashed daemon is replaced.
"$PYTHON" -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" \
  "$FIRMWARED_SOCKET_PATH"
check "stale socket file exists before start" test -S "$FIRMWARED_SOCKET_PATH"
start_daemon
check "daemon replaced the stale socket" fwctl ping
expect_eq "socket mode is 0660" "660" "$(stat -c %a "$FIRMWARED_SOCKET_PATH")"

# A second daemon on the same socket refuses to start and leaves the first one alone.
run timeout 10 "$FIRMWARED"
expect_eq "second daemon exits 1" 1 "$RC"
expect_match "second daemon says why" "another firmwared (answers on|holds)" "$ERR"
check "first daemon still answers" fwctl ping

# 1000 PINGs from 20 concurrent clients, all answered.
run "$PYTHON" "$STRESS" "$FIRMWARED_SOCKET_PATH" pings 20 50
expect_eq "1000 pings from 20 clients" "answered 1000 of 1000" "$OUT"

# Every malformed class gets one ERROR reply with the right errno (seq when readable),
# then the connection still works.
run "$PYTHON" "$STRESS" "$FIRMWARED_SOCKET_PATH" malformed
expect_eq "malformed requests" "$(cat <<'X'
EBADMSG 0
EBADMSG 0
EBADMSG 0
EBADMSG 0
EINVAL 0
EINVAL 0
EINVAL 0
EINVAL 7
EINVAL 8
ENOSYS 9
EINVAL 10
EINVAL 11
EINVAL 12
EINVAL 13
EINVAL 14
EINVAL 15
EILSEQ 0
EBADMSG 0
PONG 17
X
)" "$OUT"

run "$PYTHON" "$STRESS" "$FIRMWARED_SOCKET_PATH" oversized
expect_eq "2 MiB line gets E2BIG, connection still usable" "E2BIG 0 PONG 2" "$OUT"

run "$PYTHON" "$STRESS" "$FIRMWARED_SOCKET_PATH" halfline
expect_eq "clients vanishing mid-request do not hurt" "PONG" "$OUT"

run "$PYTHON" "$STRESS" "$FIRMWARED_SOCKET_PATH" noread
expect_eq "a client that never reads is dropped, others served" "flooder dropped" "$OUT"

# Peers: nobody is refused with EACCES (socket opened up so the kernel lets it connect);
# a member of group firmwared is accepted.
chmod 0666 "$FIRMWARED_SOCKET_PATH"
run setpriv --reuid=65534 --regid=65534 --clear-groups "$FWCTL" ping
expect_eq "unprivileged peer refused" 1 "$RC"
expect_match "unprivileged peer told why" "firmwared error: permission denied: uid 65534 is neither root nor a member of group firmwared" "$ERR"
created_group=0
if ! getent group firmwared >/dev/null; then
  groupadd --system firmwared
  created_group=1
fi
gid=$(getent group firmwared | cut -d: -f3)
run setpriv --reuid=65534 --regid=65534 --groups="$gid" "$FWCTL" ping
expect_eq "member of group firmwared accepted" "PONG" "$OUT"
[[ $created_group -eq 1 ]] && groupdel firmwared
check "daemon alive after all that" fwctl ping

# SIGTERM: subscribers get BYEBYE, the socket goes away, exit status 0.
events_out="$FW_TMP/events.out"
"$FWCTL" events >"$events_out" 2>&1 &
events_pid=$!
sleep 0.5  # let it subscribe
run stop_daemon
expect_eq "daemon exits 0 on SIGTERM" 0 "$RC"
wait "$events_pid" || true
expect_match "subscriber saw BYEBYE" "^BYEBYE event_id=[0-9]+$" "$(cat "$events_out")"
check "socket removed on SIGTERM" test ! -e "$FIRMWARED_SOCKET_PATH"

# Bad configuration stops the daemon at start, naming key, value and rule.
FIRMWARED_PREVENT_REMOVAL=maybe run "$FIRMWARED"
expect_eq "bad config exits 1" 1 "$RC"
expect_match "bad config message names key and value" "prevent_removal.*maybe|maybe.*prevent_removal" "$ERR"
printf '[firmwared]\nno_such_key = 1\n' >"$FW_TMP/bad.conf"
run "$FIRMWARED" "$FW_TMP/bad.conf"
expect_eq "unknown key in file exits 1" 1 "$RC"
expect_match "unknown key named" "no_such_key" "$ERR"
run "$FIRMWARED" "$FW_TMP/missing.conf"
expect_eq "missing explicit config file exits 1" 1 "$RC"
