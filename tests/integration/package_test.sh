#!/usr/bin/env bash
# The Debian package, as a user gets it: built from a copy of the source tree with
# `dpkg-buildpackage -b -us -uc` (DEB_BUILD_OPTIONS=nocheck: the unit tests run elsewhere;
# FW_WERROR=ON: the -O2 build must be warning-free), checked with lintian, installed with
# apt-get, the INSTALLED daemon started through systemd-socket-activate on a private socket
# with a notify socket (READY=1, STOPPING=1) and private state paths, the main job run with
# the installed fwctl, then upgraded to a repacked higher version, and purged.
#
# It installs the package onto this machine, so it refuses to run (skip) when a firmwared
# package is installed (a user's install is never clobbered) or /var/lib/firmwared already
# holds state. Everything it made is undone on exit: the daemon, the instances, the package
# (purged), group firmwared when it did not exist before. Prints the time of each step.
source "$(dirname "$0")/../lib/harness.sh"
require_root

status=$(dpkg-query -W -f='${Status}' firmwared 2>/dev/null || true)
[[ -z "$status" || "$status" == *not-installed ]] ||
  skip "a firmwared package is on this machine ($status): this test would replace it"
[[ -z "$(ls -A /var/lib/firmwared 2>/dev/null)" ]] ||
  skip "/var/lib/firmwared holds state this test's purge would remove"
for tool in dpkg-buildpackage dh lintian apt-get systemd-socket-activate systemd-analyze; do
  command -v "$tool" >/dev/null || skip "$tool is missing (scripts/install-deps installs it)"
done

fw_inst_setup
has_group() { getent group firmwared >/dev/null; }
GROUP_EXISTED=0
has_group && GROUP_EXISTED=1
INSTALLED=0
SA_PID=""
NOTIFY_PID=""

pkg_on_exit() {
  local rc=$?
  set +e
  if [[ -n "$SA_PID" ]]; then
    for id in $(fwctl list instances 2>/dev/null | tr ' ' '\n' | sed 's/\[.*//'); do
      fwctl kill "$id" >/dev/null 2>&1
      fwctl drop instances "$id" >/dev/null 2>&1
    done
    kill -TERM "$SA_PID" 2>/dev/null
    fw_inst_wait_for 5 bash -c "! kill -0 $SA_PID" 2>/dev/null
    kill -KILL "$SA_PID" 2>/dev/null
    wait "$SA_PID" 2>/dev/null
  fi
  [[ -z "$NOTIFY_PID" ]] || { kill "$NOTIFY_PID" 2>/dev/null; wait "$NOTIFY_PID" 2>/dev/null; }
  umount /var/lib/firmwared/mount_points/package-test 2>/dev/null
  if [[ $INSTALLED -eq 1 ]]; then
    echo "package_test: purging the package it installed" >&2
    apt-get purge -y -qq -o DPkg::Lock::Timeout=300 firmwared >/dev/null 2>&1 ||
      dpkg --purge firmwared >/dev/null 2>&1
  fi
  if [[ $GROUP_EXISTED -eq 0 ]] && has_group; then
    groupdel firmwared
  fi
  (exit "$rc")
  fw_inst_on_exit
}
trap pkg_on_exit EXIT

# ---- timing -------------------------------------------------------------------------------
STEP_NAMES=()
STEP_MS=()
T_START=$(now_ms)
T_STEP=$T_START
step_done() {  # step_done NAME: records the time since the previous step
  local t
  t=$(now_ms)
  STEP_NAMES+=("$1")
  STEP_MS+=($((t - T_STEP)))
  printf 'package_test: %-28s %6d.%03d s\n' "$1" $(((t - T_STEP) / 1000)) $(((t - T_STEP) % 1000)) >&2
  T_STEP=$t
}

# ---- build ------------------------------------------------------------------------------
PKG="$FW_TMP/pkg"
SRC="$PKG/firmwared"
mkdir -p "$SRC"
# The tracked and untracked-but-not-ignored files (a clone's content, without build trees);
# without git, the tree minus build/.
if git -C "$FW_SOURCE_DIR" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$FW_SOURCE_DIR" && git ls-files -z -co --exclude-standard |
     while IFS= read -r -d '' f; do [[ -e "$f" || -L "$f" ]] && printf '%s\0' "$f"; done |
     tar -cf - --null -T -) | tar -xf - -C "$SRC"
else
  tar -C "$FW_SOURCE_DIR" --exclude=./build --exclude='./obj-*' -cf - . | tar -xf - -C "$SRC"
fi
check "the copy has debian/rules" test -x "$SRC/debian/rules"
step_done "copy the source tree"

BUILD_LOG="$PKG/build.log"
# With CCACHE_DIR set, debian/rules compiles through ccache: paths relative to the copy make
# the cache serve the next run's copy too (Debian's -ffile-prefix-map maps it to "." anyway).
[[ -z "${CCACHE_DIR:-}" ]] || export CCACHE_BASEDIR="$SRC"
T0=$(now_ms)
if ! (cd "$SRC" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" FW_WERROR=ON \
        dpkg-buildpackage -b -us -uc -Pnocheck) >"$BUILD_LOG" 2>&1; then
  tail -n 60 "$BUILD_LOG" >&2
  echo "package_test: dpkg-buildpackage failed (log above)" >&2
  exit 1
fi
BUILD_MS=$(($(now_ms) - T0))
echo "package_test: dpkg-buildpackage -b took $((BUILD_MS / 1000)) s on $(nproc) cores" >&2
check "the build was -Werror" grep -q -- '-Werror' "$BUILD_LOG"
check "the build was -O2" grep -q -- '-O2' "$BUILD_LOG"
DEB=$(ls "$PKG"/firmwared_*.deb)
CHANGES=$(ls "$PKG"/firmwared_*.changes)
expect_match "one .deb" '^/[^ ]*firmwared_0\.1\.0_[a-z0-9]+\.deb$' "$DEB"
VERSION=$(dpkg-deb -f "$DEB" Version)
expect_eq "the package's version is the project's" \
  "$(sed -n 's/^project(firmwared VERSION \([0-9.]*\).*/\1/p' "$FW_SOURCE_DIR/CMakeLists.txt")" \
  "$VERSION"
step_done "dpkg-buildpackage"

# ---- lintian ----------------------------------------------------------------------------
run lintian -I --pedantic "$CHANGES"
printf '%s\n' "$OUT" >&2
[[ -z "$ERR" ]] || printf '%s\n' "$ERR" >&2
expect_eq "lintian: no error or warning" "" "$(grep -E '^[EW]: ' <<<"$OUT" || true)"
step_done "lintian"

# ---- install ----------------------------------------------------------------------------
INSTALLED=1
run apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "$DEB"
expect_eq "apt-get install ./firmwared_*.deb: exit 0" 0 "$RC"
[[ $RC -eq 0 ]] || { printf '%s\n%s\n' "$OUT" "$ERR" >&2; exit 1; }
expect_eq "installed" "install ok installed" "$(dpkg-query -W -f='${Status}' firmwared)"
dpkg -L firmwared >"$PKG/files"
for f in /usr/sbin/firmwared /usr/bin/fwctl \
         /usr/libexec/firmwared/firmwared-monitor /usr/libexec/firmwared/net_hook \
         /usr/libexec/firmwared/firmwared-archive \
         /usr/share/firmwared/resources/adjectives.txt /usr/share/firmwared/resources/nouns.txt \
         /usr/share/man/man8/firmwared.8.gz /usr/share/man/man1/fwctl.1.gz \
         /usr/share/man/man5/firmwared.conf.5.gz \
         /usr/share/bash-completion/completions/fwctl \
         /lib/systemd/system/firmwared.socket /lib/systemd/system/firmwared.service \
         /usr/lib/sysusers.d/firmwared.conf /usr/lib/tmpfiles.d/firmwared.conf; do
  check "the package ships $f" grep -qxF "$f" "$PKG/files"
  check "$f is on disk" test -e "$f"
done
check "an AppArmor template is shipped" grep -q 'apparmor.*firmwared-instance$' "$PKG/files"
for f in /usr/sbin/firmwared /usr/bin/fwctl /usr/libexec/firmwared/firmwared-monitor \
         /usr/libexec/firmwared/net_hook /usr/libexec/firmwared/firmwared-archive; do
  check "$f is executable" test -x "$f"
done
check "group firmwared exists" has_group
check "the socket unit is enabled" \
  test -L /etc/systemd/system/sockets.target.wants/firmwared.socket
check "the state directory exists (tmpfiles)" test -d /var/lib/firmwared
expect_eq "the state directory is root's, 0700" "root 700" \
  "$(stat -c '%U %a' /var/lib/firmwared 2>/dev/null)"
run systemd-analyze verify /lib/systemd/system/firmwared.socket \
  /lib/systemd/system/firmwared.service
expect_eq "systemd-analyze verify of the installed units: exit 0" 0 "$RC"
expect_eq "systemd-analyze verify: nothing to say about our units" "" \
  "$(grep -i firmwared <<<"$OUT$ERR" || true)"
step_done "install"

# ---- the installed daemon, socket-activated -----------------------------------------------
NOTIFY="$FW_TMP/notify.sock"
NOTES="$FW_TMP/notify.log"
: >"$NOTES"
# One line per datagram, its fields separated by '|' (tests/lib/notify_listener.py).
"$PYTHON" "$FW_SOURCE_DIR/tests/lib/notify_listener.py" "$NOTIFY" "$NOTES" &
NOTIFY_PID=$!
fw_inst_wait_for 5 test -S "$NOTIFY"
notified() { grep -qE "(^|\|)$1(\||\$)" "$NOTES"; }

export FWCTL=/usr/bin/fwctl FIRMWARED=/usr/sbin/firmwared
env_args=()
for v in FIRMWARED_SOCKET_PATH FIRMWARED_DATABASE_PATH FIRMWARED_MOUNT_PATH \
         FIRMWARED_REPOSITORY_PATH FIRMWARED_LOG_LEVEL FIRMWARED_USERNS_POOL FIRMWARED_CGROUP \
         FIRMWARED_HOST_INTERFACE_PREFIX FIRMWARED_NET_FIRST_TWO_BYTES; do
  env_args+=(-E "$v")
done
systemd-socket-activate -l "$FIRMWARED_SOCKET_PATH" "${env_args[@]}" \
  -E NOTIFY_SOCKET="$NOTIFY" /usr/sbin/firmwared >>"$FW_LOG" 2>&1 &
SA_PID=$!
fw_inst_wait_for 5 test -S "$FIRMWARED_SOCKET_PATH"
check "nothing started before the first client (socket activation)" test ! -s "$NOTES"
run fwctl ping
expect_eq "the installed fwctl reaches the activated daemon" 0 "$RC"
fw_inst_wait_for 10 notified READY=1 || true
check "READY=1 notified" notified READY=1
expect_eq "the daemon is the activated process" "/usr/sbin/firmwared" \
  "$(readlink "/proc/$SA_PID/exe" 2>/dev/null)"
step_done "socket-activated start"

build_example_firmware
FW=$(field name "$(fwctl prepare firmwares "$FW_EX_EXT2")")
check "firmware imported" test -n "$FW"
INST=$(field name "$(fwctl prepare instances "$FW")")
check "instance prepared" test -n "$INST"
run fwctl start --wait-console 'firmware booted' --timeout 60 "$INST"
expect_eq "start: firmware booted" 0 "$RC"
[[ $RC -eq 0 ]] || printf '%s\n%s\n' "$OUT" "$ERR" >&2
run fwctl exec "$INST" -- cat /etc/build.prop
expect_eq "exec: exit 0" 0 "$RC"
expect_eq "exec: the firmware's build.prop" "$(cat "$FW_EX_DIR/etc/build.prop")" "$OUT"
run fwctl exec "$INST" -- sh -c 'echo packaged >/etc/packaged'
expect_eq "exec: a change" 0 "$RC"
run fwctl diff "$INST"
expect_match "diff shows the change" $'(^|\n)A[[:space:]]+/?etc/packaged($|\n)' "$OUT"
run fwctl export "$INST" --changes "$PKG/changes.tar"
expect_eq "export (the packaged firmwared-archive): exit 0" 0 "$RC"
[[ $RC -eq 0 ]] || printf '%s\n%s\n' "$OUT" "$ERR" >&2
expect_match "export: the change in the tar" $'(^|\n)etc/packaged($|\n)' "$(tar -tf "$PKG/changes.tar" 2>&1)"
run fwctl kill "$INST"
expect_eq "kill: exit 0" 0 "$RC"
run fwctl drop instances "$INST"
expect_eq "drop instance: exit 0" 0 "$RC"
run fwctl drop firmwares "$FW"
expect_eq "drop firmware: exit 0" 0 "$RC"
expect_eq "nothing left in the catalogue" "" "$(fwctl list instances)$(fwctl list firmwares)"
step_done "main job (installed fwctl)"

kill -TERM "$SA_PID"
fw_inst_wait_for 10 bash -c "! kill -0 $SA_PID" || true
SA_RC=0
wait "$SA_PID" 2>/dev/null || SA_RC=$?
SA_PID=""
expect_eq "the daemon exits 0 on SIGTERM" 0 "$SA_RC"
fw_inst_wait_for 2 notified STOPPING=1 || true
check "STOPPING=1 notified" notified STOPPING=1
kill "$NOTIFY_PID" 2>/dev/null
wait "$NOTIFY_PID" 2>/dev/null || true
NOTIFY_PID=""
fw_inst_expect_no_leftovers "after the daemon stopped"
assert_no_leaks
cp "$FW_LOG" "$FW_LOG_COPY" 2>/dev/null || true
step_done "stop"

# ---- upgrade to a higher version --------------------------------------------------------
UP="$PKG/upgrade"
dpkg-deb -R "$DEB" "$UP"
sed -i "s/^Version: .*/Version: $VERSION+test1/" "$UP/DEBIAN/control"
dpkg-deb -b "$UP" "$PKG/firmwared_$VERSION+test1.deb" >/dev/null
run apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
  "$PKG/firmwared_$VERSION+test1.deb"
expect_eq "upgrade: exit 0" 0 "$RC"
[[ $RC -eq 0 ]] || printf '%s\n%s\n' "$OUT" "$ERR" >&2
expect_eq "upgraded" "install ok installed $VERSION+test1" \
  "$(dpkg-query -W -f='${Status} ${Version}' firmwared)"
check "after the upgrade: the socket unit" test -f /lib/systemd/system/firmwared.socket
check "after the upgrade: still enabled" \
  test -L /etc/systemd/system/sockets.target.wants/firmwared.socket
check "after the upgrade: group firmwared" has_group
check "after the upgrade: the daemon" test -x /usr/sbin/firmwared
check "after the upgrade: the state directory" test -d /var/lib/firmwared
step_done "upgrade"

# ---- purge ------------------------------------------------------------------------------
# While something is mounted below /var/lib/firmwared (a running instance's overlay), the
# purge keeps the directory and says so: run the postrm's purge with a mount there first.
HELD=/var/lib/firmwared/mount_points/package-test
mkdir -p "$HELD"
mount -t tmpfs -o size=1m package-test "$HELD"
echo kept >"$HELD/file"
run /var/lib/dpkg/info/firmwared.postrm purge
expect_eq "postrm purge with a mount below the state: exit 0" 0 "$RC"
expect_match "it says why the state is kept" "/var/lib/firmwared is kept: something is still mounted" "$ERR"
expect_eq "nothing was removed through the mount" kept "$(cat "$HELD/file" 2>/dev/null)"
umount "$HELD"
rmdir "$HELD"

dpkg -L firmwared >"$PKG/files"
run apt-get purge -y -q -o DPkg::Lock::Timeout=300 firmwared
expect_eq "purge: exit 0" 0 "$RC"
[[ $RC -eq 0 ]] || printf '%s\n%s\n' "$OUT" "$ERR" >&2
INSTALLED=0
expect_eq "purged: dpkg knows nothing of it" "" \
  "$(dpkg-query -W -f='${Status}' firmwared 2>/dev/null | grep -v not-installed || true)"
left=""
while read -r f; do
  [[ -n "$f" ]] || continue
  if [[ -d "$f" ]]; then
    # A directory of the package's own must be gone too; /usr/bin (or /lib, a symlink on a
    # merged-/usr system) stays.
    [[ "$f" == *firmwared* ]] && left+="$f "
  elif [[ -e "$f" || -L "$f" ]]; then
    left+="$f "
  fi
done <"$PKG/files"
expect_eq "purge: no file of the package is left" "" "$left"
expect_eq "purge: nothing of it under /etc" "" \
  "$(find /etc -name '*firmwared*' 2>/dev/null | sort | tr '\n' ' ')"
check "purge: the state directory is removed" test ! -e /var/lib/firmwared
step_done "purge"

total=$(($(now_ms) - T_START))
echo "package_test: total $((total / 1000)) s (dpkg-buildpackage $((BUILD_MS / 1000)) s)" >&2
