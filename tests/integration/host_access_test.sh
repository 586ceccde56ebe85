#!/usr/bin/env bash
# host_access: what an instance reaches on the host through its veth, enforced with
# nftables in table inet firmwared_<host_interface_prefix>_<owner id>. A host TCP listener on 0.0.0.0
# is out of reach by default (at host_ip, and at another host address through a default
# route), reachable with tcp:PORT (at host_ip only), and everything is with `all`; ping of
# host_ip and the host's own connections into the instance work in every mode; the host
# forwards for an instance only with `all`; the table goes with the last filter (KILL,
# DROP, a daemon crash then restart); a second daemon with another prefix, and another
# program's table, are left alone.
source "$(dirname "$0")/../lib/harness.sh"
require_root
setup
export FIRMWARED_HOST_INTERFACE_PREFIX=fwtha FIRMWARED_NET_FIRST_TWO_BYTES=10.245.
# Without pre-made sandboxes first: this follows the filter's life with a run's (made at
# START, gone at KILL, the table gone with its last filter). A standby installs its filter
# when it is made, ahead of START, and keeps it while the instance is ready: the last part
# checks that with pre-made sandboxes (the default), and the START's error when the helper
# fails either way.
export FIRMWARED_PREMADE_SANDBOX=n
P=fwtha
NET=10.245.
TABLE=firmwared_fwtha_$(fw_owner_id "$FIRMWARED_MOUNT_PATH")
TABLE2=firmwared_fwthb_$(fw_owner_id "$FW_TMP/d2/mount_points")
OTHER_IP=198.51.100.77          # a host address on another interface (TEST-NET-2)
OTHER_A=fwthox OTHER_B=fwthoy   # the veth pair holding it (this kernel has no dummy driver)
FOREIGN=fwtest_not_ours         # another program's table: never touched
PORT=$((47000 + RANDOM % 1000))
PORT2=$((PORT + 1))
command -v nft >/dev/null || skip "needs nft (package nftables) to inspect the ruleset"
build_example_firmware
INSTS=""
ha_cleanup() {
  local rc=$? id
  set +e
  for id in $INSTS; do "$FWCTL" kill "$id" >/dev/null 2>&1; done
  [[ -n "${LISTENER:-}" ]] && kill "$LISTENER" 2>/dev/null
  [[ -n "${D2_PID:-}" ]] && kill -KILL "$D2_PID" 2>/dev/null
  ip link del "$OTHER_A" 2>/dev/null
  nft delete table inet "$FOREIGN" 2>/dev/null
  (exit "$rc")
  fw_inst_on_exit
  # After the daemons are gone: whatever they left (a failed run) must not outlive the test.
  nft delete table inet "$TABLE" 2>/dev/null
  nft delete table inet "$TABLE2" 2>/dev/null
}
trap ha_cleanup EXIT

ip link add "$OTHER_A" type veth peer name "$OTHER_B"
ip addr add "$OTHER_IP/32" dev "$OTHER_A"
ip link set "$OTHER_A" up
ip link set "$OTHER_B" up
nft add table inet "$FOREIGN"
nft add chain inet "$FOREIGN" c '{ type filter hook input priority 10; policy accept; }'
nft add rule inet "$FOREIGN" c counter
# The host service: says hello to whoever connects, on two ports, on every address.
"$PYTHON" - "$PORT" "$PORT2" <<'PY' &
import socket, sys, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16)
    while True:
        c, _ = s.accept(); c.sendall(b"hello-from-host\n"); c.close()
for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
threading.Event().wait()
PY
LISTENER=$!
start_daemon

FW=$(field name "$(fwctl prepare firmwares "$FW_EX_DIR")")
A=$(field name "$(fwctl prepare instances "$FW")")
B=$(field name "$(fwctl prepare instances "$FW")")
INSTS="$A $B"
HOST_A=${NET}0.254
HOST_B=${NET}1.254

# reach INSTANCE ADDRESS PORT: prints what the host service said ("" when unreachable).
reach() { fwctl exec "$1" -- nc -w 2 "$2" "$3" </dev/null 2>/dev/null || true; }
pings() { fwctl exec "$1" -- ping -c 1 -W 2 "$2" >/dev/null 2>&1 && echo yes || echo no; }
start() {
  run fwctl start --wait-console 'firmware booted' --timeout 30 "$1"
  expect_eq "START $1 ($(fwctl get_property instances "$1" host_access))" 0 "$RC"
  # Through the host for what is not on its own /24 (OTHER_IP, the other instance).
  fwctl exec "$1" -- ip route add default via "$(fwctl get_property instances "$1" host_ip)"
}
stop() { fwctl kill "$1" >/dev/null; }
# setp INSTANCE VALUE: sets host_access, as a check (so that the rest still runs, and fails
# where it should, against a daemon without the property).
setp() {
  run fwctl set_property instances "$1" host_access "$2"
  expect_eq "set host_access of $1 to '$2'" 0 "$RC"
}
table_exists() { nft list table inet "$TABLE" >/dev/null 2>&1; }
table_absent() { ! table_exists; }
# (grep -q on a pipe could make nft die of SIGPIPE, a failure under pipefail: read it all.)
has_chain() { [[ "$(nft list table inet "$TABLE" 2>/dev/null)" == *"chain $1 {"* ]]; }
host_reads_build_prop() {  # the host's own connection into the instance (replies must pass)
  fw_build_prop_line "$1" 3 2>/dev/null || echo unreachable
}

expect_eq "host_access defaults to none" "none" "$(fwctl get_property instances "$A" host_access)"
run fwctl set_property instances "$A" host_access "tcp:0"
expect_eq "a bad value is EINVAL" 1 "$RC"
expect_match "the message names the value and the rule" "invalid host_access 'tcp:0'.*1 to 65535" "$ERR"
expect_match "host_access is listed among the properties" "host_access" "$(fwctl properties instances)"

echo "# none"
start "$A"
expect_eq "none: host service at host_ip unreachable" "" "$(reach "$A" "$HOST_A" "$PORT")"
expect_eq "none: host service at another host address unreachable (default route)" "" \
  "$(reach "$A" "$OTHER_IP" "$PORT")"
expect_eq "none: ping of host_ip works" yes "$(pings "$A" "$HOST_A")"
expect_eq "none: the host still reads from the instance" "ro.product.name=fw-example" \
  "$(host_reads_build_prop "${NET}0.1")"
check "none: the table exists with the instance's chains" has_chain "in_${P}0"
run fwctl set_property instances "$A" host_access all
expect_eq "host_access cannot change while started (EBUSY)" 1 "$RC"
expect_match "EBUSY message" "shapes its launch" "$ERR"
stop "$A"
fw_inst_wait_for 5 table_absent || true
check "none: the table is gone after KILL" table_absent

echo "# tcp:PORT"
setp "$A" "tcp:$PORT"
expect_eq "the port list reads back" "tcp:$PORT" "$(fwctl get_property instances "$A" host_access)"
start "$A"
expect_eq "tcp:PORT: the port at host_ip is reachable" "hello-from-host" "$(reach "$A" "$HOST_A" "$PORT")"
expect_eq "tcp:PORT: another port at host_ip is not" "" "$(reach "$A" "$HOST_A" "$PORT2")"
expect_eq "tcp:PORT: the port at another host address is not" "" "$(reach "$A" "$OTHER_IP" "$PORT")"
expect_eq "tcp:PORT: ping of host_ip works" yes "$(pings "$A" "$HOST_A")"
stop "$A"

echo "# all"
setp "$A" all
start "$A"
expect_eq "all: the port at host_ip" "hello-from-host" "$(reach "$A" "$HOST_A" "$PORT")"
expect_eq "all: another port at host_ip" "hello-from-host" "$(reach "$A" "$HOST_A" "$PORT2")"
expect_eq "all: another host address" "hello-from-host" "$(reach "$A" "$OTHER_IP" "$PORT")"
expect_eq "all: ping of host_ip works" yes "$(pings "$A" "$HOST_A")"
check "all: no filter for the instance (no table when it is alone)" table_absent
stop "$A"

echo "# forwarding (instance a -> instance b through the host)"
# Forwarding is enabled on the two host ends only (the per-device switch: IPv4 forwards a
# packet when its input device allows it), so the host's other interfaces are unaffected.
forward_on() { sysctl -qw "net.ipv4.conf.${P}$1.forwarding=1"; }
setp "$A" none
start "$A"
start "$B"
forward_on 0
forward_on 1
expect_eq "none: the host does not forward for the instance" "" "$(reach "$A" "${NET}1.1" 9050)"
stop "$A"
setp "$A" all
start "$A"
forward_on 0
expect_match "all: the host forwards (b, itself none, answers a connection made to it)" \
  "ro.product.name" "$(reach "$A" "${NET}1.1" 9050)"
stop "$A"
stop "$B"
fw_inst_wait_for 5 table_absent || true
check "the table is gone once no instance is filtered" table_absent

echo "# daemon crash"
setp "$A" none
start "$A"
mon=$(fwctl get_property instances "$A" pid)
fw_inst_crash_daemon
check "the filter outlives the daemon" has_chain "in_${P}0"
start_daemon
check "a re-adopted instance keeps its filter" has_chain "in_${P}0"
expect_eq "and is still filtered" "" "$(reach "$A" "$HOST_A" "$PORT")"
fw_inst_crash_daemon
kill -KILL "$mon"
fw_inst_wait_for 5 bash -c "! kill -0 $mon" || true
check "while the daemon is down the dead instance's filter stays" has_chain "in_${P}0"
start_daemon
fw_inst_wait_for 5 table_absent || true
check "the restarted daemon sweeps the leftover filter (and the table)" table_absent

echo "# a second daemon"
start "$A"
D2=$FW_TMP/d2
fw_second_daemon "$D2" FIRMWARED_HOST_INTERFACE_PREFIX=fwthb FIRMWARED_NET_FIRST_TWO_BYTES=10.246. ||
  true
F2=$(field name "$(d2 prepare firmwares "$FW_EX_DIR")")
C=$(field name "$(d2 prepare instances "$F2")")
run d2 start --wait-console 'firmware booted' --timeout 30 "$C"
expect_eq "second daemon starts its instance" 0 "$RC"
check "second daemon has its own table" nft list table inet "$TABLE2"
d2 kill "$C" >/dev/null
fw_inst_wait_for 5 bash -c "! nft list table inet $TABLE2 >/dev/null 2>&1" || true
check "its table goes with its instance" bash -c "! nft list table inet $TABLE2 >/dev/null 2>&1"
check "the first daemon's filter is untouched" has_chain "in_${P}0"
expect_eq "and still holds" "" "$(reach "$A" "$HOST_A" "$PORT")"
d2 drop instances "$C" >/dev/null
kill -TERM "$D2_PID"; wait "$D2_PID" 2>/dev/null || true; D2_PID=""
umount -R "$D2/mount_points" 2>/dev/null || true

echo "# drop"
stop "$A"
fwctl drop instances "$A" >/dev/null
fwctl drop instances "$B" >/dev/null
INSTS=""
fw_inst_wait_for 5 table_absent || true
check "no table after KILL and DROP" table_absent
check "another program's table is untouched" nft list chain inet "$FOREIGN" c

echo "# pre-made sandboxes"
stop_daemon
export FIRMWARED_PREMADE_SANDBOX=y
start_daemon
A=$(field name "$(fwctl prepare instances "$FW")")
INSTS=$A
sandbox_ready() { [[ "$(fwctl get_property instances "$A" sandbox)" == ready ]]; }
check "A's standby is made" fw_inst_wait_for 10 sandbox_ready
check "the standby installs the instance's filter ahead of START" has_chain "in_${P}0"
start "$A"
expect_eq "START from the standby: filtered as a run (none)" "" "$(reach "$A" "$HOST_A" "$PORT")"
expect_eq "and ping of host_ip works" yes "$(pings "$A" "$HOST_A")"
stop "$A"
check "the next standby has the filter again" fw_inst_wait_for 10 has_chain "in_${P}0"
fwctl drop instances "$A" >/dev/null
INSTS=""
fw_inst_wait_for 5 table_absent || true
check "DROP takes the standby's filter (and the table) away" table_absent

echo "# a helper whose filter step fails"
# It refuses `serve` too: passed through, every request would reach net_hook directly.
printf '#!/bin/sh\n[ "$1" = serve ] && exit 2\n[ "$1" = filter ] && { echo "net_hook: filter: no nftables here" >&2; exit 1; }\nexec "%s" "$@"\n' \
  "$FW_BUILD_DIR/net-helpers/net_hook" >"$FW_TMP/nofilter_hook"
chmod +x "$FW_TMP/nofilter_hook"
for premade in n y; do
  stop_daemon
  FIRMWARED_PREMADE_SANDBOX=$premade FIRMWARED_NET_HOOK="$FW_TMP/nofilter_hook" start_daemon
  A=$(field name "$(fwctl prepare instances "$FW")")
  INSTS=$A
  if [[ $premade == y ]]; then
    sandbox_failed() { [[ "$(fwctl get_property instances "$A" sandbox)" == failed ]]; }
    check "premade_sandbox=y: the standby's build fails" fw_inst_wait_for 10 sandbox_failed
    check "its reason is logged, and a retry" grep -q "instance $A: its sandbox was not made ahead of START: setting up the network: installing the host_access filter.*no nftables here (START makes it; trying again in 1 s)" "$FW_LOG"
  fi
  run fwctl start "$A"
  expect_eq "premade_sandbox=$premade: START fails when the filter cannot be installed" 1 "$RC"
  expect_match "premade_sandbox=$premade: the error names the step" "installing the host_access filter \\(none\\) of ${P}0: net helper '.*nofilter_hook filter' failed \\(exit status 1\\): net_hook: filter: no nftables here" "$ERR"
  expect_eq "premade_sandbox=$premade: the instance stays ready" ready "$(fwctl get_property instances "$A" state)"
  check "premade_sandbox=$premade: no veth was made" bash -c "! ip link show ${P}0 >/dev/null 2>&1"
  # (A retry of the standby pins the namespace for the moment its filter step takes.)
  check "premade_sandbox=$premade: no netns pin left" \
    fw_inst_wait_for 5 test ! -e "$(fwctl get_property instances "$A" base_workspace)/netns"
  fwctl drop instances "$A" >/dev/null
  INSTS=""
done
stop_daemon
