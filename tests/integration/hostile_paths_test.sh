#!/usr/bin/env bash
# Local users and group members reaching host root through paths:
#  1. the state dirs are root 0700 (fixed at start), so no other user reaches a workspace or
#     runs a setuid-root file an instance made through its host path;
#  3. directory firmwares are for root clients; images are opened with the client's rights;
#  4. a directory firmware is opened once without symlinks and that directory is mounted: a
#     path replaced by a symlink to / (restart, or a race during PREPARE) never mounts /;
#  5. EXPORT replaces only regular files, whoever asks, even with --force;
#  6. stolen_interface by a non-root client only from stealable_interfaces;
#  7. a firmware whose /dev is a symlink (to a host directory) is refused at START with an
#     error naming it: the monitor never mounts its /dev on the host path it points to.
source "$(dirname "$0")/../lib/harness.sh"
require_root
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
fw_inst_setup
# Privileged mode (userns=n): this test writes into instances through their host-side
# union as host root (and makes device nodes inside), which the idmapped layers of
# user-namespace mode refuse (EOVERFLOW; docs/security.md); its subject does not depend on
# the mode, which userns_test, escape_userns, instances and exec cover.
export FIRMWARED_USERNS=n
export FIRMWARED_HOST_INTERFACE_PREFIX=fwthp FIRMWARED_NET_FIRST_TWO_BYTES=10.237.
build_example_firmware

# Throwaway users: OTHER is in no group of ours, MEMBER is in group firmwared. Removed on
# exit even on failure, with the group when this test created it.
OTHER=fwthpo$$
MEMBER=fwthpm$$
CREATED_GROUP=0
hp_on_exit() {
  local rc=$?
  set +e
  userdel "$OTHER" 2>/dev/null
  userdel "$MEMBER" 2>/dev/null
  [[ $CREATED_GROUP -eq 1 ]] && groupdel firmwared 2>/dev/null
  (exit $rc)
  fw_inst_on_exit
}
trap hp_on_exit EXIT
if ! getent group firmwared >/dev/null; then
  groupadd --system firmwared
  CREATED_GROUP=1
fi
useradd --system --no-create-home --shell /usr/sbin/nologin --user-group "$OTHER"
useradd --system --no-create-home --shell /usr/sbin/nologin --user-group -G firmwared "$MEMBER"
OTHER_UID=$(id -u "$OTHER")
MEMBER_UID=$(id -u "$MEMBER")
# Through sh: on this machine setpriv's own execvp still succeeds on a file below a 0700 root
# directory (it execs before its capabilities are gone), the user's shell does not.
as_other() { setpriv --reuid="$OTHER" --regid="$OTHER" --init-groups sh -c '"$@"' sh "$@"; }
as_member() { setpriv --reuid="$MEMBER" --regid="$MEMBER" --init-groups sh -c '"$@"' sh "$@"; }

MNT=$FIRMWARED_MOUNT_PATH
REPO=$FIRMWARED_REPOSITORY_PATH
DBDIR=$(dirname "$FIRMWARED_DATABASE_PATH")
# State dirs left wide open by an older daemon: fixed at start.
mkdir -p "$MNT" "$REPO" "$DBDIR"
chmod 0755 "$MNT" "$REPO" "$DBDIR"
export FIRMWARED_STEALABLE_INTERFACES="fwthpok0, fwthpok1"
start_daemon

# ---- 1. nothing below the state dirs reachable by other users -------------------------------
for d in "$MNT" "$REPO" "$DBDIR"; do
  expect_eq "$d made root 0700 at start" "0:0 700" "$(stat -c '%u:%g %a' "$d")"
done
expect_match "the fix is logged" "mode 0755: made it uid 0's, mode 0700" "$(cat "$FW_LOG")"

FW=$FW_TMP/fw
cp -a "$FW_EX_DIR" "$FW"
run fwctl prepare instances "$FW"
expect_eq "prepare instance: exit 0" 0 "$RC"
NAME=$(sed -n 's/^name: //p' <<<"$OUT")
SHA1=$(sed -n 's/^sha1: //p' <<<"$OUT")
WS=$MNT/instances/$SHA1
expect_eq "workspace is 0700" "700" "$(stat -c %a "$WS")"
# A setuid-root program made inside the instance (written through the merged tree, as the
# instance's root would).
install -m 4755 -o root /usr/bin/id "$WS/union/suid-id"
check "the setuid file is there, setuid" test -u "$WS/union/suid-id"
run as_other "$WS/union/suid-id" -u
expect_eq "other user: exec of the instance's setuid file fails" 126 "$RC"
expect_match "other user: exec refused with EACCES" "Permission denied" "$ERR"
run as_other ls "$WS"
expect_match "other user: listing the workspace: EACCES" "Permission denied" "$ERR"
run as_member "$WS/union/suid-id" -u
expect_match "group member: exec refused with EACCES" "Permission denied" "$ERR"
# Defence in depth: the host-side overlay is nosuid,nodev; the instance's own copy is not
# (the monitor clears both in its mount namespace), so the firmware's setuid programs work.
expect_match "host-side union mounted nosuid,nodev" "nosuid,nodev" \
  "$(awk -v d="$WS/union" '$5 == d { print $6 }' /proc/self/mountinfo)"
run fwctl start --wait-console 'firmware booted' --timeout 30 "$NAME"
expect_eq "the instance boots on a nosuid host mount" 0 "$RC"
INIT_PID=$(fw_inst_prop "$NAME" init_pid)
INNER=$(awk '$5 == "/" { print $6 }' "/proc/$INIT_PID/mountinfo")
expect_match "inside: the root mount is rw" "^rw" "$INNER"
check "inside: the root mount is neither nosuid nor nodev ($INNER)" \
  test -z "$(grep -E 'nosuid|nodev' <<<"$INNER")"
check "inside: the setuid bit is there" nsenter -t "$INIT_PID" -m test -u /suid-id
run fwctl kill "$NAME"
expect_eq "kill: exit 0" 0 "$RC"
run as_other ls "$REPO"
expect_match "other user: listing the repository: EACCES" "Permission denied" "$ERR"

# ---- 3. directory firmwares for root only, images with the client's rights -----------------
run as_member "$FWCTL" prepare firmwares "$FW"
expect_eq "member: directory firmware refused (EPERM)" 1 "$RC"
expect_match "member: says why and suggests an image" \
  "cannot import directory '$FW' as uid $MEMBER_UID: directory firmwares are reserved to root.*import a filesystem image instead" \
  "$ERR"
run as_member "$FWCTL" prepare instances /usr
expect_match "member: /usr through PREPARE instances refused" "reserved to root" "$ERR"
mkdir -m 0700 "$FW_TMP/private"
cp "$FW_EX_EXT2" "$FW_TMP/private/secret.ext2"
cp "$FW_EX_EXT2" "$FW_TMP/root-only.ext2"
chmod 0600 "$FW_TMP/root-only.ext2"
run as_member "$FWCTL" prepare firmwares "$FW_TMP/root-only.ext2"
expect_eq "member: unreadable image refused" 1 "$RC"
expect_match "member: EACCES naming the path and uid" \
  "opening firmware image '$FW_TMP/root-only.ext2' as uid $MEMBER_UID: Permission denied" "$ERR"
run as_member "$FWCTL" prepare firmwares "$FW_TMP/private/secret.ext2"
expect_match "member: image in a dir it cannot search refused" \
  "as uid $MEMBER_UID.*Permission denied" "$ERR"
run as_member "$FWCTL" prepare firmwares /dev/null
expect_match "member: a device is not an image" "is a character device" "$ERR"
cp "$FW_EX_EXT2" "$FW_TMP/readable.ext2"
chmod 0644 "$FW_TMP/readable.ext2"
run as_member "$FWCTL" prepare firmwares "$FW_TMP/readable.ext2"
expect_eq "member: readable image imported" 0 "$RC"
run fwctl prepare firmwares "$FW_TMP/root-only.ext2"
expect_eq "root: root-only image imported (existing or new)" 0 "$RC"

# ---- 5. EXPORT replaces only regular files ---------------------------------------------------
# A private node of /dev/null's device, not /dev/null itself: on a daemon with the bug the
# test would replace the host's /dev/null (it did, once, while this test was written).
mknod -m 666 "$FW_TMP/devnull" c 1 3
run fwctl export "$NAME" --changes "$FW_TMP/devnull" --force
expect_eq "root: export over a character device --force refused" 1 "$RC"
expect_match "root: says it is a character device" \
  "'$FW_TMP/devnull' exists and is a character device: an export replaces only a regular file" \
  "$ERR"
expect_eq "the device node is still a character device 1:3" "character special file 1:3" \
  "$(stat -c '%F %t:%T' "$FW_TMP/devnull")"
ln -s "$FW_TMP/export-target" "$FW_TMP/out.lnk"
run fwctl export "$NAME" --changes "$FW_TMP/out.lnk" --force
expect_match "root: symlink output refused" "is a symbolic link" "$ERR"
check "the symlink's target was not created" test ! -e "$FW_TMP/export-target"
check "the symlink stays" test -L "$FW_TMP/out.lnk"
mkdir "$FW_TMP/out.dir"
run fwctl export "$NAME" --changes "$FW_TMP/out.dir" --force
expect_match "root: directory output refused" "is a directory" "$ERR"
echo old >"$FW_TMP/out.tar"
run fwctl export "$NAME" --changes "$FW_TMP/out.tar"
expect_match "existing regular file without --force: EEXIST" "exists \(--force replaces it\)" "$ERR"
run fwctl export "$NAME" --changes "$FW_TMP/out.tar" --force
expect_eq "regular file replaced with --force" 0 "$RC"
check "the replacement is a tar" tar -tf "$FW_TMP/out.tar"
mkdir -m 0777 "$FW_TMP/member-out"
run as_member "$FWCTL" export "$NAME" --changes "$FW_TMP/member-out/x.tar"
expect_eq "member: export written" 0 "$RC"
expect_eq "member: output owned by the member" "$MEMBER_UID" "$(stat -c %u "$FW_TMP/member-out/x.tar")"
run as_member "$FWCTL" export "$NAME" --changes "$FW_TMP/private/x.tar"
expect_match "member: no export where it cannot write" "Permission denied" "$ERR"
check "nothing written in the private dir" test ! -e "$FW_TMP/private/x.tar"

# ---- 6. stolen interfaces -------------------------------------------------------------------
run as_member "$FWCTL" set_property instances "$NAME" stolen_interface eth0
expect_eq "member: stealing eth0 refused" 1 "$RC"
expect_match "member: EPERM names interface and key" \
  "interface 'eth0' may be stolen by uid $MEMBER_UID only if the configuration key stealable_interfaces lists it" \
  "$ERR"
expect_eq "refused value not stored" "" "$(fwctl get_property instances "$NAME" stolen_interface)"
run as_member "$FWCTL" set_property instances "$NAME" stolen_interface fwthpok1:inner0
expect_eq "member: allowlisted interface accepted" 0 "$RC"
run as_member "$FWCTL" set_property instances "$NAME" stolen_btusb hci0
expect_match "member: stolen_btusb refused" "only root may set stolen_btusb" "$ERR"
run fwctl set_property instances "$NAME" stolen_interface eth0
expect_eq "root: any interface" 0 "$RC"
run fwctl set_property instances "$NAME" stolen_interface ""
run fwctl drop instances "$NAME"
expect_eq "drop instance: exit 0" 0 "$RC"

# ---- 4. the host's root never mounted as a firmware -----------------------------------------
mkdir "$FW_TMP/etc"  # looks like a rootfs, holds mount_path, repository_path, the database
run fwctl prepare firmwares "$FW_TMP"
expect_match "a directory holding the state dirs is refused" "holds the daemon's state directory" "$ERR"

# (a) registered, then replaced by a symlink to / while the daemon is away.
TAMPER=$FW_TMP/tamper
cp -a "$FW_EX_DIR" "$TAMPER"
run fwctl prepare firmwares "$TAMPER"
expect_eq "prepare the directory firmware" 0 "$RC"
T_SHA1=$(sed -n 's/^sha1: //p' <<<"$OUT")
T_NAME=$(sed -n 's/^name: //p' <<<"$OUT")
stop_daemon
mv "$TAMPER" "$TAMPER.real"
ln -s / "$TAMPER"
start_daemon
mounted_at() { awk -v d="$1" '$5 == d' /proc/self/mountinfo; }
expect_eq "tampered firmware not mounted" "" "$(mounted_at "$MNT/firmwares/$T_SHA1")"
ROOT_ID=$(stat -c %d:%i /)
check "its mount point is not the host's root" \
  test "$(stat -c %d:%i "$MNT/firmwares/$T_SHA1")" != "$ROOT_ID"
expect_match "the log names the firmware and the symlink" \
  "firmware $T_NAME \[$T_SHA1\] left unmounted, unusable: opening directory '$TAMPER': a component of the path is a symbolic link" \
  "$(cat "$FW_LOG")"
run fwctl prepare instances "$T_NAME"
expect_match "an instance of it is refused: unusable" "its firmware is not mounted.*unusable" "$ERR"
rm "$TAMPER"
mv "$TAMPER.real" "$TAMPER"
run fwctl drop firmwares "$T_NAME"
expect_eq "the tampered firmware can be dropped" 0 "$RC"

# (b) the path flipped between a real directory and a symlink to / during PREPAREs.
RACE=$FW_TMP/race
cp -a "$FW_EX_DIR" "$RACE"
touch "$RACE/.fwthp-marker"
ln -s / "$FW_TMP/race.alt"
"$PYTHON" - "$RACE" "$FW_TMP/race.alt" "$FW_TMP/race.stop" <<'EOF' &
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b, stop = (p.encode() for p in sys.argv[1:4])
AT_FDCWD, RENAME_EXCHANGE = -100, 2
while not os.path.exists(stop):
    libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE)
EOF
FLIPPER=$!
successes=0 root_mounts=0 refusals=0
for i in $(seq 1 200); do
  run fwctl prepare firmwares "$RACE"
  if [[ $RC -eq 0 ]]; then
    successes=$((successes + 1))
    s=$(sed -n 's/^sha1: //p' <<<"$OUT")
    n=$(sed -n 's/^name: //p' <<<"$OUT")
    if [[ "$(stat -c %d:%i "$MNT/firmwares/$s")" == "$ROOT_ID" ]] ||
       [[ ! -e "$MNT/firmwares/$s/.fwthp-marker" ]]; then
      root_mounts=$((root_mounts + 1))
    fi
    fwctl drop firmwares "$n" >/dev/null
  else
    refusals=$((refusals + 1))
  fi
done
touch "$FW_TMP/race.stop"
wait "$FLIPPER"
echo "race: $successes PREPAREs mounted the real directory, $refusals refused, $root_mounts mounted something else"
expect_eq "race: the host's root was never mounted" 0 "$root_mounts"
check "race: some PREPAREs were refused (the race was real)" test "$refusals" -gt 0

fwctl drop firmwares "$(sha1sum "$FW_TMP/readable.ext2" | cut -c1-40)" >/dev/null 2>&1 || true
fwctl drop firmwares "$(sha1sum "$FW_EX_EXT2" | cut -c1-40)" >/dev/null 2>&1 || true

# ---- 7. a firmware's /dev that is a symlink out of its root ---------------------------------
HOSTDEV=$FW_TMP/hostdev
mkdir "$HOSTDEV"
touch "$HOSTDEV/.fwthp-marker"
DEVLINK=$FW_TMP/devlink
cp -a "$FW_EX_DIR" "$DEVLINK"
rm -rf "$DEVLINK/dev"
ln -s "$HOSTDEV" "$DEVLINK/dev"
run fwctl prepare instances "$DEVLINK"
expect_eq "devlink: prepare instance: exit 0" 0 "$RC"
D_NAME=$(sed -n 's/^name: //p' <<<"$OUT")
run fwctl start "$D_NAME"
check "devlink: START fails" test "$RC" -ne 0
expect_match "devlink: the error names the firmware's /dev" \
  "the firmware's /dev is a symbolic link; firmwared mounts its own /dev there" "$ERR"
expect_eq "devlink: the host directory is untouched" ".fwthp-marker" "$(ls -A "$HOSTDEV")"
check "devlink: nothing is mounted on the host directory" \
  test -z "$(awk -v d="$HOSTDEV" '$5 == d' /proc/self/mountinfo)"
run fwctl drop instances "$D_NAME"
expect_eq "devlink: drop instance: exit 0" 0 "$RC"
stop_daemon
