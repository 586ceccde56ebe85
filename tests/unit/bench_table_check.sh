#!/usr/bin/env bash
# bench_table_check.sh - bench/run's table, without running a benchmark: feeds the sample
# RESULT lines of bench_results.sample to `bench/run --format-only` (text and --json) and
# checks each row's ratio and verdict, that a malformed RESULT line or target makes it exit
# 1 naming the line, and that every benchmark script of bench/ parses (bash -n). So the
# table cannot rot unnoticed while nothing of bench/ runs in the tests. Exits 0 if all is
# well, 1 naming each failed check.
#
# Usage: bench_table_check.sh [SOURCE_DIR]   (default: $FW_SOURCE_DIR, else ../.. of here)
set -uo pipefail
export LC_ALL=C
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
src=${1:-${FW_SOURCE_DIR:-$here/../..}}
run=$src/bench/run
sample=$here/bench_results.sample
py=${PYTHON:-/usr/bin/python3}
failed=0
fail() { echo "FAIL: $*" >&2; failed=1; }

out=$("$py" "$run" --format-only <"$sample") || fail "--format-only on $sample exited $?"
# row KEY RATIO VERDICT: the text table's row of KEY has that ratio and that verdict.
row() {
  local line
  line=$(grep -E "^$1 " <<<"$out") || { fail "no row $1 in the table:"$'\n'"$out"; return; }
  [[ $line == *"  $2  "* ]] || fail "row $1: ratio $2 expected: $line"
  [[ $line == *"  $3" ]] || fail "row $1: verdict '$3' expected: $line"
}
row peers.unshare - -
row peers.fwctl 0.40 ok
row start.socket 2.99 MISSED
row peers.bwrap - "not measured"
row diff.fwctl 0.0103 ok
row diff.fwctl_abs - MISSED
row rss.monitor - ok
row cycle.one 2.00 ok
row cycle.ten - "not measured"
grep -q '<=1024 KiB' <<<"$out" || fail "an absolute target shows its unit (<=1024 KiB): $out"
# The baseline: its value in the row, what it is in a numbered line below the table.
grep -qE '^diff\.fwctl .* \[2\] 595\.83 ms ' <<<"$out" || fail "diff.fwctl's baseline value: $out"
grep -qx '  \[2\] diff -rq' <<<"$out" || fail "what baseline [2] is: $out"
md=$("$py" "$run" --format-only --markdown <"$sample")
grep -qF '| diff.fwctl | fwctl diff ID (median) | 6.16 ms | diff -rq: 595.83 ms | 0.0103 | <=0.02 | ok |' \
  <<<"$md" || fail "--markdown: the row of diff.fwctl: $md"
grep -q 'human output' <<<"$out" && fail "a line that is not RESULT reached the table: $out"

json=$("$py" "$run" --format-only --json <"$sample") || fail "--json exited $?"
"$py" - "$json" <<'PY' || fail "--json: unexpected document"
import json, sys
d = json.loads(sys.argv[1])
rows = {r["key"]: r for r in d["results"]}
assert len(rows) == 9, sorted(rows)
assert rows["start.socket"]["verdict"] == "MISSED" and abs(rows["start.socket"]["ratio"] - 30.2 / 10.1) < 1e-9
assert rows["peers.fwctl"]["verdict"] == "ok" and rows["peers.fwctl"]["baseline_value"] == "10.10"
assert rows["peers.bwrap"]["verdict"] == "not measured" and rows["peers.bwrap"]["reason"]
assert rows["rss.monitor"]["ratio"] is None and rows["rss.monitor"]["verdict"] == "ok"
assert d["problems"] == [], d["problems"]
PY

# Malformed input: exit 1 and a sentence naming the line; the good rows still printed.
bad=$(printf 'RESULT\tx.a\tok row\t1\tms\t-\t-\t<=2\nRESULT\tx.b\tonly five\t1\tms\n' |
  "$py" "$run" --format-only 2>&1)
rc=$?
[[ $rc == 1 ]] || fail "a malformed RESULT line: exit 1 expected, got $rc"
grep -q 'line 2: malformed RESULT line (5 tab-separated fields, 8 expected)' <<<"$bad" ||
  fail "the malformed line is not named: $bad"
grep -qE '^x\.a .* ok$' <<<"$bad" || fail "the good row is not in the table: $bad"
bad=$(printf 'RESULT\tx.c\twhat\t1\tms\tb\t2\t~0.5\n' | "$py" "$run" --format-only 2>&1)
rc=$?
[[ $rc == 1 ]] || fail "a bad target: exit 1 expected, got $rc"
grep -q "target '~0.5' of x.c" <<<"$bad" || fail "the bad target is not named: $bad"
bad=$(printf 'RESULT\tx.d\twhat\tfast\tms\t-\t-\t-\n' | "$py" "$run" --format-only 2>&1)
rc=$?
[[ $rc == 1 ]] || fail "a value that is not a number: exit 1 expected, got $rc"
grep -q "value 'fast' of x.d is not a number" <<<"$bad" || fail "the bad value is not named: $bad"

for f in "$src"/bench/*.sh; do
  bash -n "$f" || fail "$f does not parse"
done
exit $failed
