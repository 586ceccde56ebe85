#!/usr/bin/env bash
# DROP of an instance with a large diff does not freeze the daemon: the
# workspace goes to <mount_path>/trash at once (gone from LIST when DROP answers), other
# clients are served while a worker deletes it, and the trash ends empty. A daemon
# restarted with a full trash empties it.
source "$(dirname "$0")/../lib/harness.sh"
require_root
fw_inst_setup
export FIRMWARED_HOST_INTERFACE_PREFIX=fwtdr
export FIRMWARED_NET_FIRST_TWO_BYTES=10.233.
FILES=${FW_DROP_FILES:-20000}
build_example_firmware
start_daemon

TRASH=$FIRMWARED_MOUNT_PATH/trash
trash_empty() { [[ -z "$(ls -A "$TRASH" 2>/dev/null)" ]]; }
# fill DIR: FILES files in 100 directories of DIR.
fill() {
  "$PYTHON" - "$1" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "f%06d" % i), "w").close()
PY
}
ms_now() { echo $(($(date +%s%N) / 1000000)); }

run fwctl prepare firmwares "$FW_EX_DIR"
FW=$(field sha1 "$OUT")
run fwctl prepare instances "$FW"
I=$(field name "$OUT")
WS="$FIRMWARED_MOUNT_PATH/instances/$(field sha1 "$OUT")"
fill "$WS/rw/many"

# A client pinging in a loop while DROP runs: the slowest answer is its time.
"$PYTHON" - "$FIRMWARED_SOCKET_PATH" >"$FW_TMP/pings" <<'PY' &
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rwb")
worst, end = 0.0, time.time() + 4
while time.time() < end:
    t = time.time(); f.write(b'{"seq":1,"command":"PING","args":[]}\n'); f.flush(); f.readline()
    worst = max(worst, time.time() - t); time.sleep(0.01)
print(int(worst * 1000))
PY
PINGER=$!
sleep 0.3
t0=$(ms_now)
run fwctl drop instances "$I"
t1=$(ms_now)
expect_eq "drop" "$I dropped" "$OUT"
echo "DROP of $FILES files answered in $((t1 - t0)) ms"
run fwctl list instances
expect_eq "gone from LIST at once" "" "$(grep -F "$I" <<<"$OUT" || true)"
check "the workspace left its place at once" test ! -e "$WS"
wait "$PINGER"
WORST=$(cat "$FW_TMP/pings")
echo "slowest PING during the DROP: $WORST ms"
check "PING answered within 1 s while the trash is emptied (slowest $WORST ms)" test "$WORST" -lt 1000
check "the trash ends empty" fw_inst_wait_for 60 trash_empty

# A trash left full by a crash is emptied by the next daemon, off the loop.
run fwctl prepare instances "$FW"
I=$(field name "$OUT")
WS="$FIRMWARED_MOUNT_PATH/instances/$(field sha1 "$OUT")"
fill "$WS/rw/many"
fw_inst_crash_daemon
umount "$WS/union" "$WS/ro"
mv "$WS" "$TRASH/$(basename "$WS").0123456789abcdef"
start_daemon
expect_eq "a DROP interrupted after the rename is finished at start" "" \
  "$(fwctl list instances | grep -F "$I" || true)"
check "restart: the trash ends empty" fw_inst_wait_for 60 trash_empty
check "finishing the DROP is logged" grep -q "instance $I: finished its DROP" "$FW_LOG"

run fwctl drop firmwares "$FW"
expect_eq "drop the firmware" 0 "$RC"
stop_daemon
fw_inst_expect_no_leftovers "end"
assert_no_leaks
