#!/usr/bin/env bash
# bench/rss_bench.sh [N]: the memory of firmwared's processes, from /proc/PID/smaps_rollup
# (Rss: every page mapped and resident, shared ones included; Pss: shared pages divided by
# the number of processes mapping them).
#  - a monitor of a started instance, privileged (userns n) and in a user namespace (userns
#    y): target Rss <= 1024 KiB;
#  - the daemon idle (started, pinged, nothing prepared): target Rss <= 8192 KiB;
#  - the daemon after N instances prepared, and after each of them was started and killed:
#    the growth per instance (what the daemon keeps per instance beyond its catalogue
#    records, which are in the sqlite file, not in memory, must stay O(1)).
# Root only; builds the release preset unless FW_BUILD_DIR names a build; a private
# configuration under /tmp/fwtest-rss.XXXXXX; cleans up everything.
set -euo pipefail
N=${1:-100}
# Every prepared instance holds a user-namespace id range: a pool of its own, N + 8 ranges
# of 65536 ids in 0x50000000.., away from the tests' pools (0x70000000..).
[[ $N =~ ^[0-9]+$ && $N -ge 2 && $N -le 500 ]] || { echo "rss_bench: N must be 2..500" >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/build.sh
source "$here/bench/build.sh"
bench_build "$here"
FWCTL=$B/fwctl/fwctl
tmp=$(mktemp -d /tmp/fwtest-rss.XXXXXX)
chmod 0755 "$tmp"
daemon=""
cleanup() {
  set +e
  if [[ -n $daemon ]]; then
    for i in $("$FWCTL" list instances 2>/dev/null | sed 's/.*\[\(.*\)\]/\1/'); do
      "$FWCTL" kill "$i" >/dev/null 2>&1
      "$FWCTL" drop instances "$i" >/dev/null 2>&1
    done
    "$FWCTL" quit >/dev/null 2>&1
    wait "$daemon"
  fi
  awk -v d="$tmp" 'index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
  for d in /sys/fs/cgroup/"$FIRMWARED_CGROUP" /sys/fs/cgroup/"$FIRMWARED_CGROUP".daemon; do
    [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
"$here/examples/make-example-firmware" --dir-only "$tmp/ex" >/dev/null
suffix=${tmp##*.}
export FIRMWARED_SOCKET_PATH=$tmp/s.sock FIRMWARED_DATABASE_PATH=$tmp/db/c.db \
  FIRMWARED_MOUNT_PATH=$tmp/mp FIRMWARED_REPOSITORY_PATH=$tmp/repo \
  FIRMWARED_HOST_INTERFACE_PREFIX=fwtrss FIRMWARED_NET_FIRST_TWO_BYTES=10.252. \
  FIRMWARED_CGROUP=fwtest-rss-$suffix \
  FIRMWARED_USERNS_POOL="$((0x50000000 + ($(cksum <<<"$suffix" | cut -d' ' -f1) % 8) * 512 * 65536)):$((N + 8))"

# rollup PID FIELD: FIELD (Rss, Pss, ...) of /proc/PID/smaps_rollup in KiB.
rollup() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/smaps_rollup"; }
threads() { awk '$1 == "Threads:" { print $2 }' "/proc/$1/status"; }
# mappings PID: Rss in KiB per mapped file (basename) or [heap], [stack], [anon], largest first.
mappings() {
  awk '/^[0-9a-f]+-[0-9a-f]+ / { n = $6; sub(/.*\//, "", n); if (n == "") n = "[anon]" }
       $1 == "Rss:" { rss[n] += $2 }
       END { for (n in rss) if (rss[n] > 0) printf "%6d KiB  %s\n", rss[n], n }' \
    "/proc/$1/smaps" | sort -rn
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# result KEY WHAT VALUE UNIT BASELINE-WHAT BASELINE-VALUE TARGET
result() { printf 'RESULT\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@"; }
prop() { "$FWCTL" get_property instances "$1" "$2"; }

"$B/firmwared/firmwared" 2>>"$tmp/log" &
daemon=$!
for _ in $(seq 1 200); do "$FWCTL" ping >/dev/null 2>&1 && break; sleep 0.02; done
"$FWCTL" ping >/dev/null
sleep 0.5
idle_rss=$(rollup "$daemon" Rss)
idle_pss=$(rollup "$daemon" Pss)
idle_threads=$(threads "$daemon")
# Where the idle Rss is, by mapping (the executable, each library, heap, stacks): the first
# place to look when the figure moves.
idle_maps=$(mappings "$daemon" | head -n 12)

# One instance per user-namespace mode: its monitor, settled.
first=$("$FWCTL" prepare instances "$tmp/ex/rootfs" | sed -n 's/^sha1: //p')
declare -A mon_rss mon_pss
for mode in n y; do
  "$FWCTL" set_property instances "$first" userns "$mode" >/dev/null
  "$FWCTL" start "$first" >/dev/null
  sleep 0.5
  mon=$(prop "$first" pid)
  mon_rss[$mode]=$(rollup "$mon" Rss)
  mon_pss[$mode]=$(rollup "$mon" Pss)
  "$FWCTL" kill "$first" >/dev/null
done

for _ in $(seq 2 "$N"); do "$FWCTL" prepare instances "$tmp/ex/rootfs" >/dev/null; done
sleep 0.2
prepared_rss=$(rollup "$daemon" Rss)
# Starts and kills every instance once, then prints the daemon's Rss.
cycle_all() {
  local i
  for i in $("$FWCTL" list instances | sed 's/.*\[\(.*\)\]/\1/'); do
    "$FWCTL" start "$i" >/dev/null
    "$FWCTL" kill "$i" >/dev/null
  done
  sleep 0.2
  rollup "$daemon" Rss
}
cycled_rss=$(cycle_all)
# A second round: what is still growing after every instance ran once is what leaks.
cycled2_rss=$(cycle_all)
final_threads=$(threads "$daemon")

per_prepared=$(echo "($prepared_rss - $idle_rss) / $N" | bc -l)
per_cycled=$(echo "($cycled_rss - $idle_rss) / $N" | bc -l)
per_cycle2=$(echo "($cycled2_rss - $cycled_rss) / $N" | bc -l)
printf 'Memory (smaps_rollup), N=%d, build %s\n' "$N" "$B"
printf '  monitor, userns n (privileged)   Rss %6d KiB  Pss %6d KiB  (target Rss <= 1024)\n' \
  "${mon_rss[n]}" "${mon_pss[n]}"
printf '  monitor, userns y                Rss %6d KiB  Pss %6d KiB  (target Rss <= 1024)\n' \
  "${mon_rss[y]}" "${mon_pss[y]}"
printf '  daemon idle                      Rss %6d KiB  Pss %6d KiB  threads %d  (target Rss <= 8192)\n' \
  "$idle_rss" "$idle_pss" "$idle_threads"
printf '    the largest mappings of the idle daemon:\n%s\n' "$(sed 's/^/      /' <<<"$idle_maps")"
printf '  daemon, %d prepared              Rss %6d KiB  (%.1f KiB per instance)\n' \
  "$N" "$prepared_rss" "$per_prepared"
printf '  daemon, each started+killed once Rss %6d KiB  (%.1f KiB per instance)\n' \
  "$cycled_rss" "$per_cycled"
printf '  daemon, each started+killed again Rss %6d KiB  (%.1f KiB per instance)  threads %d\n' \
  "$cycled2_rss" "$per_cycle2" "$final_threads"
result rss.monitor "monitor Rss, privileged instance" "${mon_rss[n]}" KiB - - '<=1024'
result rss.monitor_userns "monitor Rss, userns instance" "${mon_rss[y]}" KiB - - '<=1024'
result pss.monitor "monitor Pss, privileged instance" "${mon_pss[n]}" KiB - - -
result rss.daemon_idle "daemon Rss idle" "$idle_rss" KiB - - '<=8192'
result pss.daemon_idle "daemon Pss idle" "$idle_pss" KiB - - -
result rss.daemon_prepared "daemon Rss after $N prepared" "$prepared_rss" KiB - - -
result rss.daemon_cycled "daemon Rss after $N started+killed" "$cycled_rss" KiB - - -
result rss.daemon_per_instance "daemon Rss growth per prepared+started instance" \
  "$(printf %.1f "$per_cycled")" KiB - - -
result rss.daemon_per_cycle "daemon Rss growth per further start+kill" \
  "$(printf %.1f "$per_cycle2")" KiB - - -
