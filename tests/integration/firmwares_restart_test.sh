#!/usr/bin/env bash
# Firmwares persist across daemon restarts: after SIGTERM and after
# SIGKILL every firmware, name and custom property is back and mounted again, once; stale
# mounts, loop devices and half-imported files of a crash are cleaned at start.
source "$(dirname "$0")/../lib/harness.sh"
require_root
setup
build_example_firmware
start_daemon

REPO=$FIRMWARED_REPOSITORY_PATH
MNT=$FIRMWARED_MOUNT_PATH/firmwares
loops_of() { losetup -n -j "$1" | wc -l; }

# A second directory firmware whose source will vanish while the daemon is down.
cp -a "$FW_EX_DIR" "$FW_TMP/vanishing"

declare -a IDS
for src in "$FW_EX_DIR" "$FW_EX_EXT2" "$FW_EX_SQUASHFS" "$FW_TMP/vanishing"; do
  run fwctl prepare firmwares "$src"
  expect_eq "prepare $(basename "$src")" 0 "$RC"
  IDS+=("$(field name "$OUT")")
done
EXT2_SHA1=$(sha1sum "$FW_EX_EXT2" | cut -c1-40)
SQFS_SHA1=$(sha1sum "$FW_EX_SQUASHFS" | cut -c1-40)
EXT2_COPY=$REPO/example.ext2.$EXT2_SHA1.firmware
SQFS_COPY=$REPO/example.squashfs.$SQFS_SHA1.firmware

fwctl add_property firmwares vendor >/dev/null
fwctl add_property firmwares 'tags[]' >/dev/null
fwctl set_property firmwares "${IDS[0]}" vendor "dir vendor"
fwctl set_property firmwares "${IDS[1]}" vendor parrot
fwctl set_property firmwares "${IDS[1]}" tags "a 'b c' d"
fwctl set_property firmwares "${IDS[2]}" 'tags[0]' only

snapshot() {
  local id
  "$FWCTL" list firmwares
  "$FWCTL" properties firmwares
  for id in "${IDS[@]}"; do "$FWCTL" show firmwares "$id"; done
}
BEFORE=$(snapshot)
expect_eq "4 mounts before any restart" 4 "$(fw_inst_mounts_below "$MNT")"

# Checks the state after a restart; $1 says which, $2 is the number of firmwares that can
# be mounted.
check_restored() {
  local how=$1 count=$2 sha1
  expect_eq "after $how: list, properties and show identical" "$BEFORE" "$(snapshot)"
  expect_eq "after $how: one mount per firmware (stale ones not stacked)" "$count" \
    "$(fw_inst_mounts_below "$MNT")"
  for sha1 in "$EXT2_SHA1" "$SQFS_SHA1" "$(printf %s "$(realpath "$FW_EX_DIR")" | sha1sum | cut -c1-40)"; do
    expect_eq "after $how: $sha1 mounted once" 1 "$(fw_inst_mounts_below "$MNT/$sha1")"
    check "after $how: $sha1 content visible" test -r "$MNT/$sha1/etc/build.prop"
    run touch "$MNT/$sha1/written"
    expect_match "after $how: $sha1 read-only" 'Read-only file system' "$ERR"
  done
  expect_eq "after $how: exactly one loop device on the ext2 copy" 1 "$(loops_of "$EXT2_COPY")"
  expect_eq "after $how: exactly one loop device on the squashfs copy" 1 "$(loops_of "$SQFS_COPY")"
  expect_eq "after $how: custom scalar kept" parrot \
    "$("$FWCTL" get_property firmwares "${IDS[1]}" vendor)"
  expect_eq "after $how: custom array kept" "b c" \
    "$("$FWCTL" get_property firmwares "${IDS[1]}" 'tags[1]')"
  check "after $how: no half-imported file" test -z "$(ls -A "$REPO" | grep '^\.import-')"
}

# ---- the source of a dir firmware vanishes while the daemon is down ---------------------
# (restart 1, SIGTERM): the daemon still starts, the firmware is listed but not mounted.
stop_daemon && rc=0 || rc=$?
expect_eq "SIGTERM: exit 0" 0 "$rc"
VANISHING_SHA1=$(printf %s "$(realpath "$FW_TMP/vanishing")" | sha1sum | cut -c1-40)
mv "$FW_TMP/vanishing" "$FW_TMP/vanished"
start_daemon
check_restored "SIGTERM" 3
check "a firmware whose dir vanished is logged" grep -q "firmware ${IDS[3]} \[.*\] left unmounted, unusable: .*ignoring" "$FW_LOG"
expect_eq "a firmware whose dir vanished is not mounted" 0 "$(fw_inst_mounts_below "$MNT/$VANISHING_SHA1")"
mv "$FW_TMP/vanished" "$FW_TMP/vanishing"

# ---- SIGKILL, plus the debris of a crash ------------------------------------------------

kill -KILL "$FW_DAEMON_PID"
wait "$FW_DAEMON_PID" 2>/dev/null || true
FW_DAEMON_PID=""
expect_eq "SIGKILL leaves the mounts behind" 3 "$(fw_inst_mounts_below "$MNT")"
: >"$REPO/.import-123-1.tmp"
# A leaked loop device on an image of the repository, held by no mount.
leaked=$(losetup -f --show -r "$EXT2_COPY")
expect_eq "leaked loop device attached" 2 "$(loops_of "$EXT2_COPY")"
# A mount stacked on a firmware's mount point, and a stale mount of a firmware the catalogue
# does not know (a crash between mounting and recording it).
DIR_SHA1=$(printf %s "$(realpath "$FW_EX_DIR")" | sha1sum | cut -c1-40)
mount --bind "$FW_EX_DIR" "$MNT/$DIR_SHA1"
UNKNOWN=$MNT/$(printf unknown | sha1sum | cut -c1-40)
mkdir "$UNKNOWN"
mount -t tmpfs fwtest-stale "$UNKNOWN"
expect_eq "stale mounts in place before the restart" 5 "$(fw_inst_mounts_below "$MNT")"
start_daemon
check_restored "SIGKILL" 4
expect_eq "stale mount of an unknown firmware unmounted" 0 "$(fw_inst_mounts_below "$UNKNOWN")"
[[ -e "$UNKNOWN" ]] && echo "NOTE: the empty mount dir of an unknown firmware stays: $UNKNOWN"
check "stale .import-123-1.tmp removed at start" test ! -e "$REPO/.import-123-1.tmp"
check "leaked loop device detached" bash -c "! losetup -n -j '$EXT2_COPY' | grep -q '^$leaked:'"
expect_eq "the vanished dir is back and mounted after this restart" 1 \
  "$(fw_inst_mounts_below "$MNT/$VANISHING_SHA1")"

# A second SIGKILL right after: still one mount each.
kill -KILL "$FW_DAEMON_PID"
wait "$FW_DAEMON_PID" 2>/dev/null || true
FW_DAEMON_PID=""
start_daemon
check_restored "a second SIGKILL" 4

# ---- a crash or a stop in the middle of an import --------------------------------------

mkdir "$FW_TMP/bigsrc"
head -c 200M /dev/urandom >"$FW_TMP/bigsrc/blob"
truncate -s 260M "$FW_TMP/big.ext4"
mke2fs -q -F -t ext4 -d "$FW_TMP/bigsrc" "$FW_TMP/big.ext4"
rm -rf "$FW_TMP/bigsrc"

# Waits until the import has created its temporary file; prints whether it did.
wait_tmp() {
  for _ in $(seq 1 500); do
    ls -A "$REPO" | grep -q '^\.import-' && { echo yes; return; }
    sleep 0.005
  done
  echo no
}
"$FWCTL" prepare firmwares "$FW_TMP/big.ext4" >/dev/null 2>&1 &
prep=$!
if [[ $(wait_tmp) == yes ]]; then
  kill -KILL "$FW_DAEMON_PID"
  wait "$FW_DAEMON_PID" 2>/dev/null || true
  FW_DAEMON_PID=""
  check "SIGKILL mid-import leaves its temporary file" \
    test -n "$(ls -A "$REPO" | grep '^\.import-')"
  wait "$prep" 2>/dev/null && rc=0 || rc=$?
  expect_eq "fwctl says the daemon went away mid-import" 3 "$rc"
  start_daemon
  check "restart removes the crashed import's temporary file" \
    test -z "$(ls -A "$REPO" | grep '^\.import-')"
  check_restored "SIGKILL mid-import" 4
else
  wait "$prep" 2>/dev/null || true
  echo "NOTE: the import finished before it could be interrupted; SIGKILL mid-import not tested"
fi
"$FWCTL" drop firmwares "$(sha1sum "$FW_TMP/big.ext4" | cut -c1-40)" >/dev/null 2>&1 || true

"$FWCTL" prepare firmwares "$FW_TMP/big.ext4" >/dev/null 2>&1 &
prep=$!
if [[ $(wait_tmp) == yes ]]; then
  t0=$(date +%s%N)
  stop_daemon && rc=0 || rc=$?
  t1=$(date +%s%N)
  expect_eq "SIGTERM mid-import: exit 0" 0 "$rc"
  echo "SIGTERM mid-import: daemon stopped in $(((t1 - t0) / 1000000)) ms"
  check "SIGTERM mid-import: stopped within 2 s" test $(((t1 - t0) / 1000000)) -lt 2000
  check "SIGTERM mid-import: no temporary file left" \
    test -z "$(ls -A "$REPO" | grep '^\.import-')"
  wait "$prep" 2>/dev/null || true
  start_daemon
  check_restored "SIGTERM mid-import" 4
else
  wait "$prep" 2>/dev/null || true
  echo "NOTE: the import finished before it could be interrupted; SIGTERM mid-import not tested"
fi
"$FWCTL" drop firmwares "$(sha1sum "$FW_TMP/big.ext4" | cut -c1-40)" >/dev/null 2>&1 || true
rm -f "$FW_TMP/big.ext4"

# ---- drop everything; nothing may remain -----------------------------------------------

for id in "${IDS[@]}"; do
  run fwctl drop firmwares "$id"
  expect_eq "drop $id" "$id dropped" "$OUT"
done
expect_eq "catalogue empty" "" "$("$FWCTL" list firmwares)"
expect_eq "repository empty" "" "$(ls -A "$REPO")"
stop_daemon && rc=0 || rc=$?
expect_eq "final SIGTERM: exit 0" 0 "$rc"
start_daemon
expect_eq "nothing comes back after the drops" "" "$("$FWCTL" list firmwares)"
expect_eq "no mount after the drops and a restart" 0 "$(fw_inst_mounts_below "$MNT")"
stop_daemon
assert_no_leaks
