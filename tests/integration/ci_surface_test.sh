#!/usr/bin/env bash
# The CI control surface: `fwctl events` (same order for every
# subscriber, increasing event_id, --filter, ends on SIGINT or BYEBYE), `fwctl wait`,
# `fwctl start --wait-console` and their timeouts (exit 3), --json output that parses,
# `fwctl doctor` on this machine; nothing leaks.
source "$(dirname "$0")/../lib/harness.sh"
require_root
setup
export FIRMWARED_HOST_INTERFACE_PREFIX=fwtci FIRMWARED_NET_FIRST_TWO_BYTES=10.242.
build_example_firmware
start_daemon
INST="" BG=""
ci_cleanup() {
  local rc=$? id
  set +e
  for id in $INST; do "$FWCTL" kill "$id" >/dev/null 2>&1; done
  [[ -z "$BG" ]] || kill $BG 2>/dev/null
  (exit "$rc")
  fw_inst_on_exit
}
trap ci_cleanup EXIT

new_instance() { field name "$("$FWCTL" prepare instances "$FW")"; }
parses() { "$PYTHON" -c 'import json, sys; json.load(sys.stdin)' 2>/dev/null; }

FW=$(field name "$("$FWCTL" prepare firmwares "$FW_EX_DIR")")
FDS0=$(fw_inst_settled_fds)

# ---- events -----------------------------------------------------------------------------
E="$FW_TMP/events"
mkdir -p "$E"
"$FWCTL" --json events >"$E/a" 2>&1 & SUB_A=$!
"$FWCTL" --json events >"$E/b" 2>&1 & SUB_B=$!
"$FWCTL" events --filter DEAD >"$E/dead" 2>&1 & SUB_DEAD=$!
"$FWCTL" events --filter event=STARTED,DROPPED --filter folder=instances >"$E/two" 2>&1 &
SUB_TWO=$!
BG="$SUB_A $SUB_B $SUB_DEAD $SUB_TWO"
# Subscribed once the daemon holds a connection for each of them.
fw_inst_wait_for 5 test "$(fw_inst_daemon_fds)" -ge $((FDS0 + 4)) || true
sleep 0.2
INST=$(new_instance)
run "$FWCTL" start --wait-console 'firmware booted' --timeout 10 "$INST"
expect_eq "start --wait-console 'firmware booted' --timeout 10: 0" 0 "$RC"
"$FWCTL" kill "$INST" >/dev/null
"$FWCTL" drop instances "$INST" >/dev/null
DROPPED_INST=$INST
INST=""
fw_inst_wait_for 5 grep -q DROPPED "$E/b" || true
sleep 0.3
for p in $SUB_A $SUB_DEAD $SUB_TWO; do
  kill -INT "$p"
  RC=0
  wait "$p" || RC=$?
  expect_eq "events ends with 0 on SIGINT" 0 "$RC"
done
BG=$SUB_B
NA=$(wc -l <"$E/a")
check "events were received ($NA)" test "$NA" -ge 4
expect_eq "two subscribers see the same events in the same order" "$(cat "$E/a")" \
  "$(head -n "$NA" "$E/b")"
expect_eq "event_ids increase" ok "$("$PYTHON" -c '
import json, sys
ids = [json.loads(l)["event_id"] for l in open(sys.argv[1])]
print("ok" if ids == sorted(set(ids)) and ids else ids)' "$E/a")"
expect_eq "the lifecycle events in order" "PREPARED STARTED DEAD DROPPED" \
  "$("$PYTHON" -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
print(" ".join(e["event"] for e in ev
               if e["event"] in ("PREPARED", "STARTED", "DEAD", "DROPPED")))' "$E/a")"
expect_match "--filter DEAD: one DEAD line with its exit status" \
  "^DEAD event_id=[0-9]+ exit_status=[0-9]+ .*name=$DROPPED_INST" "$(cat "$E/dead")"
expect_eq "--filter DEAD: only DEAD lines" 1 "$(wc -l <"$E/dead")"
expect_eq "--filter event=STARTED,DROPPED --filter folder=instances" "STARTED DROPPED" \
  "$(awk '{ print $1 }' "$E/two" | tr '\n' ' ' | sed 's/ $//')"
run "$FWCTL" events --filter =x
expect_eq "--filter with no key: usage error" 1 "$RC"

# ---- wait and --wait-console ------------------------------------------------------------
INST=$(new_instance)
"$FWCTL" wait "$INST" --state started --timeout 5 >/dev/null 2>&1 & WAITER=$!
sleep 0.3
"$FWCTL" start "$INST" >/dev/null
RC=0
wait "$WAITER" || RC=$?
expect_eq "wait --state started --timeout 5 while it starts: 0" 0 "$RC"
T0=$(now_ms)
run "$FWCTL" wait "$INST" --state ready --timeout 1
T1=$(now_ms)
expect_eq "wait --state ready --timeout 1 on a started instance: 3" 3 "$RC"
check "wait --timeout 1 took about 1 s ($((T1 - T0)) ms)" test $((T1 - T0)) -ge 900 -a \
  $((T1 - T0)) -le 2500
"$FWCTL" kill "$INST" >/dev/null
T0=$(now_ms)
run "$FWCTL" start --wait-console 'never printed' --timeout 2 "$INST"
T1=$(now_ms)
expect_eq "start --wait-console 'never printed' --timeout 2: 3" 3 "$RC"
check "--wait-console timeout took about 2 s ($((T1 - T0)) ms)" test $((T1 - T0)) -ge 1900 -a \
  $((T1 - T0)) -le 4000
"$FWCTL" kill "$INST" >/dev/null

# ---- --json -----------------------------------------------------------------------------
for verb in "list firmwares" "list instances" "show instances $INST" \
  "get_property instances $INST state" "ps" "properties instances" "version"; do
  # shellcheck disable=SC2086
  run "$FWCTL" --json $verb
  expect_eq "--json $verb: exit 0" 0 "$RC"
  check "--json $verb parses as JSON" parses <<<"$OUT"
done
run "$FWCTL" --json prepare instances "$FW"
check "--json prepare parses as JSON" parses <<<"$OUT"
EXTRA=$("$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["name"])' <<<"$OUT")
INST="$INST $EXTRA"
run "$FWCTL" --json show instances "$EXTRA"
MISSING=$("$PYTHON" -c '
import json, sys
have = {p["name"] for p in json.loads(sys.argv[1])["properties"]}
want = sys.argv[2].split()
print(" ".join(w for w in want if w not in have))' "$OUT" "$("$FWCTL" properties instances)")
expect_eq "show --json has every property" "" "$MISSING"
run "$FWCTL" --json show instances no_such_instance
expect_eq "--json on an error: exit 1" 1 "$RC"
check "--json on an error parses as JSON" parses <<<"$OUT"

# ---- doctor -----------------------------------------------------------------------------
run "$FWCTL" doctor
expect_eq "doctor on this machine: 0" 0 "$RC"
for row in privileges kernel overlayfs namespaces "loop devices" "user namespaces" userns \
  "idmapped mounts: mounts"; do
  check "doctor lists $row" grep -qE "^ *$row +ok" <<<"$OUT"
done
expect_eq "doctor: no busybox row (the daemon does not use it)" "" "$(grep busybox <<<"$OUT" || true)"
# As a user doctor cannot tell what root has here.
run setpriv --reuid=65534 --regid=65534 --clear-groups "$FWCTL" doctor
check "doctor as a user: privileges is a warning" grep -qE "^ *privileges +warn +running as uid 65534" <<<"$OUT"
# Root without CAP_NET_ADMIN (an unprivileged container): a failure naming it.
run setpriv --inh-caps=-net_admin --bounding-set=-net_admin "$FWCTL" doctor
expect_eq "doctor as root without CAP_NET_ADMIN: exit 1" 1 "$RC"
check "doctor names the missing CAP_NET_ADMIN" grep -qE "^ *privileges +fail +root without CAP_NET_ADMIN" <<<"$OUT"
# The daemon's userns_pool, checked against /etc/subuid.
check "doctor: the daemon's userns_pool" grep -qE "^ *userns +ok +auto, pool [0-9]+:[0-9]+" <<<"$OUT"
if [[ -d /sys/kernel/security/apparmor ]]; then
  check "doctor: AppArmor row" grep -qE "^ *AppArmor +ok" <<<"$OUT"
else
  check "doctor: AppArmor absent is a warning" grep -qE "^ *AppArmor +warn +absent" <<<"$OUT"
fi
run "$FWCTL" --json doctor
expect_eq "fwctl --json doctor: 0" 0 "$RC"
check "fwctl --json doctor parses as JSON" parses <<<"$OUT"
run "$FWCTL" doctor --json
expect_eq "fwctl doctor --json (as its usage says): 0" 0 "$RC"
check "fwctl doctor --json parses as JSON" parses <<<"$OUT"

# ---- cleanup: BYEBYE ends the last subscriber -------------------------------------------
for id in $INST; do "$FWCTL" drop instances "$id" >/dev/null; done
INST=""
"$FWCTL" drop firmwares "$FW" >/dev/null
sleep 0.3
fw_inst_expect_fds "all dropped (one subscriber left)" $((FDS0 + 1))
PID=$FW_DAEMON_PID
fw_inst_quit_daemon
RC=0
wait "$SUB_B" || RC=$?
BG=""
expect_eq "events ends with 0 on BYEBYE" 0 "$RC"
expect_eq "the last event is BYEBYE" BYEBYE \
  "$("$PYTHON" -c 'import json, sys; print(json.loads(sys.argv[1])["event"])' \
     "$(tail -n 1 "$E/b")")"
fw_inst_expect_no_leftovers "ci surface"
check "the daemon ($PID) is gone" bash -c "! kill -0 $PID 2>/dev/null"
assert_no_leaks
