#!/usr/bin/env bash
# example_firmware_test.sh - checks examples/make-example-firmware (no root needed).
#
# Builds the example firmware twice, checks that the images are byte-identical and valid,
# that /sbin/init and every applet symlink resolve inside the rootfs, and that
# /etc/build.prop has the expected keys.  Exits 0 on success, 1 on failure (every failed
# check is reported on stderr), 77 if a required host tool is missing.
#
# Usage: example_firmware_test.sh [PATH/TO/make-example-firmware]
# (default: $FW_SOURCE_DIR/examples/make-example-firmware, else relative to this script)
set -euo pipefail

export LC_ALL=C TZ=UTC PATH=$PATH:/usr/sbin:/sbin

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
src=${FW_SOURCE_DIR:-$here/../..}
script=${1:-$src/examples/make-example-firmware}
busybox=${BUSYBOX:-/bin/busybox}

failures=0
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	failures=$((failures + 1))
}
fatal() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}
skip() {
	printf 'SKIP: %s\n' "$*" >&2
	exit 77
}
info() {
	printf '%s\n' "$*" >&2
}

[[ -x $script ]] || fatal "make-example-firmware not found or not executable: $script"
[[ -x $busybox ]] || skip "no busybox at $busybox (apt-get install busybox-static)"
for tool in mke2fs debugfs e2fsck mksquashfs unsquashfs realpath sha1sum; do
	command -v "$tool" >/dev/null || skip "missing host tool: $tool"
done
have_erofs=0
if command -v mkfs.erofs >/dev/null; then
	have_erofs=1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/example_firmware_test.XXXXXX")
cleanup() {
	rm -rf -- "$tmp"
}
trap cleanup EXIT

images=(example.ext2 example.squashfs)
if ((have_erofs)); then
	images+=(example.erofs)
fi

# --- two builds --------------------------------------------------------------------------

build() { # build NAME [OPTIONS...]: run the script into $tmp/NAME, stdout to NAME.out
	local name=$1
	shift
	if ! "$script" "$@" "$tmp/$name" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
		cat "$tmp/$name.err" >&2
		fatal "make-example-firmware $* $tmp/$name failed"
	fi
}

info "building the example firmware twice in $tmp"
build one
sleep 1 # so that any leaked current time would show up in the second build
build two -v

expected=$(printf '%s\n' "$tmp/one/rootfs" "${images[@]/#/$tmp/one/}")
[[ $(<"$tmp/one.out") == "$expected" ]] ||
	fail "stdout of make-example-firmware is not the list of produced paths:
$(<"$tmp/one.out")
expected:
$expected"
[[ ! -s $tmp/one.err ]] || fail "make-example-firmware printed on stderr without -v: $(<"$tmp/one.err")"
[[ -s $tmp/two.err ]] || fail "make-example-firmware -v printed no progress on stderr"

for img in "${images[@]}"; do
	[[ -s $tmp/one/$img ]] || {
		fail "$img was not produced"
		continue
	}
	a=$(sha1sum <"$tmp/one/$img")
	b=$(sha1sum <"$tmp/two/$img")
	if [[ $a == "$b" ]]; then
		info "reproducible: $img ${a%% *}"
	else
		fail "$img differs between two builds (${a%% *} vs ${b%% *})"
	fi
done

listing() { # every entry of a tree with its type, mode, size, mtime and link target
	(cd "$1" && find . -printf '%p %y %m %s %T@ %l\n' | sort)
}
if [[ $(listing "$tmp/one/rootfs") != "$(listing "$tmp/two/rootfs")" ]]; then
	fail "rootfs differs between two builds: $(diff <(listing "$tmp/one/rootfs") <(listing "$tmp/two/rootfs") | head -5)"
fi
if ! diff -r --no-dereference "$tmp/one/rootfs" "$tmp/two/rootfs" >/dev/null; then
	fail "rootfs contents differ between two builds"
fi

# --- images are valid and hold the rootfs --------------------------------------------------

root=$tmp/one/rootfs
nentries=$(find "$root" | wc -l)

if out=$(e2fsck -fn "$tmp/one/example.ext2" 2>&1); then
	info "e2fsck: ${out##*$'\n'}"
else
	fail "e2fsck -fn example.ext2 failed: $out"
fi
if dump=$(dumpe2fs -h "$tmp/one/example.ext2" 2>/dev/null); then
	grep -q '^Filesystem UUID: *6669726d-7761-7265-642d-6578616d706c$' <<<"$dump" ||
		fail "example.ext2 does not have the fixed UUID"
fi
# every inode owned by root, whoever built it (mke2fs -d copies owners)
if ! out=$(debugfs -R 'stat /sbin/init' "$tmp/one/example.ext2" 2>/dev/null) ||
	! grep -q 'User: *0 *Group: *0' <<<"$out"; then
	fail "/sbin/init in example.ext2 is not owned by root:root"
fi
if ! out=$(debugfs -R 'ls -l /bin' "$tmp/one/example.ext2" 2>/dev/null) ||
	grep -v -E '^ *$' <<<"$out" | awk '$4 != 0 || $5 != 0 { bad = 1 } END { exit !bad }'; then
	fail "/bin in example.ext2 has entries not owned by root:root"
fi

if out=$(unsquashfs -s "$tmp/one/example.squashfs" 2>&1); then
	grep -q 'Found a valid SQUASHFS' <<<"$out" || fail "unsquashfs -s: $out"
else
	fail "unsquashfs -s example.squashfs failed: $out"
fi
if out=$(unsquashfs -d /squashfs-root -lls "$tmp/one/example.squashfs" 2>&1); then
	n=$(grep -c ' /squashfs-root' <<<"$out" || true)
	((n == nentries)) || fail "example.squashfs has $n entries, rootfs has $nentries"
	if grep ' /squashfs-root' <<<"$out" | grep -v -q ' root/root '; then
		fail "example.squashfs has files not owned by root/root"
	fi
else
	fail "unsquashfs -lls example.squashfs failed: $out"
fi

if ((have_erofs)) && command -v fsck.erofs >/dev/null; then
	out=$(fsck.erofs "$tmp/one/example.erofs" 2>&1) || fail "fsck.erofs example.erofs failed: $out"
fi

# --- rootfs content ------------------------------------------------------------------------

# Resolve symlink $1 (inside $root) the way it would resolve with $root as "/"; print the
# final path (on the host) or fail.  Absolute targets are taken relative to $root.
resolve_in_root() {
	local link=$1 hops=0 target
	while [[ -L $link ]]; do
		((++hops <= 16)) || return 1
		target=$(readlink -- "$link")
		if [[ $target == /* ]]; then
			link=$root$target
		else
			link=$(dirname -- "$link")/$target
		fi
		link=$(realpath -m -s -- "$link")
		[[ $link == "$root" || $link == "$root"/* ]] || return 1
		# the directories on the way may be symlinks too (usr/bin -> ../bin)
		local dir
		dir=$(realpath -e -- "$(dirname -- "$link")") || return 1
		[[ $dir == "$root" || $dir == "$root"/* ]] || return 1
		link=$dir/${link##*/}
	done
	[[ -e $link ]] || return 1
	printf '%s\n' "$link"
}

nlinks=0
while IFS= read -r -d '' l; do
	nlinks=$((nlinks + 1))
	resolve_in_root "$l" >/dev/null ||
		fail "symlink ${l#"$root"} -> $(readlink -- "$l") does not resolve inside the rootfs"
done < <(find "$root" -type l -print0)
info "symlinks resolving inside rootfs: $nlinks"

[[ -f $root/bin/busybox && -x $root/bin/busybox ]] || fail "/bin/busybox missing or not executable"
cmp -s "$busybox" "$root/bin/busybox" || fail "/bin/busybox is not a copy of $busybox"

# Every applet busybox reports is there (in /bin or /sbin) and is busybox.
napplets=0
while IFS= read -r applet; do
	case $applet in
	init | linuxrc | busybox) continue ;;
	esac
	napplets=$((napplets + 1))
	found=
	for d in bin sbin; do
		if [[ -L $root/$d/$applet ]]; then
			found=$root/$d/$applet
			break
		fi
	done
	if [[ -z $found ]]; then
		fail "applet $applet has no symlink in /bin or /sbin"
		continue
	fi
	r=$(resolve_in_root "$found") || {
		fail "applet symlink ${found#"$root"} does not resolve"
		continue
	}
	[[ $r == "$root/bin/busybox" ]] || fail "applet symlink ${found#"$root"} resolves to ${r#"$root"}, not /bin/busybox"
done < <("$busybox" --list)
info "applets checked: $napplets"

# The applets the init and the tests rely on.
for applet in sh mount umount ls cat echo mkdir rm mv cp ln chmod chown touch sleep ps \
	hostname ip ifconfig nc date id stat readlink grep sed head tail wc kill true false env \
	pwd uname chroot mknod dd find sync printf test [ seq hwclock adjtimex insmod modprobe \
	dmesg tee tr cut sort xargs; do
	[[ -L $root/bin/$applet || -L $root/sbin/$applet ]] || fail "required applet $applet missing"
done
for p in usr/bin/env usr/bin/nc usr/sbin/ip; do
	if ! resolve_in_root "$root/$p" >/dev/null; then
		fail "/$p does not resolve inside the rootfs"
	fi
done

# /sbin/init: our POSIX sh script, with a shell that resolves inside the rootfs.
init=$root/sbin/init
if [[ -f $init && ! -L $init && -x $init ]]; then
	[[ $(head -n1 "$init") == '#!/bin/sh' ]] || fail "/sbin/init does not start with #!/bin/sh"
	if ! r=$(resolve_in_root "$root/bin/sh") || [[ $r != "$root/bin/busybox" ]]; then
		fail "/bin/sh does not resolve to /bin/busybox"
	fi
	out=$("$busybox" sh -n "$init" 2>&1) || fail "/sbin/init has a syntax error: $out"
	grep -q 'firmware booted' "$init" || fail "/sbin/init does not print 'firmware booted'"
	grep -q '9050' "$init" || fail "/sbin/init does not serve port 9050"
else
	fail "/sbin/init missing, a symlink or not executable"
fi

# Directories and files.
for d in proc sys dev tmp run var/log var/lib root etc/init.d mnt bin sbin; do
	[[ -d $root/$d && ! -L $root/$d ]] || fail "directory /$d missing"
done
for d in proc sys dev tmp run var/log etc/init.d mnt; do
	[[ -z $(ls -A "$root/$d" 2>/dev/null) ]] || fail "directory /$d is not empty"
done
[[ $(stat -c %a "$root/tmp") == 1777 ]] || fail "/tmp mode is $(stat -c %a "$root/tmp"), not 1777"
[[ ! -e $root/etc/exit-status ]] || fail "/etc/exit-status must not be shipped"
[[ -s $root/etc/hostname ]] || fail "/etc/hostname missing or empty"
[[ -s $root/etc/firmware-release ]] || fail "/etc/firmware-release missing or empty"
grep -q '^root:x:0:0:' "$root/etc/passwd" 2>/dev/null || fail "/etc/passwd has no root"
grep -q '^root:x:0:' "$root/etc/group" 2>/dev/null || fail "/etc/group has no root"
if [[ -n $(find "$root" -newermt @0 -print -quit) ]]; then
	fail "some rootfs entries have an mtime other than 0: $(find "$root" -newermt @0 | head -3)"
fi

# build.prop: key=value lines with the expected keys.
prop=$root/etc/build.prop
bb_version=$("$busybox" --help 2>&1 | sed -n '1s/^BusyBox v\([^ ]*\).*/\1/p')
if [[ -f $prop ]]; then
	lineno=0
	while IFS= read -r line; do
		lineno=$((lineno + 1))
		[[ $line =~ ^[a-z][a-z0-9._]*=[^[:space:]]*$ ]] ||
			fail "build.prop line $lineno is not key=value: '$line'"
	done <"$prop"
	get() { sed -n "s/^$1=//p" "$prop"; }
	[[ $(get 'ro\.build\.version') == 1.0 ]] || fail "build.prop: ro.build.version is not 1.0"
	[[ $(get 'ro\.product\.name') == fw-example ]] || fail "build.prop: ro.product.name is not fw-example"
	id=$(get 'ro\.build\.id')
	[[ $id =~ ^bb-${bb_version//./\\.}-[0-9a-f]{8}$ ]] ||
		fail "build.prop: ro.build.id '$id' is not derived from busybox $bb_version"
	[[ $(grep -c '^ro\.build\.id=' "$prop") == 1 ]] || fail "build.prop: ro.build.id not exactly once"
else
	fail "/etc/build.prop missing"
fi

# --- --dir-only ----------------------------------------------------------------------------

build dironly --dir-only
[[ $(<"$tmp/dironly.out") == "$tmp/dironly/rootfs" ]] ||
	fail "--dir-only printed '$(<"$tmp/dironly.out")', expected only the rootfs path"
for img in example.ext2 example.squashfs example.erofs; do
	[[ ! -e $tmp/dironly/$img ]] || fail "--dir-only produced $img"
done
[[ $(listing "$tmp/dironly/rootfs") == "$(listing "$root")" ]] ||
	fail "--dir-only rootfs differs from the full build's"
[[ -z $(find "$tmp/dironly" -mindepth 1 -maxdepth 1 -name '.*') ]] ||
	fail "make-example-firmware left temporary files in OUTDIR"

if ((failures)); then
	printf 'example_firmware_test: %d check(s) FAILED\n' "$failures" >&2
	exit 1
fi
echo "example_firmware_test: PASS"
