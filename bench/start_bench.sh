#!/usr/bin/env bash
# bench/start_bench.sh [N]: START latency (fwctl start → PID 1 exec'd, reply received)
# with the real network step and with net_hook=/bin/true (no network), against a baseline
# measured in the same run: `unshare --fork --pid --mount --net --uts --ipc chroot ROOTFS
# /bin/true` (namespaces + exec, no overlay, no veth, no console). Prints medians and
# ratios. Root only; builds the example firmware; cleans up everything.
set -euo pipefail
N=${1:-50}
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/build.sh
source "$here/bench/build.sh"
bench_build "$here"
FWCTL=$B/fwctl/fwctl
tmp=$(mktemp -d /tmp/fwtest-bench.XXXXXX)
daemon=""
cleanup() {
  set +e
  [[ -n $daemon ]] && { "$FWCTL" quit >/dev/null 2>&1; wait "$daemon"; }
  awk -v d="$tmp" 'index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
  rm -rf "$tmp"
}
trap cleanup EXIT
"$here/examples/make-example-firmware" --dir-only "$tmp/ex" >/dev/null
export FIRMWARED_SOCKET_PATH=$tmp/s.sock FIRMWARED_DATABASE_PATH=$tmp/db/c.db \
  FIRMWARED_MOUNT_PATH=$tmp/mp FIRMWARED_REPOSITORY_PATH=$tmp/repo \
  FIRMWARED_HOST_INTERFACE_PREFIX=fwtbench FIRMWARED_NET_FIRST_TWO_BYTES=10.251. \
  FIRMWARED_LOG_LEVEL=debug

now_us() { echo $(($(date +%s%N) / 1000)); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

run_starts() {  # $1: label; prints one latency (µs) per line
  local i inst t0 t1
  inst=$("$FWCTL" list instances | cut -d'[' -f1)
  for i in $(seq 1 "$N"); do
    t0=$(now_us)
    "$FWCTL" start "$inst" >/dev/null
    t1=$(now_us)
    echo $((t1 - t0))
    "$FWCTL" kill "$inst" >/dev/null
  done
}

start_daemon() {
  "$B/firmwared/firmwared" 2>>"$tmp/log" &
  daemon=$!
  for _ in $(seq 1 200); do "$FWCTL" ping >/dev/null 2>&1 && return; sleep 0.02; done
}

start_daemon
"$FWCTL" prepare instances "$tmp/ex/rootfs" >/dev/null
with_net=$(run_starts net | median)
"$FWCTL" quit >/dev/null; wait "$daemon"; daemon=""
# The daemon logs each network step's duration (from its start to the helper's success).
net_step=$(sed -n 's/.*network step of .*: \([0-9]*\) us$/\1/p' "$tmp/log" | median)
FIRMWARED_NET_HOOK=/bin/true start_daemon
without_net=$(run_starts nonet | median)
"$FWCTL" quit >/dev/null; wait "$daemon"; daemon=""

base=$(for i in $(seq 1 "$N"); do
  t0=$(now_us)
  unshare --fork --pid --mount --net --uts --ipc chroot "$tmp/ex/rootfs" /bin/true
  t1=$(now_us)
  echo $((t1 - t0))
done | median)
# fwctl's own start-up is part of every START measured above: measure it alone too.
client=$(for i in $(seq 1 "$N"); do t0=$(now_us); "$FWCTL" --version >/dev/null; t1=$(now_us); echo $((t1 - t0)); done | median)

printf 'START median (fwctl → PID 1 exec'\''d), N=%d\n' "$N"
printf '  with overlay + veth (net_hook)     %8.2f ms\n' "$(echo "$with_net / 1000" | bc -l)"
printf '  with overlay, no network step      %8.2f ms\n' "$(echo "$without_net / 1000" | bc -l)"
printf '  network step (daemon log, median)  %8.2f ms\n' "$(echo "$net_step / 1000" | bc -l)"
printf '  fwctl process alone                %8.2f ms\n' "$(echo "$client / 1000" | bc -l)"
printf '  baseline: unshare+chroot /bin/true %8.2f ms\n' "$(echo "$base / 1000" | bc -l)"
printf '  ratio START(with net) / baseline   %8.2f\n' "$(echo "$with_net / $base" | bc -l)"
