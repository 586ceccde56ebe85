#!/usr/bin/env bash
# ci-job.sh - an example CI job driving firmwared with fwctl; copy it and adapt the test.
#
# Usage: ci-job.sh [-n N] [-o ARTEFACTS_DIR] [-t BOOT_TIMEOUT] [-j JUNIT_XML] FIRMWARE
#
# Imports FIRMWARE (a directory or an ext2/squashfs/erofs image) unless it is already in
# the catalogue, starts N instances of it in parallel with `fwctl run` (each until its
# console prints "firmware booted"), runs the checks in each, collects its artefacts with
# `fwctl collect` into ARTEFACTS_DIR/<instance>/ and writes a JUnit XML report.
#
# The checks, one JUnit testcase each (classname: the instance): boot; exec (reads
# /etc/build.prop with `fwctl exec`); network (fetches it from the host over the
# instance's network on TCP 9050 and compares); one-shot (`fwctl run --rm` of the same
# firmware reads the same file); test-extra (TEST_EXTRA, when set); collect.
# ARTEFACTS_DIR/<instance>/ holds what `fwctl collect` writes (console.log, diff.txt,
# diff.json, changes.tar, show.txt, show.json, stats.json) plus build.prop, net.txt and
# test.out. ARTEFACTS_DIR/summary.txt has one "<instance> ok|FAIL <reason>" line per
# instance; the JUnit report (default ARTEFACTS_DIR/junit.xml) one testsuite.
#
# Whatever happens (a failed check, an error, Ctrl-C), the EXIT trap kills and drops the
# instances this job made, and drops the firmware only when this job imported it (a
# firmware that was already in the catalogue — imported by a person, or once for several
# jobs on the same image — is left alone). When other jobs' instances still use a firmware
# this job imported, the drop is retried for DROP_WAIT seconds. Several jobs on one image
# at once: import it first (`fwctl prepare firmwares IMAGE`), so that no job drops it while
# another one still starts. Exit status: 0 when every check passed, 1 otherwise (130/143
# when interrupted).
#
# Environment: FWCTL (default: fwctl from PATH), N (default 1), ARTEFACTS (default
# ./artefacts), JUNIT (default ARTEFACTS/junit.xml), BOOT_TIMEOUT (seconds, default 30),
# DROP_WAIT (seconds, default 60), BUSYBOX (default: busybox from PATH), TEST_EXTRA (a
# shell command run with `sh -c` inside each instance after the checks above, its output
# in test.out; its failure fails the instance), and fwctl's own (FIRMWARED_SOCKET_PATH,
# FWCTL_TIMEOUT).
set -euo pipefail

prog=${0##*/}
FWCTL=${FWCTL:-$(command -v fwctl || true)}
BUSYBOX=${BUSYBOX:-$(command -v busybox || true)}
N=${N:-1}
ARTEFACTS=${ARTEFACTS:-./artefacts}
JUNIT=${JUNIT:-}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-30}
DROP_WAIT=${DROP_WAIT:-60}
TEST_EXTRA=${TEST_EXTRA:-}
BOOTED='firmware booted'

die() {
  printf '%s: error: %s\n' "$prog" "$*" >&2
  exit 1
}
say() { printf '%s: %s\n' "$prog" "$*" >&2; }
usage="usage: $prog [-n N] [-o ARTEFACTS_DIR] [-t BOOT_TIMEOUT] [-j JUNIT_XML] FIRMWARE"

while getopts 'n:o:t:j:h' opt; do
  case $opt in
    n) N=$OPTARG ;;
    o) ARTEFACTS=$OPTARG ;;
    t) BOOT_TIMEOUT=$OPTARG ;;
    j) JUNIT=$OPTARG ;;
    h) sed -n '2,/^set -euo/{/^set/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "$usage" ;;
  esac
done
shift $((OPTIND - 1))
[[ $# -eq 1 ]] || die "$usage"
FIRMWARE=$1
JUNIT=${JUNIT:-$ARTEFACTS/junit.xml}
[[ -n "$FWCTL" && -x "$FWCTL" ]] || die "fwctl not found: set FWCTL or put it in PATH"
[[ -n "$BUSYBOX" ]] || die "busybox not found (its nc checks the network): set BUSYBOX"
[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, not '$N'"

fwctl() { "$FWCTL" "$@"; }
# The string field NAME of a one-line JSON object (fwctl --json prints such replies).
json_str() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
# The instance a job's `fwctl --json run` prepared ("" before its PREPARE answered).
instance_of() { json_str name <"$WORK/run.$1" 2>/dev/null | head -1; }

mkdir -p "$ARTEFACTS"
WORK=$(mktemp -d)
FW=""
FW_OURS=""  # set when this job's PREPARE created the firmware: only then is it dropped
JOBS=()
T_START=$(date +%s)

# ---- cleanup: always, whatever happened -------------------------------------------------
cleanup() {
  local rc=$? f id kids=() k i
  set +e
  trap - EXIT INT TERM
  # The jobs' fwctl processes first (`fwctl run --rm` drops its instance when terminated;
  # wait until it has), then the jobs.
  for f in "${JOBS[@]}"; do kids+=($(pgrep -P "$f")); done
  for k in "${kids[@]}"; do kill -TERM "$k" 2>/dev/null; done
  for f in "${JOBS[@]}"; do kill "$f" 2>/dev/null; done
  for f in "${JOBS[@]}"; do wait "$f" 2>/dev/null; done
  for k in "${kids[@]}"; do
    for i in $(seq 1 300); do kill -0 "$k" 2>/dev/null || break; sleep 0.1; done
  done
  for f in "$WORK"/run.*; do
    [[ -f "$f" ]] || continue
    id=$(instance_of "${f##*/run.}")
    [[ -n "$id" ]] || continue
    # Killing an instance that is not started fails: that is fine.
    fwctl kill "$id" >/dev/null 2>&1
    fwctl drop instances "$id" >/dev/null || say "could not drop instance $id"
  done
  if [[ -n "$FW" && -n "$FW_OURS" ]]; then
    # Other jobs' instances may still use it: retry until they are gone.
    for i in $(seq 1 "$DROP_WAIT") give-up; do
      fwctl drop firmwares "$FW" >/dev/null 2>&1 && break
      [[ $i == give-up ]] && { say "firmware $FW not dropped (still in use?)"; break; }
      sleep 1
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- checks and the JUnit report --------------------------------------------------------
# record I NAME ok|fail|skip [MESSAGE]: one testcase of instance I, timed from $T0.
record() {
  local t=$(($(date +%s) - T0))
  printf '%s\t%s\t%s\t%s\n' "$2" "$3" "$t" "${4:-}" >>"$WORK/cases.$1"
  T0=$(date +%s)
}
xml_escape() {
  tr -d '\000-\010\013\014\016-\037' | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' \
    -e 's/>/\&gt;/g' -e 's/"/\&quot;/g' -e "s/'/\&apos;/g"
}
write_junit() {
  local tests=0 failures=0 skipped=0 i cls name status t msg body="" out
  for i in $(seq 1 "$N"); do
    cls=$(instance_of "$i")
    cls=${cls:-instance-$i}
    [[ -f "$WORK/cases.$i" ]] || continue
    while IFS=$'\t' read -r name status t msg; do
      tests=$((tests + 1))
      body+="  <testcase classname=\"$(xml_escape <<<"$cls")\" name=\"$(xml_escape <<<"$name")\" time=\"$t\""
      case $status in
        ok) body+="/>"$'\n' ;;
        skip)
          skipped=$((skipped + 1))
          body+="><skipped message=\"$(xml_escape <<<"$msg")\"/></testcase>"$'\n'
          ;;
        *)
          failures=$((failures + 1))
          body+="><failure message=\"$(xml_escape <<<"$msg")\">$(xml_escape <<<"$msg")</failure></testcase>"$'\n'
          ;;
      esac
    done <"$WORK/cases.$i"
  done
  out=$JUNIT.tmp.$$
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo "<testsuite name=\"ci-job $(xml_escape <<<"${FW:-$FIRMWARE}")\" tests=\"$tests\" failures=\"$failures\" errors=\"0\" skipped=\"$skipped\" time=\"$(($(date +%s) - T_START))\" timestamp=\"$(date -u +%Y-%m-%dT%H:%M:%S)\">"
    printf '%s' "$body"
    echo '</testsuite>'
  } >"$out"
  mv "$out" "$JUNIT"
}

# ---- import -----------------------------------------------------------------------------
prepared=$(fwctl --json prepare firmwares "$FIRMWARE")
FW=$(json_str name <<<"$prepared")
[[ -n "$FW" ]] || die "importing $FIRMWARE gave no firmware name: $prepared"
if ! grep -q '"existed":true' <<<"$prepared"; then
  FW_OURS=1
  say "firmware $FW imported from $FIRMWARE"
else
  say "firmware $FW was already imported from $FIRMWARE: it stays after this job"
fi

# ---- start N instances in parallel ------------------------------------------------------
# `fwctl --json run` prints its PREPARED reply before it starts: the cleanup finds the
# instance in run.I whatever happens next.
for i in $(seq 1 "$N"); do
  fwctl --json run --wait-console "$BOOTED" --timeout "$BOOT_TIMEOUT" "$FW" \
    >"$WORK/run.$i" 2>"$WORK/run-err.$i" &
  JOBS+=($!)
done
for j in "${!JOBS[@]}"; do
  rc=0
  wait "${JOBS[$j]}" || rc=$?
  echo "$rc" >"$WORK/boot.$((j + 1))"
done
JOBS=()

# ---- the checks, then the artefacts, per instance ---------------------------------------
# Writes "ok" or "FAIL <reason>" (the first failed check) to $WORK/result.I.
test_one() {
  local i=$1 id t result=ok ip why
  T0=$(date +%s)
  id=$(instance_of "$i")
  t=$WORK/t.$i
  mkdir -p "$t"
  fail() {
    record "$i" "$1" fail "$2"
    [[ $result != ok ]] || result="FAIL $2"
  }
  if [[ -z "$id" ]]; then
    fail boot "not prepared: $(tr '\n' ' ' <"$WORK/run-err.$i")"
    echo "$result" >"$WORK/result.$i"
    return 0
  fi
  if [[ "$(cat "$WORK/boot.$i")" != 0 ]]; then
    fail boot "did not boot: $(tr '\n' ' ' <"$WORK/run-err.$i")"
    for why in exec network one-shot; do record "$i" "$why" skip "did not boot"; done
  else
    record "$i" boot ok
    if ! fwctl exec "$id" -- cat /etc/build.prop >"$t/build.prop" 2>"$t/exec.err" </dev/null; then
      fail exec "exec failed: $(tr '\n' ' ' <"$t/exec.err")"
      record "$i" network skip "exec failed"
    else
      record "$i" exec ok
      ip=$(fwctl get_property instances "$id" ip)
      if ! "$BUSYBOX" nc -w 5 "$ip" 9050 </dev/null >"$t/net.txt" 2>"$t/net.err"; then
        fail network "no answer from $ip:9050"
      elif ! cmp -s "$t/build.prop" "$t/net.txt"; then
        fail network "$ip:9050 did not serve /etc/build.prop"
      else
        record "$i" network ok
      fi
    fi
    # A one-shot instance of the same firmware: `fwctl run --rm` drops it, also if killed.
    if ! fwctl run --rm --wait-console "$BOOTED" --timeout "$BOOT_TIMEOUT" "$FW" -- \
      cat /etc/build.prop >"$t/one-shot.txt" 2>"$t/one-shot.err" </dev/null; then
      fail one-shot "fwctl run --rm failed: $(tr '\n' ' ' <"$t/one-shot.err")"
    elif ! cmp -s "$t/build.prop" "$t/one-shot.txt"; then
      fail one-shot "the one-shot instance read another /etc/build.prop"
    else
      record "$i" one-shot ok
    fi
    if [[ -n "$TEST_EXTRA" ]]; then
      if fwctl exec "$id" -- sh -c "$TEST_EXTRA" >"$t/test.out" 2>&1 </dev/null; then
        record "$i" test-extra ok
      else
        fail test-extra "TEST_EXTRA failed: $(tail -c 300 "$t/test.out" | tr '\n' ' ')"
      fi
    fi
  fi
  if fwctl collect "$id" "$ARTEFACTS/$id" >/dev/null 2>"$t/collect.err"; then
    record "$i" collect ok
  else
    fail collect "fwctl collect failed: $(tr '\n' ' ' <"$t/collect.err")"
  fi
  mkdir -p "$ARTEFACTS/$id"
  for f in build.prop net.txt test.out; do
    [[ ! -f "$t/$f" ]] || cp "$t/$f" "$ARTEFACTS/$id/$f"
  done
  echo "$result" >"$WORK/result.$i"
}
for i in $(seq 1 "$N"); do
  test_one "$i" &
  JOBS+=($!)
done
for j in "${JOBS[@]}"; do wait "$j" || true; done
JOBS=()

# ---- summary and report -----------------------------------------------------------------
failed=0
: >"$ARTEFACTS/summary.txt"
for i in $(seq 1 "$N"); do
  id=$(instance_of "$i")
  result=$(cat "$WORK/result.$i" 2>/dev/null || echo "FAIL no result")
  [[ "$result" == ok ]] || failed=$((failed + 1))
  echo "${id:-instance-$i} $result" >>"$ARTEFACTS/summary.txt"
done
write_junit
cat "$ARTEFACTS/summary.txt"
say "$((N - failed)) of $N instances passed; artefacts in $ARTEFACTS, JUnit report in $JUNIT"
[[ $failed -eq 0 ]]
