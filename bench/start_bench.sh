#!/usr/bin/env bash
# bench/start_bench.sh [N]: START latency (START sent → PID 1 exec'd, reply received) of an
# instance whose pre-made sandbox stands by (premade_sandbox=y, the default: each START is
# timed once the standby of the previous run is ready), through fwctl and over one
# persistent socket connection (a Python client of the protocol, as tests/lib/fwclient.py);
# then START making the whole sandbox
# (premade_sandbox=n) with the real network step and with net_hook=/bin/true; against a
# baseline measured in the same run: `unshare --fork --pid --mount --net --uts --ipc chroot
# ROOTFS /bin/true` (namespaces + exec, no overlay, no veth, no console), one run timed
# after each START (interleaved: on a shared machine the load drifts). Prints medians,
# ratios, the daemon's per-step durations (debug log) and RESULT lines (bench/README.md).
# Root only; builds the example firmware; cleans up everything.
set -euo pipefail
N=${1:-${BENCH_RUNS:-50}}
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/daemon.sh
source "$here/bench/daemon.sh"
bench_daemon_init st 10.251.
tmp=$BD_TMP
export FIRMWARED_LOG_LEVEL=debug  # the per-step durations below are read from its log
"$here/examples/make-example-firmware" --dir-only "$tmp/ex" >/dev/null

ms() { echo "$1 / 1000" | bc -l; }
ratio() { echo "$1 / $2" | bc -l; }

instance() { "$FWCTL" list instances | cut -d'[' -f1; }

# Waits (up to 10 s) until the instance's standby is ready.
standby_ready() {
  local inst=$1 i
  for i in $(seq 1 500); do
    [[ "$("$FWCTL" get_property instances "$inst" sandbox)" == ready ]] && return 0
    sleep 0.02
  done
  echo "bench: the standby of $inst was not ready within 10 s" >&2
  return 1
}

unshare_once() { unshare --fork --pid --mount --net --uts --ipc chroot "$tmp/ex/rootfs" /bin/true; }

# $1: wait for the standby (y|n); prints one latency (µs) per line. With $2 = FILE, one
# baseline run (unshare) is timed after each START into FILE: on a shared machine the load
# changes over a run, interleaving keeps the ratio honest.
run_starts() {
  local i inst t0 t1
  inst=$(instance)
  for i in $(seq 1 "$N"); do
    if [[ $1 == y ]]; then standby_ready "$inst"; fi
    t0=$(now_us)
    "$FWCTL" start "$inst" >/dev/null
    t1=$(now_us)
    echo $((t1 - t0))
    "$FWCTL" kill "$inst" >/dev/null
    if [[ -n ${2:-} ]]; then
      t0=$(now_us)
      unshare_once
      t1=$(now_us)
      echo $((t1 - t0)) >>"$2"
    fi
  done
}

# START and KILL over one connection; the standby polled over it too (not timed).
socket_starts() {  # $1: FILE for the interleaved baselines, as run_starts
  python3 - "$FIRMWARED_SOCKET_PATH" "$(instance)" "$N" "$tmp/ex/rootfs" "$1" <<'EOF'
import json, socket, subprocess, sys, time
path, inst, n, rootfs, basefile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
base = open(basefile, "a")
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
f = s.makefile("rb")
seq = 0
def call(command, *args):
    global seq
    seq += 1
    s.sendall((json.dumps({"seq": seq, "command": command, "args": list(args)}) + "\n").encode())
    while True:
        reply = json.loads(f.readline())
        if reply.get("seq") == seq:
            return reply
for _ in range(n):
    for _ in range(500):
        if call("GET_PROPERTY", "instances", inst, "sandbox").get("value") == "ready":
            break
        time.sleep(0.02)
    t0 = time.perf_counter_ns()
    reply = call("START", inst)
    t1 = time.perf_counter_ns()
    if reply.get("answer") == "ERROR":
        sys.exit("bench: START: " + reply.get("message", ""))
    print((t1 - t0) // 1000)
    call("KILL", inst)
    t0 = time.perf_counter_ns()
    subprocess.run(["unshare", "--fork", "--pid", "--mount", "--net", "--uts", "--ipc", "chroot",
                    rootfs, "/bin/true"], check=True)
    t1 = time.perf_counter_ns()
    print((t1 - t0) // 1000, file=base)
EOF
}

start_daemon() { bench_daemon_start; }
stop_daemon() { bench_daemon_quit; }  # the instance stays for the next daemon

# Idle cost of one standby: its monitor and (user-namespace mode) the PID 1 it holds.
standby_cost() {
  local inst mon pids p rss=0 pss=0 fds=0
  inst=$(instance)
  standby_ready "$inst"
  mon=$(pgrep -f -- "firmwared-monitor .*--workspace $FIRMWARED_MOUNT_PATH/" | while read -r p; do
    if [[ "$(cat "/proc/$p/comm")" == fw-standby ]]; then echo "$p"; fi
  done | head -n 1)
  pids="$mon $(pgrep -P "$mon" || true)"
  for p in $pids; do
    rss=$((rss + $(awk '/^Rss:/ {print $2}' "/proc/$p/smaps_rollup")))
    pss=$((pss + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")))
    fds=$((fds + $(ls "/proc/$p/fd" | wc -l)))
  done
  echo "$(wc -w <<<"$pids") $rss $pss $fds"
}

start_daemon
"$FWCTL" prepare instances "$tmp/ex/rootfs" >/dev/null
read -r idle_procs idle_rss idle_pss idle_fds < <(standby_cost)
standby_fwctl=$(run_starts y "$tmp/base.fwctl" | median)
standby_socket=$(socket_starts "$tmp/base.socket" | median)
base_fwctl=$(median <"$tmp/base.fwctl")
base_socket=$(median <"$tmp/base.socket")
stop_daemon
# The daemon's debug log: each START's critical path, the exec after RUN, the sandbox steps.
log_median() { sed -n "s/$1/\\1/p" "$tmp/log" | median; }
crit=$(log_median '.*START from its standby: .*critical path (request to reply) \([0-9]*\) us$')
exec_run=$(log_median ".*START from its standby: PID 1 exec'd \\([0-9]*\\) us after RUN.*")
spawn=$(log_median '.*sandbox monitor spawned in \([0-9]*\) us$')
nsteps=$(log_median '.*sandbox namespaces in \([0-9]*\) us$')
devs=$(log_median '.*sandbox \/dev, console and binds: \([0-9]*\) us, pivot: .*')
pivot=$(log_median '.*sandbox \/dev, console and binds: [0-9]* us, pivot: \([0-9]*\) us, .*')
pid1=$(log_median '.*sandbox \/dev, console and binds: .*, PID 1: \([0-9]*\) us$')
built=$(log_median '.*sandbox made in \([0-9]*\) us, standing by$')
: >"$tmp/log"
FIRMWARED_PREMADE_SANDBOX=n start_daemon
with_net=$(run_starts n | median)
stop_daemon
# The daemon logs each network step's duration (from its start to the helper's success).
net_step=$(log_median '.*network step of .*: \([0-9]*\) us$')
FIRMWARED_PREMADE_SANDBOX=n FIRMWARED_NET_HOOK=/bin/true start_daemon
without_net=$(run_starts n | median)
stop_daemon

base=$(cat "$tmp/base.fwctl" "$tmp/base.socket" | median)
# fwctl's own start-up is part of every START through it: measure it alone too.
client=$(for i in $(seq 1 "$N"); do t0=$(now_us); "$FWCTL" --version >/dev/null; t1=$(now_us); echo $((t1 - t0)); done | median)

printf 'START median (START sent → PID 1 exec'\''d, reply received), N=%d\n' "$N"
printf '  from a standby, over one socket         %8.2f ms\n' "$(ms "$standby_socket")"
printf '  from a standby, through fwctl           %8.2f ms\n' "$(ms "$standby_fwctl")"
printf '  whole sandbox, overlay + veth (net_hook)%8.2f ms\n' "$(ms "$with_net")"
printf '  whole sandbox, no network step          %8.2f ms\n' "$(ms "$without_net")"
printf '  fwctl process alone                     %8.2f ms\n' "$(ms "$client")"
printf '  baseline: unshare+chroot /bin/true      %8.2f ms (interleaved with the STARTs above)\n' "$(ms "$base")"
printf '  ratio from a standby (socket) / baseline%8.2f (baseline interleaved: %.2f ms)\n' \
  "$(ratio "$standby_socket" "$base_socket")" "$(ms "$base_socket")"
printf '  ratio from a standby (fwctl) / baseline %8.2f (baseline interleaved: %.2f ms)\n' \
  "$(ratio "$standby_fwctl" "$base_fwctl")" "$(ms "$base_fwctl")"
printf 'One standby while idle (%d process(es): monitor%s)\n' "$idle_procs" \
  "$([[ $idle_procs -gt 1 ]] && echo ' + PID 1 waiting')"
printf '  RSS %d KiB, PSS %d KiB, %d open fds\n' "$idle_rss" "$idle_pss" "$idle_fds"
printf 'Daemon debug log, medians\n'
printf '  START critical path (request → reply)   %8.2f ms\n' "$(ms "$crit")"
printf '    of which RUN → PID 1 exec'\''d            %8.2f ms\n' "$(ms "$exec_run")"
printf '  sandbox build (off the START path)      %8.2f ms\n' "$(ms "$built")"
printf '    monitor spawn                         %8.2f ms\n' "$(ms "$spawn")"
printf '    namespaces (spawn → NS_READY)         %8.2f ms\n' "$(ms "$nsteps")"
printf '    /dev, console, binds                  %8.2f ms\n' "$(ms "$devs")"
printf '    pivot                                 %8.2f ms\n' "$(ms "$pivot")"
printf '    PID 1 made and set up, waiting        %8.2f ms\n' "$(ms "$pid1")"
printf '  network step (whole-sandbox START)      %8.2f ms\n' "$(ms "$net_step")"

# RESULT<TAB>key<TAB>what<TAB>value<TAB>unit<TAB>baseline-what<TAB>baseline-value<TAB>target
baseline_what="unshare --fork --pid --mount --net --uts --ipc chroot ROOT /bin/true"
ms_result() {  # KEY WHAT VALUE(us) BASELINE(us) TARGET
  result "$1" "$2" "$(printf '%.2f' "$(ms "$3")")" ms "$baseline_what" \
    "$(printf '%.2f' "$(ms "$4")")" "$5"
}
ms_result start.socket "START over the socket, from a standby (median)" "$standby_socket" "$base_socket" "<=0.5"
ms_result start.fwctl "START through fwctl, from a standby (median)" "$standby_fwctl" "$base_fwctl" "<=1"
ms_result start.whole "START through fwctl, whole sandbox (premade_sandbox=n, median)" "$with_net" "$base" -
ms_result start.nonet "START through fwctl, whole sandbox, no network step (median)" "$without_net" "$base" -
result standby.rss "one idle standby, RSS (monitor + waiting PID 1)" "$idle_rss" KiB - - -
result standby.pss "one idle standby, PSS (monitor + waiting PID 1)" "$idle_pss" KiB - - -
result standby.fds "one idle standby, open fds (monitor + waiting PID 1)" "$idle_fds" fds - - -
