#!/usr/bin/env bash
# A full repository: an import that runs out of space mid-copy fails with
# ENOSPC, leaves no temporary file and changes nothing; a small image still imports.
source "$(dirname "$0")/../lib/harness.sh"
require_root
setup
build_example_firmware

SMALL=$FW_TMP/small
mkdir -p "$SMALL"
mount -t tmpfs -o size=6m,mode=0755 fwtest-small "$SMALL"  # the harness unmounts it
export FIRMWARED_REPOSITORY_PATH=$SMALL/repo
REPO=$FIRMWARED_REPOSITORY_PATH
start_daemon

# Something catalogued already, to see that a failed import leaves it alone.
run fwctl prepare firmwares "$FW_EX_DIR"
expect_eq "dir firmware prepared" 0 "$RC"

# An image bigger than the free space: a valid ext2 of 10 MiB with incompressible data.
mkdir -p "$FW_TMP/bigsrc/etc"
head -c 8M /dev/urandom >"$FW_TMP/bigsrc/etc/blob"
mke2fs -q -F -t ext2 -d "$FW_TMP/bigsrc" "$FW_TMP/big.ext2" 10M >/dev/null
free_kib=$(df -k --output=avail "$SMALL" | tail -n1 | tr -d ' ')
echo "repository free space: $free_kib KiB; image: $(($(stat -c %s "$FW_TMP/big.ext2") / 1024)) KiB"

list_before=$("$FWCTL" list firmwares)
repo_before=$(ls -A "$REPO")
mounts_before=$(grep -c "$FW_TMP/" /proc/self/mountinfo)
run fwctl prepare firmwares "$FW_TMP/big.ext2"
expect_eq "import into a full repository exits 1" 1 "$RC"
expect_match "the error names ENOSPC" '^firmwared error: .*big\.ext2.*No space left on device' "$ERR"
expect_eq "nothing on stdout" "" "$OUT"
run fwctl --json prepare firmwares "$FW_TMP/big.ext2"
expect_match "--json: errno 28 ENOSPC" '"errno":28,"error":"ENOSPC"' "$OUT"
expect_eq "no temporary file left" "" "$(ls -A "$REPO" | grep '^\.import-' || true)"
expect_eq "repository unchanged" "$repo_before" "$(ls -A "$REPO")"
expect_eq "catalogue unchanged" "$list_before" "$("$FWCTL" list firmwares)"
expect_eq "no new mount" "$mounts_before" "$(grep -c "$FW_TMP/" /proc/self/mountinfo)"
expect_eq "the space is given back" "$free_kib" "$(df -k --output=avail "$SMALL" | tail -n1 | tr -d ' ')"
run fwctl ping
expect_eq "daemon still answers" PONG "$OUT"

# A small image still fits.
run fwctl prepare firmwares "$FW_EX_SQUASHFS"
expect_eq "small image imports after ENOSPC" 0 "$RC"
expect_eq "small image: created" "new entity in firmwares folder created" "$(head -n1 <<<"$OUT")"
SQFS_SHA1=$(sha1sum "$FW_EX_SQUASHFS" | cut -c1-40)
check "small image in the repository" test -f "$REPO/example.squashfs.$SQFS_SHA1.firmware"
check "small image mounted" test -r "$FIRMWARED_MOUNT_PATH/firmwares/$SQFS_SHA1/etc/build.prop"

# Preparing an image that is already catalogued answers the existing entity ("no
# copy"), even when the repository has no room for a second copy of it.
avail=$(df -k --output=avail "$SMALL" | tail -n1 | tr -d ' ')
fallocate -l $(((avail - 128) * 1024)) "$SMALL/filler"
echo "repository free space now: $(df -k --output=avail "$SMALL" | tail -n1 | tr -d ' ') KiB"
run fwctl prepare firmwares "$FW_EX_SQUASHFS"
expect_eq "existing image on a full repository: exit 0" 0 "$RC"
expect_eq "existing image on a full repository: the existing entity, no ENOSPC" \
  "entity already in firmwares folder" "$(head -n1 <<<"$OUT")$ERR"
expect_eq "existing image on a full repository: no temporary file" "" \
  "$(ls -A "$REPO" | grep '^\.import-' || true)"
rm -f "$SMALL/filler"

# Dropping frees the space again.
run fwctl drop firmwares "$SQFS_SHA1"
expect_eq "drop the small image" "$SQFS_SHA1 dropped" "$OUT"
run fwctl drop firmwares "$(sed -n 's/\[.*//p' <<<"$list_before")"
expect_eq "drop the dir" 0 "$RC"
expect_eq "repository empty" "" "$(ls -A "$REPO")"
stop_daemon
umount "$SMALL"
assert_no_leaks
