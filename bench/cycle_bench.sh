#!/usr/bin/env bash
# bench/cycle_bench.sh [N]: start+kill cycle throughput, what a CI job that starts and
# stops many short-lived instances gets. On the example BusyBox rootfs
# (examples/make-example-firmware --dir-only), in the same run:
#   1 instance:     N cycles of `fwctl start ID; fwctl kill ID`, one after the other;
#   10 instances:   10 workers in parallel, each N cycles on an instance of its own;
#   baselines:      the same counts of `unshare --fork --pid --mount --uts --ipc --net chroot
#                   ROOT /bin/true`, 1 worker and 10 workers in parallel.
# N defaults to 20 (BENCH_RUNS too). Prints cycles per second and their ratio to the
# baseline's runs per second (higher is better) and RESULT lines (bench/README.md). Root
# only; cleans up everything.
set -euo pipefail
N=${1:-${BENCH_RUNS:-20}}
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/daemon.sh
source "$here/bench/daemon.sh"
bench_daemon_init cyc 10.246.
ROOT=$BD_TMP/ex/rootfs
"$here/examples/make-example-firmware" --dir-only "$BD_TMP/ex" >/dev/null
bench_daemon_start
insts=()
for _ in $(seq 1 10); do
  insts+=("$("$FWCTL" prepare instances "$ROOT" | sed -n 's/^name: //p')")
done

python3 - "$N" "$FWCTL" "$ROOT" "${insts[@]}" <<'PY'
import statistics, subprocess, sys, threading, time
n, fwctl, root, insts = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
Q = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
UNSHARE = ["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "chroot", root, "/bin/true"]
errors = []
split = {"start": [], "kill": []}

def check(p, what):
    if p.returncode != 0:
        err = p.stderr.decode(errors="replace").strip().splitlines()
        errors.append(f"{what}: exit status {p.returncode}: {err[-1] if err else 'no message'}")
        return False
    return True

def cycles(inst):
    for _ in range(n):
        for verb in ("start", "kill"):
            t = time.perf_counter()
            ok = check(subprocess.run([fwctl, verb, inst], **Q), f"fwctl {verb} {inst}")
            split[verb].append((time.perf_counter() - t) * 1000)
            if not ok:
                return

def unshares(_):
    for _ in range(n):
        if not check(subprocess.run(UNSHARE, **Q), "unshare"):
            return

def rate(fn, workers):
    """Runs fn in `workers` threads at once; completed runs per second (None on error)."""
    before = len(errors)
    threads = [threading.Thread(target=fn, args=(insts[i],)) for i in range(workers)]
    t = time.perf_counter()
    for th in threads: th.start()
    for th in threads: th.join()
    s = time.perf_counter() - t
    return None if len(errors) > before else workers * n / s

cycles(insts[0]); unshares(None)  # warm-up, untimed
# Interleaved: baseline, firmwared, for 1 then 10 workers.
b1 = rate(unshares, 1)
split = {"start": [], "kill": []}
f1 = rate(cycles, 1)
one = {k: statistics.median(v) for k, v in split.items() if v}
b10 = rate(unshares, 10); f10 = rate(cycles, 10)
if len(one) == 2:
    print(f"1 instance, medians: fwctl start {one['start']:.1f} ms, fwctl kill {one['kill']:.1f} ms")
for e in errors[:5]:
    print(f"cycle: {e}", file=sys.stderr)

def fmt(v): return f"{v:.1f}" if v else "not-measured"
print(f"start+kill cycles per second, {n} cycles per instance")
print(f"  1 instance:    firmwared {fmt(f1):>12} /s   unshare /bin/true {fmt(b1):>12} /s" +
      (f"   ratio {f1 / b1:.2f}" if f1 and b1 else ""))
print(f"  10 instances:  firmwared {fmt(f10):>12} /s   unshare /bin/true {fmt(b10):>12} /s" +
      (f"   ratio {f10 / b10:.2f}" if f10 and b10 else ""))
U = "unshare ... chroot ROOT /bin/true runs/s"
for key, desc, v, b, workers in [("cycle.one", "start+kill cycles/s, 1 instance", f1, b1, 1),
                                 ("cycle.ten", "start+kill cycles/s, 10 instances in parallel", f10, b10, 10)]:
    if not v:
        print(f"{key}: not measured: a cycle failed (see above)", file=sys.stderr)
    print("\t".join(["RESULT", key, desc, fmt(v), "/s", f"{U}, {workers} in parallel" if workers > 1 else U, fmt(b), "-"]))
sys.exit(1 if errors else 0)
PY
