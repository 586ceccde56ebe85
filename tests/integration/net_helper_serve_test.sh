#!/usr/bin/env bash
# The net helper as one serving process (`net_hook serve`): the daemon says so at start,
# START gets a working veth through it, the same process serves the next START (no exec per
# step), a killed helper is replaced and the next network step works; a helper that refuses
# `serve` or says nothing within the probe's 2 s is executed once per step instead, and
# START still gets a working veth. A malformed request line gets a clear answer; cleans
# read together are deleted as one group, each still checked and answered.
source "$(dirname "$0")/../lib/harness.sh"
require_root
fw_inst_setup
P=$FIRMWARED_HOST_INTERFACE_PREFIX
NET=$FIRMWARED_NET_FIRST_TWO_BYTES
NET_HOOK=$FW_BUILD_DIR/net-helpers/net_hook
trap 'fw_inst_on_exit' EXIT
build_example_firmware

# The serving helpers are the daemon's children running `net_hook serve`.
serving_pids() { pgrep -P "$FW_DAEMON_PID" -f -- "net_hook serve" | sort | tr '\n' ' ' || true; }
# START, the host end addressed, the host reading from the instance over the veth.
start_with_veth() {  # $1: label
  run fwctl start --wait-console 'firmware booted' --timeout 20 "$inst"
  expect_eq "$1: START exits 0" 0 "$RC"
  expect_match "$1: the host end has .254" "inet ${NET//./\\.}0\\.254/24" \
    "$(ip -o addr show dev "${P}0" 2>&1)"
  expect_eq "$1: the host reads build.prop from ${NET}0.1:9050 over the veth" \
    "ro.product.name=fw-example" "$(fw_build_prop_line "${NET}0.1" 2>&1)"
  run fwctl kill "$inst"
  expect_eq "$1: KILL exits 0" 0 "$RC"
}

# A malformed line: status 2 under id 0 (no id could be read), then the next request works.
answers=$(printf 'garbage\n7 %% --version\n' | "$NET_HOOK" serve)
expect_eq "serve: banner, malformed line refused, next request answered" \
  "net_hook serve 1 $("$NET_HOOK" --version | awk '{print $3}')
0 2 net_hook:%20serve:%20malformed%20request:%20a%20request%20is%20'ID%20OWNER%20ACTION%20[ARG...]',%20got%201%20field(s)
7 0 net_hook%20(firmwared)%20$("$NET_HOOK" --version | awk '{print $3}')" "$answers"

# Cleans read together: deleted as one interface group, each answered; lo and another
# daemon's veth are refused and left as they were.
for x in 1 2 3; do ip link add "${P}b$x" type veth peer name "${P}c$x"; done
ip link set "${P}b3" alias firmwared:another
answers=$(printf '%s\n' "1 firmwared:me clean --host-if ${P}b1" "2 firmwared:me clean --host-if lo" \
  "3 firmwared:me clean --host-if ${P}b3" "4 firmwared:me clean --host-if ${P}b2" \
  "5 firmwared:me clean --host-if ${P}b9" | "$NET_HOOK" serve | sed 1d)
expect_eq "batched cleans: each answered in order" "1 0 %
2 1 net_hook:%20clean:%20lo%20is%20a%20physical%20device,%20not%20a%20veth:%20not%20deleting%20it
3 1 net_hook:%20clean:%20${P}b3%20belongs%20to%20another%20firmwared%20(firmwared:another):%20not%20deleting%20it
4 0 %
5 0 %" "$answers"
expect_eq "batched cleans: only the other daemon's veth is left" "${P}b3" \
  "$(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^${P}b" | tr '\n' ' ' | sed 's/ $//')"
expect_match "and it is in no group of ours" "group default" "$(ip link show "${P}b3")"
ip link del "${P}b3"

start_daemon
fwctl prepare firmwares "$FW_EX_DIR" >/dev/null
fw=$(fwctl list firmwares | cut -d'[' -f1)
inst=$(fwctl prepare instances "$fw" | sed -n 's/^name: //p')
fw_inst_wait_for 5 grep -q "net helper .* serves requests" "$FW_LOG"
check "the log says the helper serves the steps" \
  grep -q "net helper $NET_HOOK serves requests (net_hook serve 1 .*): one process for the network steps" "$FW_LOG"
check "the log says the helper serves the deletions" \
  grep -q "net helper $NET_HOOK serves requests (net_hook serve 1 .*): one process for the veth deletions" "$FW_LOG"
start_with_veth "served"
pids=$(serving_pids)
expect_match "two serving helpers run (network steps, veth deletions)" '^[0-9]+ [0-9]+ $' "$pids"
start_with_veth "served again"
expect_eq "the same helpers served the second START" "$pids" "$(serving_pids)"

# Killed between two runs: the next network steps go to a new helper.
kill -KILL $pids  # one argument per pid
start_with_veth "after the helper was killed"
check "the death was logged" grep -q "the serving net helper (pid [0-9]*) ended" "$FW_LOG"
expect_match "a new helper serves" '^[0-9]+ ' "$(serving_pids)"
[[ "$(serving_pids)" != "$pids" ]] || expect_eq "the new helper is another process" "new" "same"
stop_daemon

# A helper that refuses `serve` (exit 2, like examples/net_hook.sh): executed per step.
printf '#!/bin/sh\n[ "$1" = serve ] && { echo "unknown action serve" >&2; exit 2; }\nexec "%s" "$@"\n' \
  "$NET_HOOK" >"$FW_TMP/refusing_hook"
chmod +x "$FW_TMP/refusing_hook"
: >"$FW_LOG"
FIRMWARED_NET_HOOK="$FW_TMP/refusing_hook" start_daemon
start_with_veth "refusing serve"
check "the log says it is executed per step" \
  grep -q "net helper $FW_TMP/refusing_hook does not serve (it ended without a banner): it is executed once per call for the network steps" "$FW_LOG"
expect_eq "no serving helper" "" "$(serving_pids)"
stop_daemon

# A helper that says nothing to `serve`: the probe gives up after 2 s, then exec per step.
printf '#!/bin/sh\n[ "$1" = serve ] && exec sleep 30\nexec "%s" "$@"\n' "$NET_HOOK" \
  >"$FW_TMP/silent_hook"
chmod +x "$FW_TMP/silent_hook"
: >"$FW_LOG"
FIRMWARED_NET_HOOK="$FW_TMP/silent_hook" start_daemon
start_with_veth "silent to serve"
check "the log says the probe timed out" \
  grep -q "net helper $FW_TMP/silent_hook does not serve (it wrote nothing within 2000 ms)" "$FW_LOG"
expect_eq "the silent probe was killed" "" "$(pgrep -P "$FW_DAEMON_PID" -f -- "^sleep 30$" || true)"

fwctl drop instances "$inst" >/dev/null
fwctl drop firmwares "$fw" >/dev/null
stop_daemon
for _ in $(seq 1 100); do ip link show "${P}0" >/dev/null 2>&1 || break; sleep 0.05; done
expect_eq "no veth left" "" "$(ip -o link show | awk -F': ' '{print $2}' | grep "^$P" || true)"
assert_no_leaks
