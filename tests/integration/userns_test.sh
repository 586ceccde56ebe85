#!/usr/bin/env bash
# User-namespace mode and time_offset, with the real daemon: the default (userns=auto, no
# AppArmor here) maps the instance's root to the first range of the pool, files keep their
# own ids on disk, ranges are never shared and an exhausted pool is ENOSPC, a firmware
# with ids the range cannot map is refused at PREPARE, switching modes keeps the diff, a
# pool overlapping /etc/subuid stops the daemon at start, and time_offset moves the
# instance's monotonic and boottime clocks (in both modes) but never its realtime clock.
source "$(dirname "$0")/../lib/harness.sh"
require_root
fw_inst_setup
export FIRMWARED_HOST_INTERFACE_PREFIX=fwtun FIRMWARED_NET_FIRST_TWO_BYTES=10.248.
# Two ranges only, so that the third PREPARE finds the pool exhausted.
POOL_FIRST=$((0x7e000000))
export FIRMWARED_USERNS_POOL="$POOL_FIRST:2"
build_example_firmware
start_daemon
INSTS=""
SUBUID_BACKUP=""
userns_cleanup() {
  local rc=$? i
  set +e
  [[ -n "$SUBUID_BACKUP" ]] && cp -p "$SUBUID_BACKUP" /etc/subuid
  [[ -n "$SUBUID_BACKUP" ]] || { [[ -e "$FW_TMP/no-subuid" ]] && rm -f /etc/subuid; }
  for i in $INSTS; do "$FWCTL" kill "$i" >/dev/null 2>&1; done
  (exit "$rc")
  fw_inst_on_exit
}
trap userns_cleanup EXIT

x() { "$FWCTL" exec "$1" -- "${@:2}"; }

FW=$(field name "$("$FWCTL" prepare firmwares "$FW_EX_DIR")")
A=$(field name "$("$FWCTL" prepare instances "$FW")")
INSTS="$A"
expect_eq "userns is auto by default" auto "$(fw_inst_prop "$A" userns)"
expect_eq "the first instance holds the pool's first range" "$POOL_FIRST" "$(fw_inst_prop "$A" uid_base)"

# ---- the instance's root is an unprivileged host id -----------------------------------
run "$FWCTL" start --wait-console 'firmware booted' --timeout 30 "$A"
expect_eq "START in a user namespace" 0 "$RC"
INIT=$(fw_inst_prop "$A" init_pid)
expect_eq "PID 1's host uid is uid_base" "$POOL_FIRST" \
  "$(awk '/^Uid:/ { print $2 }' "/proc/$INIT/status")"
expect_eq "PID 1's host gid is uid_base" "$POOL_FIRST" \
  "$(awk '/^Gid:/ { print $2 }' "/proc/$INIT/status")"
expect_eq "inside, the uid map is the range" "0 $POOL_FIRST 65536" \
  "$(x "$A" cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //')"
expect_eq "inside, EXEC runs as root" 0 "$(x "$A" id -u)"
expect_eq "PID 1 is in another user namespace" different \
  "$([[ "$(readlink /proc/$INIT/ns/user)" != "$(readlink /proc/self/ns/user)" ]] && echo different)"
run x "$A" sh -c 'echo made-inside > /made; chown 5:7 /made; ls -n /made'
expect_eq "a file written and chowned inside" 0 "$RC"
UPPER=$(fw_inst_prop "$A" upper_dir)
expect_eq "... is in the upper dir with the instance's own ids" "5:7" "$(stat -c %u:%g "$UPPER/made")"
expect_eq "a firmware file keeps its owner inside (root)" "0:0" "$(x "$A" stat -c %u:%g /bin/busybox)"
run x "$A" sh -c 'mount -t proc proc /mnt'
expect_eq "a fresh proc cannot be mounted inside" 1 "$((RC != 0))"
run x "$A" sh -c 'umount /proc/sys'
expect_eq "the read-only /proc/sys cannot be unmounted" 1 "$((RC != 0))"

# ---- ranges: never shared, and an exhausted pool --------------------------------------
B=$(field name "$("$FWCTL" prepare instances "$FW")")
INSTS="$A $B"
expect_eq "the second instance holds the next range" "$((POOL_FIRST + 65536))" \
  "$(fw_inst_prop "$B" uid_base)"
run "$FWCTL" prepare instances "$FW"
expect_eq "a third PREPARE with a two-range pool fails" 1 "$((RC != 0))"
expect_match "... with ENOSPC naming the pool" "no free id range for a user namespace" "$ERR"
expect_eq "... and leaves no instance" 2 "$("$FWCTL" list instances | wc -w)"

# ---- a firmware the range cannot map --------------------------------------------------
BAD="$FW_TMP/badids"
cp -a "$FW_EX_DIR" "$BAD"
chown 70000:0 "$BAD/etc/passwd"
BADFW=$(field name "$("$FWCTL" prepare firmwares "$BAD")")
run "$FWCTL" prepare instances "$BADFW"
expect_eq "an instance of a firmware with uid 70000 is refused" 1 "$((RC != 0))"
expect_match "... naming the file and its owner" "etc/passwd' \\(70000:0\\)" "$ERR"
run "$FWCTL" drop firmwares "$BADFW"

# ---- switching modes keeps the diff ---------------------------------------------------
run "$FWCTL" kill "$A"
expect_eq "KILL" "$A killed" "$OUT"
run "$FWCTL" set_property instances "$A" userns n
expect_eq "root sets userns n on a ready instance" 0 "$RC"
expect_eq "... which releases its range" 0 "$(fw_inst_prop "$A" uid_base)"
run "$FWCTL" start --wait-console 'firmware booted' --timeout 30 "$A"
expect_eq "START in privileged mode" 0 "$RC"
INIT=$(fw_inst_prop "$A" init_pid)
expect_eq "PID 1 is host root" 0 "$(awk '/^Uid:/ { print $2 }' "/proc/$INIT/status")"
expect_eq "the file written in a user namespace is there with its ids" "5:7" \
  "$(x "$A" stat -c %u:%g /made)"
run "$FWCTL" kill "$A"
run "$FWCTL" set_property instances "$A" userns y
expect_eq "back to userns y" 0 "$RC"

# ---- time_offset ----------------------------------------------------------------------
run "$FWCTL" set_property instances "$A" time_offset 86400
expect_eq "time_offset 86400" 0 "$RC"
run "$FWCTL" set_property instances "$A" time_offset soon
expect_eq "time_offset soon is refused" 1 "$((RC != 0))"
for mode in y n; do
  "$FWCTL" set_property instances "$A" userns "$mode" >/dev/null
  run "$FWCTL" start --wait-console 'firmware booted' --timeout 30 "$A"
  expect_eq "userns $mode: START with a time offset" 0 "$RC"
  HOST_UP=$(cut -d. -f1 /proc/uptime)
  IN_UP=$(x "$A" cut -d. -f1 /proc/uptime)
  D=$((IN_UP - HOST_UP))
  expect_eq "userns $mode: the uptime inside is a day ahead" 1 $((D >= 86395 && D <= 86405))
  IN_NOW=$(x "$A" date +%s)
  D=$((IN_NOW - $(date +%s)))
  expect_eq "userns $mode: the realtime clock inside is the host's" 1 $((D >= -5 && D <= 5))
  run x "$A" date -s @0
  expect_match "userns $mode: date -s is refused" "can't set date: Operation not permitted" "$ERR"
  D=$(($(x "$A" date +%s) - $(date +%s)))
  expect_eq "userns $mode: ... and the realtime clock did not move" 1 $((D >= -5 && D <= 5))
  run "$FWCTL" kill "$A"
done

# ---- a pool overlapping /etc/subuid stops the daemon at start -------------------------
fw_inst_quit_daemon
if [[ -e /etc/subuid ]]; then
  SUBUID_BACKUP="$FW_TMP/subuid.backup"
  cp -p /etc/subuid "$SUBUID_BACKUP"
else
  touch "$FW_TMP/no-subuid"
fi
echo "fwtest-overlap:$((POOL_FIRST + 1000)):10" >>/etc/subuid
run timeout 20 "$FW_BUILD_DIR/firmwared/firmwared"
expect_eq "the daemon refuses to start" 1 "$RC"
expect_match "... naming the key and the /etc/subuid entry" \
  "userns_pool .* overlaps /etc/subuid entry 'fwtest-overlap:$((POOL_FIRST + 1000)):10'" "$ERR"
if [[ -n "$SUBUID_BACKUP" ]]; then cp -p "$SUBUID_BACKUP" /etc/subuid; else rm -f /etc/subuid; fi
SUBUID_BACKUP="" && rm -f "$FW_TMP/no-subuid"
start_daemon

for i in $INSTS; do "$FWCTL" drop instances "$i" >/dev/null; done
INSTS=""
run "$FWCTL" drop firmwares "$FW"
fw_inst_quit_daemon
assert_no_leaks
