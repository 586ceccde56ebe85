#!/usr/bin/env bash
# Two daemons on one host with their own state but the same host_interface_prefix (one
# daemon per CI job): each host veth end carries its daemon's owner alias
# ("firmwared:<id>", ifalias), so restarting or crashing one daemon sweeps only its own
# leftovers; the other's instances stay reachable and keep their host_access filters (each
# daemon has its own nftables table, firmwared_<prefix>_<owner id>). A veth
# with the prefix and no owner (made by hand) is left alone too.
source "$(dirname "$0")/../lib/harness.sh"
require_root
setup
P=fwt2d
export FIRMWARED_HOST_INTERFACE_PREFIX=$P FIRMWARED_NET_FIRST_TWO_BYTES=10.247.
TABLE=firmwared_${P}_$(fw_owner_id "$FIRMWARED_MOUNT_PATH")  # daemon 1's; daemon 2 has its own
TABLE2=firmwared_${P}_$(fw_owner_id "$FW_TMP/d2/mount_points")
HAND=${P}9 HAND_PEER=${P}p9  # a veth with our prefix that no daemon made
FAKE=fwt2x FAKE_PEER=fwt2xp  # a veth another daemon (other prefix) seems to own
command -v nft >/dev/null || skip "needs nft (package nftables) to inspect the ruleset"
build_example_firmware
D2=$FW_TMP/d2
D2_PID=""
td_cleanup() {
  local rc=$? id
  set +e
  for id in $("$FWCTL" list instances 2>/dev/null | tr ' ' '\n' | sed 's/\[.*//'); do
    "$FWCTL" kill "$id" >/dev/null 2>&1
  done
  if [[ -n "$D2_PID" ]]; then
    for id in $(d2 list instances 2>/dev/null | tr ' ' '\n' | sed 's/\[.*//'); do
      d2 kill "$id" >/dev/null 2>&1
    done
    kill -TERM "$D2_PID" 2>/dev/null
    wait "$D2_PID" 2>/dev/null
  fi
  ip link del "$HAND" 2>/dev/null
  ip link del "$FAKE" 2>/dev/null
  (exit "$rc")
  fw_inst_on_exit
  nft delete table inet "$TABLE" 2>/dev/null
  nft delete table inet "$TABLE2" 2>/dev/null
}
trap td_cleanup EXIT

start_d2() { fw_second_daemon "$D2" FIRMWARED_NET_FIRST_TWO_BYTES=10.248.; }
alias_of() { cat "/sys/class/net/$1/ifalias" 2>/dev/null; }
# pings CLIENT ID ADDR: the instance pings an address through its veth (the host has no
# ping of its own here).
pings() { "$1" exec "$2" -- ping -c 1 -W 2 "$3" </dev/null >/dev/null 2>&1; }
has_chain() { nft list chain inet "$1" "in_$2" >/dev/null 2>&1; }  # has_chain TABLE IF

start_daemon
check "the second daemon starts" start_d2

# Daemon 1: one instance (veth ${P}0). Daemon 2: its second instance (veth ${P}1; the first
# would be ${P}0 too, and is refused with EEXIST rather than touching daemon 1's).
F1=$(field name "$(fwctl prepare firmwares "$FW_EX_DIR")")
A=$(field name "$(fwctl prepare instances "$F1")")
run fwctl start --wait-console 'firmware booted' --timeout 30 "$A"
expect_eq "daemon 1 starts its instance" 0 "$RC"
F2=$(field name "$(d2 prepare firmwares "$FW_EX_DIR")")
C0=$(field name "$(d2 prepare instances "$F2")")
C=$(field name "$(d2 prepare instances "$F2")")
run d2 start "$C0"
expect_eq "daemon 2's first instance clashes on ${P}0: refused" 1 "$RC"
expect_match "the refusal says whose veth it is" \
  "host interface ${P}0 belongs to another firmwared \\(firmwared:[0-9a-f]{16}\\).*give each daemon its own prefix" \
  "$ERR"
check "daemon 1's veth survived the clash" ip link show "${P}0"
# The two daemons share a prefix on purpose. C0's standby, whose build is retried in the
# background, would take ${P}0 the moment daemon 1 frees it (A's KILL below), and A's next
# START would then clash: dropped, its part done.
run d2 drop instances "$C0"
expect_eq "daemon 2 drops the instance that clashed" 0 "$RC"
run d2 start --wait-console 'firmware booted' --timeout 30 "$C"
expect_eq "daemon 2 starts its second instance" 0 "$RC"
A_HOST=$(fwctl get_property instances "$A" host_ip)
C_HOST=$(d2 get_property instances "$C" host_ip)
OWNER1=$(alias_of "${P}0")
OWNER2=$(alias_of "${P}1")
expect_match "daemon 1's veth carries its owner" '^firmwared:[0-9a-f]{16}$' "$OWNER1"
expect_match "daemon 2's veth carries its owner" '^firmwared:[0-9a-f]{16}$' "$OWNER2"
check "the owners differ" test "$OWNER1" != "$OWNER2"
# fwctl doctor warns about the other daemon's veth with our prefix (each daemon's view).
doctor_other() {
  "$PYTHON" -c 'import json, sys
c = [c for c in json.load(sys.stdin) if c["check"] == "other daemons"]
print(*((c[0]["status"], c[0]["detail"]) if c else ("no such check",)))' <<<"$("$@" doctor --json)"
}
expect_match "doctor of daemon 1 names daemon 2's veth" \
  "^warn .*${P}1 \\($OWNER2: prefix $P\\)" "$(doctor_other fwctl)"
expect_match "doctor of daemon 2 names daemon 1's veth" \
  "^warn .*${P}0 \\($OWNER1: prefix $P\\)" "$(doctor_other d2)"
check "doctor of daemon 1 does not name its own veth" \
  bash -c "! grep -q '${P}0 ' <<<\"\$1\"" _ "$(doctor_other fwctl)"
# Another daemon's interface in our network (other prefix, same two bytes): named too.
ip link add "$FAKE" type veth peer name "$FAKE_PEER"
echo firmwared:0123456789abcdef >"/sys/class/net/$FAKE/ifalias"
ip addr add 10.247.250.1/32 dev "$FAKE"
expect_match "doctor names another daemon's interface in our network" \
  "$FAKE \\(firmwared:0123456789abcdef: address 10.247.250.1\\)" "$(doctor_other fwctl)"
ip link del "$FAKE"
check "daemon 1's instance reaches its host_ip" pings fwctl "$A" "$A_HOST"
check "daemon 2's instance reaches its host_ip" pings d2 "$C" "$C_HOST"
c_filtered=no
has_chain "$TABLE2" "${P}1" && c_filtered=yes
check "daemon 1's filter is in its own table" has_chain "$TABLE" "${P}0"
check "daemon 2's filter is not in daemon 1's table" bash -c "! nft list chain inet $TABLE in_${P}1 >/dev/null 2>&1"
ip link add "$HAND" type veth peer name "$HAND_PEER"

# A monitor keeps no copy of the host's mounts: once PID 1 runs, it is back in the host's
# mount namespace. A copy would pin every overlay the host had when it started, daemon 1's
# included: restarting A would then leave two overlay superblocks on A's upper dir.
host_mnt=$(readlink /proc/self/ns/mnt)
for m in "$(fwctl get_property instances "$A" pid)" "$(d2 get_property instances "$C" pid)"; do
  expect_eq "monitor $m is back in the host's mount namespace" "$host_mnt" \
    "$(readlink "/proc/$m/ns/mnt")"
done
WS_A="$FIRMWARED_MOUNT_PATH/instances/$(fwctl get_property instances "$A" sha1)"
overlays_on_upper() {  # distinct overlay superblocks on A's upper dir, over every namespace
  cat /proc/[0-9]*/mountinfo 2>/dev/null |
    awk -v u="upperdir=$WS_A/rw" -v i="upperdir=$WS_A/.idmap/up/rw" '
      function on(x) { return index($0, x ",") || index($0, x " ") || substr($0, length($0) - length(x) + 1) == x }
      on(u) || on(i) { print $3 }' |
    sort -u | wc -l
}
run fwctl kill "$A"
run fwctl remount "$A"
expect_eq "daemon 1 remounts its instance (a new overlay on the same upper dir)" 0 "$RC"
run fwctl start --wait-console 'firmware booted' --timeout 30 "$A"
expect_eq "daemon 1 starts its instance again" 0 "$RC"
expect_eq "one overlay superblock on A's upper dir after its restart" 1 "$(overlays_on_upper)"

# Restart daemon 1 (SIGTERM leaves instances running; the new one sweeps its leftovers).
stop_daemon
start_daemon
check "after daemon 1 restarts, daemon 2's veth is there" ip link show "${P}1"
check "and daemon 2's instance still reaches its host_ip" pings d2 "$C" "$C_HOST"
expect_eq "and keeps its host_access filter" "$c_filtered" "$(has_chain "$TABLE2" "${P}1" && echo yes || echo no)"
check "daemon 1 re-adopted its own instance (still networked)" pings fwctl "$A" "$A_HOST"
check "the hand-made veth with our prefix is left alone" ip link show "$HAND"
check "daemon 1 said why it left them" grep -q "veth ${P}1 belongs to another firmwared" "$FW_LOG"

# Crash daemon 2 and kill its instance meanwhile: its restart sweeps its own leftover only.
mon=$(d2 get_property instances "$C" pid)
kill -KILL "$D2_PID"
wait "$D2_PID" 2>/dev/null || true
D2_PID=""
kill -KILL "$mon"
fw_inst_wait_for 5 bash -c "! kill -0 $mon" || true
check "daemon 2 restarts" start_d2
check "daemon 1's instance still reaches its host_ip after daemon 2's restart" \
  pings fwctl "$A" "$A_HOST"
check "daemon 1's veth is there" ip link show "${P}0"
check "the hand-made veth is still left alone" ip link show "$HAND"

for id in $(d2 list instances | tr ' ' '\n' | sed 's/\[.*//'); do d2 kill "$id" >/dev/null 2>&1 || true; done
for id in $(d2 list instances | tr ' ' '\n' | sed 's/\[.*//'); do d2 drop instances "$id" >/dev/null; done
d2 drop firmwares "$F2" >/dev/null
kill -TERM "$D2_PID"
wait "$D2_PID" 2>/dev/null || true
D2_PID=""
umount -R "$D2/mount_points" 2>/dev/null || true
fwctl kill "$A" >/dev/null
fwctl drop instances "$A" >/dev/null
fwctl drop firmwares "$F1" >/dev/null
ip link del "$HAND"
stop_daemon
assert_no_leaks
