#!/usr/bin/env bash
# The firmwares folder through fwctl: PREPARE of a directory, ext2, squashfs and
# erofs images (ids, fdc texts, repository copies, read-only mounts), identifiers, LIST,
# SHOW, properties (built-in and custom, scalar and array), every bad input with a clear
# error and no side effect, a long import that does not block the daemon and reports its
# progress, a client vanishing mid-import, DROP. Leaves no mount, loop device or process.
source "$(dirname "$0")/../lib/harness.sh"
require_root
setup
build_example_firmware
start_daemon

REPO=$FIRMWARED_REPOSITORY_PATH
MNT=$FIRMWARED_MOUNT_PATH/firmwares
EVENTS=$FW_TMP/events.json
EVENTS_PID=""

# The subscriber is ours: stop it by its pid whatever happens (the harness then cleans up).
stop_subscriber() {
  [[ -n "$EVENTS_PID" ]] || return 0
  kill -INT "$EVENTS_PID" 2>/dev/null || true
  wait "$EVENTS_PID" 2>/dev/null || true
  EVENTS_PID=""
}
trap 'rc=$?; stop_subscriber; (exit $rc); fw_cleanup' EXIT  # fw_cleanup reads $?

sha1_of() { sha1sum <"$1" | cut -c1-40; }
# What must not change when a request fails: catalogue, repository, mounts, loop devices.
state() {
  "$FWCTL" list firmwares
  ls -A "$REPO"
  ls -A "$MNT"
  awk -v d="$FW_TMP" 'index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort
  losetup -n -O BACK-FILE 2>/dev/null | grep -F "$FW_TMP/" | sort || true
}

# ---- PREPARE of each kind ----------------------------------------------------------------

# A directory: registered in place, id = SHA-1 of its canonical path.
run fwctl prepare firmwares "$FW_EX_DIR"
expect_eq "prepare dir exits 0" 0 "$RC"
DIR_SHA1=$(printf %s "$(realpath "$FW_EX_DIR")" | sha1sum | cut -c1-40)
expect_match "prepare dir: three fdc lines" \
  "^new entity in firmwares folder created
sha1: $DIR_SHA1
name: [a-z]+_[a-z]+\$" "$OUT"
expect_eq "prepare dir: nothing on stderr (it has /sbin/init)" "" "$ERR"
DIR_NAME=$(field name "$OUT")
check "a directory is never copied into the repository" test -z "$(ls -A "$REPO")"

# Subscribe now; PROPERTY_SET events prove the subscription is live before the imports.
run fwctl add_property firmwares vendor
expect_eq "add_property output" "property vendor added" "$OUT"
"$FWCTL" --json events >"$EVENTS" 2>"$FW_TMP/events.err" &
EVENTS_PID=$!
for _ in $(seq 1 200); do
  "$FWCTL" set_property firmwares "$DIR_NAME" vendor probe
  grep -q '"PROPERTY_SET"' "$EVENTS" && break
  sleep 0.025
done
check "subscriber receives PROPERTY_SET" grep -q '"event":"PROPERTY_SET"' "$EVENTS"

declare -A SHA1 NAME
IMAGES=(ext2 squashfs)
[[ -n "$FW_EX_EROFS" ]] && IMAGES+=(erofs) || echo "NOTE: mkfs.erofs missing, erofs not tested"
for fmt in "${IMAGES[@]}"; do
  var=FW_EX_${fmt^^}
  img=${!var}
  run fwctl prepare firmwares "$img"
  expect_eq "prepare $fmt exits 0" 0 "$RC"
  SHA1[$fmt]=$(sha1_of "$img")
  expect_match "prepare $fmt: three fdc lines, sha1 of the content" \
    "^new entity in firmwares folder created
sha1: ${SHA1[$fmt]}
name: [a-z]+_[a-z]+\$" "$OUT"
  expect_eq "prepare $fmt: no progress bar on a pipe" "" "$ERR"
  NAME[$fmt]=$(field name "$OUT")
  copy="$REPO/$(basename "$img").${SHA1[$fmt]}.firmware"
  check "$fmt copied as <basename>.<sha1>.firmware" test -f "$copy"
  expect_eq "$fmt copy is identical" "${SHA1[$fmt]}" "$(sha1_of "$copy" 2>/dev/null)"
done
expect_eq "repository holds one copy per image" "${#IMAGES[@]}" "$(ls -A "$REPO" | wc -l)"
check "no temporary file left in the repository" test -z "$(ls -A "$REPO" | grep '^\.import-')"

# Names are unique.
expect_eq "names are unique" $((1 + ${#IMAGES[@]})) \
  "$(printf '%s\n' "$DIR_NAME" "${NAME[@]}" | sort -u | wc -l)"

# The same firmware twice: the existing entity, no second copy.
before=$(ls -A "$REPO")
run fwctl prepare firmwares "$FW_EX_EXT2"
expect_eq "same image twice" "$(printf 'entity already in firmwares folder\nsha1: %s\nname: %s' \
  "${SHA1[ext2]}" "${NAME[ext2]}")" "$OUT"
expect_eq "same image twice exits 0" 0 "$RC"
expect_eq "same image twice: no second copy" "$before" "$(ls -A "$REPO")"
run fwctl prepare firmwares "$FW_EX_DIR"
expect_eq "same dir twice" "$(printf 'entity already in firmwares folder\nsha1: %s\nname: %s' \
  "$DIR_SHA1" "$DIR_NAME")" "$OUT"

# Relative paths are resolved against fwctl's working directory.
OUT=$(cd "$(dirname "$FW_EX_EXT2")" && "$FWCTL" prepare firmwares ./"$(basename "$FW_EX_EXT2")") || true
expect_eq "relative image path: same sha1" "${SHA1[ext2]}" "$(field sha1 "$OUT")"
OUT=$(cd "$(dirname "$FW_EX_DIR")" && "$FWCTL" prepare firmwares ./rootfs/../rootfs) || true
expect_eq "relative dir path: same canonical sha1" "$DIR_SHA1" "$(field sha1 "$OUT")"
# A symlink to the directory is the same directory.
ln -s "$FW_EX_DIR" "$FW_TMP/rootfs-link"
OUT=$("$FWCTL" prepare firmwares "$FW_TMP/rootfs-link/") || true
expect_eq "dir through a symlink: same sha1" "$DIR_SHA1" "$(field sha1 "$OUT")"

# file:// URLs, percent-decoded.
run fwctl prepare firmwares "file://$FW_EX_SQUASHFS"
expect_eq "file:// URL: same firmware" "entity already in firmwares folder" "$(head -n1 <<<"$OUT")"
expect_eq "file:// URL: same sha1" "${SHA1[squashfs]}" "$(field sha1 "$OUT")"
mkdir "$FW_TMP/with space"
cp "$FW_EX_SQUASHFS" "$FW_TMP/with space/copy.squashfs"
run fwctl prepare firmwares "file://$FW_TMP/with%20space/copy.squashfs"
expect_eq "percent-encoded file:// URL: same sha1" "${SHA1[squashfs]}" "$(field sha1 "$OUT")"
expect_eq "same content under another name: no second copy" "$before" "$(ls -A "$REPO")"

# A hostile file name never makes a hostile repository name (no leading dot, no control
# character, no whitespace, no slash).
HOSTILE=$FW_TMP/$'..evil\nname \x01;$(id).ext2'
cp "$FW_EX_EXT2" "$HOSTILE"
printf 'x' | dd of="$HOSTILE" bs=1 seek=$(($(stat -c %s "$HOSTILE") - 1)) conv=notrunc status=none
HOSTILE_SHA1=$(sha1_of "$HOSTILE")
run fwctl prepare firmwares "$HOSTILE"
expect_eq "hostile file name: imported" "$HOSTILE_SHA1" "$(field sha1 "$OUT")"
hostile_copy=$(ls -A "$REPO" | grep -F "$HOSTILE_SHA1" || true)
expect_match "hostile file name: safe repository name" "^[A-Za-z0-9_-][A-Za-z0-9._-]*\.$HOSTILE_SHA1\.firmware\$" \
  "$hostile_copy"
run fwctl drop firmwares "$HOSTILE_SHA1"
expect_eq "hostile file name: dropped" "$HOSTILE_SHA1 dropped" "$OUT"
expect_eq "hostile file name: copy removed" "$before" "$(ls -A "$REPO")"
rm -f "$HOSTILE"

# ---- read-only mounts ----------------------------------------------------------------------

ALL_SHA1=("$DIR_SHA1")
ALL_NAME=("$DIR_NAME")
for fmt in "${IMAGES[@]}"; do ALL_SHA1+=("${SHA1[$fmt]}"); ALL_NAME+=("${NAME[$fmt]}"); done
for i in "${!ALL_SHA1[@]}"; do
  s=${ALL_SHA1[$i]} n=${ALL_NAME[$i]}
  mp=$MNT/$s
  expect_eq "$n: base_workspace is <mount_path>/firmwares/<sha1>" "$mp" \
    "$("$FWCTL" get_property firmwares "$n" base_workspace)"
  expect_eq "$n: mounted once at base_workspace" 1 "$(fw_inst_mounts_below "$mp")"
  expect_match "$n: mounted read-only" '^ro,' \
    "$(awk -v d="$mp" '$5 == d { print $6 }' /proc/self/mountinfo)"
  expect_match "$n: /etc/build.prop readable" '.' "$(cat "$mp/etc/build.prop" 2>&1)"
  run touch "$mp/etc/written-by-test"
  expect_match "$n: writing fails with EROFS" 'Read-only file system' "$ERR"
done
check "the source dir stays writable (only the bind mount is ro)" touch "$FW_EX_DIR/tmp/ok"
rm -f "$FW_EX_DIR/tmp/ok"
for fmt in "${IMAGES[@]}"; do
  img_var=FW_EX_${fmt^^}
  copy="$REPO/$(basename "${!img_var}").${SHA1[$fmt]}.firmware"
  expect_eq "$fmt: exactly one loop device on the repository copy" 1 \
    "$(losetup -n -j "$copy" | wc -l)"
done

# ---- LIST, SHOW, identifiers -----------------------------------------------------------

expected_list=""
for i in "${!ALL_SHA1[@]}"; do expected_list+="${expected_list:+ }${ALL_NAME[$i]}[${ALL_SHA1[$i]}]"; done
run fwctl list firmwares
expect_eq "list: name[sha1] in creation order" "$expected_list" "$OUT"
run fwctl --json list firmwares
expect_eq "list --json names the entities" "${#ALL_SHA1[@]}" \
  "$(jq '.entities | length' <<<"$OUT")"

run fwctl show firmwares "${NAME[ext2]}"
expect_eq "show ext2: built-ins in order, then custom properties" "$(cat <<X
name: ${NAME[ext2]}
sha1: ${SHA1[ext2]}
base_workspace: $MNT/${SHA1[ext2]}
path: $REPO/example.ext2.${SHA1[ext2]}.firmware
uuid: $(blkid -s UUID -o value "$FW_EX_EXT2")
format: ext2
size: $(stat -c %s "$FW_EX_EXT2")
stop_signal: SIGTERM
vendor: 
X
)" "$OUT"
run fwctl show firmwares "$DIR_SHA1"
expect_eq "show dir" "$(cat <<X
name: $DIR_NAME
sha1: $DIR_SHA1
base_workspace: $MNT/$DIR_SHA1
path: $(realpath "$FW_EX_DIR")
uuid: 
format: dir
$(grep '^size: ' <<<"$OUT")
stop_signal: SIGTERM
vendor: probe
X
)" "$OUT"
expect_match "dir size is a number" '^size: [0-9]+$' "$(grep '^size: ' <<<"$OUT")"
run fwctl show firmwares "${NAME[squashfs]}"
expect_eq "squashfs has no uuid" "uuid: " "$(grep '^uuid:' <<<"$OUT")"
expect_eq "squashfs format" "format: squashfs" "$(grep '^format:' <<<"$OUT")"
if [[ -n "$FW_EX_EROFS" ]]; then
  run fwctl show firmwares "${NAME[erofs]}"
  expect_eq "erofs uuid" "uuid: $(blkid -s UUID -o value "$FW_EX_EROFS")" "$(grep '^uuid:' <<<"$OUT")"
  expect_eq "erofs format" "format: erofs" "$(grep '^format:' <<<"$OUT")"
fi

s=${SHA1[squashfs]}
expect_eq "get_property by full sha1" "${NAME[squashfs]}" "$("$FWCTL" get_property firmwares "$s" name)"
expect_eq "get_property by upper-case sha1" "${NAME[squashfs]}" \
  "$("$FWCTL" get_property firmwares "${s^^}" name)"
expect_eq "get_property by name" "$s" "$("$FWCTL" get_property firmwares "${NAME[squashfs]}" sha1)"
expect_eq "get_property by 6-digit prefix" "${NAME[squashfs]}" \
  "$("$FWCTL" get_property firmwares "${s:0:6}" name)"
run fwctl get_property firmwares "${s:0:5}" name
expect_eq "5-digit prefix is not an identifier" 1 "$RC"
expect_match "5-digit prefix: clear error" '^firmwared error: .*firmware' "$ERR"
run fwctl --json show firmwares no_such_thing
expect_eq "unknown firmware exits 1" 1 "$RC"
expect_match "unknown firmware is ENOENT" '"error":"ENOENT"' "$OUT"
run fwctl --json list nofolder
expect_match "unknown folder is ENOENT" '"error":"ENOENT"' "$OUT"

# ---- properties ---------------------------------------------------------------------------

run fwctl properties firmwares
expect_eq "properties: built-ins then custom" "name sha1 base_workspace path uuid format size stop_signal vendor" "$OUT"
run fwctl add_property firmwares 'tags[]'
expect_eq "add array property" "property tags[] added" "$OUT"
run fwctl properties firmwares
expect_eq "properties lists the array with []" \
  "name sha1 base_workspace path uuid format size stop_signal vendor tags[]" "$OUT"

id=${NAME[ext2]}
gp() { "$FWCTL" get_property firmwares "$id" "$@"; }
sp() { "$FWCTL" set_property firmwares "$id" "$@"; }
expect_eq "unset scalar reads empty" "" "$(gp vendor)"
run sp vendor parrot
expect_eq "set_property prints the value, as fdc did" "parrot" "$OUT"
expect_eq "set_property exits 0" 0 "$RC"
expect_eq "scalar round trip" "parrot" "$(gp vendor)"
sp vendor "two words"
expect_eq "scalar keeps spaces" "two words" "$(gp vendor)"
expect_eq "custom values are per firmware" "probe" "$("$FWCTL" get_property firmwares "$DIR_NAME" vendor)"

expect_eq "empty array reads empty" "" "$(gp tags)"
expect_eq "tags[0] of empty array is nil" "nil" "$(gp 'tags[0]')"
sp 'tags[0]' a
sp 'tags[1]' b
expect_eq "append by index" "a b" "$(gp tags)"
expect_eq "read element" "b" "$(gp 'tags[1]')"
expect_eq "tags[count] reads nil" "nil" "$(gp 'tags[2]')"
run fwctl --json get_property firmwares "$id" 'tags[3]'
expect_eq "read past end exits 1" 1 "$RC"
expect_match "read past end is ERANGE" '"error":"ERANGE"' "$OUT"
run fwctl set_property firmwares "$id" 'tags[5]' x
expect_eq "write past end exits 1" 1 "$RC"
expect_match "write past end: clear error" '^firmwared error: index 5 is past the end of tags' "$ERR"
sp 'tags[0]' A
expect_eq "replace element" "A b" "$(gp tags)"
sp 'tags[1]' nil
expect_eq "nil truncates" "A" "$(gp tags)"
sp tags "x y 'z w'"
expect_eq "whole-array set with quotes: element 2" "z w" "$(gp 'tags[2]')"
expect_eq "whole-array set: count" "nil" "$(gp 'tags[3]')"
expect_eq "whole array reads back quoted" "x y 'z w'" "$(gp tags)"
sp tags "'\$(id)' '\`id\`' '*' ~ \$HOME"
expect_eq "no expansion ever: \$(...)" '$(id)' "$(gp 'tags[0]')"
expect_eq "no expansion ever: backquotes" '`id`' "$(gp 'tags[1]')"
expect_eq "no expansion ever: glob" '*' "$(gp 'tags[2]')"
expect_eq "no expansion ever: tilde" '~' "$(gp 'tags[3]')"
expect_eq "no expansion ever: variable" '$HOME' "$(gp 'tags[4]')"
sp tags "x y 'z w'"
run fwctl set_property firmwares "$id" tags "'unterminated"
expect_eq "bad quoting exits 1" 1 "$RC"
expect_eq "bad quoting leaves the value" "x y 'z w'" "$(gp tags)"
run fwctl show firmwares "$id"
expect_eq "show ends with custom properties in order" "$(printf 'vendor: two words\ntags[]: x y '"'"'z w'"'"'')" \
  "$(tail -n 2 <<<"$OUT")"

# Property errors, each with its errno and nothing changed.
json_err() {  # json_err DESCRIPTION ERRNO_NAME ERRNO fwctl-args...
  local what=$1 name=$2 num=$3
  shift 3
  run fwctl --json "$@"
  expect_eq "$what: exit 1" 1 "$RC"
  expect_match "$what: $name" "\"errno\":$num,\"error\":\"$name\"" "$OUT"
  expect_match "$what: message" '"message":"[^"]+' "$OUT"
}
json_err "unknown property (get)" ESRCH 3 get_property firmwares "$id" nope
json_err "unknown property (set)" ESRCH 3 set_property firmwares "$id" nope 1
json_err "read-only name" EPERM 1 set_property firmwares "$id" name x
json_err "read-only sha1" EPERM 1 set_property firmwares "$id" sha1 x
json_err "read-only base_workspace" EPERM 1 set_property firmwares "$id" base_workspace /
json_err "read-only path" EPERM 1 set_property firmwares "$id" path /
json_err "read-only size" EPERM 1 set_property firmwares "$id" size 1
json_err "array syntax on a custom scalar (get)" EINVAL 22 get_property firmwares "$id" 'vendor[0]'
json_err "array syntax on a custom scalar (set)" EINVAL 22 set_property firmwares "$id" 'vendor[0]' x
json_err "array syntax on a built-in scalar" EINVAL 22 get_property firmwares "$id" 'name[0]'
expect_eq "failed sets changed nothing" "two words" "$(gp vendor)"
expect_eq "name unchanged" "$id" "$(gp name)"

props_before=$("$FWCTL" properties firmwares)
add_prop_fails() {  # add_prop_fails DESCRIPTION ERRNO_NAME NAME
  run fwctl add_property firmwares "$3"
  expect_eq "add_property $1: exit 1" 1 "$RC"
  expect_match "add_property $1: clear error" '^firmwared error: .+' "$ERR"
  run fwctl --json add_property firmwares "$3"
  expect_match "add_property $1: $2" "\"error\":\"$2\"" "$OUT"
}
add_prop_fails "with /" EINVAL 'a/b'
add_prop_fails "with .." EINVAL '..'
add_prop_fails "with a space" EINVAL 'a b'
add_prop_fails "with a control char" EINVAL $'a\x01b'
add_prop_fails "with a newline" EINVAL $'a\nb'
add_prop_fails "with an index" EINVAL 'x[1]'
add_prop_fails "empty" EINVAL ''
add_prop_fails "duplicate" EEXIST vendor
add_prop_fails "duplicate array of a scalar" EEXIST 'vendor[]'
add_prop_fails "duplicate scalar of an array" EEXIST tags
add_prop_fails "built-in name" EEXIST name
add_prop_fails "built-in uuid" EEXIST 'uuid[]'
expect_eq "failed add_property changed nothing" "$props_before" "$("$FWCTL" properties firmwares)"

# ---- bad PREPARE inputs: clear error, nothing changed ---------------------------------------

bad_prepare() {  # bad_prepare DESCRIPTION ERRNO_NAME MESSAGE_REGEX PATH
  local what=$1 name=$2 regex=$3 path=$4 before
  before=$(state)
  run timeout 10 "$FWCTL" prepare firmwares "$path"
  expect_eq "$what: exit 1 (124 = hung)" 1 "$RC"
  expect_match "$what: clear error" "^firmwared error: .*$regex" "$ERR"
  expect_eq "$what: nothing on stdout" "" "$OUT"
  run timeout 10 "$FWCTL" --json prepare firmwares "$path"
  expect_match "$what: $name" "\"error\":\"$name\"" "$OUT"
  expect_eq "$what: catalogue, repository and mounts unchanged" "$before" "$(state)"
}
BAD=$FW_TMP/bad
mkdir -p "$BAD"
bad_prepare "missing path" ENOENT "$BAD/missing.*No such file or directory" "$BAD/missing"
# Build trees are deep: the message must name the whole path, not a truncated one.
LONG=$BAD/a-rather-long-build-directory/output-of-the-firmware-build/images/x86_64-simulation
mkdir -p "$LONG/not-a-rootfs"
bad_prepare "missing long path" ENOENT "'$LONG/missing-rootfs.ext4': No such file or directory" \
  "$LONG/missing-rootfs.ext4"
bad_prepare "long dir without rootfs" EINVAL "'$LONG/not-a-rootfs' does not look like a root" \
  "$LONG/not-a-rootfs"
head -c 3000000 /dev/urandom >"$BAD/random.img"
bad_prepare "random bytes" EINVAL "random.img.* not a known filesystem image" "$BAD/random.img"
cp "$FW_EX_EXT2" "$BAD/truncated.ext2"
truncate -s $(($(stat -c %s "$FW_EX_EXT2") / 2)) "$BAD/truncated.ext2"
bad_prepare "truncated ext2" EINVAL "truncated.ext2.* is truncated" "$BAD/truncated.ext2"
cp "$FW_EX_SQUASHFS" "$BAD/truncated.squashfs"
truncate -s $(($(stat -c %s "$FW_EX_SQUASHFS") / 2)) "$BAD/truncated.squashfs"
bad_prepare "truncated squashfs" EINVAL "truncated.squashfs.* is truncated" "$BAD/truncated.squashfs"
: >"$BAD/empty.img"
bad_prepare "empty file" EINVAL "empty.img.* is empty" "$BAD/empty.img"
bad_prepare "/dev/null" EINVAL "/dev/null.* character device" /dev/null
mkfifo "$BAD/fifo"
bad_prepare "a fifo" EINVAL "fifo.* is a fifo" "$BAD/fifo"
ln -s loop-b "$BAD/loop-a"
ln -s loop-a "$BAD/loop-b"
bad_prepare "a symlink loop" ELOOP "loop-a.*Too many levels of symbolic links" "$BAD/loop-a"
mkdir -p "$BAD/notroot/data"
bad_prepare "dir without bin/sbin/usr/etc/lib" EINVAL "notroot.* does not look like a root filesystem" \
  "$BAD/notroot"
bad_prepare "http URL" EPROTONOSUPPORT "http.* not supported" "http://x"
bad_prepare "ftp URL" EPROTONOSUPPORT "ftp.* not supported" "ftp://host/a.img"
bad_prepare "file URL to a missing file" ENOENT "No such file or directory" "file://$BAD/missing"
run fwctl prepare firmwares ""
expect_eq "empty path exits 1" 1 "$RC"
check "no temporary file after bad inputs" test -z "$(ls -A "$REPO" | grep '^\.import-')"

# A directory without /sbin/init is accepted, with a warning.
mkdir -p "$FW_TMP/noinit/etc" "$FW_TMP/noinit/bin"
run fwctl prepare firmwares "$FW_TMP/noinit"
expect_eq "dir without /sbin/init: exit 0" 0 "$RC"
expect_eq "dir without /sbin/init: created" "new entity in firmwares folder created" "$(head -n1 <<<"$OUT")"
expect_match "dir without /sbin/init: warning on stderr" '^fwctl: warning: .*noinit.*/sbin/init' "$ERR"
NOINIT_NAME=$(field name "$OUT")
run fwctl drop firmwares "$NOINIT_NAME"
expect_eq "drop the no-init dir" "$NOINIT_NAME dropped" "$OUT"
check "no-init dir untouched" test -d "$FW_TMP/noinit/etc"

# ---- a long import does not block the daemon -----------------------------------------------

BIG=$FW_TMP/big.ext4
mkdir -p "$FW_TMP/bigsrc"
head -c 300M /dev/urandom >"$FW_TMP/bigsrc/blob"
truncate -s 400M "$BIG"
mke2fs -q -F -t ext4 -d "$FW_TMP/bigsrc" "$BIG"
rm -rf "$FW_TMP/bigsrc"
BIG_SHA1=$(sha1_of "$BIG")

"$FWCTL" prepare firmwares "$BIG" >"$FW_TMP/big.out" 2>"$FW_TMP/big.err" &
prep_pid=$!
# Wait for the import to be under way, then ask the daemon something.
for _ in $(seq 1 400); do
  grep -q "\"path\":\"$BIG\"" "$EVENTS" && break
  kill -0 "$prep_pid" 2>/dev/null || break
  sleep 0.01
done
t0=$(date +%s%N)
run fwctl ping
t1=$(date +%s%N)
expect_eq "ping answered during the import" "PONG" "$OUT"
run fwctl list firmwares
expect_eq "list answered during the import" 0 "$RC"
if kill -0 "$prep_pid" 2>/dev/null && ! grep -q "\"event\":\"PREPARED\".*$BIG_SHA1" "$EVENTS"; then
  echo "ping answered in $(((t1 - t0) / 1000000)) ms while the import was running"
  expect_eq "the firmware is not listed before the import ends" "" "$(grep -o "$BIG_SHA1" <<<"$OUT" || true)"
else
  echo "NOTE: this machine imported 400 MiB before ping returned; could not show the overlap"
fi
wait "$prep_pid" && rc=0 || rc=$?
expect_eq "big import exits 0" 0 "$rc"
expect_match "big import: sha1 of the content" "^new entity in firmwares folder created
sha1: $BIG_SHA1
name: [a-z]+_[a-z]+\$" "$(cat "$FW_TMP/big.out")"
expect_eq "big import: no progress bar on a pipe" "" "$(cat "$FW_TMP/big.err")"
BIG_NAME=$(field name "$(cat "$FW_TMP/big.out")")
for _ in $(seq 1 200); do grep -q "\"event\":\"PREPARED\".*$BIG_SHA1" "$EVENTS" && break; sleep 0.025; done
progress=$(jq -r --arg p "$BIG" 'select(.event == "PREPARE_PROGRESS" and .path == $p) | .percent' "$EVENTS")
expect_match "several PREPARE_PROGRESS events" $'[0-9]+\n[0-9]+\n' "$progress"
expect_eq "percent strictly increasing" "$progress" "$(sort -n -u <<<"$progress")"
expect_eq "last percent is 100" 100 "$(tail -n1 <<<"$progress")"
order=$(jq -r --arg p "$BIG" --arg s "$BIG_SHA1" \
  'select((.event == "PREPARE_PROGRESS" and .path == $p) or (.event == "PREPARED" and .sha1 == $s))
   | .event' "$EVENTS" | uniq)
expect_eq "PREPARED follows the progress" "$(printf 'PREPARE_PROGRESS\nPREPARED')" "$order"
expect_match "PREPARED event carries folder and name" \
  "\"event\":\"PREPARED\",\"event_id\":[0-9]+,\"folder\":\"firmwares\",\"name\":\"$BIG_NAME\",\"sha1\":\"$BIG_SHA1\"" \
  "$(grep "\"PREPARED\".*$BIG_SHA1" "$EVENTS")"
ids=$(jq -r '.event_id' "$EVENTS")
expect_eq "event ids increase" "$ids" "$(sort -n -u <<<"$ids")"
BIG_COPY=$REPO/big.ext4.$BIG_SHA1.firmware
expect_eq "big image copied intact" "$BIG_SHA1" "$(sha1_of "$BIG_COPY")"
expect_eq "big image: format ext4" ext4 "$("$FWCTL" get_property firmwares "$BIG_NAME" format)"

# ---- DROP of an image ----------------------------------------------------------------------

run fwctl drop firmwares "${BIG_SHA1:0:8}"
expect_eq "drop output is 'ID dropped'" "${BIG_SHA1:0:8} dropped" "$OUT"
check "dropped image's repository copy gone" test ! -e "$BIG_COPY"
expect_eq "dropped image unmounted" 0 "$(fw_inst_mounts_below "$MNT/$BIG_SHA1")"
check "dropped image's mount dir removed" test ! -e "$MNT/$BIG_SHA1"
expect_eq "dropped image's loop device gone" "" \
  "$(grep -lF "$BIG_COPY" /sys/block/loop*/loop/backing_file 2>/dev/null || true)"
check "dropped image not listed" bash -c "! '$FWCTL' list firmwares | grep -q $BIG_SHA1"
check "DROPPED event" grep -q "\"event\":\"DROPPED\".*$BIG_SHA1" "$EVENTS"
run fwctl drop firmwares "$BIG_NAME"
expect_eq "dropping it again exits 1" 1 "$RC"

# ---- a client vanishing mid-import ----------------------------------------------------------

"$PYTHON" - "$FIRMWARED_SOCKET_PATH" "$BIG" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(json.dumps({"seq": 1, "command": "PREPARE", "args": ["firmwares", sys.argv[2]]}).encode() + b"\n")
s.close()
PY
outcome=""
quiet=0
for _ in $(seq 1 1200); do
  if "$FWCTL" list firmwares | grep -q "$BIG_SHA1"; then outcome=completed; break; fi
  if ls -A "$REPO" | grep -q '^\.import-'; then quiet=0; else quiet=$((quiet + 1)); fi
  # No temporary file for 2 s and nothing listed: the import was removed.
  if ((quiet >= 40)); then outcome=removed; break; fi
  sleep 0.05
done
echo "import of a vanished client: ${outcome:-still running after 60 s}"
check "import of a vanished client completed or was removed" test -n "$outcome"
run fwctl ping
expect_eq "ping after the vanished client" PONG "$OUT"
check "no .import-* file after the vanished client" test -z "$(ls -A "$REPO" | grep '^\.import-')"
if [[ $outcome == completed ]]; then
  expect_eq "completed import: one intact copy" "$BIG_SHA1" "$(sha1_of "$BIG_COPY")"
  run fwctl drop firmwares "$BIG_SHA1"
  expect_eq "drop the completed import" "$BIG_SHA1 dropped" "$OUT"
else
  check "removed import left no copy" test ! -e "$BIG_COPY"
fi

# On a terminal fwctl draws a progress bar on stderr (on a pipe nothing, checked above).
run script -qec "'$FWCTL' prepare firmwares '$BIG'" /dev/null
tty_out=$(sed 's/\r$//' <<<"$OUT" | tr '\r' '\n')
expect_match "TTY: progress bar" "\[#+\.*\] +[0-9]+% $BIG" "$tty_out"
expect_match "TTY: the bar ends at 100%" "\[#{30}\] 100% $BIG" "$tty_out"
bar_percents=$(grep -o '[0-9]\+% ' <<<"$tty_out" | tr -d '% ')
expect_eq "TTY: percents increase" "$bar_percents" "$(sort -n -u <<<"$bar_percents")"
expect_match "TTY: then the three lines" "new entity in firmwares folder created
sha1: $BIG_SHA1
name: [a-z_]+" "$tty_out"
"$FWCTL" drop firmwares "$BIG_SHA1" >/dev/null
rm -f "$BIG"

# ---- DROP of a directory, then of everything -----------------------------------------------

tree_before=$(cd "$FW_EX_DIR" && find . -printf '%p %y %s %m\n' | sort | sha1sum)
run fwctl drop firmwares "$DIR_NAME"
expect_eq "drop dir output" "$DIR_NAME dropped" "$OUT"
expect_eq "dropped dir unmounted" 0 "$(fw_inst_mounts_below "$MNT/$DIR_SHA1")"
check "the user's dir is still there" test -x "$FW_EX_DIR/sbin/init" -o -L "$FW_EX_DIR/sbin/init"
expect_eq "the user's dir is untouched" "$tree_before" \
  "$(cd "$FW_EX_DIR" && find . -printf '%p %y %s %m\n' | sort | sha1sum)"

for fmt in "${IMAGES[@]}"; do
  run fwctl drop firmwares "${NAME[$fmt]}"
  expect_eq "drop $fmt" "${NAME[$fmt]} dropped" "$OUT"
done
expect_eq "catalogue empty" "" "$("$FWCTL" list firmwares)"
expect_eq "repository empty" "" "$(ls -A "$REPO")"
expect_eq "mount dir empty" "" "$(ls -A "$MNT")"
expect_eq "custom properties stay after the firmwares go" \
  "name sha1 base_workspace path uuid format size stop_signal vendor tags[]" "$("$FWCTL" properties firmwares)"

stop_daemon && rc=0 || rc=$?
expect_eq "daemon exits 0 on SIGTERM" 0 "$rc"
for _ in $(seq 1 100); do kill -0 "$EVENTS_PID" 2>/dev/null || break; sleep 0.02; done
check "subscriber got BYEBYE" grep -q '"event":"BYEBYE"' "$EVENTS"
stop_subscriber
assert_no_leaks
