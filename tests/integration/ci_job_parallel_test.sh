#!/usr/bin/env bash
# Three examples/ci-job.sh at once on one image imported beforehand (one CI runner, three
# jobs): all pass, each writes a well-formed JUnit report, and the firmware, which none of
# them imported, stays; every instance they made is gone.
source "$(dirname "$0")/../lib/harness.sh"
require_root
fw_inst_setup
build_example_firmware
start_daemon
PIDS=()
par_cleanup() {
  local rc=$? p id
  set +e
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  for id in $("$FWCTL" list instances 2>/dev/null | tr ' ' '\n' | sed 's/\[.*//'); do
    "$FWCTL" kill "$id" >/dev/null 2>&1
  done
  (exit "$rc")
  fw_inst_on_exit
}
trap par_cleanup EXIT
export FWCTL

run "$FWCTL" prepare firmwares "$FW_EX_DIR"
FW=$(field name)
T0=$(date +%s)
for j in 1 2 3; do
  env N=1 ARTEFACTS="$FW_TMP/art.$j" TEST_EXTRA='test -s /etc/build.prop' \
    bash "$FW_SOURCE_DIR/examples/ci-job.sh" "$FW_EX_DIR" >"$FW_TMP/out.$j" 2>"$FW_TMP/err.$j" &
  PIDS+=($!)
done
for j in 1 2 3; do
  rc=0
  wait "${PIDS[$((j - 1))]}" || rc=$?
  expect_eq "job $j: exit 0" 0 "$rc"
  [[ $rc -eq 0 ]] || cat "$FW_TMP/out.$j" "$FW_TMP/err.$j" >&2
done
PIDS=()
echo "three ci-job.sh at once took $(($(date +%s) - T0)) s" >&2
junit_summary() {
  "$PYTHON" - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = root.findall("testcase")
assert root.tag == "testsuite", root.tag
assert int(root.get("tests")) == len(cases)
names = sorted(c.get("name") for c in cases)
bad = [c.get("name") for c in cases if c.find("failure") is not None or c.find("skipped") is not None]
print(root.get("failures"), " ".join(names), "bad:" + ",".join(bad))
PY
}
for j in 1 2 3; do
  expect_eq "job $j: its JUnit report parses, a testcase per check, none failed" \
    "0 boot collect exec network one-shot test-extra bad:" \
    "$(junit_summary "$FW_TMP/art.$j/junit.xml" 2>&1)"
  expect_match "job $j says the firmware stays" "already imported .*stays after this job" \
    "$(cat "$FW_TMP/err.$j")"
  id=$(cut -d' ' -f1 "$FW_TMP/art.$j/summary.txt")
  check "job $j: collect wrote its artefacts" test -s "$FW_TMP/art.$j/$id/changes.tar"
done
expect_eq "the firmware imported before the jobs stays" "$FW" \
  "$("$FWCTL" list firmwares | sed 's/\[.*//')"
expect_eq "no instance left" "" "$("$FWCTL" list instances)"
fw_inst_expect_no_leftovers "after three parallel jobs"

"$FWCTL" drop firmwares "$FW" >/dev/null
stop_daemon
assert_no_leaks
