#!/usr/bin/env bash
# examples/ci-job.sh against a test daemon: with N=3 it boots three
# instances in parallel, tests each (exec and network), collects the artefacts and leaves
# nothing behind; it also cleans up when it fails (bad firmware) or is killed (SIGTERM).
source "$(dirname "$0")/../lib/harness.sh"
require_root
setup
export FIRMWARED_HOST_INTERFACE_PREFIX=fwtjob FIRMWARED_NET_FIRST_TWO_BYTES=10.243.
build_example_firmware
start_daemon
JOB=""
job_cleanup() {
  local rc=$? id
  set +e
  [[ -z "$JOB" ]] || kill "$JOB" 2>/dev/null
  for id in $("$FWCTL" list instances 2>/dev/null | tr ' ' '\n' | sed 's/\[.*//'); do
    "$FWCTL" kill "$id" >/dev/null 2>&1
  done
  (exit "$rc")
  fw_inst_on_exit
}
trap job_cleanup EXIT

CI_JOB="$FW_SOURCE_DIR/examples/ci-job.sh"
ART="$FW_TMP/artefacts"
export FWCTL
nothing_left() {
  expect_eq "$1: no instance left" "" "$("$FWCTL" list instances)"
  expect_eq "$1: no firmware left" "" "$("$FWCTL" list firmwares)"
  expect_eq "$1: no mount left below the mount path" 0 \
    "$(fw_inst_mounts_below "$FIRMWARED_MOUNT_PATH")"
  fw_inst_expect_no_leftovers "$1"
  fw_inst_expect_fds "$1" "$FDS0"
}
FDS0=$(fw_inst_settled_fds)

# ---- a passing job ----------------------------------------------------------------------
T0=$(date +%s)
run env N=3 ARTEFACTS="$ART" TEST_EXTRA='grep -q . /etc/build.prop && echo tested' \
  bash "$CI_JOB" "$FW_EX_DIR"
echo "ci-job.sh with N=3 took $(($(date +%s) - T0)) s" >&2
expect_eq "ci-job.sh N=3: exit 0" 0 "$RC"
[[ $RC -eq 0 ]] || printf '%s\n%s\n' "$OUT" "$ERR" >&2
expect_eq "summary: three instances" 3 "$(wc -l <"$ART/summary.txt")"
expect_eq "summary: all ok" 3 "$(grep -c '^[a-z_]* ok$' "$ART/summary.txt")"
expect_eq "the summary is printed" "$(cat "$ART/summary.txt")" "$OUT"
N_DIRS=0
for dir in "$ART"/*/; do
  [[ -d "$dir" ]] || continue
  N_DIRS=$((N_DIRS + 1))
  id=$(basename "$dir")
  check "$id: console.log has the boot" grep -q 'firmware booted' "$dir/console.log"
  check "$id: build.prop read with exec" test -s "$dir/build.prop"
  check "$id: the network served the same build.prop" cmp -s "$dir/build.prop" "$dir/net.txt"
  check "$id: diff.txt collected" test -f "$dir/diff.txt"
  expect_eq "$id: TEST_EXTRA ran" tested "$(cat "$dir/test.out")"
  check "$id: show.txt has the instance" grep -q "^name: $id\$" "$dir/show.txt"
done
expect_eq "one artefact directory per instance" 3 "$N_DIRS"
JUNIT_CHECK='import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
f = [c.get("name") + ": " + c.find("failure").get("message") for c in r.findall("testcase")
     if c.find("failure") is not None]
print(r.tag, r.get("tests"), len(r.findall("testcase")), r.get("failures"), *f, sep="|")'
expect_eq "junit.xml: a testsuite, six testcases per instance, no failure" \
  "testsuite|18|18|0" "$("$PYTHON" -c "$JUNIT_CHECK" "$ART/junit.xml" 2>&1)"
nothing_left "after a passing job"

# ---- a firmware the job did not import stays ---------------------------------------------
run "$FWCTL" prepare firmwares "$FW_EX_DIR"
PERSONS=$(field name)
run env N=1 ARTEFACTS="$FW_TMP/art-kept" bash "$CI_JOB" "$FW_EX_DIR"
expect_eq "ci-job.sh on an already imported firmware: exit 0" 0 "$RC"
expect_match "it says the firmware stays" "already imported .*stays after this job" "$ERR"
expect_eq "the person's firmware is still there" "$PERSONS" \
  "$("$FWCTL" list firmwares | sed 's/\[.*//')"
expect_eq "the job's instance is gone" "" "$("$FWCTL" list instances)"
run "$FWCTL" drop firmwares "$PERSONS"
nothing_left "after a job on a firmware it did not import"

# ---- a failing check: a failure element with its message ---------------------------------
run env N=1 ARTEFACTS="$FW_TMP/art-fail" TEST_EXTRA='echo "<bad & worse>"; exit 1' \
  bash "$CI_JOB" "$FW_EX_DIR"
expect_eq "ci-job.sh with a failing TEST_EXTRA: exit 1" 1 "$RC"
expect_match "junit.xml names the failed check and its message" \
  '^testsuite\|6\|6\|1\|test-extra: TEST_EXTRA failed: <bad & worse> $' \
  "$("$PYTHON" -c "$JUNIT_CHECK" "$FW_TMP/art-fail/junit.xml" 2>&1)"
nothing_left "after a job with a failing check"

# ---- a failing job cleans up too --------------------------------------------------------
run env N=2 ARTEFACTS="$FW_TMP/art2" bash "$CI_JOB" "$FW_TMP/no-such-firmware"
check "ci-job.sh on a missing firmware fails" test "$RC" -ne 0
nothing_left "after a failing job"

# ---- a job killed while its instances run cleans up -------------------------------------
env N=2 ARTEFACTS="$FW_TMP/art3" TEST_EXTRA='touch /tmp/testing; sleep 60' \
  bash "$CI_JOB" "$FW_EX_DIR" >/dev/null 2>&1 &
JOB=$!
testing() { "$FWCTL" exec "$1" -- test -e /tmp/testing </dev/null 2>/dev/null; }
two_testing() {
  local n=0 id
  for id in $("$FWCTL" list instances | tr ' ' '\n' | sed 's/\[.*//'); do
    testing "$id" && n=$((n + 1))
  done
  [[ $n -ge 2 ]]
}
check "the killed job's two instances run TEST_EXTRA" fw_inst_wait_for 30 two_testing
kill -TERM "$JOB"
RC=0
wait "$JOB" || RC=$?
JOB=""
expect_eq "ci-job.sh killed with SIGTERM: 143" 143 "$RC"
nothing_left "after a killed job"

stop_daemon
assert_no_leaks
