#!/usr/bin/env bash
# AppArmor, enforced: this machine's kernel may lack AppArmor, so the lane boots Debian's
# own kernel (AppArmor built in and enabled) in a qemu VM (tests/vm/run.sh) that shares
# the host's root read-only, and runs apparmor_vm_guest.sh in it as root: the build tree's
# daemon loads, applies and removes its profiles, and the profile alone refuses the clock,
# raw disks, /dev/mem, sysrq, kernel tunables and the mounts that would get around the
# /proc masks (see the guest script for the list).
# Skips (77; a failure under FW_TESTS_MUST_RUN=1) when qemu or the kernel package cannot be
# had, or the build does not honour the test switch (FW_FAULT_INJECTION). The guest's
# console goes to a log file, printed when the lane fails.
source "$(dirname "$0")/../lib/harness.sh"
require_root
HERE=$(cd "$(dirname "$0")" && pwd)
command -v cc >/dev/null || skip "needs a C compiler for the probe (build-essential)"
[[ -n "$("$FIRMWARED" --list-fault-points)" ]] ||
  skip "the build does not honour test switches (configure with -DFW_FAULT_INJECTION=ON, as the dev preset does)"

# The VM sees the host's root read-only, with tmpfs over /tmp: what it needs from this run
# lives in the build tree.
WORK=$(mktemp -d "$FW_BUILD_DIR/apparmor_vm.XXXXXX")
VMLOG="/tmp/$FW_TEST_NAME.console.log"
cleanup() {
  local rc=$?
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP  # run.sh, our child, kills its qemu on its own way out

cc -static -O2 -Wall -Wextra -Werror -o "$WORK/probe" "$HERE/apparmor_vm_probe.c"
# The escape suite's probe too: the guest runs the suite in privileged mode under AppArmor.
cc -static -O2 -Wall -Wextra -Werror -Wno-format-truncation -o "$WORK/escape_probe" \
  "$HERE"/escape_probe.c "$HERE"/escape_probe_kernel.c "$HERE"/escape_probe_cgroup.c \
  "$HERE"/escape_probe_net.c
cat >"$WORK/guest.sh" <<SCRIPT
export FW_VM_DEBUG='${FW_VM_DEBUG:-}' FW_BUILD_DIR='$FW_BUILD_DIR' FW_SOURCE_DIR='$FW_SOURCE_DIR' FW_VM_PROBE='$WORK/probe'
bash '$HERE/apparmor_vm_guest.sh' || exit
echo "=== escape suite, privileged mode, AppArmor enforced ==="
ESCAPE_MARKER=/run/fw-vm-stage2 ESCAPE_PROBE='$WORK/escape_probe' bash '$HERE/escape_suite.sh' privileged
SCRIPT

start=$SECONDS
rc=0
"$FW_SOURCE_DIR/tests/vm/run.sh" "$VMLOG" "$WORK/guest.sh" 2>"$WORK/run.err" || rc=$?
took=$((SECONDS - start))
if [[ $rc -eq 77 ]]; then
  skip "no VM: $(tail -n 1 "$WORK/run.err")"
fi
cat "$WORK/run.err" >&2
# The guest's own summary and measurements, always; the whole console on failure.
tr -d '\r' <"$VMLOG" | grep -E '^(kernel |measured: |PASS: |FAIL: |  not ok: |    (expected|actual)|--- what|  [a-z0-9_]+ (OK|E[A-Z0-9]+)$)' || true
echo "VM lane: ${took}s wall, exit $rc (console: $VMLOG)"
if [[ $rc -ne 0 ]]; then
  echo "--- guest console ($VMLOG) ---" >&2
  tr -d '\r' <"$VMLOG" >&2
  exit 1
fi
exit 0
