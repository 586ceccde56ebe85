#!/usr/bin/env bash
# ci-job.sh - an example CI job driving firmwared with fwctl; copy it and adapt the test.
#
# Usage: ci-job.sh [-n N] [-o ARTEFACTS_DIR] [-t BOOT_TIMEOUT] FIRMWARE
#
# Imports FIRMWARE (a directory or an ext2/squashfs/erofs image), prepares and starts N
# instances of it in parallel, waits until each console prints "firmware booted", runs the
# test in each (reads /etc/build.prop with `fwctl exec`, fetches it from the host over the
# instance's network on TCP 9050 and compares both), then collects artefacts per instance
# into ARTEFACTS_DIR/<instance>/: console.log, show.txt, build.prop, net.txt, and diff.txt
# (`fwctl diff`, or a listing of the instance's upper dir when fwctl has no diff verb).
# ARTEFACTS_DIR/summary.txt has one "<instance> ok|FAIL <reason>" line per instance.
#
# Whatever happens (a failed test, an error, Ctrl-C), the EXIT trap kills and drops the
# instances, and drops the firmware when this job imported it (a firmware that was already
# in the catalogue — imported by a person or by another job running on the same image — is
# left alone; if another job's instances still use it, the drop is refused and it stays
# until the last job's drop or a person's). Exit status: 0 when every instance passed, 1 otherwise.
#
# Environment: FWCTL (default: fwctl from PATH), N (default 3), ARTEFACTS (default
# ./artefacts), BOOT_TIMEOUT (seconds, default 30), BUSYBOX (default: busybox from PATH),
# TEST_EXTRA (a shell command run with `sh -c` inside each instance after the checks
# above, its output in test.out; its failure fails the instance), and fwctl's own
# (FIRMWARED_SOCKET_PATH, FWCTL_TIMEOUT).
set -euo pipefail

prog=${0##*/}
FWCTL=${FWCTL:-$(command -v fwctl || true)}
BUSYBOX=${BUSYBOX:-$(command -v busybox || true)}
N=${N:-3}
ARTEFACTS=${ARTEFACTS:-./artefacts}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-30}
TEST_EXTRA=${TEST_EXTRA:-}

die() {
  printf '%s: error: %s\n' "$prog" "$*" >&2
  exit 1
}
say() { printf '%s: %s\n' "$prog" "$*" >&2; }

while getopts 'n:o:t:h' opt; do
  case $opt in
    n) N=$OPTARG ;;
    o) ARTEFACTS=$OPTARG ;;
    t) BOOT_TIMEOUT=$OPTARG ;;
    h) sed -n '2,/^set -euo/{/^set/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "usage: $prog [-n N] [-o ARTEFACTS_DIR] [-t BOOT_TIMEOUT] FIRMWARE" ;;
  esac
done
shift $((OPTIND - 1))
[[ $# -eq 1 ]] || die "usage: $prog [-n N] [-o ARTEFACTS_DIR] [-t BOOT_TIMEOUT] FIRMWARE"
FIRMWARE=$1
[[ -n "$FWCTL" && -x "$FWCTL" ]] || die "fwctl not found: set FWCTL or put it in PATH"
[[ -n "$BUSYBOX" ]] || die "busybox not found (its nc checks the network): set BUSYBOX"
[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, not '$N'"

fwctl() { "$FWCTL" "$@"; }
# The value of a "key: value" line of fwctl's output.
field() { sed -n "s/^$1: //p"; }

mkdir -p "$ARTEFACTS"
WORK=$(mktemp -d)
FW=""
FW_OURS=""  # set when this job's PREPARE created the firmware: only then is it dropped
JOBS=()

# ---- cleanup: always, whatever happened -------------------------------------------------
cleanup() {
  local rc=$? f id
  set +e
  trap - EXIT INT TERM
  # A job's fwctl first (a killed subshell leaves its child running), then the job.
  for f in "${JOBS[@]}"; do
    pkill -TERM -P "$f" 2>/dev/null
    kill "$f" 2>/dev/null
  done
  for f in "${JOBS[@]}"; do wait "$f" 2>/dev/null; done
  for f in "$WORK"/id.*; do
    [[ -f "$f" ]] || continue
    id=$(cat "$f")
    [[ -n "$id" ]] || continue
    # Killing an instance that is not started fails: that is fine.
    fwctl kill "$id" >/dev/null 2>&1
    fwctl drop instances "$id" >/dev/null || say "could not drop instance $id"
  done
  if [[ -n "$FW" && -n "$FW_OURS" ]]; then
    fwctl drop firmwares "$FW" >/dev/null 2>&1 || say "firmware $FW not dropped (still in use?)"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- import -----------------------------------------------------------------------------
prepared=$(fwctl prepare firmwares "$FIRMWARE")
FW=$(field name <<<"$prepared")
[[ -n "$FW" ]] || die "importing $FIRMWARE gave no firmware name"
if grep -q '^new entity' <<<"$prepared"; then
  FW_OURS=1
  say "firmware $FW imported from $FIRMWARE"
else
  say "firmware $FW was already imported from $FIRMWARE: it stays after this job"
fi

# ---- prepare and start N instances in parallel ------------------------------------------
# Each job records its instance's name first, so that the trap drops it whatever follows.
boot_one() {
  local i=$1 id
  id=$(fwctl prepare instances "$FW" | field name)
  [[ -n "$id" ]] || return 1
  echo "$id" >"$WORK/id.$i"
  fwctl start --wait-console 'firmware booted' --timeout "$BOOT_TIMEOUT" "$id" >/dev/null
}
for i in $(seq 1 "$N"); do
  boot_one "$i" &
  JOBS+=($!)
done
booted=0
for j in "${JOBS[@]}"; do wait "$j" && booted=$((booted + 1)); done
JOBS=()
say "$booted of $N instances booted"

# ---- the test, then the artefacts, per instance -----------------------------------------
# Writes "ok" or "FAIL <reason>" to $WORK/result.$i.
test_one() {
  local i=$1 id dir ip upper
  id=$(cat "$WORK/id.$i" 2>/dev/null) || {
    echo "FAIL not prepared" >"$WORK/result.$i"
    return 0
  }
  dir="$ARTEFACTS/$id"
  mkdir -p "$dir"
  local result=ok
  if [[ "$(fwctl get_property instances "$id" state)" != started ]]; then
    result="FAIL did not boot"
  elif ! fwctl exec "$id" -- cat /etc/build.prop >"$dir/build.prop" 2>"$dir/exec.err"; then
    result="FAIL exec failed"
  else
    ip=$(fwctl get_property instances "$id" ip)
    if ! "$BUSYBOX" nc -w 5 "$ip" 9050 </dev/null >"$dir/net.txt" 2>"$dir/net.err"; then
      result="FAIL no answer from $ip:9050"
    elif ! cmp -s "$dir/build.prop" "$dir/net.txt"; then
      result="FAIL $ip:9050 did not serve /etc/build.prop"
    elif [[ -n "$TEST_EXTRA" ]] &&
      ! fwctl exec "$id" -- sh -c "$TEST_EXTRA" >"$dir/test.out" 2>&1 </dev/null; then
      result="FAIL TEST_EXTRA failed"
    fi
  fi
  fwctl logs "$id" >"$dir/console.log" 2>&1 || true
  fwctl show instances "$id" >"$dir/show.txt" 2>&1 || true
  if fwctl help diff >/dev/null 2>&1; then
    fwctl diff "$id" >"$dir/diff.txt" 2>&1 || true
  else
    upper=$(fwctl get_property instances "$id" upper_dir)
    (cd "$upper" && find . -mindepth 1 | sort) >"$dir/diff.txt" 2>&1 || true
  fi
  echo "$result" >"$WORK/result.$i"
}
for i in $(seq 1 "$N"); do
  test_one "$i" &
  JOBS+=($!)
done
for j in "${JOBS[@]}"; do wait "$j" || true; done
JOBS=()

# ---- summary ----------------------------------------------------------------------------
failed=0
: >"$ARTEFACTS/summary.txt"
for i in $(seq 1 "$N"); do
  id=$(cat "$WORK/id.$i" 2>/dev/null || echo "instance-$i")
  result=$(cat "$WORK/result.$i" 2>/dev/null || echo "FAIL no result")
  [[ "$result" == ok ]] || failed=$((failed + 1))
  echo "$id $result" >>"$ARTEFACTS/summary.txt"
done
cat "$ARTEFACTS/summary.txt"
say "$((N - failed)) of $N instances passed; artefacts in $ARTEFACTS"
[[ $failed -eq 0 ]]
