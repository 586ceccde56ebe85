#!/usr/bin/env bash
# bench/peers_bench.sh [N]: START latency of firmwared against the usual ways of running a
# program in fresh namespaces, on the same BusyBox rootfs (examples/make-example-firmware
# --dir-only), medians of N runs each (default 21; BENCH_RUNS too):
#   unshare  `unshare --fork --pid --mount --uts --ipc --net chroot ROOT /bin/true` (baseline)
#   bwrap    `bwrap --unshare-all --bind ROOT / --dev /dev --proc /proc /bin/true`
#   lxc      `lxc-execute -f CONF -- /bin/true`, CONF: ROOT as the rootfs, lxc.net.0.type =
#            empty (a network namespace with only lo, as unshare --net), no console, no ttys
#   nspawn   `systemd-nspawn -q --register=no --keep-unit -D ROOT /bin/true`
#   fwctl    `fwctl start ID` of an instance of ROOT (overlay, every namespace, veth, PID 1
#            exec'd, reply received), the instance KILLed (not timed) between runs
# Each is a whole command: its own process start-up is in its figure, as fwctl's is. The
# runs are interleaved (run i of every peer, then run i+1), so a machine whose load changes
# during the run weighs on all of them alike. The START request alone, over the socket, is
# bench/start_bench.sh's figure. A missing peer is installed from Debian when
# BENCH_INSTALL=1 and root (bench/run sets it), else reported as not measured.
# Prints the medians and RESULT lines (bench/README.md). Root only; cleans up everything.
set -euo pipefail
N=${1:-${BENCH_RUNS:-21}}
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/daemon.sh
source "$here/bench/daemon.sh"
bench_daemon_init peer 10.247.
ROOT=$BD_TMP/ex/rootfs
"$here/examples/make-example-firmware" --dir-only "$BD_TMP/ex" >/dev/null

# The peers' command lines, one per line: KEY<TAB>argv joined by \x1f.
peers=$BD_TMP/peers
: >"$peers"
add_peer() {  # KEY ARGV...
  local key=$1 IFS=$'\x1f'
  shift
  printf '%s\t%s\n' "$key" "$*" >>"$peers"
}
add_peer unshare unshare --fork --pid --mount --uts --ipc --net chroot "$ROOT" /bin/true
if bench_need bwrap bubblewrap peers.bwrap; then
  add_peer bwrap bwrap --unshare-all --bind "$ROOT" / --dev /dev --proc /proc /bin/true
fi
if bench_need lxc-execute lxc peers.lxc; then
  mkdir -p "$BD_TMP/lxc"
  cat >"$BD_TMP/lxc.conf" <<CONF
lxc.uts.name = fwbench
lxc.rootfs.path = dir:$ROOT
lxc.net.0.type = empty
lxc.console.path = none
lxc.tty.max = 0
lxc.pty.max = 0
lxc.apparmor.profile = unconfined
CONF
  add_peer lxc lxc-execute -P "$BD_TMP/lxc" -n "fwpeer-${BD_TMP##*.}" -f "$BD_TMP/lxc.conf" -- /bin/true
fi
if bench_need systemd-nspawn systemd-container peers.nspawn; then
  add_peer nspawn systemd-nspawn -q --register=no --keep-unit -D "$ROOT" /bin/true
fi

bench_daemon_start
INST=$("$FWCTL" prepare instances "$ROOT" | sed -n 's/^name: //p')
[[ -n $INST ]] || { echo "bench/peers_bench.sh: PREPARE of $ROOT failed" >&2; exit 1; }

python3 - "$N" "$peers" "$FWCTL" "$INST" <<'PY'
import statistics, subprocess, sys, time
n, peers_file, fwctl, inst = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
peers = {}
for line in open(peers_file):
    key, argv = line.rstrip("\n").split("\t")
    peers[key] = argv.split("\x1f")
peers["fwctl"] = [fwctl, "start", inst]

def run(key):
    """One timed run (ms); raises with the command's stderr when it fails."""
    t = time.perf_counter()
    p = subprocess.run(peers[key], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    ms = (time.perf_counter() - t) * 1000
    if key == "fwctl":
        subprocess.run([fwctl, "kill", inst], stdout=subprocess.DEVNULL)
    if p.returncode != 0:
        err = p.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"exit status {p.returncode}: {err[-1] if err else 'no message'}")
    return ms

failed = {}
for key in list(peers):  # one untimed run each: warms the caches, shows it works at all
    try:
        run(key)
    except RuntimeError as e:
        failed[key] = str(e)
        print(f"peers.{key}: not measured: {' '.join(peers[key])} failed: {e}", file=sys.stderr)
times = {k: [] for k in peers if k not in failed}
for _ in range(n):
    for key in list(times):
        try:
            times[key].append(run(key))
        except RuntimeError as e:
            failed[key] = str(e)
            del times[key]
            print(f"peers.{key}: not measured: {' '.join(peers[key])} failed: {e}", file=sys.stderr)
med = {k: statistics.median(v) for k, v in times.items()}

what = {
    "unshare": "unshare --fork --pid --mount --uts --ipc --net chroot ROOT /bin/true",
    "bwrap": "bwrap --unshare-all --bind ROOT / --dev /dev --proc /proc /bin/true",
    "lxc": "lxc-execute -f CONF (rootfs ROOT, net empty) -- /bin/true",
    "nspawn": "systemd-nspawn --register=no --keep-unit -D ROOT /bin/true",
    "fwctl": "fwctl start ID (overlay, namespaces, veth, PID 1 exec'd)",
}
print(f"START latency on the same BusyBox rootfs, median of {n} interleaved runs")
base = med.get("unshare")
for key in ["unshare", "bwrap", "lxc", "nspawn", "fwctl"]:
    if key in med:
        ratio = f"{med[key] / base:5.2f}x baseline" if base and key != "unshare" else "(baseline)"
        print(f"  {what[key]:<72} {med[key]:8.2f} ms  {ratio}")
    else:
        print(f"  {what[key]:<72} not measured")
bval = f"{base:.2f}" if base else "not-measured"
def result(key, desc, target):
    val = f"{med[key]:.2f}" if key in med else "not-measured"
    print("\t".join(["RESULT", f"peers.{key}", desc, val, "ms", what["unshare"] if key != "unshare" else "-",
                     bval if key != "unshare" else "-", target]))
result("unshare", "bare unshare + chroot ROOT /bin/true (median)", "-")
result("bwrap", "bwrap --unshare-all /bin/true (median)", "-")
result("lxc", "lxc-execute /bin/true, no network (median)", "-")
result("nspawn", "systemd-nspawn /bin/true (median)", "-")
# End to end, fwctl's own process included: faster than the fastest peer, the bare unshare.
# The 0.5x target is on the START request itself (bench/start_bench.sh).
result("fwctl", "fwctl start ID, end to end (median)", "<=1")
PY
