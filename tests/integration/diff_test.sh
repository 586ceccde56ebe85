#!/usr/bin/env bash
# The overlay diff end to end (docs/diff.md): a table of changes made
# inside a live instance (through nsenter), each pinned by its exact `fwctl diff`; the whole
# diff checked against a reference computed by walking the firmware tree and the merged tree;
# content diffs; export round trips (the changes tar applied over a copy of the firmware, and
# the full tar, both equal to the merged tree); the diff unchanged after KILL, a daemon restart
# and a crash; DROP with prevent_removal keeps it; long diffs are truncated with exact totals.
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

# ---- a firmware with a fixture tree under /fx, one directory per case -----------------------
FW=$FW_TMP/fw
cp -a "$FW_EX_DIR" "$FW"
fx() {  # fx PATH CONTENT [MODE]
  mkdir -p "$(dirname "$FW/fx/$1")"
  printf '%s' "$2" >"$FW/fx/$1"
  chmod "${3:-644}" "$FW/fx/$1"
}
setxattr() { "$PYTHON" -c 'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode(), follow_symlinks=False)' "$@"; }
getxattr() { "$PYTHON" -c 'import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode())' "$@" 2>/dev/null; }
mkdir -p "$FW/fx/create" "$FW/fx/chmod/d" "$FW/fx/symlink" "$FW/fx/special"
chmod 755 "$FW/fx/chmod/d"
fx create/keep k
fx modify/f $'one\n'
fx modify/g aaaa
fx modify/bin $'\x01\x02'
printf 'text\0with a NUL' >"$FW/fx/modify/bin"
fx chmod/f x 644
fx chown/f o
fx mvfile/a a
fx mvdir/d/x x
fx mvdir/d/sub/y y
fx rmfile/f f
fx rmdir/d/a a
fx rmdir/d/sub/b b
fx opaque/d/kept same
fx opaque/d/gone g
fx f2d/x x
fx d2f/x/a a
ln -s target "$FW/fx/symlink/retarget"
ln -s t "$FW/fx/symlink/gone"
ln -s t "$FW/fx/symlink/tofile"
fx hard/a a
fx hard/p1 p
ln "$FW/fx/hard/p1" "$FW/fx/hard/p2"
mknod "$FW/fx/special/null" c 1 3
mkfifo "$FW/fx/special/oldfifo"
fx xattr/f f
fx xattr/g g
setxattr "$FW/fx/xattr/g" user.keep 1
fx touch/f t
fx touch/g g

start_daemon
MNT=$FIRMWARED_MOUNT_PATH
run fwctl prepare instances "$FW"
expect_eq "prepare: exit 0" 0 "$RC"
NAME=$(sed -n 's/^name: //p' <<<"$OUT")
SHA1=$(sed -n 's/^sha1: //p' <<<"$OUT")
WS=$MNT/instances/$SHA1
run fwctl start "$NAME"
expect_eq "start: exit 0" 0 "$RC"
PID=$(fw_inst_prop "$NAME" init_pid)
check "the firmware booted" fw_inst_wait_for 10 grep -q "firmware booted" "$WS/console.log"

# How the daemon's overlay is mounted: lowerdir, upperdir and workdir only, so the module
# defaults apply. Reported here; the expectations hold either way (a renamed directory is D
# of the old path and A of the new one), only renamed_from depends on redirect_dir.
OPTS=$(awk -v d="$WS/union" '$5 == d { print $NF }' /proc/self/mountinfo)
REDIRECT_DIR=$(cat /sys/module/overlay/parameters/redirect_dir)
echo "overlay options: $OPTS"
echo "module defaults: redirect_dir=$REDIRECT_DIR index=$(cat /sys/module/overlay/parameters/index)" \
  "metacopy=$(cat /sys/module/overlay/parameters/metacopy)"
expect_match "overlay: mounted with lowerdir, upperdir and workdir" "lowerdir=.*upperdir=.*workdir=" \
  "$OPTS"
expect_eq "overlay: no redirect_dir, metacopy or index option given" "" \
  "$(grep -o 'redirect_dir=[a-z]*\|metacopy=[a-z]*\|index=[a-z]*' <<<"$OPTS" || true)"

inside() { fw_inst_exec "$PID" sh -c "$1"; }

# ---- the corpus: commands run inside the instance, and the exact diff of /fx/CASE ------------
declare -A CMD EXP
CASES=(create modify chmod chown mvfile mvdir rmfile rmdir opaque f2d d2f symlink hard special
       xattr touch)
CMD[create]='echo new > /fx/create/new && mkdir -p /fx/create/d/e && echo x > /fx/create/d/e/f'
EXP[create]='A /fx/create/d
A /fx/create/d/e
A /fx/create/d/e/f
A /fx/create/new'
CMD[modify]='echo two > /fx/modify/f && printf bbbb > /fx/modify/g && printf "\001\003" >> /fx/modify/bin'
EXP[modify]='M /fx/modify/bin
M /fx/modify/f
M /fx/modify/g'
CMD[chmod]='chmod 600 /fx/chmod/f && chmod 700 /fx/chmod/d'
EXP[chmod]='M /fx/chmod/d
M /fx/chmod/f'
CMD[chown]='chown 1000:1001 /fx/chown/f'
EXP[chown]='M /fx/chown/f'
CMD[mvfile]='mv /fx/mvfile/a /fx/mvfile/b'
EXP[mvfile]='D /fx/mvfile/a
A /fx/mvfile/b'
CMD[mvdir]='mv /fx/mvdir/d /fx/mvdir/e'
EXP[mvdir]='D /fx/mvdir/d
D /fx/mvdir/d/sub
D /fx/mvdir/d/sub/y
D /fx/mvdir/d/x
A /fx/mvdir/e
A /fx/mvdir/e/sub
A /fx/mvdir/e/sub/y
A /fx/mvdir/e/x'
CMD[rmfile]='rm /fx/rmfile/f'
EXP[rmfile]='D /fx/rmfile/f'
CMD[rmdir]='rm -rf /fx/rmdir/d'
EXP[rmdir]='D /fx/rmdir/d
D /fx/rmdir/d/a
D /fx/rmdir/d/sub
D /fx/rmdir/d/sub/b'
CMD[opaque]='rm -rf /fx/opaque/d && mkdir /fx/opaque/d && printf same > /fx/opaque/d/kept && echo n > /fx/opaque/d/new'
EXP[opaque]='D /fx/opaque/d/gone
A /fx/opaque/d/new'
CMD[f2d]='rm /fx/f2d/x && mkdir /fx/f2d/x && echo y > /fx/f2d/x/y'
EXP[f2d]='T /fx/f2d/x
A /fx/f2d/x/y'
CMD[d2f]='rm -rf /fx/d2f/x && echo f > /fx/d2f/x'
EXP[d2f]='T /fx/d2f/x
D /fx/d2f/x/a'
CMD[symlink]='ln -sfn other /fx/symlink/retarget && rm /fx/symlink/gone /fx/symlink/tofile && echo f > /fx/symlink/tofile && ln -s /etc/hostname /fx/symlink/new'
EXP[symlink]='D /fx/symlink/gone
A /fx/symlink/new
M /fx/symlink/retarget
T /fx/symlink/tofile'
CMD[hard]='ln /fx/hard/a /fx/hard/b && echo changed > /fx/hard/p1'
EXP[hard]='A /fx/hard/b
M /fx/hard/p1'
CMD[special]='mkfifo /fx/special/fifo && mknod /fx/special/zero c 1 5 && rm /fx/special/null /fx/special/oldfifo'
EXP[special]='A /fx/special/fifo
D /fx/special/null
D /fx/special/oldfifo
A /fx/special/zero'
CMD[xattr]=''  # busybox has no setfattr: done from the host, through the merged tree
EXP[xattr]='M /fx/xattr/f
M /fx/xattr/g'
CMD[touch]='touch /fx/touch/f && : >> /fx/touch/g && chmod 644 /fx/touch/g'
EXP[touch]=''

run fwctl diff "$NAME" /fx
expect_eq "before the corpus: no diff under /fx" "" "$OUT"
for c in "${CASES[@]}"; do
  if [[ -n "${CMD[$c]}" ]]; then
    run inside "${CMD[$c]}"
    expect_eq "$c: commands inside the instance succeed ($ERR)" 0 "$RC"
  fi
done
setxattr "$WS/union/fx/xattr/f" user.tag 1
"$PYTHON" -c 'import os,sys; os.removexattr(sys.argv[1], "user.keep")' "$WS/union/fx/xattr/g"

for c in "${CASES[@]}"; do
  run fwctl diff "$NAME" "/fx/$c"
  expect_eq "$c: exit 0" 0 "$RC"
  expect_eq "$c: the exact diff" "${EXP[$c]}" "$(tr '\t' ' ' <<<"$OUT")"
done

# Details of the entries (--json).
jq_entry() {  # jq_entry PATH FIELD: the field of the entry of PATH in the full --json diff
  "$PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
e = [x for x in d["entries"] if x["path"] == sys.argv[2]]
v = e[0].get(sys.argv[3]) if e else "NO ENTRY"
print(json.dumps(v) if isinstance(v, (list, dict, bool)) or v is None else v)' "$FW_TMP/diff.json" "$1" "$2"
}
fwctl --json diff "$NAME" >"$FW_TMP/diff.json"
expect_eq "modify/f: content changed" '["content"]' "$(jq_entry /fx/modify/f changes)"
expect_eq "chmod/f: mode only" '["mode"]' "$(jq_entry /fx/chmod/f changes)"
expect_eq "chmod/f: old mode" 0644 "$(jq_entry /fx/chmod/f old_mode)"
expect_eq "chmod/f: new mode" 0600 "$(jq_entry /fx/chmod/f mode)"
expect_eq "chmod/d: a directory" dir "$(jq_entry /fx/chmod/d type)"
expect_eq "chown/f: owner only" '["owner"]' "$(jq_entry /fx/chown/f changes)"
expect_eq "chown/f: uid" 1000 "$(jq_entry /fx/chown/f uid)"
expect_eq "chown/f: gid" 1001 "$(jq_entry /fx/chown/f gid)"
expect_eq "chown/f: old uid" 0 "$(jq_entry /fx/chown/f old_uid)"
expect_eq "symlink/retarget: target" other "$(jq_entry /fx/symlink/retarget target)"
expect_eq "symlink/retarget: old target" target "$(jq_entry /fx/symlink/retarget old_target)"
expect_eq "symlink/tofile: old type" symlink "$(jq_entry /fx/symlink/tofile old_type)"
expect_eq "symlink/tofile: type" file "$(jq_entry /fx/symlink/tofile type)"
expect_eq "special/zero: a char device" char "$(jq_entry /fx/special/zero type)"
expect_eq "special/zero: its device number" 1:5 "$(jq_entry /fx/special/zero rdev)"
expect_eq "special/null: deleted device number" 1:3 "$(jq_entry /fx/special/null rdev)"
expect_eq "special/fifo: a fifo" fifo "$(jq_entry /fx/special/fifo type)"
expect_eq "xattr/f: xattrs only" '["xattrs"]' "$(jq_entry /fx/xattr/f changes)"
expect_eq "xattr/f: which" '["user.tag"]' "$(jq_entry /fx/xattr/f xattrs)"
expect_eq "xattr/g: which" '["user.keep"]' "$(jq_entry /fx/xattr/g xattrs)"
expect_eq "f2d/x: old type" file "$(jq_entry /fx/f2d/x old_type)"
expect_eq "d2f/x: old type" dir "$(jq_entry /fx/d2f/x old_type)"
expect_eq "create/new: size" 4 "$(jq_entry /fx/create/new size)"
expect_eq "not truncated" false "$("$PYTHON" -c 'import json,sys; print(str(json.load(open(sys.argv[1]))["truncated"]).lower())' "$FW_TMP/diff.json")"
if [[ "$REDIRECT_DIR" == Y ]]; then
  expect_eq "mvdir/e: renamed from" /fx/mvdir/d "$(jq_entry /fx/mvdir/e renamed_from)"
else
  expect_eq "mvdir/e: copied by mv (EXDEV without redirect_dir)" null \
    "$(jq_entry /fx/mvdir/e renamed_from)"
  expect_eq "mvdir/e: no redirect xattr in the upper dir" "" \
    "$(getxattr "$WS/rw/fx/mvdir/e" trusted.overlay.redirect)"
fi
run fwctl --json diff "$NAME" /fx/touch
expect_eq "touch: copied up unchanged counted" 2 \
  "$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["stat"]["copied_up_unchanged"])' "$OUT")"
check "touch: g really copied up" test -f "$WS/rw/fx/touch/g"
# The markers the kernel left in the upper dir.
expect_eq "opaque: the recreated directory is opaque" y "$(getxattr "$WS/rw/fx/opaque/d" trusted.overlay.opaque)"
expect_eq "rmfile: a 0:0 whiteout" "character special file 0:0" \
  "$(stat -c '%F %t:%T' "$WS/rw/fx/rmfile/f")"

# --stat and the text output.
run fwctl diff "$NAME" /fx/modify /fx/create --stat
expect_eq "--stat" "added:               4 (6 bytes)
modified:            3 (25 bytes)
deleted:             0 (0 bytes)
type changed:        0
total:               7
copied up unchanged: 0" "$OUT"
run fwctl diff "$NAME" fx/rmfile
expect_eq "a relative PATH is from the instance's root" "D	/fx/rmfile/f" "$OUT"
run fwctl diff "$NAME" /fx/../etc
expect_eq "'..' refused: exit 1" 1 "$RC"
expect_match "'..' refused: message" "holds '\.\.'" "$ERR"
run fwctl diff no_such_instance
expect_eq "unknown instance: exit 1" 1 "$RC"
expect_match "unknown instance: ENOENT" "no_such_instance" "$ERR"

# ---- content diffs ----------------------------------------------------------------------------
run fwctl diff "$NAME" /fx/modify/f --content
expect_eq "content: unified diff" "--- a/fx/modify/f
+++ b/fx/modify/f
@@ -1 +1 @@
-one
+two" "$OUT"
run fwctl diff "$NAME" /fx/modify/bin --content
expect_eq "content: binary summary" "Binary files differ (15 → 17 bytes)" "$OUT"
run fwctl diff "$NAME" /fx/create/new --content
expect_eq "content: added file" "--- /dev/null
+++ b/fx/create/new
@@ -0,0 +1 @@
+new" "$OUT"
run fwctl diff "$NAME" /fx/rmfile/f --content
expect_eq "content: deleted file" "--- a/fx/rmfile/f
+++ /dev/null
@@ -1 +0,0 @@
-f
\\ No newline at end of file" "$OUT"
run fwctl diff "$NAME" /fx/chmod/f --content
expect_eq "content: metadata only" "Content unchanged; changed: mode" "$OUT"
run fwctl diff "$NAME" /fx/symlink/retarget --content
expect_eq "content: symlink" "Symbolic link: 'target' → 'other'" "$OUT"
run fwctl diff "$NAME" /fx/touch/f --content
expect_eq "content: unchanged file prints nothing" "" "$OUT"
run fwctl diff "$NAME" /fx/create --content
expect_eq "content: a directory is EISDIR" 1 "$RC"

# ---- the whole diff against a reference walk of both trees ----------------------------------
# Compares the firmware tree with the merged tree path by path, as the diff promises: type,
# permission bits, owner, content (bytes, symlink target, device number), xattrs (the
# overlay's own trusted.overlay.* excepted). Prints "X /path" lines in path order.
REFERENCE='
import os, stat, sys
def scan(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f: data = f.read()
            elif stat.S_ISLNK(st.st_mode):
                data = os.readlink(p).encode()
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                data = str(st.st_rdev).encode()
            else:
                data = b""
            xa = {k: os.getxattr(p, k, follow_symlinks=False)
                  for k in os.listxattr(p, follow_symlinks=False)
                  if not k.startswith("trusted.overlay.")}
            out[p[len(root):]] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode),
                                  st.st_uid, st.st_gid, data, xa)
    return out
a, b = scan(sys.argv[1]), scan(sys.argv[2])
for p in sorted(set(a) | set(b)):
    if p not in b: print("D", p)
    elif p not in a: print("A", p)
    elif a[p][0] != b[p][0]: print("T", p)
    elif a[p] != b[p]: print("M", p)
'
reference() { "$PYTHON" -c "$REFERENCE" "$1" "$2"; }
by_path() { sort -k2; }
WANT=$(reference "$FW" "$WS/union" | by_path)
run fwctl diff "$NAME"
expect_eq "the whole diff equals the reference walk" "$WANT" "$(tr '\t' ' ' <<<"$OUT" | by_path)"
expect_match "the reference saw the corpus" "T /fx/d2f/x" "$WANT"

# ---- export round trips ------------------------------------------------------------------------
# Applies a tar over DIR the way an OCI runtime applies a layer: .wh..wh..opq empties the
# directory (of what was there before this layer), .wh.NAME deletes NAME, anything else
# replaces what is at its path; pax SCHILY.xattr records become xattrs.
APPLY='
import os, shutil, sys, tarfile
tar, root = sys.argv[1], sys.argv[2]
def remove(p):
    if os.path.isdir(p) and not os.path.islink(p): shutil.rmtree(p)
    elif os.path.lexists(p): os.unlink(p)
with tarfile.open(tar) as t:
    for m in t:
        d, base = os.path.split(m.name.rstrip("/"))
        if base == ".wh..wh..opq":
            for n in os.listdir(os.path.join(root, d)): remove(os.path.join(root, d, n))
            continue
        if base.startswith(".wh."):
            remove(os.path.join(root, d, base[4:]))
            continue
        p = os.path.join(root, m.name.rstrip("/"))
        if os.path.lexists(p) and not (m.isdir() and os.path.isdir(p) and not os.path.islink(p)):
            remove(p)
        t.extract(m, root, set_attrs=True, numeric_owner=True)
        for k, v in m.pax_headers.items():
            if k.startswith("SCHILY.xattr."):
                os.setxattr(p, k[len("SCHILY.xattr."):], v.encode("utf-8", "surrogateescape"),
                            follow_symlinks=False)
'
apply_tar() { "$PYTHON" -c "$APPLY" "$1" "$2"; }
(cd "$FW_TMP" && fwctl export "$NAME" --changes changes.tar) >"$FW_TMP/out" 2>&1
expect_match "export --changes: relative path, message" "^exported [0-9]+ entries \([0-9]+ bytes\) to $FW_TMP/changes.tar, [0-9]+ whiteouts$" "$(cat "$FW_TMP/out")"
check "export --changes: written" test -s "$FW_TMP/changes.tar"
expect_eq "export --changes: the bytes reported are the file's size" \
  "$(stat -c %s "$FW_TMP/changes.tar")" "$(sed -n 's/.*entries (\([0-9]*\) bytes).*/\1/p' "$FW_TMP/out")"
# The tar is written by the firmwared-archive helper: libarchive never enters the daemon.
expect_eq "export: the daemon maps no libarchive" "" "$(grep -o 'libarchive[^ ]*' "/proc/$FW_DAEMON_PID/maps" | sort -u)"
expect_eq "export: no archive helper left running" "" "$(pgrep -f "^$FW_BUILD_DIR/firmwared/firmwared-archive " || true)"
expect_match "export --changes: OCI whiteouts" "fx/rmfile/\.wh\.f" "$(tar -tf "$FW_TMP/changes.tar")"
expect_match "export --changes: opaque marker" "fx/opaque/d/\.wh\.\.wh\.\.opq" "$(tar -tf "$FW_TMP/changes.tar")"
cp -a "$FW" "$FW_TMP/applied"
apply_tar "$FW_TMP/changes.tar" "$FW_TMP/applied"
expect_eq "export --changes applied over the firmware gives the merged tree" "" \
  "$(reference "$FW_TMP/applied" "$WS/union")"
run fwctl export "$NAME" --changes "$FW_TMP/changes.tar"
expect_eq "export over an existing file: exit 1" 1 "$RC"
expect_match "export over an existing file: EEXIST" "exists \(--force replaces it\)" "$ERR"
fwctl export "$NAME" --changes - >"$FW_TMP/stdout.tar" 2>"$FW_TMP/stdout.err"
expect_eq "export --changes -: the same archive on stdout" \
  "$(tar -tf "$FW_TMP/changes.tar" | sort)" "$(tar -tf "$FW_TMP/stdout.tar" | sort)"
expect_match "export --changes -: the summary on stderr" "^exported [0-9]+ entries .* to stdout" \
  "$(cat "$FW_TMP/stdout.err")"
check "export --changes -: no file named '-'" test ! -e "$FW_TMP/-" -a ! -e ./-
check "export --changes -: no private directory left" \
  test -z "$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'fwctl-export.*' -newer "$FW_TMP/changes.tar")"
# Interrupted while it copies the archive out (stdout a pipe nobody reads yet): the private
# directory goes with it.
mkdir "$FW_TMP/exptmp"
{ TMPDIR=$FW_TMP/exptmp "$FWCTL" export "$NAME" --full - & echo $! >"$FW_TMP/exp.pid"; wait; } |
  { sleep 2; kill -TERM "$(cat "$FW_TMP/exp.pid")"; sleep 0.5; cat >/dev/null; }
expect_eq "export -: SIGTERM while copying out leaves no private directory" "" \
  "$(ls -A "$FW_TMP/exptmp")"
run script -qec "$(printf '%q ' "$FWCTL" export "$NAME" --changes -)" /dev/null
expect_match "export to a terminal: refused" "refusing to write a tar archive to a terminal" "$OUT"
run fwctl export "$NAME" --full "$FW_TMP/changes.tar" --force
expect_eq "export --full --force: exit 0" 0 "$RC"
mkdir "$FW_TMP/full"
apply_tar "$FW_TMP/changes.tar" "$FW_TMP/full"
expect_eq "export --full gives the merged tree" "" "$(reference "$FW_TMP/full" "$WS/union")"
expect_eq "no temporary file left beside the exports" "" "$(ls -A "$FW_TMP" | grep '^\.changes' || true)"
run fwctl export "$NAME" --changes "$FW_TMP/nodir/x.tar"
expect_eq "export into a missing directory: exit 1" 1 "$RC"
run fwctl export "$NAME" "$FW_TMP/x.tar"
expect_eq "export without a mode: exit 1" 1 "$RC"

# ---- persistence: KILL, restart, crash, DROP with prevent_removal ----------------------------
fwctl --json diff "$NAME" | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps([d["entries"], d["stat"]]))' >"$FW_TMP/d0"
same_diff() {
  fwctl --json diff "$NAME" | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps([d["entries"], d["stat"]]))' >"$FW_TMP/d1"
  cmp -s "$FW_TMP/d0" "$FW_TMP/d1"
}
run fwctl kill "$NAME"
expect_eq "kill: exit 0" 0 "$RC"
check "the same diff after KILL" same_diff
fw_inst_quit_daemon
start_daemon
check "the same diff after a daemon restart" same_diff
fwctl start "$NAME" >/dev/null
fw_inst_crash_daemon
start_daemon
check "the same diff after a daemon crash (instance re-adopted)" same_diff
fwctl kill "$NAME" >/dev/null
stop_daemon
export FIRMWARED_PREVENT_REMOVAL=y
start_daemon
unset FIRMWARED_PREVENT_REMOVAL
run fwctl drop instances "$NAME"
expect_eq "drop with prevent_removal: exit 0" 0 "$RC"
check "drop with prevent_removal: the upper dir stays" test -f "$WS/rw/fx/create/new"
check "drop with prevent_removal: its whiteouts too" test -c "$WS/rw/fx/rmfile/f"

# ---- long diffs: truncated, with exact totals ---------------------------------------------------
run fwctl prepare instances "$FW"
NAME2=$(sed -n 's/^name: //p' <<<"$OUT")
fwctl start "$NAME2" >/dev/null
PID2=$(fw_inst_prop "$NAME2" init_pid)
fw_inst_exec "$PID2" sh -c 'mkdir /fx/many && cd /fx/many && i=0; while [ $i -lt 12000 ]; do : > file-number-$i; i=$((i+1)); done'
fwctl --json diff "$NAME2" /fx/many >"$FW_TMP/many.json"
SUMMARY=$("$PYTHON" -c 'import json,sys; s=open(sys.argv[1]).read(); d=json.loads(s); print(d["truncated"], d["stat"]["total"], d["stat"]["added"], len(d["entries"]) < 12001, len(s) < 1048576)' "$FW_TMP/many.json")
expect_eq "long diff: truncated, exact totals, under 1 MiB" "True 12001 12001 True True" "$SUMMARY"
run fwctl diff "$NAME2" /fx/many
expect_match "long diff: fwctl warns" "the diff has 12001 entries, only the first [0-9]+ fit" "$ERR"
fwctl kill "$NAME2" >/dev/null
fwctl drop instances "$NAME2" >/dev/null
for f in $(fwctl list firmwares | grep -o '\[[0-9a-f]*\]' | tr -d '[]'); do
  fwctl drop firmwares "$f" >/dev/null
done
stop_daemon
fw_inst_expect_no_leftovers "end"
assert_no_leaks
