#!/usr/bin/env bash
# fwctl cp: files and directories into and out of a started instance, owners (numeric),
# modes and symlinks kept; paths and symlinks inside the instance never reach the host
# (tar runs in the instance's root); on the host, a tar member with ".." or an absolute
# name, or one going through a symlink, is refused and a symlink already in the
# destination is replaced, not followed.
source "$(dirname "$0")/../lib/harness.sh"
require_root
fw_inst_setup
build_example_firmware
start_daemon
in_a() { "$FWCTL" exec "$A" -- "$@" </dev/null; }

F=$(field name "$(fwctl prepare firmwares "$FW_EX_DIR")")
A=$(field name "$(fwctl prepare instances "$F")")
H=$FW_TMP/host
mkdir -p "$H/src/sub" "$H/out"
echo one >"$H/src/a"
echo two >"$H/src/sub/b"
chown 1234:5678 "$H/src/a"
chmod 0640 "$H/src/a"
chmod 0711 "$H/src/sub"
ln -s a "$H/src/link"

# ---- an instance that is not started ----------------------------------------------------
run fwctl cp "$H/src/a" "$A:/tmp/"
expect_eq "cp into a stopped instance: exit 1" 1 "$RC"
expect_match "it says to start it first" "$A: .*start it first" "$ERR"
run fwctl cp "$H/src/a" "no_such_instance:/tmp/"
expect_eq "cp into an unknown instance: exit 1" 1 "$RC"
expect_match "the error names it" "no_such_instance" "$ERR"
run fwctl cp "$H/src/a" "$H/out/"
expect_eq "cp between two host paths: exit 1" 1 "$RC"
expect_match "and says why" "one of SRC and DEST must be ID:PATH" "$ERR"

run fwctl start --wait-console 'firmware booted' --timeout 30 "$A"
expect_eq "the instance starts" 0 "$RC"

# ---- libarchive: mapped by cp alone -----------------------------------------------------
# Every other verb starts without it and the libraries behind it: fwctl does not link it.
expect_eq "fwctl has no NEEDED libarchive" "" \
  "$(readelf -d "$FWCTL" | grep -o 'libarchive[^]]*' || true)"
# Where it cannot be loaded, cp says so before anything reaches the instance. Hidden by a
# bind mount of /dev/null over it in a private mount namespace (gone with the command).
LIBARCHIVE=$(ldconfig -p | awk '/^[[:space:]]*libarchive\.so\.[0-9]+ / { print $NF; exit }')
expect_eq "ldconfig -p names libarchive's file" yes "$([[ -f $LIBARCHIVE ]] && echo yes || echo no)"
run unshare --mount bash -c 'mount --bind /dev/null "$1" && exec "$2" cp "$3" "$4"' - \
  "$LIBARCHIVE" "$FWCTL" "$H/src/a" "$A:/tmp/nolib"
expect_eq "cp without libarchive: exit 1" 1 "$RC"
expect_match "it says what is missing" "fwctl: cp: cannot load libarchive \(libarchive\.so\.[0-9]+\)" "$ERR"
expect_eq "nothing reached the instance" absent \
  "$(in_a sh -c '[ -e /tmp/nolib ] && echo present || echo absent')"

# ---- into the instance ------------------------------------------------------------------
run fwctl cp "$H/src" "$A:/tmp"
expect_eq "cp DIR ID:/tmp (an existing directory): exit 0" 0 "$RC"
[[ $RC -eq 0 ]] || echo "$ERR" >&2
expect_eq "the file's content" one "$(in_a cat /tmp/src/a)"
expect_eq "the file's owner and mode" "1234:5678 640" "$(in_a stat -c '%u:%g %a' /tmp/src/a)"
expect_eq "the subdirectory's mode" 711 "$(in_a stat -c '%a' /tmp/src/sub)"
expect_eq "recursively" two "$(in_a cat /tmp/src/sub/b)"
expect_eq "a symlink stays a symlink" a "$(in_a readlink /tmp/src/link)"
run fwctl cp "$H/src/sub/b" "$A:/tmp/renamed"
expect_eq "cp FILE ID:NEWNAME: exit 0" 0 "$RC"
expect_eq "the copy has the new name" two "$(in_a cat /tmp/renamed)"
run fwctl cp "$H/src/." "$A:/tmp/contents"
expect_eq "cp DIR/. ID:NEWDIR: exit 0" 0 "$RC"
expect_eq "the directory's contents, not the directory" one "$(in_a cat /tmp/contents/a)"
run fwctl cp "$H/src" "$A:/tmp/renamed"
expect_eq "a directory onto a file: exit 1" 1 "$RC"
expect_match "it says why" "not a directory" "$ERR"
run fwctl cp "$H/src/a" "$A:/no/such/dir/x"
expect_eq "into a missing directory: exit 1" 1 "$RC"
expect_match "it names the directory" "/no/such/dir: no such directory" "$ERR"
run fwctl cp "$H/missing" "$A:/tmp/"
expect_eq "a missing host source: exit 1" 1 "$RC"
expect_match "it names it" "$H/missing: No such file or directory" "$ERR"

# ---- out of the instance ----------------------------------------------------------------
run fwctl cp "$A:/tmp/src" "$H/out"
expect_eq "cp ID:DIR HOSTDIR: exit 0" 0 "$RC"
[[ $RC -eq 0 ]] || echo "$ERR" >&2
expect_eq "the file back on the host" one "$(cat "$H/out/src/a")"
expect_eq "its owner and mode kept" "1234:5678 640" "$(stat -c '%u:%g %a' "$H/out/src/a")"
expect_eq "the subdirectory's mode kept" 711 "$(stat -c '%a' "$H/out/src/sub")"
expect_eq "the symlink kept" a "$(readlink "$H/out/src/link")"
run fwctl cp "$A:/etc/build.prop" "$H/out/bp"
expect_eq "cp ID:FILE HOSTNEWNAME: exit 0" 0 "$RC"
check "the file has the new name" cmp -s "$H/out/bp" "$FW_EX_DIR/etc/build.prop"
run fwctl cp "$A:/etc/no-such-file" "$H/out/"
expect_eq "a missing source in the instance: exit 1" 1 "$RC"
expect_match "it names it" "$A:/etc/no-such-file: no such file or directory" "$ERR"
run fwctl cp "$A:/etc/build.prop" "$H/no/such/dir/x"
expect_eq "out to a missing host directory: exit 1" 1 "$RC"

# ---- paths and symlinks inside the instance stay inside ---------------------------------
echo host-secret >"$H/secret"
run fwctl cp "$A:/../../../../..$H/secret" "$H/out/leak1"
expect_eq "ID:/../..HOSTPATH reads the instance's root, not the host's: exit 1" 1 "$RC"
check "nothing was copied" test ! -e "$H/out/leak1"
in_a ln -s "/../../../../..$H" /tmp/hostlink
run fwctl cp "$A:/tmp/hostlink/secret" "$H/out/leak2"
expect_eq "a symlink in the instance pointing at the host resolves inside: exit 1" 1 "$RC"
check "nothing was copied" test ! -e "$H/out/leak2"
MARK=fwtest-cp-escape.$$
run fwctl cp "$H/src/a" "$A:/tmp/../../../../$MARK"
expect_eq "ID:/tmp/../../../X writes at the instance's root: exit 0" 0 "$RC"
check "the file is in the instance's root" in_a test -f "/$MARK"
check "not in the host's" test ! -e "/$MARK"
in_a ln -s / /tmp/rootlink
run fwctl cp "$H/src/a" "$A:/tmp/rootlink/$MARK.2"
check "through a symlink to /: not in the host's root" test ! -e "/$MARK.2"
check "but in the instance's" in_a test -f "/$MARK.2"

# ---- on the host: no symlink in the destination is followed -----------------------------
mkdir -p "$H/dst" "$H/victim"
echo victim >"$H/victim/file"
ln -s "$H/victim/file" "$H/dst/a"
run fwctl cp "$A:/tmp/src/a" "$H/dst/"
expect_eq "cp onto a symlink in the destination: exit 0" 0 "$RC"
expect_eq "the symlink's target is untouched" victim "$(cat "$H/victim/file")"
check "the symlink was replaced by the file" test ! -L "$H/dst/a"
expect_eq "which has the content" one "$(cat "$H/dst/a")"
ln -s "$H/victim" "$H/dst/src"
run fwctl cp "$A:/tmp/src" "$H/dst/"
expect_eq "a directory copied where the destination has a symlink of its name: exit 0" 0 "$RC"
check "nothing was written into the symlink's target" test ! -e "$H/victim/a"
check "a real directory took its place" test -d "$H/dst/src" -a ! -L "$H/dst/src"

# A hostile tar from the instance (members with "..", absolute names, or through a symlink
# it made) is refused on the host: tests/unit/fwctl_cp_test.cc feeds such archives to the
# extraction (BusyBox sh runs its own tar applet whatever /bin/tar is, so the instance's
# tar cannot be swapped here).

fwctl kill "$A" >/dev/null
fwctl drop instances "$A" >/dev/null
fwctl drop firmwares "$F" >/dev/null
stop_daemon
assert_no_leaks
