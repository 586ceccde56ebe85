#!/usr/bin/env bash
# bench/boot.sh [N]: a firmware's whole life under firmwared against systemd-nspawn, in the
# same run on the same trees: START → boot marker on the console, and STOP → PID 1 gone,
# for the Buildroot-style BusyBox tree (built from the host's busybox-static) and the
# Debian bookworm systemd tree (tests/lib/real_firmware.sh's cache). Medians of N runs
# (default 5) and the ratios firmwared / nspawn. Both run the tree through an overlay
# (firmwared's instance overlay; nspawn --volatile=overlay), with the init's own stop
# signal (nspawn --kill-signal) and the console on a pty (nspawn --console=read-only).
# Prints RESULT lines too (bench/README.md). Root only; installs systemd-container when
# nspawn is missing; cleans up everything it made.
set -euo pipefail
N=${1:-${BENCH_RUNS:-5}}
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/build.sh
source "$here/bench/build.sh"
bench_build "$here"
FWCTL=$B/fwctl/fwctl
[[ $(id -u) -eq 0 ]] || { echo "bench/boot.sh: needs root" >&2; exit 1; }
if ! command -v systemd-nspawn >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q systemd-container >/dev/null
fi
# shellcheck source=../tests/lib/real_firmware.sh
source "$here/tests/lib/real_firmware.sh"
source "$here/tests/lib/real_busybox.sh"

tmp=$(mktemp -d /tmp/fwtest-bench.XXXXXX)
cgroup=fwboot-${tmp##*.}
daemon="" nspawn=""
cleanup() {
  set +e
  [[ -n $nspawn ]] && { kill -KILL "$nspawn"; wait "$nspawn"; }
  if [[ -n $daemon ]]; then
    for i in $("$FWCTL" list instances 2>/dev/null | tr ' ' '\n' | cut -d'[' -f1); do
      "$FWCTL" kill "$i" >/dev/null 2>&1
    done
    "$FWCTL" quit >/dev/null 2>&1
    wait "$daemon"
  fi
  awk -v d="$tmp" 'index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
  # Its own cgroups only: another benchmark's may be in use.
  find /sys/fs/cgroup -maxdepth 8 -depth -type d \( -path "*/$cgroup" -o -path "*/$cgroup/*" -o \
    -path "*/$cgroup.daemon" \) -exec rmdir {} \; 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap "exit 130" INT TERM
export FIRMWARED_SOCKET_PATH=$tmp/s.sock FIRMWARED_DATABASE_PATH=$tmp/db/c.db \
  FIRMWARED_MOUNT_PATH=$tmp/mp FIRMWARED_REPOSITORY_PATH=$tmp/repo \
  FIRMWARED_HOST_INTERFACE_PREFIX=fwtboot FIRMWARED_NET_FIRST_TWO_BYTES=10.249. \
  FIRMWARED_CGROUP=$cgroup FIRMWARED_LOG_LEVEL=info

now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# wait_for FILE TEXT SECONDS: 0 once FILE holds TEXT (polled every 5 ms).
wait_for() {
  local i
  for ((i = 0; i < $3 * 200; i++)); do
    grep -qaF -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.005
  done
  return 1
}

echo "building the trees..." >&2
rfw_busybox_tree "$tmp/busybox" >/dev/null
systemd_tree=$(rfw_debian_tree systemd)

"$B/firmwared/firmwared" 2>>"$tmp/daemon.log" &
daemon=$!
for _ in $(seq 1 200); do "$FWCTL" ping >/dev/null 2>&1 && break; sleep 0.02; done

# firmwared TREE MARKER: "boot_ms stop_ms" per run.
firmwared_runs() {
  local tree=$1 marker=$2 inst log i t0 t1 t2 n
  inst=$("$FWCTL" prepare instances "$tree" | sed -n 's/^name: //p')
  log=$("$FWCTL" get_property instances "$inst" console_log)
  for ((i = 0; i < N; i++)); do
    n=$(grep -caF -- "$marker" "$log" 2>/dev/null || true)
    t0=$(now_ms)
    "$FWCTL" start "$inst" >/dev/null
    local j
    for ((j = 0; j < 6000; j++)); do
      (($(grep -caF -- "$marker" "$log" 2>/dev/null || true) > n)) && break
      sleep 0.005
    done
    t1=$(now_ms)
    "$FWCTL" stop "$inst" --timeout 60 >/dev/null
    t2=$(now_ms)
    echo "$((t1 - t0)) $((t2 - t1))"
  done
  "$FWCTL" drop instances "$inst" >/dev/null
}

# nspawn TREE MARKER KILL_SIGNAL: "boot_ms stop_ms" per run.
nspawn_runs() {
  local tree=$1 marker=$2 sig=$3 i t0 t1 t2 out
  for ((i = 0; i < N; i++)); do
    out=$tmp/nspawn.$i.log
    t0=$(now_ms)
    systemd-nspawn -q -D "$tree" --volatile=overlay --register=no --keep-unit \
      --kill-signal="$sig" --console=read-only -b >"$out" 2>&1 </dev/null &
    nspawn=$!
    wait_for "$out" "$marker" 60 || echo "nspawn: no '$marker' (see $out)" >&2
    t1=$(now_ms)
    kill -TERM "$nspawn"
    wait "$nspawn" || true
    nspawn=""
    t2=$(now_ms)
    echo "$((t1 - t0)) $((t2 - t1))"
  done
}

report() {  # LABEL FW_RUNS NSPAWN_RUNS
  local fb fs nb ns
  fb=$(awk '{print $1}' <<<"$2" | median)
  fs=$(awk '{print $2}' <<<"$2" | median)
  nb=$(awk '{print $1}' <<<"$3" | median)
  ns=$(awk '{print $2}' <<<"$3" | median)
  printf '%-8s boot: firmwared %7.0f ms  nspawn %7.0f ms  ratio %5.2f\n' "$1" "$fb" "$nb" \
    "$(echo "$fb / $nb" | bc -l)"
  printf '%-8s stop: firmwared %7.0f ms  nspawn %7.0f ms  ratio %5.2f\n' "$1" "$fs" "$ns" \
    "$(echo "$fs / $ns" | bc -l)"
  # Machine-readable (bench/README.md): boot <= 0.6x nspawn, stop no slower than nspawn.
  printf 'RESULT\tboot.%s.boot\t%s boot: start -> marker on the console (median)\t%s\tms\t%s\t%s\t<=0.6\n' \
    "$1" "$1" "$fb" "systemd-nspawn --volatile=overlay -b, same tree" "$nb"
  printf 'RESULT\tboot.%s.stop\t%s stop: stop -> PID 1 gone (median)\t%s\tms\t%s\t%s\t<=1\n' \
    "$1" "$1" "$fs" "systemd-nspawn, SIGTERM -> exit, same tree" "$ns"
}

echo "busybox: $N runs each..." >&2
fw_bb=$(firmwared_runs "$tmp/busybox/rootfs" "$RFW_MARKER_BUSYBOX")
ns_bb=$(nspawn_runs "$tmp/busybox/rootfs" "$RFW_MARKER_BUSYBOX" SIGUSR2)
printf 'medians of %d runs (boot: start → marker on the console; stop: stop → PID 1 gone)\n' "$N"
report busybox "$fw_bb" "$ns_bb"
echo "systemd: $N runs each..." >&2
fw_sd=$(firmwared_runs "$systemd_tree" "$RFW_MARKER_SYSTEMD")
ns_sd=$(nspawn_runs "$systemd_tree" "$RFW_MARKER_SYSTEMD" SIGRTMIN+3)
report systemd "$fw_sd" "$ns_sd"
