#!/usr/bin/env bash
# Under systemd with stderr connected to the journal (JOURNAL_STREAM names stderr's device
# and inode, systemd.exec(5)), the daemon logs through the journal's native protocol:
# PRIORITY, MESSAGE, SYSLOG_IDENTIFIER=firmwared, and FIRMWARED_INSTANCE/_NAME,
# FIRMWARED_FIRMWARE/_NAME on the lines about an instance or a firmware (import, prepare,
# start, death, drop). With JOURNAL_STREAM naming another file, it writes "<N>" lines to
# stderr as usual. The journal is a datagram reader at /run/systemd/journal/socket in a
# private mount namespace (a tmpfs over /run/systemd), so no journald is needed or touched.
if [[ -z "${FW_JOURNAL_NS:-}" && $(id -u) -eq 0 ]]; then
  exec unshare --mount --propagation private env FW_JOURNAL_NS=1 bash "$0" "$@"
fi
source "$(dirname "$0")/../lib/harness.sh"
require_root
fw_inst_setup
build_example_firmware

mount -t tmpfs -o mode=0755 fwtest-journal /run/systemd
mkdir /run/systemd/journal
JOURNAL=$FW_TMP/journal.log
"$PYTHON" "$FW_SOURCE_DIR/tests/lib/notify_listener.py" /run/systemd/journal/socket "$JOURNAL" &
READER=$!
trap 'kill $READER 2>/dev/null; fw_inst_on_exit' EXIT
fw_inst_wait_for 5 test -S /run/systemd/journal/socket || { echo "no journal reader" >&2; exit 1; }
touch "$JOURNAL" "$FW_LOG"

# The daemon's stderr is $FW_LOG (start_daemon): that file is "the journal stream".
JOURNAL_STREAM=$(stat -c '%d:%i' "$FW_LOG") start_daemon
entry() { grep -E "$1" "$JOURNAL" | head -n 1; }  # entry REGEX: the first matching entry
check "the ready line went to the journal" fw_inst_wait_for 5 grep -q "MESSAGE=firmwared .* ready on" "$JOURNAL"
expect_match "with PRIORITY=5 (notice) and SYSLOG_IDENTIFIER=firmwared" \
  "^PRIORITY=5\|MESSAGE=firmwared .* ready on $FIRMWARED_SOCKET_PATH\|SYSLOG_IDENTIFIER=firmwared$" \
  "$(entry "MESSAGE=firmwared .* ready on")"
expect_eq "not to stderr" "" "$(grep "ready on" "$FW_LOG" || true)"

run fwctl prepare firmwares "$FW_EX_EXT2"
FW=$(field sha1 "$OUT")
FWNAME=$(field name "$OUT")
run fwctl prepare instances "$FW"
I=$(field sha1 "$OUT")
NAME=$(field name "$OUT")
expect_match "firmware import: its id and name" \
  "^PRIORITY=6\|MESSAGE=firmware $FWNAME \[$FW\] prepared from .*\|FIRMWARED_FIRMWARE=$FW\|FIRMWARED_FIRMWARE_NAME=$FWNAME$" \
  "$(entry "MESSAGE=firmware .* prepared from")"
expect_match "instance prepare: the instance's and its firmware's fields" \
  "\|FIRMWARED_INSTANCE=$I\|FIRMWARED_INSTANCE_NAME=$NAME\|FIRMWARED_FIRMWARE=$FW\|FIRMWARED_FIRMWARE_NAME=$FWNAME$" \
  "$(entry "MESSAGE=instance $NAME \[$I\] prepared")"
run fwctl start "$I"
check "started" fw_inst_wait_state "$I" started
check "the start entry" fw_inst_wait_for 5 grep -q "MESSAGE=instance $NAME started" "$JOURNAL"
expect_match "start: FIRMWARED_INSTANCE" "\|FIRMWARED_INSTANCE=$I\|FIRMWARED_INSTANCE_NAME=$NAME\|FIRMWARED_FIRMWARE=$FW$" \
  "$(entry "MESSAGE=instance $NAME started")"
run fwctl kill "$I"
check "dead" fw_inst_wait_state "$I" ready
check "the death entry" fw_inst_wait_for 5 grep -q "MESSAGE=instance $NAME dead" "$JOURNAL"
expect_match "death: FIRMWARED_INSTANCE" "^PRIORITY=6\|MESSAGE=instance $NAME dead, exit status 137 \(killed\)\|SYSLOG_IDENTIFIER=firmwared\|FIRMWARED_INSTANCE=$I\|FIRMWARED_INSTANCE_NAME=$NAME$" \
  "$(entry "MESSAGE=instance $NAME dead")"
run fwctl drop instances "$I"
expect_match "drop: FIRMWARED_INSTANCE" "\|FIRMWARED_INSTANCE=$I\|FIRMWARED_INSTANCE_NAME=$NAME$" \
  "$(entry "MESSAGE=instance $NAME dropped")"
run fwctl drop firmwares "$FW"
expect_match "firmware drop: FIRMWARED_FIRMWARE" "\|FIRMWARED_FIRMWARE=$FW\|FIRMWARED_FIRMWARE_NAME=$FWNAME$" \
  "$(entry "MESSAGE=firmware $FWNAME \[$FW\] dropped")"
expect_eq "nothing about instances on stderr" "" "$(grep -E "instance|firmware " "$FW_LOG" || true)"
stop_daemon

# ---- JOURNAL_STREAM naming another file (stderr redirected since): the stderr format ------
LINES=$(wc -l <"$JOURNAL")
JOURNAL_STREAM=$(stat -c '%d:%i' "$JOURNAL") start_daemon
stop_daemon
check "stderr has the <5> ready line" grep -qE "^<5>firmwared .* ready on" "$FW_LOG"
expect_eq "no new journal entry" "$LINES" "$(wc -l <"$JOURNAL")"
assert_no_leaks
