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
#      kill and drop them all;
#   3. C instances (default 100) started at once through the socket (C `fwctl start` in
#      parallel), then, once they run (booted), killed at once (C `fwctl kill`), started
#      again and stopped at once (C `fwctl stop`), against the baseline measured in the same
#      run: C concurrent bare `unshare --fork --pid --mount --uts --ipc --net chroot ROOTFS
#      /bin/true` (and `lxc-execute` when installed). Each request, like each unshare, is one
#      process started from the shell at once. Each figure is the wall time until the last
#      reply, the median of ROUNDS rounds (default 3) interleaved with the baseline's; each
#      round measures the example firmware's own init and an idle PID 1 (KINDS below);
#      then the per-step breakdown the daemon logged (debug) during those rounds.
# SCALE_PARTS=concurrent runs part 3 only; ROUNDS sets its rounds; SCALE_INITS="example" or
# "idle" measures one PID 1 only; SCALE_LOG=FILE keeps part 3's daemon log (debug) there.
# Prints RESULT lines (bench/README.md) for part 3.
# Root only; builds the example firmware; cleans up everything.
set -euo pipefail
N=${1:-50}
C=${2:-100}
ROUNDS=${ROUNDS:-3}
PARTS=${SCALE_PARTS:-all}
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
  [[ -n ${SCALE_LOG:-} && -f $tmp/log3 ]] && cp "$tmp/log3" "$SCALE_LOG"
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

start_daemon() {  # $1: log file
  "$B/firmwared/firmwared" 2>>"$1" &
  daemon=$!
  for _ in $(seq 1 200); do "$FWCTL" ping >/dev/null 2>&1 && return; sleep 0.02; done
  echo "bench: the daemon did not answer" >&2
  exit 1
}
stop_daemon() {
  "$FWCTL" quit >/dev/null
  wait "$daemon"
  daemon=""
}

part1() {
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
}

"$here/examples/make-example-firmware" --dir-only "$tmp/ex" >/dev/null
export FIRMWARED_PREMADE_SANDBOX=y FIRMWARED_SOCKET_PATH=$tmp/s.sock FIRMWARED_DATABASE_PATH=$tmp/db/c.db \
  FIRMWARED_MOUNT_PATH=$tmp/mp FIRMWARED_REPOSITORY_PATH=$tmp/repo \
  FIRMWARED_HOST_INTERFACE_PREFIX=fwtscale FIRMWARED_NET_FIRST_TWO_BYTES=10.252. \
  FIRMWARED_CGROUP=fwtscale-$$ FIRMWARED_LOG_LEVEL=notice
part2() {  # 2. N instances, one after the other
start_daemon "$tmp/log"
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
  stop_daemon
}

# ---- 3. C concurrent START / KILL / STOP against C concurrent bare unshares -------------
ms_since() { echo "$1" | awk -v now="$EPOCHREALTIME" '{ printf "%d\n", (now - $1) * 1000 }'; }
median() {  # of the numbers on stdin; nothing when there are none
  sort -n | awk '{a[NR]=$1} END {if (NR) print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'
}
# Runs `$@ NAME` for every instance at once; prints the wall time (ms) until the last one
# returned, or "failed" when any failed (its errors go to stderr: a round with failures
# measures nothing). Each request is started exactly as each of the baseline's unshares
# is: one fork and exec from this shell, reaped with `wait PID` (a subshell per request, to
# time each one, would be a second fork the baseline does not pay).
concurrent() {  # $1: label; the rest: the command before the instance name
  local label=$1 t0 n pids=() p fails=0 wall
  shift
  : >"$tmp/errors"
  t0=$EPOCHREALTIME
  for n in "${names[@]}"; do
    "$@" "$n" >/dev/null 2>>"$tmp/errors" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
  wall=$(ms_since "$t0")
  if ((fails > 0)); then
    echo "bench: $fails of $C '$label' failed (after $wall ms), for example:" >&2
    { sed 's/^[^:]*: [^ ]* [^ ]* [^ ]*: //' "$tmp/errors" | sort | uniq -c | sort -rn |
        head -3 >&2; } || true  # head may close the pipe early
    echo failed
    return
  fi
  echo "$wall"
}
# The median of the numbers among the arguments ("" when none: every round failed).
median_of() { printf '%s\n' "$@" | { grep -E '^[0-9]+$' || true; } | median; }
# The baseline: C bare unshares of the same rootfs at once, wall time (ms).
bare_unshares() {
  local t0 i pids=() p
  t0=$EPOCHREALTIME
  for ((i = 0; i < C; i++)); do
    unshare --fork --pid --mount --uts --ipc --net chroot "$tmp/ex/rootfs" /bin/true &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  ms_since "$t0"
}
# C lxc-execute at once (no network), wall time (ms); "" when lxc-execute cannot run.
lxc_executes() {
  local t0 i pids=() p ok=1
  mkdir -p "$tmp/lxc"
  # No network, no console (the rootfs is read-only to it): the process and its namespaces.
  printf 'lxc.rootfs.path = dir:%s\nlxc.net.0.type = empty\nlxc.console.path = none\nlxc.tty.max = 0\n' \
    "$tmp/ex/rootfs" >"$tmp/lxc.conf"
  t0=$EPOCHREALTIME
  for ((i = 0; i < C; i++)); do
    lxc-execute -P "$tmp/lxc" -n "$tag-$i" -f "$tmp/lxc.conf" -- /bin/true \
      >/dev/null 2>>"$tmp/lxc.err" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || ok=0; done
  ((ok)) && ms_since "$t0"
  return 0
}
booted_all() {  # waits (untimed) until every started instance's console says it booted
  local n
  for n in "${names[@]}"; do
    [[ $("$FWCTL" get_property instances "$n" state) == started ]] || continue
    for _ in $(seq 1 500); do
      "$FWCTL" logs "$n" 2>/dev/null | grep -q 'firmware booted' && break
      sleep 0.02
    done
  done
}
# Waits (untimed, up to 60 s) until every instance's pre-made sandbox stands by (its
# `sandbox` property is "ready"): the START figure is that of instances made ready ahead,
# the design's promise; the time the daemon took to make them again is printed apart.
sandboxes_ready() {
  local n pending=("${names[@]}") left t0=$EPOCHREALTIME
  for _ in $(seq 1 300); do
    left=()
    for n in "${pending[@]}"; do
      [[ $("$FWCTL" get_property instances "$n" sandbox 2>/dev/null) == ready ]] || left+=("$n")
    done
    pending=("${left[@]}")
    ((${#pending[@]} == 0)) && break
    sleep 0.2
  done
  ((${#pending[@]} == 0)) || echo "bench: ${#pending[@]} sandboxes not ready after 60 s" >&2
  ms_since "$t0" >>"$tmp/each.sandboxes"
}
result() {  # key what value baseline-what baseline-value target
  printf 'RESULT\t%s\t%s\t%s\tms\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6"
}

# Each round measures two firmwares' PID 1 (SCALE_INITS picks; default both):
#   example  the example firmware's /sbin/init, a shell script that boots (mounts, ip, a
#            server, a poll loop: a dozen processes) on the same CPUs as the STARTs still
#            waiting for their turn;
#   idle     a PID 1 that does nothing once started (/bin/sh waiting on a sleep; exits on
#            SIGTERM), like the baseline's /bin/true: the cost of the START itself.
read -r -a KINDS <<<"${SCALE_INITS:-example idle}"
declare -A INIT_WHAT=([example]="example firmware's init" [idle]="idle PID 1")
declare -A INIT_CMDLINE=(
  [example]="/sbin/init"
  [idle]='/bin/sh|-c|trap "exit 0" TERM; while :; do sleep 3600 & wait; done'
)
current_init=example
set_init() {  # $1: example or idle; sets every instance's cmdline (its standby is remade)
  [[ $1 == "$current_init" ]] && return
  local n i args
  IFS='|' read -r -a args <<<"${INIT_CMDLINE[$1]}"
  for n in "${names[@]}"; do
    for i in "${!args[@]}"; do
      "$FWCTL" set_property instances "$n" "cmdline[$i]" "${args[$i]}" >/dev/null
    done
    # nil ends the array (fdc's convention) after the last argument given
    "$FWCTL" set_property instances "$n" "cmdline[${#args[@]}]" nil >/dev/null
  done
  current_init=$1
}

part3() {
  # Host veth names and addresses of this run's own (not fwt*: the tests' leak checks
  # count those), as another benchmark's daemon may run meanwhile.
  FIRMWARED_HOST_INTERFACE_PREFIX=fwb$$ FIRMWARED_NET_FIRST_TWO_BYTES=10.$((200 + $$ % 50)). \
    FIRMWARED_CGROUP=fwtpar-$$ FIRMWARED_LOG_LEVEL=debug start_daemon "$tmp/log3"
  local fw i r n
  fw=$("$FWCTL" prepare firmwares "$tmp/ex/rootfs" | sed -n 's/^name: //p')
  names=()
  for ((i = 1; i <= C; i++)); do
    "$FWCTL" prepare instances "$fw" --name "par$i" >/dev/null
    names+=("par$i")
  done
  local base=() lxc=() kind
  # Per PID 1 kind, each round's figure ("failed" for a round with failures), space-separated.
  local -A starts=() kills=() stops=()
  for ((r = 1; r <= ROUNDS; r++)); do
    base+=("$(bare_unshares)")
    for kind in "${KINDS[@]}"; do
      set_init "$kind"
      sandboxes_ready
      starts[$kind]+="$(concurrent "start.$kind" "$FWCTL" --reply-timeout 0 start) "
      # KILL and STOP are measured on instances that run, not on ones still booting: a
      # boot still going on would bill its CPU to the KILL (untimed wait).
      [[ $kind == example ]] && booted_all
      kills[$kind]+="$(concurrent "kill.$kind" "$FWCTL" --reply-timeout 0 kill) "
      sandboxes_ready
      concurrent start2 "$FWCTL" --reply-timeout 0 start >/dev/null
      [[ $kind == example ]] && booted_all
      stops[$kind]+="$(concurrent "stop.$kind" "$FWCTL" --reply-timeout 0 stop) "
      # After a failed round some may still run: every round starts from ready instances.
      concurrent settle "$FWCTL" kill >/dev/null 2>&1
    done
    base+=("$(bare_unshares)")
    if command -v lxc-execute >/dev/null; then lxc+=("$(lxc_executes)"); fi
  done
  stop_daemon
  local b x label v rounds what suffix
  # A round that failed is left out; a figure no round measured is not-measured.
  b=$(median_of "${base[@]}")
  printf '%d concurrent, median of %d rounds (wall time until the last reply)\n' "$C" "$ROUNDS"
  printf '  bare unshare           %6.0f ms   (rounds: %s)\n' "$b" "${base[*]}"
  what="$C concurrent unshare --fork --pid --mount --uts --ipc --net chroot ROOTFS /bin/true"
  for kind in "${KINDS[@]}"; do
    suffix=${kind/#example/}
    suffix=${suffix:+_$suffix}
    for label in START KILL STOP; do
      case $label in
        START) rounds=${starts[$kind]} ;;
        KILL) rounds=${kills[$kind]} ;;
        STOP) rounds=${stops[$kind]} ;;
      esac
      rounds=${rounds% }
      # shellcheck disable=SC2086  # the rounds are words
      v=$(median_of $rounds)
      if [[ -n $v ]]; then
        printf '  %-5s (%-7s PID 1)  %6.0f ms   ratio %.2f   (rounds: %s)\n' "$label" "$kind" "$v" \
          "$(echo "$v / $b" | bc -l)" "$rounds"
      else
        printf '  %-5s (%-7s PID 1)  failed in every round (rounds: %s)\n' "$label" "$kind" "$rounds"
      fi
      result "scale.concurrent_${label,,}$suffix" \
        "$C concurrent $label through fwctl, ${INIT_WHAT[$kind]} (wall)" "${v:-not-measured}" \
        "$what" "$b" '<=1.3'
    done
  done
  [[ -s $tmp/each.sandboxes ]] &&
    printf '  sandboxes made ready again (untimed wait before a START round): median %s ms\n' \
      "$(median <"$tmp/each.sandboxes")"
  x=""
  if [[ ${#lxc[@]} -gt 0 && -n ${lxc[0]} ]]; then
    x=$(median_of "${lxc[@]}")
    printf '  lxc-execute     %6.0f ms   (rounds: %s)\n' "$x" "${lxc[*]}"
  elif ! command -v lxc-execute >/dev/null; then
    echo "bench: lxc-execute is not installed (Debian package lxc): not measured" >&2
  else
    echo "bench: lxc-execute failed: $(head -1 "$tmp/lxc.err"): not measured" >&2
  fi
  result scale.concurrent_lxc_execute "$C concurrent lxc-execute /bin/true" "${x:-not-measured}" \
    "$what" "$b" '-'
  # The per-step durations the daemon logged (debug lines "<step> of <name>: <n> us").
  echo "  per-step durations logged by the daemon (all rounds; us):"
  sed -n 's/^\(<[0-9]>\)\{0,1\}\(.*\) of [^ ]*: \([0-9]*\) us.*$/\2\t\3/p' "$tmp/log3" |
    sort -t$'\t' -k1,1 -k2,2n |
    awk -F'\t' '
      function flush() {
        if (c > 0) printf "    %-28s n=%-4d p50 %8d  p90 %8d  max %8d\n", k, c, v[int((c-1)/2)+1],
                          v[int((c-1)*0.9)+1], v[c]
      }
      $1 != k { flush(); k = $1; c = 0 }
      { v[++c] = $2 }
      END { flush() }'
  # START from a standby: "PID 1 exec'd N us after RUN, critical path (request to reply) M us".
  sed -n "s/^.*START from its standby: PID 1 exec'd \\([0-9]*\\) us after RUN, critical path (request to reply) \\([0-9]*\\) us.*$/\\1 \\2/p" \
    "$tmp/log3" | sort -k2,2n |
    awk '{ run[NR] = $1; crit[NR] = $2 }
      END { if (NR) printf "    %-28s n=%-4d p50 %8d  p90 %8d  max %8d\n", "START request to reply", NR,
                           crit[int((NR-1)/2)+1], crit[int((NR-1)*0.9)+1], crit[NR] }'
}

[[ $PARTS == all ]] && { part1; part2; }
part3
