#!/usr/bin/env bash
# The systemd files of systemd/: `systemd-analyze verify` accepts the units with no
# complaint (ExecStart pointed at the build tree's daemon: the installed path is the
# package test's to check), systemd-sysusers makes group firmwared and systemd-tmpfiles the
# state directories with the modes the daemon enforces, in a scratch root.
source "$(dirname "$0")/../lib/harness.sh"
require_root
command -v systemd-analyze >/dev/null || skip "needs systemd-analyze (systemd)"
setup
UNITS=$FW_TMP/units
mkdir "$UNITS"
GENERATED=$FW_BUILD_DIR/systemd/firmwared.service
check "the build generated firmwared.service" test -f "$GENERATED"
expect_match "ExecStart names the installed daemon" "^ExecStart=/.*/firmwared$" \
  "$(grep '^ExecStart=' "$GENERATED")"
sed "s|^ExecStart=.*|ExecStart=$FIRMWARED|" "$GENERATED" >"$UNITS/firmwared.service"
cp "$FW_SOURCE_DIR/systemd/firmwared.socket" "$UNITS/"
# --man=no: the man pages are installed, not in the build tree.
run systemd-analyze verify --man=no "$UNITS/firmwared.socket" "$UNITS/firmwared.service"
expect_eq "systemd-analyze verify: exit 0" 0 "$RC"
expect_eq "systemd-analyze verify: no warning" "" "$OUT$ERR"
# A unit verify would reject (the test can fail).
sed 's|^ExecStart=.*|ExecStart=/nonexistent/firmwared|' "$UNITS/firmwared.service" \
  >"$UNITS/broken.service"
run systemd-analyze verify --man=no "$UNITS/broken.service"
check "verify refuses a missing ExecStart" test "$RC" -ne 0

for key in Type=notify Delegate=yes KillMode=process OOMPolicy=continue TasksMax=infinity; do
  check "firmwared.service: $key" grep -qx "$key" "$GENERATED"
done
expect_eq "the socket is the daemon's default socket_path" "ListenStream=/run/firmwared.sock" \
  "$(grep '^ListenStream=' "$FW_SOURCE_DIR/systemd/firmwared.socket")"
expect_eq "the configuration's socket_path default agrees" "/run/firmwared.sock" \
  "$(sed -n 's/.*KeySpec{"socket_path", Rule::kSocketPath, "\([^"]*\)".*/\1/p' \
       "$FW_SOURCE_DIR/firmwared/config/rules.cc")"

ROOT=$FW_TMP/root
mkdir -p "$ROOT/etc"
run systemd-sysusers --root="$ROOT" "$FW_SOURCE_DIR/systemd/sysusers.conf"
expect_eq "systemd-sysusers: exit 0" 0 "$RC"
check "group firmwared made" grep -q "^firmwared:x:[0-9]*:" "$ROOT/etc/group"
run systemd-tmpfiles --create --root="$ROOT" "$FW_SOURCE_DIR/systemd/tmpfiles.conf"
expect_eq "systemd-tmpfiles: exit 0 ($ERR)" 0 "$RC"
for d in /var/lib/firmwared /var/lib/firmwared/firmwares /var/lib/firmwared/mount_points; do
  expect_eq "$d: root 0700" "root:root 700" "$(stat -c '%U:%G %a' "$ROOT$d" 2>&1)"
done

# The daemon leaves those directories as tmpfiles made them (no "fixed its mode" notice).
export FIRMWARED_DATABASE_PATH=$ROOT/var/lib/firmwared/catalogue.db
export FIRMWARED_MOUNT_PATH=$ROOT/var/lib/firmwared/mount_points
export FIRMWARED_REPOSITORY_PATH=$ROOT/var/lib/firmwared/firmwares
start_daemon
stop_daemon
expect_eq "the daemon changed no mode tmpfiles set" "" "$(grep "made it uid" "$FW_LOG" || true)"
