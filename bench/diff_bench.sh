#!/usr/bin/env bash
# bench/diff_bench.sh - DESIGN §11: "diff of 100 changes over a 50,000-file firmware
# <= 20 ms, >= 50x faster than diff -rq".
#
# Builds a directory firmware (the example rootfs plus 50,000 small files in 500
# directories), prepares and starts an instance, makes 100 changes through its merged tree
# (40 files rewritten, 30 added, 20 deleted, 10 chmod'ed), then times in the same run:
#   fwctl diff ID        (end to end: fwctl's process, the socket, the daemon's walk)
#   diff -rq FW MERGED   (the baseline: GNU diff comparing the two trees)
# each with a warm page cache, and prints the medians and their ratio. Needs root.
#
# Usage: FW_BUILD_DIR=build/release bench/diff_bench.sh [RUNS]   (default 21 runs of fwctl diff)
set -euo pipefail
FW_SOURCE_DIR=${FW_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
FW_BUILD_DIR=${FW_BUILD_DIR:-$FW_SOURCE_DIR/build/release}
export FW_SOURCE_DIR FW_BUILD_DIR
RUNS=${1:-21}
FILES=50000
source "$FW_SOURCE_DIR/tests/lib/harness.sh"
require_root
command -v diff >/dev/null || skip "needs GNU diff"
fw_inst_setup
build_example_firmware

FW=$FW_TMP/fw
cp -a "$FW_EX_DIR" "$FW"
"$PYTHON" - "$FW/data" "$FILES" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // 100))
    if i % 100 == 0:
        os.makedirs(d)
    with open(os.path.join(d, "f%05d" % i), "w") as f:
        f.write("file %d\n" % i)
EOF
echo "firmware: $(find "$FW" | wc -l) entries"

start_daemon
NAME=$(fwctl prepare instances "$FW" | sed -n 's/^name: //p')
SHA1=$(fwctl get_property instances "$NAME" sha1)
fwctl start "$NAME" >/dev/null
MERGED=$FIRMWARED_MOUNT_PATH/instances/$SHA1/union
fw_inst_wait_for 10 test -f "$MERGED/var/lib/firmware-booted" || true

# 100 changes, through the overlay.
for i in $(seq 0 39); do echo "rewritten $i" >"$MERGED/data/d$(printf %03d $((i * 7)))/f$(printf %05d $((i * 700)))"; done
for i in $(seq 0 29); do echo "new $i" >"$MERGED/data/d$(printf %03d $((i * 11)))/new$i"; done
for i in $(seq 0 19); do rm "$MERGED/data/d$(printf %03d $((i * 13 + 1)))/f$(printf %05d $((i * 1300 + 100 + 1)))"; done
for i in $(seq 0 9); do chmod 600 "$MERGED/data/d$(printf %03d $((i * 17 + 2)))/f$(printf %05d $((i * 1700 + 200 + 2)))"; done
ENTRIES=$(fwctl diff "$NAME" | wc -l)
echo "diff: $ENTRIES entries (100 changes + what the firmware's init wrote)"

now_us() { echo $(($(date +%s%N) / 1000)); }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

fwctl diff "$NAME" >/dev/null  # warm
FW_TIMES=$(for _ in $(seq 1 "$RUNS"); do
  t0=$(now_us)
  fwctl diff "$NAME" >/dev/null
  echo $(($(now_us) - t0))
done | median)

diff -rq "$FW" "$MERGED" >/dev/null 2>&1 || true  # warm
BASE_TIMES=$(for _ in 1 2 3; do
  t0=$(now_us)
  diff -rq "$FW" "$MERGED" >/dev/null 2>&1 || true
  echo $(($(now_us) - t0))
done | median)

echo "fwctl diff (median of $RUNS): $((FW_TIMES / 1000)).$(printf %03d $((FW_TIMES % 1000))) ms"
echo "diff -rq   (median of 3):  $((BASE_TIMES / 1000)).$(printf %03d $((BASE_TIMES % 1000))) ms"
awk -v a="$BASE_TIMES" -v b="$FW_TIMES" 'BEGIN { printf "ratio: fwctl diff is %.1fx faster than diff -rq (target >= 50x; <= 20 ms)\n", a / b }'

fwctl kill "$NAME" >/dev/null
fwctl drop instances "$NAME" >/dev/null
for f in $(fwctl list firmwares | grep -o '\[[0-9a-f]*\]' | tr -d '[]'); do
  fwctl drop firmwares "$f" >/dev/null
done
stop_daemon
