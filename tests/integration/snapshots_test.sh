#!/usr/bin/env bash
# Snapshots end to end (docs/diff.md "Snapshots"): PREPARE snapshots freezes
# a killed instance's diff (its diff is then empty, its files still there); PREPARE
# instances SNAPSHOT stacks a new instance on it; RESTORE discards later changes; a started
# instance is refused (EBUSY); chains of snapshots; COMMIT makes a firmware equal to the
# merged tree (dropping it removes its directory); DROP refused while stacked on; the
# stacked mounts come back after a daemon restart and a crash; nothing is left mounted.
source "$(dirname "$0")/../lib/harness.sh"
require_root
command -v nsenter >/dev/null || skip "needs nsenter (util-linux)"
fw_inst_setup
# Privileged mode (userns=n): this test writes into instances through their host-side
# union as host root (and makes device nodes inside), which the idmapped layers of
# user-namespace mode refuse (EOVERFLOW; docs/security.md); its subject does not depend on
# the mode, which userns_test, escape_userns, instances and exec cover.
export FIRMWARED_USERNS=n
build_example_firmware

FW=$FW_TMP/fw
cp -a "$FW_EX_DIR" "$FW"
mkdir -p "$FW/keep"
echo gone >"$FW/keep/gone"
echo kept >"$FW/keep/kept"

start_daemon
MNT=$FIRMWARED_MOUNT_PATH
pid_of() { fw_inst_prop "$1" init_pid; }
inside() { fw_inst_exec "$(pid_of "$1")" sh -c "$2"; }
start() {
  fwctl start "$1" >/dev/null
  fw_inst_wait_state "$1" started
}

run fwctl folders
expect_match "FOLDERS lists snapshots" "snapshots" "$OUT"

run fwctl prepare instances "$FW"
expect_eq "prepare instance: exit 0" 0 "$RC"
NAME=$(field name)
WS=$MNT/instances/$(field sha1)
start "$NAME"
inside "$NAME" 'echo one > /snapfile && mkdir /snapdir && echo x > /snapdir/x && rm /keep/gone'

# ---- a started instance is refused ------------------------------------------------------------
run fwctl prepare snapshots "$NAME"
expect_eq "snapshot of a started instance: refused" 1 "$([[ $RC -ne 0 ]] && echo 1)"
expect_match "snapshot of a started instance: says why" "KILL it first" "$ERR"

fwctl kill "$NAME" >/dev/null
run fwctl prepare snapshots "$NAME"
expect_eq "snapshot: exit 0" 0 "$RC"
SNAP=$(field name)
SNAP_SHA1=$(field sha1)
check "snapshot: its layer holds the frozen diff" test -f "$MNT/snapshots/$SNAP_SHA1/layer/snapfile"
run fwctl diff "$NAME"
expect_eq "snapshot: the instance's diff is now empty" "" "$OUT"
expect_eq "snapshot: property instance_sha1" "$(fw_inst_prop "$NAME" sha1)" \
  "$(fwctl get_property snapshots "$SNAP" instance_sha1)"
expect_eq "snapshot: no parent" "" "$(fwctl get_property snapshots "$SNAP" parent_sha1)"
expect_match "LIST snapshots" "$SNAP" "$(fwctl list snapshots)"
start "$NAME"
expect_eq "snapshot: files still visible inside" "one" "$(inside "$NAME" 'cat /snapfile')"
expect_eq "snapshot: deletions still hold inside" "absent" \
  "$(inside "$NAME" 'test -e /keep/gone && echo present || echo absent')"
inside "$NAME" 'echo two > /later && echo changed > /snapfile'
fwctl kill "$NAME" >/dev/null
run fwctl diff "$NAME"
expect_match "later changes: in the diff, relative to the snapshot" $'A\t/later' "$OUT"
expect_match "later changes: a snapshot file changed is M" $'M\t/snapfile' "$OUT"

# ---- an instance stacked on the snapshot ------------------------------------------------------
run fwctl prepare instances "$SNAP"
expect_eq "prepare instances SNAPSHOT: exit 0" 0 "$RC"
NEW=$(field name)
NEW_WS=$MNT/instances/$(field sha1)
start "$NEW"
expect_eq "stacked instance: sees the snapshot's files" "one" "$(inside "$NEW" 'cat /snapfile')"
expect_eq "stacked instance: not the later changes" "absent" \
  "$(inside "$NEW" 'test -e /later && echo present || echo absent')"
expect_eq "stacked instance: sees the firmware" "kept" "$(inside "$NEW" 'cat /keep/kept')"
fwctl kill "$NEW" >/dev/null
run fwctl diff "$NEW"
expect_eq "stacked instance: the diff is relative to the snapshot (only the boot's mark)" \
  $'M\t/var/lib/firmware-booted' "$OUT"

# ---- restore -----------------------------------------------------------------------------------
start "$NAME"
run fwctl restore "$NAME" "$SNAP"
expect_eq "restore of a started instance: EBUSY" 1 "$([[ $RC -ne 0 ]] && echo 1)"
fwctl kill "$NAME" >/dev/null
run fwctl restore "$NAME" "$SNAP"
expect_eq "restore: exit 0" 0 "$RC"
expect_eq "restore: output" "$NAME restored" "$OUT"
check "restore: later changes gone" test ! -e "$WS/union/later"
expect_eq "restore: snapshot content back" "one" "$(cat "$WS/union/snapfile")"
run fwctl diff "$NAME"
expect_eq "restore: empty diff" "" "$OUT"

# ---- a chain: a snapshot of an instance already on one ----------------------------------------
echo three >"$WS/union/third"
run fwctl prepare snapshots "$NAME"
expect_eq "second snapshot: exit 0" 0 "$RC"
SNAP2=$(field name)
SNAP2_SHA1=$(field sha1)
expect_eq "second snapshot: its parent" "$SNAP_SHA1" \
  "$(fwctl get_property snapshots "$SNAP2" parent_sha1)"
expect_eq "second snapshot: both layers visible" "one three" \
  "$(cat "$WS/union/snapfile" "$WS/union/third" | tr '\n' ' ' | sed 's/ $//')"

# ---- commit: a new firmware from the merged tree ---------------------------------------------
tree_of() {  # types, modes, owners, link targets and contents of the tree at $1
  (cd "$1" && find . -printf '%y %m %U:%G %p -> %l\n' | sort &&
    find . -type f -print0 | sort -z | xargs -0 sha1sum)
}
run fwctl commit "$NAME"
expect_eq "commit: exit 0" 0 "$RC"
expect_match "commit: a new firmware" "new entity in firmwares folder created" "$OUT"
COMMITTED=$(field name)
COMMITTED_DIR=$(fwctl get_property firmwares "$COMMITTED" path)
expect_match "commit: a directory in the repository" "^$FIRMWARED_REPOSITORY_PATH/$NAME\.[0-9]+\.rootfs$" \
  "$COMMITTED_DIR"
expect_eq "commit: the firmware's tree equals the merged tree" "$(tree_of "$WS/union")" \
  "$(tree_of "$COMMITTED_DIR")"
run fwctl prepare instances "$COMMITTED"
expect_eq "commit: an instance of the new firmware: exit 0" 0 "$RC"
FROM_COMMIT=$(field name)
start "$FROM_COMMIT"
expect_eq "commit: the instance sees the committed files" "one three" \
  "$(inside "$FROM_COMMIT" 'cat /snapfile /third' | tr '\n' ' ' | sed 's/ $//')"
fwctl kill "$FROM_COMMIT" >/dev/null
fwctl drop instances "$FROM_COMMIT" >/dev/null
run fwctl drop firmwares "$COMMITTED"
expect_eq "commit: drop of the committed firmware: exit 0" 0 "$RC"
check "commit: its directory is removed" test ! -e "$COMMITTED_DIR"

# ---- DROP refused while stacked on -------------------------------------------------------------
run fwctl drop snapshots "$SNAP"
expect_match "drop of a used snapshot: EBUSY naming users" "used by instance $NEW" "$ERR"
run fwctl drop snapshots "$SNAP2"
expect_match "drop of a used snapshot: EBUSY" "used by instance $NAME" "$ERR"
run fwctl drop firmwares "$(fwctl list firmwares | grep -o '\[[0-9a-f]*\]' | tr -d '[]')"
expect_match "drop of a firmware with snapshots: EBUSY" "used by" "$ERR"

# ---- restarts -----------------------------------------------------------------------------------
stop_daemon
start_daemon
expect_eq "SIGTERM restart: stacked lower back" "one three" \
  "$(cat "$WS/union/snapfile" "$WS/union/third" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "SIGTERM restart: ro and union mounted once" 2 "$(fw_inst_workspace_mounts "$WS")"
start "$NEW"
fw_inst_crash_daemon
start_daemon
expect_eq "crash restart: running stacked instance re-adopted" "one" \
  "$(inside "$NEW" 'cat /snapfile')"
fwctl kill "$NEW" >/dev/null
fw_inst_crash_daemon
start_daemon
expect_eq "crash restart: ro and union of a ready instance mounted once" 2 \
  "$(fw_inst_workspace_mounts "$NEW_WS")"
start "$NAME"
expect_eq "crash restart: stacked instance starts" "three" "$(inside "$NAME" 'cat /third')"
fwctl kill "$NAME" >/dev/null

# ---- cleanup: DROP allowed once nothing stacks on it ----------------------------------------
run fwctl drop instances "$NEW"
expect_eq "drop stacked instance: exit 0" 0 "$RC"
run fwctl drop snapshots "$SNAP"
expect_match "drop: still refused while a child snapshot stacks on it" "used by snapshot $SNAP2" \
  "$ERR"
fwctl drop instances "$NAME" >/dev/null
run fwctl drop snapshots "$SNAP2"
expect_eq "drop snapshot: exit 0" 0 "$RC"
run fwctl drop snapshots "$SNAP"
expect_eq "drop parent snapshot: exit 0" 0 "$RC"
check "drop: the layers are removed" test ! -e "$MNT/snapshots/$SNAP_SHA1"
check "drop: the layers are removed" test ! -e "$MNT/snapshots/$SNAP2_SHA1"
for f in $(fwctl list firmwares | grep -o '\[[0-9a-f]*\]' | tr -d '[]'); do
  fwctl drop firmwares "$f" >/dev/null
done
stop_daemon
fw_inst_expect_no_leftovers "end"
assert_no_leaks
