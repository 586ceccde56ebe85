#!/usr/bin/env bash
# bench/scale_bench.sh [N]: what one host spends per instance (docs/scaling.md).
#   1. the kernel's own cost of an instance's network: N network namespaces, each with a
#      veth pair (one end moved in, the other up), made with `ip` then deleted; per pair;
#   2. N instances of the example firmware (a directory firmware) prepared and started one
#      after the other (each until its console prints "firmware booted"): the time per
#      START, the daemon's RSS, the monitors' RSS and PSS (shared pages divided among
#      them), the instances' own memory (their cgroups' memory.current or usage), and
#      MemAvailable before and after (everything: page cache, kernel objects, processes,
#      and whatever else runs on the machine meanwhile), per instance; then the time to
#      kill and drop them all.
# Root only; builds the example firmware; cleans up everything.
set -euo pipefail
N=${1:-50}
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/build.sh
source "$here/bench/build.sh"
bench_build "$here"
FWCTL=$B/fwctl/fwctl
tmp=$(mktemp -d /tmp/fwtest-scale.XXXXXX)
daemon=""
tag=fwsc$$
cleanup() {
  set +e
  for i in $(seq 1 "$N"); do
    ip link del "${tag}h$i" 2>/dev/null
    ip netns del "${tag}n$i" 2>/dev/null
  done
  if [[ -n $daemon ]]; then
    for id in $("$FWCTL" list instances 2>/dev/null | tr ' ' '\n' | sed 's/\[.*//'); do
      "$FWCTL" kill "$id" >/dev/null 2>&1
      "$FWCTL" drop instances "$id" >/dev/null 2>&1
    done
    "$FWCTL" quit >/dev/null 2>&1
    wait "$daemon"
  fi
  pkill -KILL -f -- "firmwared-monitor .*--workspace $tmp/" 2>/dev/null
  awk -v d="$tmp" 'index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
  rm -rf "$tmp"
}
trap cleanup EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }
mem_available_kb() { awk '/^MemAvailable:/ { print $2 }' /proc/meminfo; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# Proportional set size: shared pages (the binary, libc) divided among their users.
pss_kb() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }

# ---- 1. netns + veth, with ip ------------------------------------------------------------
t0=$(now_ms)
for i in $(seq 1 "$N"); do
  ip netns add "${tag}n$i"
  ip link add "${tag}h$i" type veth peer name "${tag}c$i"
  ip link set "${tag}c$i" netns "${tag}n$i"
  ip link set "${tag}h$i" up
done
t1=$(now_ms)
for i in $(seq 1 "$N"); do
  ip link del "${tag}h$i"
  ip netns del "${tag}n$i"
done
t2=$(now_ms)
printf 'netns + veth pair with ip, N=%d\n' "$N"
printf '  create   %7d ms  %6.1f ms each\n' $((t1 - t0)) "$(echo "($t1 - $t0) / $N" | bc -l)"
printf '  delete   %7d ms  %6.1f ms each\n' $((t2 - t1)) "$(echo "($t2 - $t1) / $N" | bc -l)"

# ---- 2. N instances ----------------------------------------------------------------------
"$here/examples/make-example-firmware" --dir-only "$tmp/ex" >/dev/null
export FIRMWARED_SOCKET_PATH=$tmp/s.sock FIRMWARED_DATABASE_PATH=$tmp/db/c.db \
  FIRMWARED_MOUNT_PATH=$tmp/mp FIRMWARED_REPOSITORY_PATH=$tmp/repo \
  FIRMWARED_HOST_INTERFACE_PREFIX=fwtscale FIRMWARED_NET_FIRST_TWO_BYTES=10.252. \
  FIRMWARED_CGROUP=fwtscale-$$ FIRMWARED_LOG_LEVEL=notice
"$B/firmwared/firmwared" 2>>"$tmp/log" &
daemon=$!
for _ in $(seq 1 200); do "$FWCTL" ping >/dev/null 2>&1 && break; sleep 0.02; done
FW=$("$FWCTL" prepare firmwares "$tmp/ex/rootfs" | sed -n 's/^name: //p')
sync
echo 3 >/proc/sys/vm/drop_caches
sleep 1
avail0=$(mem_available_kb)
daemon0=$(rss_kb "$daemon")
t0=$(now_ms)
for i in $(seq 1 "$N"); do
  "$FWCTL" run --wait-console 'firmware booted' --timeout 60 --name "scale$i" "$FW" >/dev/null
done
t1=$(now_ms)
sleep 2
avail1=$(mem_available_kb)
daemon1=$(rss_kb "$daemon")
monitors=0
monitors_pss=0
nmon=0
for p in $(pgrep -f -- "firmwared-monitor .*--workspace $tmp/"); do
  monitors=$((monitors + $(rss_kb "$p")))
  monitors_pss=$((monitors_pss + $(pss_kb "$p")))
  nmon=$((nmon + 1))
done
cg=0
while read -r f; do
  cg=$((cg + $(cat "$f") / 1024))
done < <(find /sys/fs/cgroup -regex ".*/fwtscale-$$/[^/]*/memory\.\(current\|usage_in_bytes\)" \
           2>/dev/null)
running=$("$FWCTL" ps | grep -c ' started \| ready ' || true)
t2=$(now_ms)
for i in $(seq 1 "$N"); do
  "$FWCTL" kill "scale$i" >/dev/null
  "$FWCTL" drop instances "scale$i" >/dev/null
done
t3=$(now_ms)

printf '%d instances of the example firmware (%s monitors found, %s listed running)\n' \
  "$N" "$nmon" "$running"
printf '  START (run --wait-console) %7d ms  %6.1f ms each\n' $((t1 - t0)) \
  "$(echo "($t1 - $t0) / $N" | bc -l)"
printf '  kill + drop                %7d ms  %6.1f ms each\n' $((t3 - t2)) \
  "$(echo "($t3 - $t2) / $N" | bc -l)"
printf '  daemon RSS                 %7d KiB before, %d KiB with %d instances\n' \
  "$daemon0" "$daemon1" "$N"
printf '  monitors RSS               %7d KiB total, %6.0f KiB each\n' "$monitors" \
  "$(echo "$monitors / ($nmon + ($nmon == 0))" | bc -l)"
printf '  monitors PSS               %7d KiB total, %6.0f KiB each\n' "$monitors_pss" \
  "$(echo "$monitors_pss / ($nmon + ($nmon == 0))" | bc -l)"
printf '  instance cgroups           %7d KiB total, %6.0f KiB each (memory.current)\n' "$cg" \
  "$(echo "$cg / $N" | bc -l)"
printf '  MemAvailable drop          %7d KiB total, %6.0f KiB each\n' $((avail0 - avail1)) \
  "$(echo "($avail0 - $avail1) / $N" | bc -l)"
