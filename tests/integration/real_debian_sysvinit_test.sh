#!/usr/bin/env bash
# Debian bookworm (debootstrap minbase + sysvinit-core, no systemd-sysv; cached:
# tests/lib/real_firmware.sh) boots with sysvinit as PID 1, from a directory and from an
# ext4 image, in each userns mode: /etc/rcS.d then /etc/rc2.d run, an rc2.d script prints
# the marker on the console, `runlevel` says 2, `fwctl exec` runs inside, `poweroff` runs
# runlevel 0 and ends PID 1; nothing leaks. The boot time to the marker is printed per run.
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/../lib/real_firmware.sh"
require_root
rfw_setup fwrsv 10.252.

rfw_check_sysvinit() {
  local label=$1
  x() { "$FWCTL" exec "$RFW_INST" -- "$@"; }
  expect_eq "$label: PID 1 is sysvinit" init "$(x cat /proc/1/comm)"
  expect_eq "$label: /sbin/init is not systemd" "" "$(x sh -c 'readlink /sbin/init; test -e /lib/systemd/systemd && echo systemd present')"
  expect_eq "$label: runlevel" "N 2" "$(x runlevel)"
  check "$label: the marker names runlevel 2" \
    grep -qa "$RFW_MARKER_SYSVINIT runlevel N 2" "$(fw_inst_prop "$RFW_INST" console_log)"
}

rfw_debian_test sysvinit "$RFW_MARKER_SYSVINIT"
