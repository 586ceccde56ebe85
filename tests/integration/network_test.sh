#!/usr/bin/env bash
# Networking through the net helper: the host reaches the instance at
# <net>.<id>.1 and the instance the host at .254, two instances get distinct addresses, a
# stolen interface goes in with its new name and address and comes back after KILL and
# after a daemon crash, a failing helper aborts START cleanly, leftover veths are removed at
# start, and 50 start/kill cycles leave no veth behind.
source "$(dirname "$0")/../lib/harness.sh"
require_root
fw_inst_setup
P=$FIRMWARED_HOST_INTERFACE_PREFIX
NET=$FIRMWARED_NET_FIRST_TWO_BYTES
STEAL_A="fwtsa${FW_TMP##*.}"
STEAL_A=${STEAL_A:0:15}
STEAL_B="fwtsb${FW_TMP##*.}"
STEAL_B=${STEAL_B:0:15}
net_cleanup() {
  local rc=$?
  set +e
  ip link del "$STEAL_A" 2>/dev/null || true
  ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$P" |
    while read -r l; do ip link del "$l" 2>/dev/null; done
  return $rc
}
trap 'net_cleanup; fw_inst_on_exit' EXIT
build_example_firmware
start_daemon

links_with_prefix() { ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -c "^$P" || true; }

fwctl prepare firmwares "$FW_EX_DIR" >/dev/null
fw=$(fwctl list firmwares | cut -d'[' -f1)
fwctl prepare instances "$fw" >/dev/null
fwctl prepare instances "$fw" >/dev/null
a=$(fwctl list instances | tr ' ' '\n' | sed -n 1p | cut -d'[' -f1)
b=$(fwctl list instances | tr ' ' '\n' | sed -n 2p | cut -d'[' -f1)
expect_eq "ip of instance 0" "${NET}0.1" "$(fwctl get_property instances "$a" ip)"
expect_eq "host_ip of instance 0" "${NET}0.254" "$(fwctl get_property instances "$a" host_ip)"
expect_eq "ip of instance 1" "${NET}1.1" "$(fwctl get_property instances "$b" ip)"

run fwctl start --wait-console 'firmware booted' --timeout 20 "$a"
expect_eq "start a" 0 "$RC"
run fwctl start --wait-console 'firmware booted' --timeout 20 "$b"
expect_eq "start b" 0 "$RC"
expect_match "host end of a has .254" "inet ${NET//./\\.}0\\.254/24" "$(ip -o addr show dev "${P}0")"
expect_match "host end of b has .254" "inet ${NET//./\\.}1\\.254/24" "$(ip -o addr show dev "${P}1")"
# The host reads build.prop from the instance with a plain socket client.
prop=$(fw_build_prop_line "${NET}0.1")
expect_eq "host reads /etc/build.prop from instance a over TCP 9050" "ro.product.name=fw-example" "$prop"
run fwctl exec "$a" -- ip -o addr show eth0
expect_match "instance end eth0 has .1/24" "inet ${NET//./\\.}0\\.1/24" "$OUT"
run fwctl exec "$a" -- ip -o link show lo
expect_match "lo is up inside" "UP" "$OUT"
run fwctl exec "$b" -- ping -c 1 -W 2 "${NET}1.254"
expect_eq "instance b reaches the host at .254" 0 "$RC"
run fwctl exec "$a" -- ping -c 1 -W 1 "${NET}1.1"
expect_eq "instance a cannot reach instance b (separate /24s, no forwarding set up)" 1 "$RC"
fwctl kill "$a" >/dev/null
fwctl kill "$b" >/dev/null

# Stolen interface (this kernel has no dummy driver: one end of a veth pair stands in).
ip link add "$STEAL_A" type veth peer name "$STEAL_B"
fwctl set_property instances "$a" stolen_interface "$STEAL_A:eth1:192.168.213.7/24"
run fwctl start "$a"
expect_eq "start with a stolen interface" 0 "$RC"
run fwctl exec "$a" -- ip -o addr show eth1
expect_match "stolen interface inside as eth1 with its address" "inet 192\\.168\\.213\\.7/24" "$OUT"
check "stolen interface gone from the host" bash -c "! ip link show $STEAL_A >/dev/null 2>&1"
fwctl kill "$a" >/dev/null
check "stolen interface back on the host after KILL" ip link show "$STEAL_A"
# ... and after a daemon crash while the instance died.
fwctl start "$a" >/dev/null
mon=$(fwctl get_property instances "$a" pid)
kill -KILL "$FW_DAEMON_PID"; wait "$FW_DAEMON_PID" 2>/dev/null || true; FW_DAEMON_PID=""
kill -KILL "$mon"
sleep 0.3
check "while the daemon is down the interface is held by the pinned namespace" \
  bash -c "! ip link show $STEAL_A >/dev/null 2>&1"
start_daemon
for _ in $(seq 1 100); do ip link show "$STEAL_A" >/dev/null 2>&1 && break; sleep 0.05; done
check "stolen interface back on the host after the daemon restarted" ip link show "$STEAL_A"
expect_eq "instance ready after the crash" "ready" "$(fwctl get_property instances "$a" state)"
fwctl set_property instances "$a" stolen_interface ""

# Leftover host veths with our prefix and our owner mark are removed at start; one without
# a mark (made by hand) is left alone.
OWNER="firmwared:$(printf '%s' "$FIRMWARED_MOUNT_PATH" | sha1sum | cut -c1-16)"
ip link add "${P}99" type veth peer name "${P}98"
ip link set "${P}99" alias "$OWNER"
ip link add "${P}97" type veth peer name "${P}96"
stop_daemon
start_daemon
for _ in $(seq 1 100); do ip link show "${P}99" >/dev/null 2>&1 || break; sleep 0.05; done
check "leftover veth of this daemon removed at daemon start" bash -c "! ip link show ${P}99 >/dev/null 2>&1"
check "a veth with our prefix and no owner is left alone" ip link show "${P}97"
check "and the daemon says so" grep -q "veth ${P}97 has our prefix but no firmwared owner" "$FW_LOG"
ip link del "${P}97"

# A failing helper aborts START with a clear error and leaves nothing.
# (It lets the host_access filter actions through: host_access_test covers their failure.)
printf '#!/bin/sh\ncase $1 in filter|unfilter|sweep) exit 0 ;; esac\necho "refusing $1" >&2\nexit 1\n' >"$FW_TMP/bad_hook"
chmod +x "$FW_TMP/bad_hook"
stop_daemon
FIRMWARED_NET_HOOK="$FW_TMP/bad_hook" start_daemon
run fwctl start "$a"
expect_eq "START with a failing helper exits 1" 1 "$RC"
expect_match "error names the helper and its message" "setting up the network: net helper '.*bad_hook create' failed \\(exit status 1\\): refusing create" "$ERR"
expect_eq "state back to ready" "ready" "$(fwctl get_property instances "$a" state)"
# (Its standby failed the same way: none stands by, none is left.)
no_monitor_of_a() { ! pgrep -f "^$FW_BUILD_DIR/firmwared/firmwared-monitor --name $a " >/dev/null; }
check "no monitor left" fw_inst_wait_for 5 no_monitor_of_a
check "no netns pin left" fw_inst_wait_for 5 test ! -e "$(fwctl get_property instances "$a" base_workspace)/netns"

# A helper that hangs (create, then its rollback clean: 10 s each, past START's 15 s): the
# error names the step that did not finish, not PID 1.
printf '#!/bin/sh\necho $$ >>"%s"\nexec sleep 60\n' "$FW_TMP/hung_pids" >"$FW_TMP/hung_hook"
chmod +x "$FW_TMP/hung_hook"
stop_daemon
FIRMWARED_NET_HOOK="$FW_TMP/hung_hook" start_daemon
run fwctl start "$a"
expect_eq "START with a hung helper exits 1" 1 "$RC"
expect_eq "error names the hung step" \
  "firmwared error: starting instance $a: PID 1 was not started: the network helper did not finish within 15 s" \
  "$ERR"
expect_eq "state back to ready after the hung helper" "ready" \
  "$(fwctl get_property instances "$a" state)"
expect_eq "no exit status after the failed START" "" \
  "$(fwctl get_property instances "$a" exit_status)"
stop_daemon
# The background clean may still run when the daemon stops: end our hung helpers by pid.
while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$FW_TMP/hung_pids"
start_daemon

# 50 start/kill cycles: no veth left, network step timed. (Counted with the instance's
# standby made: its veth is there before and after.)
sandbox_ready() { [[ "$(fwctl get_property instances "$a" sandbox)" == ready ]]; }
fw_inst_wait_for 10 sandbox_ready || true
before=$(links_with_prefix)
for i in $(seq 1 50); do
  fwctl start "$a" >/dev/null || { echo "start $i failed" >&2; break; }
  fwctl kill "$a" >/dev/null
done
fw_inst_wait_for 10 sandbox_ready || true
for _ in $(seq 1 100); do [[ $(links_with_prefix) -le $before ]] && break; sleep 0.05; done
expect_eq "no veth left after 50 start/kill cycles" "$before" "$(links_with_prefix)"
fwctl drop instances "$a" >/dev/null
fwctl drop instances "$b" >/dev/null
fwctl drop firmwares "$fw" >/dev/null
stop_daemon
assert_no_leaks
