#!/usr/bin/env bash
# The delegated cgroup layout on the real kernel, without systemd as PID 1: the daemon is
# started as systemd starts firmwared.service with Delegate=yes (INVOCATION_ID set, its
# process already in the unit's cgroup, made here below the test's own directory in the
# cgroup2 and name=systemd hierarchies). It moves itself into <unit>/supervisor, makes the
# instance's cgroup as <unit>/<id> in those hierarchies (and keeps the hand layout in the
# v1 controllers systemd did not delegate), and a restarted daemon, started in the unit's
# cgroup again, re-adopts the instance without sweeping its cgroup or the supervisor leaf.
source "$(dirname "$0")/../lib/harness.sh"
require_root
fw_inst_setup
UNIFIED=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[[ -n "$UNIFIED" ]] || skip "needs a cgroup2 hierarchy"
SYSTEMD=$(awk '$9 == "cgroup" && $NF ~ /name=systemd/ { print $5; exit }' /proc/self/mountinfo)
build_example_firmware

UNIT=/$FIRMWARED_CGROUP/firmwared-test.service
DIRS=("$UNIFIED$UNIT")
[[ -n "$SYSTEMD" ]] && DIRS+=("$SYSTEMD$UNIT")
mkdir -p "${DIRS[@]}"

# As systemd does: the process enters the unit's cgroup(s), then execs the daemon.
start_in_unit() {
  local d procs=()
  for d in "${DIRS[@]}"; do procs+=("$d/cgroup.procs"); done
  bash -c 'for f in "${@:2}"; do echo $$ >"$f"; done; exec env INVOCATION_ID=fwtest "$1"' \
    sh "$FIRMWARED" "${procs[@]}" >>"$FW_LOG" 2>&1 &
  FW_DAEMON_PID=$!
  fw_inst_wait_for 10 eval '"$FWCTL" ping >/dev/null 2>&1'
}

check "the daemon starts in the unit's cgroup" start_in_unit
expect_eq "it moved into <unit>/supervisor (cgroup2)" "0::$UNIT/supervisor" \
  "$(grep '^0::' "/proc/$FW_DAEMON_PID/cgroup")"
if [[ -n "$SYSTEMD" ]]; then
  expect_match "and in name=systemd" ":name=systemd:$UNIT/supervisor$" \
    "$(grep ':name=systemd:' "/proc/$FW_DAEMON_PID/cgroup")"
fi
expect_eq "the unit's own cgroup holds no process" "" "$(cat "$UNIFIED$UNIT/cgroup.procs")"
check "it logs the delegated layout" grep -q "instance cgroups in $UNIT, delegated by systemd" "$FW_LOG"

run fwctl prepare firmwares "$FW_EX_EXT2"
FW=$(field sha1 "$OUT")
run fwctl prepare instances "$FW"
I=$(field sha1 "$OUT")
run fwctl start "$I"
check "started" fw_inst_wait_state "$I" started
INIT=$(fw_inst_prop "$I" init_pid)
expect_match "PID 1 is in <unit>/<id> (cgroup2)" "^0::$UNIT/$I(/|$)" \
  "$(grep '^0::' "/proc/$INIT/cgroup")"
check "the instance's cgroup directory is in the unit's" test -d "$UNIFIED$UNIT/$I"
MEMORY_SELF=$(sed -n 's/^[0-9]*:memory:\(.*\)$/\1/p' "/proc/$FW_DAEMON_PID/cgroup")
if [[ -n "$MEMORY_SELF" ]]; then
  MEMDIR=$(awk '$9 == "cgroup" && $NF ~ /(^|,)memory(,|$)/ { print $5; exit }' /proc/self/mountinfo)
  check "a v1 controller systemd did not delegate keeps the hand layout" \
    test -d "$MEMDIR${MEMORY_SELF%/}/$FIRMWARED_CGROUP/$I"
fi

# Restart (KillMode=process): the instance keeps running, its cgroup is kept.
stop_daemon
check "after the daemon stopped, PID 1 runs on" kill -0 "$INIT"
check "the supervisor leaf stays" test -d "$UNIFIED$UNIT/supervisor"
check "the daemon restarts in the unit's cgroup" start_in_unit
expect_eq "the instance is re-adopted" "started" "$(fw_inst_prop "$I" state)"
check "its cgroup was not swept" test -d "$UNIFIED$UNIT/$I"
check "nor the supervisor leaf" test -d "$UNIFIED$UNIT/supervisor"
expect_eq "the restarted daemon is in supervisor" "0::$UNIT/supervisor" \
  "$(grep '^0::' "/proc/$FW_DAEMON_PID/cgroup")"

run fwctl kill "$I"
check "killed" fw_inst_wait_state "$I" ready
# The run's cgroup is removed; the instance's next pre-made sandbox makes one of the same
# name again, which holds only the standby's waiting PID 1 until the next START.
run_left() { [[ -z $(fw_inst_cgroup_run_procs "$UNIFIED$UNIT/$I") ]]; }
check "no process of the run is left in its cgroup" fw_inst_wait_for 5 run_left
check "PID 1 is gone" fw_inst_wait_for 5 bash -c "! kill -0 $INIT 2>/dev/null"
run fwctl drop instances "$I"
check "dropped: its cgroup is removed" fw_inst_wait_for 5 test ! -d "$UNIFIED$UNIT/$I"
run fwctl drop firmwares "$FW"
stop_daemon
check "the unit's cgroup is left to systemd" test -d "$UNIFIED$UNIT"
expect_eq "nothing but supervisor left in it" "supervisor" \
  "$(find "$UNIFIED$UNIT" -mindepth 1 -type d -printf '%P\n')"
# What systemd would remove with the unit; then nothing of the test may remain.
for d in "${DIRS[@]}"; do rmdir "$d/supervisor" "$d"; done
assert_no_leaks
