#!/usr/bin/env bash
# Debian bookworm (debootstrap minbase + systemd-sysv, cached: tests/lib/real_firmware.sh)
# boots with systemd as PID 1, from a directory and from an ext4 image, in a user namespace:
# a unit ordered after multi-user.target prints the marker on the console, `systemctl
# is-system-running` says running or degraded (the failed units and the journal's errors
# are printed), `fwctl exec` runs inside, `systemctl poweroff` ends PID 1; nothing leaks.
# The boot time to the marker is printed per run.
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/../lib/real_firmware.sh"
require_root
rfw_setup fwrsd 10.251.
# systemd makes its cgroups (init.scope, system.slice, ...) in whatever cgroup hierarchy
# it can mount. In a user namespace that is the cgroup2 tree the monitor delegates to PID 1
# as the root of its cgroup namespace: nothing may be left on the host. Privileged mode is
# not run here: there PID 1 has no cgroup namespace yet and systemd writes the host's own
# hierarchies (init.scope, system.slice at their roots, shared by every such instance).
RFW_MODES=(y)
RFW_CHECK_CGROUPS=1

rfw_check_systemd() {
  local label=$1 state unit
  x() { "$FWCTL" exec "$RFW_INST" -- "$@"; }
  expect_eq "$label: PID 1 is systemd" systemd "$(x cat /proc/1/comm)"
  state=$(x timeout 60 systemctl is-system-running --wait || true)
  rfw_note "  $label: systemctl is-system-running: $state"
  expect_match "$label: is-system-running says running or degraded" '^(running|degraded)$' "$state"
  while read -r unit; do
    [[ -n "$unit" ]] || continue
    rfw_note "  $label: failed unit $unit:"
    while IFS= read -r line; do rfw_note "      $line"; done < <(
      x systemctl status --no-pager --lines=6 "$unit" 2>&1 | sed -n '/Active:\|Process:\|Main PID:\|^[A-Z][a-z][a-z] [0-9]/p')
  done < <(x systemctl list-units --failed --no-legend --plain 2>/dev/null | awk '{ print $1 }')
  while IFS= read -r line; do rfw_note "  $label: journal: $line"; done < <(
    x journalctl -b -p warning --no-pager -o short-monotonic 2>/dev/null | head -n 60)
}

rfw_debian_test systemd "$RFW_MARKER_SYSTEMD"
