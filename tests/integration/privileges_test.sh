#!/usr/bin/env bash
# The daemon refuses to start without what it needs, before touching anything: as root
# without CAP_SYS_ADMIN or CAP_NET_ADMIN (what a default Docker executor gives), or as a
# user. The message names what is missing and what to do; no socket, lock, catalogue or
# state directory is created.
source "$(dirname "$0")/../lib/harness.sh"
require_root
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
setup
chmod 0777 "$FW_TMP"  # a user could create its state here: the refusal must come first

nothing_created() {
  expect_eq "$1: nothing created" "" \
    "$(ls -A "$FW_TMP" | grep -v '^firmwared.log$' || true)"
}

for cap in sys_admin net_admin mknod; do
  CAP=CAP_${cap^^}
  # Root's effective set after exec is its bounding set (capabilities(7)): drop from both.
  run setpriv --inh-caps=-$cap --bounding-set=-$cap "$FIRMWARED"
  expect_eq "root without $CAP: exit 1" 1 "$RC"
  expect_match "root without $CAP: the message names it and what to do" \
    "needs root with the capabilities it uses; this process lacks $CAP \(.*\): run firmwared as root on the host, or in a privileged container \(Docker: --privileged" \
    "$ERR"
  nothing_created "root without $CAP"
done

# Docker's default capability set (no SYS_ADMIN, NET_ADMIN): both named.
DOCKER=chown,dac_override,fsetid,fowner,mknod,net_raw,setgid,setuid,setfcap,setpcap
DOCKER=$DOCKER,net_bind_service,sys_chroot,kill,audit_write
run setpriv --inh-caps=-all --bounding-set=-all,+${DOCKER//,/,+} "$FIRMWARED"
expect_eq "Docker's default capabilities: exit 1" 1 "$RC"
expect_match "Docker's default capabilities: SYS_ADMIN and NET_ADMIN named" \
  "lacks CAP_SYS_ADMIN \(.*\), CAP_NET_ADMIN \(" "$ERR"
nothing_created "Docker's default capabilities"

run setpriv --reuid=65534 --regid=65534 --clear-groups "$FIRMWARED"
expect_eq "as a user: exit 1" 1 "$RC"
expect_match "as a user: named" "this process runs as uid 65534, not root: run firmwared as root" "$ERR"
nothing_created "as a user"

# --help and --version need no privileges.
run setpriv --reuid=65534 --regid=65534 --clear-groups "$FIRMWARED" --version
expect_eq "--version as a user" 0 "$RC"

# And with everything, it starts.
start_daemon
run "$FWCTL" ping
expect_eq "root with every capability: it answers" "PONG" "$OUT"
stop_daemon
