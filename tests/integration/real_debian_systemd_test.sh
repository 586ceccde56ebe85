#!/usr/bin/env bash
# Debian bookworm (debootstrap minbase + systemd-sysv, cached: tests/lib/real_firmware.sh)
# boots with systemd as PID 1, from a directory and from an ext4 image, in a user namespace:
# in each userns mode: a unit ordered after multi-user.target prints the marker on the
# console, `systemctl is-system-running` says running or degraded with no failed unit (the
# journal's errors are printed), two instances at once see only their own units, `fwctl
# stop` halts it (SIGRTMIN+3), it boots again on a writable root, `systemctl reboot` inside
# starts it again, `poweroff` ends PID 1; nothing leaks.
# The boot time to the marker is printed per run.
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/../lib/real_firmware.sh"
require_root
rfw_setup fwrsd 10.251.
# systemd makes its cgroups (init.scope, system.slice, ...) in the hierarchies it finds at
# /sys/fs/cgroup: in both modes those are the instance's own cgroup, the root of PID 1's
# cgroup namespace (on this hybrid host: cgroup2 at unified and name=systemd at systemd),
# removed with the run. Nothing may be left on the host, and two instances at once each see
# only their own units.
RFW_MODES=(y n)
RFW_CHECK_CGROUPS=1

# Two systemd instances at once: each has its own journald, and `systemctl kill` of it
# works in each (with shared host cgroups it failed with EIO: it saw the other's).
rfw_two_systemds() {
  local label=$1 out other j1 j2
  out=$("$FWCTL" prepare instances "$fw") || { check "$label: second instance" false; return; }
  other=$(rfw_field name "$out")
  RFW_INSTANCES+=" $other"
  "$FWCTL" set_property instances "$other" userns "$mode" >/dev/null
  if rfw_boot "$other" "$RFW_MARKER_SYSTEMD" 120; then
    j1=$("$FWCTL" exec "$RFW_INST" -- systemctl show -p MainPID --value systemd-journald)
    j2=$("$FWCTL" exec "$other" -- systemctl show -p MainPID --value systemd-journald)
    check "$label: each instance runs its own journald ($j1, $j2)" \
      test -n "$j1" -a "$j1" != 0 -a -n "$j2" -a "$j2" != 0
    check "$label: systemctl kill of journald works beside another systemd instance" \
      "$FWCTL" exec "$RFW_INST" -- systemctl kill -s SIGUSR2 systemd-journald
    expect_eq "$label: the other instance's units are not listed" "" \
      "$("$FWCTL" exec "$RFW_INST" -- sh -c 'cat /sys/fs/cgroup/unified/system.slice/systemd-journald.service/cgroup.procs 2>/dev/null || cat /sys/fs/cgroup/system.slice/systemd-journald.service/cgroup.procs' | grep -vx "$j1" || true)"
  else
    check "$label: a second instance boots beside the first" false
  fi
  rfw_kill_drop "$label (second instance)" "$other"
}

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
  expect_eq "$label: no failed unit" "" \
    "$(x systemctl list-units --failed --no-legend --plain 2>/dev/null || true)"
  [[ $kind == dir ]] && rfw_two_systemds "$label"
  return 0
}

rfw_debian_test systemd "$RFW_MARKER_SYSTEMD"
