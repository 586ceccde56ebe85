#!/usr/bin/env bash
# Crash consistency: every fault point the daemon lists
# (firmwared --list-fault-points, builds with FW_FAULT_INJECTION) is hit in turn: the daemon
# runs with FIRMWARED_FAULT_POINT=<point>, the operation named by the point's prefix is
# driven until the daemon SIGKILLs itself there, the daemon is restarted without fault, and
# the state is checked: rows and files agree (no uncatalogued image, workspace, snapshot
# layer or trash entry; nothing catalogued half there), every instance is ready with no
# monitor or started with exactly one, no upper dir carries two overlays, and the daemon
# answers. At the end everything is dropped and nothing is left (mounts, loop devices,
# veths, processes).
source "$(dirname "$0")/../lib/harness.sh"
require_root
fw_inst_setup
# Privileged mode (userns=n): this test writes into instances through their host-side
# union as host root (and makes device nodes inside), which the idmapped layers of
# user-namespace mode refuse (EOVERFLOW; docs/security.md); its subject does not depend on
# the mode, which userns_test, escape_userns, instances and exec cover.
export FIRMWARED_USERNS=n
export FIRMWARED_HOST_INTERFACE_PREFIX=fwtfi
export FIRMWARED_NET_FIRST_TWO_BYTES=10.235.
POINTS=$("$FIRMWARED" --list-fault-points)
[[ -n "$POINTS" ]] || skip "this build has no fault points (configure with -DFW_FAULT_INJECTION=ON)"
build_example_firmware
start_daemon

MNT=$FIRMWARED_MOUNT_PATH
REPO=$FIRMWARED_REPOSITORY_PATH
sha1s() { fwctl list "$1" | grep -o '\[[0-9a-f]*\]' | tr -d '[]' | sort; }
entries() { ls -A "$1" 2>/dev/null | sort; }
monitors_of() {
  local esc
  esc=$(printf '%s' "$1" | sed 's/[.[\*^$()+?{|]/\\&/g')
  fw_run_monitor_pids "firmwared-monitor .*--workspace $esc( |$)" | wc -l
}
# Overlay superblocks per upper dir below $MNT, over every mount namespace: prints upper
# dirs that have more than one.
doubled_uppers() {
  cat /proc/[0-9]*/mountinfo 2>/dev/null |
    awk -v m="$MNT/" '$0 ~ / - overlay / {
      if (match($0, /upperdir=[^,]*/)) { u = substr($0, RSTART + 9, RLENGTH - 9);
        if (index(u, m) == 1) print u, $3 } }' |
    sort -u | awk '{ n[$1]++ } END { for (u in n) if (n[u] > 1) print u }'
}
all_monitors() {
  local esc
  esc=$(printf '%s' "$MNT/instances/" | sed 's/[.[\*^$()+?{|]/\\&/g')
  fw_run_monitor_pids "firmwared-monitor .*--workspace $esc" | wc -l
}
trash_empty() { [[ -z "$(entries "$MNT/trash")" ]]; }

# The state must be coherent; $1 names the situation.
check_invariants() {
  local what=$1 sha1 path paths="" state mons
  run fwctl ping
  expect_eq "$what: the daemon answers" PONG "$OUT"
  for sha1 in $(sha1s firmwares); do
    path=$(fwctl get_property firmwares "$sha1" path)
    paths+="$path"$'\n'
    check "$what: firmware $sha1 has its image or dir" test -e "$path"
  done
  local stray=""
  for e in $(entries "$REPO"); do
    grep -qxF "$REPO/$e" <<<"$paths" || stray+="$e "
  done
  expect_eq "$what: nothing uncatalogued in the repository" "" "$stray"
  expect_eq "$what: one workspace per instance" "$(sha1s instances)" "$(entries "$MNT/instances")"
  expect_eq "$what: one layer dir per snapshot" "$(sha1s snapshots)" "$(entries "$MNT/snapshots")"
  check "$what: the trash is emptied" fw_inst_wait_for 30 trash_empty
  for sha1 in $(sha1s instances); do
    state=$(fw_inst_prop "$sha1" state)
    mons=$(monitors_of "$MNT/instances/$sha1")
    case $state in
      started) expect_eq "$what: started instance $sha1 has one monitor" 1 "$mons" ;;
      ready)
        fw_inst_wait_for 5 test "$(monitors_of "$MNT/instances/$sha1")" -eq 0 || true
        expect_eq "$what: ready instance $sha1 has no monitor" 0 \
          "$(monitors_of "$MNT/instances/$sha1")"
        ;;
      *) expect_eq "$what: instance $sha1 settled" "ready or started" "$state" ;;
    esac
  done
  local started=0
  for sha1 in $(sha1s instances); do
    [[ "$(fw_inst_prop "$sha1" state)" == started ]] && started=$((started + 1))
  done
  expect_eq "$what: monitors only for started instances" "$started" "$(all_monitors)"
  expect_eq "$what: no upper dir with two overlays" "" "$(doubled_uppers)"
}

# The baseline every point starts from: firmware FW (ext2) and a ready instance I.
run fwctl prepare firmwares "$FW_EX_EXT2"
FW=$(field sha1)
run fwctl prepare instances "$FW"
I=$(field sha1)

# Brings the state back to the baseline after a point (whatever the crash left, reconciled).
normalize() {
  local s
  for s in $(sha1s instances); do
    [[ "$(fw_inst_prop "$s" state)" == started ]] && fwctl kill "$s" >/dev/null 2>&1
    fw_inst_wait_state "$s" ready 10 || true
  done
  for s in $(sha1s instances); do
    [[ $s == "$I" ]] || fwctl drop instances "$s" >/dev/null 2>&1 || true
  done
  for s in $(sha1s snapshots); do fwctl drop snapshots "$s" >/dev/null 2>&1 || true; done
  for s in $(sha1s firmwares); do
    [[ $s == "$FW" ]] || fwctl drop firmwares "$s" >/dev/null 2>&1 || true
  done
}

# Drives the operation of point $1 until the daemon dies (or the operation ends).
drive() {
  local point=$1 j
  case $point in
    prepare_image.*) fwctl prepare firmwares "$FW_EX_SQUASHFS" ;;
    prepare_instance.*) fwctl prepare instances "$FW" ;;
    start.*) fwctl start "$I" ;;
    kill.*) fwctl start "$I" && fwctl kill "$I" ;;
    drop.*)
      run fwctl prepare instances "$FW"
      fwctl drop instances "$(field sha1)"
      ;;
    snapshot.*)
      run fwctl prepare instances "$FW"
      j=$(field sha1)
      echo marker >"$MNT/instances/$j/union/marker"
      fwctl prepare snapshots "$j"
      ;;
    drop_snapshot.*)
      run fwctl prepare instances "$FW"
      j=$(field sha1)
      run fwctl prepare snapshots "$j"
      local snap
      snap=$(field sha1)
      fwctl drop instances "$j" && fwctl drop snapshots "$snap"
      ;;
    drop_firmware.*)
      run fwctl prepare firmwares "$FW_EX_SQUASHFS"
      fwctl drop firmwares "$(field sha1)"
      ;;
    commit.*) fwctl commit "$I" ;;
    *) echo "no driver for fault point $point" >&2; return 1 ;;
  esac
}

hit=0
for point in $POINTS; do
  echo "== $point"
  fw_inst_quit_daemon || true
  FIRMWARED_FAULT_POINT=$point start_daemon
  daemon=$FW_DAEMON_PID
  drive "$point" >/dev/null 2>&1 || true
  if fw_inst_wait_for 10 bash -c "! kill -0 $daemon 2>/dev/null || [[ \$(ps -o stat= -p $daemon) == Z* ]]"; then
    hit=$((hit + 1))
  fi
  check "$point: the daemon died at its fault point" bash -c "! kill -0 $daemon 2>/dev/null || [[ \$(ps -o stat= -p $daemon) == Z* ]]"
  wait "$daemon" 2>/dev/null || true
  FW_DAEMON_PID=""
  start_daemon
  check_invariants "$point"
  # The snapshot's frozen diff is never lost: in the instance or in a catalogued layer.
  if [[ $point == snapshot.* ]]; then
    local_found=$(find "$MNT/instances" "$MNT/snapshots" -name marker -path '*/rw/*' -o \
                    -name marker -path '*/layer/*' 2>/dev/null | wc -l)
    expect_eq "$point: the frozen diff is kept" 1 "$local_found"
  fi
  if [[ "$(fw_inst_prop "$I" state)" == started ]]; then  # re-adopted: KILL works
    run fwctl kill "$I"
    expect_eq "$point: KILL of the re-adopted instance" "$I killed" "$OUT"
  fi
  run fwctl start "$I"
  expect_eq "$point: START works after the restart" "$I started" "$OUT"
  run fwctl kill "$I"
  expect_eq "$point: KILL works" "$I killed" "$OUT"
  normalize
  check_invariants "$point, normalized"
done
echo "$hit of $(wc -w <<<"$POINTS") fault points hit"

run fwctl drop instances "$I"
expect_eq "final drop of the instance" 0 "$RC"
run fwctl drop firmwares "$FW"
expect_eq "final drop of the firmware" 0 "$RC"
check_invariants "final"
stop_daemon
fw_inst_expect_no_leftovers "end"
expect_eq "no veth of the test left" "" "$(ip -o link show | grep -o 'fwtfi[0-9]*' || true)"
assert_no_leaks
