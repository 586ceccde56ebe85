#!/usr/bin/env bash
# Runs a script as root inside a throwaway qemu VM booted on Debian's kernel (AppArmor
# built in and enabled), with the host's root filesystem shared read-only, so the script
# sees the host's programs and the build tree, and writable tmpfs on /tmp, /run, /var/lib,
# /var/cache, /var/log, /root and /dev/shm (tests/vm/init).
#
# Usage: tests/vm/run.sh LOG SCRIPT
#   LOG     file that receives the VM's console: the kernel's messages and the script's
#           output (created or truncated).
#   SCRIPT  absolute path of a bash script on the host, run in the VM with no argument and
#           a minimal environment; it reads what it needs from files next to it.
# Exit status: the script's, 77 when the VM cannot be had (qemu or the kernel package
# missing: the reason is on stderr), 124 when the VM did not finish within
# $FW_VM_TIMEOUT seconds (default 420), 125 when it ended without reporting a status.
# qemu is killed on every way out (signals included); nothing is left behind but LOG.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
[[ $# -eq 2 ]] || { echo "usage: $0 LOG SCRIPT" >&2; exit 2; }
LOG=$1
SCRIPT=$2
[[ "$SCRIPT" == /* && -r "$SCRIPT" ]] || { echo "run.sh: $SCRIPT: not an absolute readable path" >&2; exit 2; }
QEMU=$(command -v qemu-system-x86_64 || true)
[[ -n "$QEMU" ]] || { echo "run.sh: qemu-system-x86_64 is missing (qemu-system-x86, scripts/install-deps)" >&2; exit 77; }
[[ "$(uname -m)" == x86_64 ]] || { echo "run.sh: the VM lane runs on x86_64 hosts only" >&2; exit 77; }

IMAGE=$("$HERE/build-image.sh") || exit $?
KERNEL=$(sed -n 's/^KERNEL=//p' <<<"$IMAGE")
INITRD=$(sed -n 's/^INITRD=//p' <<<"$IMAGE")

ACCEL=tcg,thread=multi
CPU=max
if [[ -w /dev/kvm ]]; then ACCEL=kvm CPU=host; fi

QEMU_PID=""
stop_qemu() {
  if [[ -n "$QEMU_PID" ]]; then
    kill -KILL "$QEMU_PID" 2>/dev/null || true
    wait "$QEMU_PID" 2>/dev/null || true
    QEMU_PID=""
  fi
}
trap stop_qemu EXIT
trap 'stop_qemu; exit 130' INT TERM HUP

: >"$LOG"
# -no-reboot: the init's final reboot (or a panic, panic=-1) ends qemu. The host's root
# is shared read-only; multidevs=remap keeps inode numbers of different host filesystems
# apart.
"$QEMU" -nodefaults -no-user-config -no-reboot -display none \
  -machine q35 -accel "$ACCEL" -cpu "$CPU" -smp "${FW_VM_CPUS:-2}" -m "${FW_VM_MEMORY:-1536}" \
  -kernel "$KERNEL" -initrd "$INITRD" \
  -append "console=ttyS0 loglevel=4 panic=-1 apparmor=1 security=apparmor fw.script=$SCRIPT" \
  -serial "file:$LOG" \
  -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
  </dev/null >>"$LOG.qemu" 2>&1 &
QEMU_PID=$!

deadline=$((SECONDS + ${FW_VM_TIMEOUT:-420}))
while kill -0 "$QEMU_PID" 2>/dev/null; do
  if ((SECONDS >= deadline)); then
    echo "run.sh: the VM did not finish within ${FW_VM_TIMEOUT:-420} s, killed" >&2
    stop_qemu
    rm -f "$LOG.qemu"
    exit 124
  fi
  sleep 0.5
done
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=""
if [[ -s "$LOG.qemu" ]]; then
  { echo "--- qemu's own output ---"; cat "$LOG.qemu"; } >>"$LOG"
fi
rm -f "$LOG.qemu"
# (a kernel message may share the line)
rc=$(tr -d '\r' <"$LOG" | grep -o 'FW_VM_EXIT=[0-9]*' | tail -n 1 | cut -d= -f2)
[[ -n "$rc" ]] || { echo "run.sh: the VM ended without reporting the script's exit status" >&2; exit 125; }
exit "$rc"
