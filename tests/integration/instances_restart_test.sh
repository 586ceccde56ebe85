#!/usr/bin/env bash
# Running instances outlive the daemon: after QUIT,
# SIGTERM or SIGKILL the monitor and PID 1 keep running and the next daemon re-adopts them
# (same pids, KILL works and records 137, a death by itself is noticed); an instance whose
# monitor died while the daemon was down comes back ready, with its recorded exit status if
# any, its mounts restored once (not stacked), and starts again. Nothing is left behind.
source "$(dirname "$0")/../lib/harness.sh"
require_root
command -v nsenter >/dev/null || skip "needs nsenter (util-linux)"
fw_inst_setup
build_example_firmware
start_daemon

MNT=$FIRMWARED_MOUNT_PATH
fwctl ping >/dev/null
sleep 0.2
FDS0=$(fw_inst_daemon_fds)

run fwctl prepare firmwares "$FW_EX_EXT2"
FW=$(field sha1 "$OUT")
COPY="$FIRMWARED_REPOSITORY_PATH/example.ext2.$FW.firmware"
run fwctl prepare instances "$FW"
I=$(field name "$OUT")
WS="$MNT/instances/$(field sha1 "$OUT")"
run fwctl start "$I"
expect_eq "start" "$I started" "$OUT"
fw_inst_exec "$(fw_inst_prop "$I" init_pid)" sh -c 'echo x > /root/marker'

overlays_on() { awk -v d="$1" '$5 == d' /proc/self/mountinfo | wc -l; }
alive() { kill -0 "$1" 2>/dev/null && [[ "$(ps -o stat= -p "$1")" != Z* ]]; }
gone() { ! alive "$1"; }

# keeps_running HOW: stops the daemon with HOW while the instance runs, checks the instance
# lives on, restarts the daemon and checks it re-adopted the instance.
keeps_running() {
  local how=$1 pid mon rc=0
  pid=$(fw_inst_prop "$I" init_pid)
  mon=$(fw_inst_prop "$I" pid)
  case $how in
    QUIT) fw_inst_quit_daemon || rc=$? ;;
    SIGTERM) stop_daemon || rc=$? ;;
    SIGKILL) fw_inst_crash_daemon ;;
  esac
  [[ $how == SIGKILL ]] || expect_eq "$how: daemon exits 0" 0 "$rc"
  sleep 0.3
  check "$how: the monitor keeps running" alive "$mon"
  check "$how: PID 1 keeps running" alive "$pid"
  expect_eq "$how: PID 1 is still the monitor's child" "$mon" "$(ps -o ppid= -p "$pid" | tr -d ' ')"
  expect_eq "$how: the instance still works" "$I" "$(fw_inst_exec "$pid" hostname)"
  expect_eq "$how: its mounts stay" 2 "$(fw_inst_workspace_mounts "$WS")"

  start_daemon
  expect_eq "$how: state started after restart" started "$(fw_inst_prop "$I" state)"
  expect_eq "$how: same PID 1" "$pid" "$(fw_inst_prop "$I" init_pid)"
  expect_eq "$how: same monitor" "$mon" "$(fw_inst_prop "$I" pid)"
  check "$how: re-adoption logged" grep -q "instance $I re-adopted (monitor pid $mon)" "$FW_LOG"
  expect_eq "$how: the running instance's mounts are left alone (not stacked)" 2 \
    "$(fw_inst_workspace_mounts "$WS")"
  expect_eq "$how: one overlay on union" 1 "$(overlays_on "$WS/union")"
  expect_error "$how: START of the adopted instance" EBUSY start "$I"
  # The monitor recorded its ptys in the workspace: the new daemon knows the console.
  run timeout 10 "$FWCTL" console "$I" </dev/null
  expect_eq "$how: CONSOLE of the re-adopted instance attaches" "0:[detached]" "$RC:$ERR"
}

# expect_error DESCRIPTION ERRNO_NAME COMMAND...
expect_error() {
  local what=$1 errname=$2
  shift 2
  run fwctl --json "$@"
  expect_eq "$what: exit 1" 1 "$RC"
  expect_match "$what: $errname" "\"error\":\"$errname\"" "$OUT"
}

# kill_adopted HOW: KILL of the re-adopted instance works, records 137, leaves nothing.
kill_adopted() {
  local how=$1 pid mon
  pid=$(fw_inst_prop "$I" init_pid)
  mon=$(fw_inst_prop "$I" pid)
  run fwctl --json kill "$I"
  expect_match "$how: KILL of the adopted instance" '"answer":"KILLED"' "$OUT"
  expect_match "$how: ... answers 137" '"exit_status":137' "$OUT"
  expect_eq "$how: state ready" ready "$(fw_inst_prop "$I" state)"
  expect_eq "$how: exit_status 137" 137 "$(fw_inst_prop "$I" exit_status)"
  check "$how: PID 1 gone" fw_inst_wait_for 5 gone "$pid"
  check "$how: monitor gone" fw_inst_wait_for 5 gone "$mon"
  fw_inst_expect_no_leftovers "$how"
  fw_inst_expect_fds "$how: after KILL" "$FDS0"
}

# ---- QUIT, SIGTERM: re-adopted, then killed --------------------------------------------------
for how in QUIT SIGTERM; do
  echo "== $how with a running instance"
  keeps_running "$how"
  kill_adopted "$how"
  run fwctl start "$I"
  expect_eq "$how: starts again" "$I started" "$OUT"
  expect_eq "$how: the diff is kept" x \
    "$(fw_inst_exec "$(fw_inst_prop "$I" init_pid)" cat /root/marker)"
done

# ---- SIGKILL: re-adopted, then dies by itself ---------------------------------------------------
echo "== SIGKILL with a running instance"
keeps_running SIGKILL
PID=$(fw_inst_prop "$I" init_pid)
kill -TERM "$PID"  # the example init exits 0 on SIGTERM
check "SIGKILL: the adopted instance's own death is noticed" fw_inst_wait_state "$I" ready
expect_eq "SIGKILL: its exit status is recorded" 0 "$(fw_inst_prop "$I" exit_status)"
fw_inst_expect_no_leftovers "SIGKILL"
fw_inst_expect_fds "SIGKILL: after the death" "$FDS0"

# ---- a re-adopted instance whose pts record is gone: CONSOLE is ENOTTY until its next start ----
echo "== re-adopted without a pts record"
run fwctl start "$I"
expect_eq "no pts record: start" "$I started" "$OUT"
check "no pts record: QUIT" fw_inst_quit_daemon
mv "$WS/pts" "$WS/pts.hidden"
start_daemon
run timeout 10 "$FWCTL" console "$I" </dev/null
expect_eq "no pts record: CONSOLE fails" 1 "$RC"
expect_match "no pts record: CONSOLE says why" \
  "firmwared error: the console of instance $I is unknown to this daemon" "$ERR"
mv "$WS/pts.hidden" "$WS/pts"
run fwctl kill "$I"
expect_eq "no pts record: kill" "$I killed" "$OUT"

# ---- the instance exits while the daemon is down ---------------------------------------------
echo "== PID 1 exits while the daemon is down"
run fwctl start "$I"
expect_eq "exit while down: start" "$I started" "$OUT"
PID=$(fw_inst_prop "$I" init_pid)
MON=$(fw_inst_prop "$I" pid)
check "exit while down: QUIT" fw_inst_quit_daemon
kill -TERM "$PID"
check "exit while down: the monitor exits after PID 1" fw_inst_wait_for 5 gone "$MON"
expect_eq "exit while down: the monitor recorded the status" 0 "$(cat "$WS/exit_status" 2>&1)"
start_daemon
expect_eq "exit while down: state ready" ready "$(fw_inst_prop "$I" state)"
expect_eq "exit while down: exit status from the workspace" 0 "$(fw_inst_prop "$I" exit_status)"
expect_eq "exit while down: one overlay on union" 1 "$(overlays_on "$WS/union")"
expect_eq "exit while down: one mount on ro" 1 "$(overlays_on "$WS/ro")"

# ---- kill -9 of the monitor while the daemon is down -----------------------------------------
echo "== monitor killed while the daemon is down"
run fwctl start "$I"
expect_eq "monitor killed: start" "$I started" "$OUT"
PID=$(fw_inst_prop "$I" init_pid)
MON=$(fw_inst_prop "$I" pid)
SHA1=$(fw_inst_prop "$I" sha1)
inst_cgroups() { fw_test_cgroups | grep -c "/$FIRMWARED_CGROUP/$SHA1\$" || true; }
check "monitor killed: the instance has its cgroups" test "$(inst_cgroups)" -gt 0
fw_inst_crash_daemon
kill -KILL "$MON"
check "monitor killed: PID 1 follows its monitor" fw_inst_wait_for 5 gone "$PID"
check "monitor killed: the monitor is gone" fw_inst_wait_for 5 gone "$MON"
# Nobody saw the run end: its cgroups stay until the next daemon sweeps them.
check "monitor killed: its cgroups are left while the daemon is down" test "$(inst_cgroups)" -gt 0
start_daemon
# (The standby made at restart has cgroups of that name again, holding only its waiting PID 1
# until START.)
inst_cgroup_procs() {
  local d
  for d in $(fw_test_cgroups | grep "/$FIRMWARED_CGROUP/$SHA1\$" || true); do
    fw_inst_cgroup_run_procs "$d"
  done | wc -l
}
expect_eq "monitor killed: the restarted daemon removed its cgroups" 0 "$(inst_cgroup_procs)"
check "monitor killed: the sweep is logged" grep -q "removing cgroup $SHA1" "$FW_LOG"
expect_eq "monitor killed: state ready" ready "$(fw_inst_prop "$I" state)"
expect_eq "monitor killed: no exit status recorded" "" "$(fw_inst_prop "$I" exit_status)"
check "monitor killed: logged" grep -q "instance $I died while the daemon was away" "$FW_LOG"
expect_eq "monitor killed: exactly one overlay on union (not stacked)" 1 \
  "$(overlays_on "$WS/union")"
expect_eq "monitor killed: exactly one mount on ro" 1 "$(overlays_on "$WS/ro")"
expect_eq "monitor killed: two mounts in the workspace" 2 "$(fw_inst_workspace_mounts "$WS")"
# (A loop device set to autoclear is detached by the kernel after its last unmount, off the
# unmount's path: the old one may take a moment to go. One that stays is a leak.)
one_loop() { [[ $(losetup -n -j "$COPY" | wc -l) -eq 1 ]]; }
check "monitor killed: one loop device on the image" fw_inst_wait_for 5 one_loop
fw_inst_expect_no_leftovers "monitor killed"
fw_inst_expect_fds "monitor killed: restarted daemon" "$FDS0"
run fwctl start "$I"
expect_eq "monitor killed: START works again" "$I started" "$OUT"
PID=$(fw_inst_prop "$I" init_pid)
expect_eq "monitor killed: the diff is kept" x "$(fw_inst_exec "$PID" cat /root/marker)"
check "monitor killed: it boots" fw_inst_wait_for 10 grep -q "firmware booted" "$WS/console.log"
run fwctl kill "$I"
expect_eq "monitor killed: kill" "$I killed" "$OUT"
expect_eq "monitor killed: 137" 137 "$(fw_inst_prop "$I" exit_status)"

# ---- SIGKILL with everything ready: mounts replaced, not stacked ------------------------------
echo "== SIGKILL with a ready instance"
fw_inst_crash_daemon
start_daemon
expect_eq "ready + SIGKILL: one overlay on union" 1 "$(overlays_on "$WS/union")"
expect_eq "ready + SIGKILL: one mount on ro" 1 "$(overlays_on "$WS/ro")"
check "ready + SIGKILL: one loop device on the image" fw_inst_wait_for 5 one_loop

run fwctl drop instances "$I"
expect_eq "drop" "$I dropped" "$OUT"
run fwctl drop firmwares "$FW"
expect_eq "drop the firmware" 0 "$RC"
fw_inst_expect_settled "no mount left below the mount path" 0 fw_inst_mounts_below "$MNT"
fw_inst_expect_fds "end" "$FDS0"
stop_daemon
assert_no_leaks
fw_inst_expect_no_leftovers "after the daemon stopped"
