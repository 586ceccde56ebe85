#!/usr/bin/env bash
# Confinement of a started instance (docs/security.md). The
# instance's PID 1 is tests/integration/confinement_attack.sh, which attacks the host from
# inside with busybox and a static probe (confinement_probe.c) and prints what happened on
# the console; this script then checks each answer (exact errno or message) and that the
# host is unchanged: clock, root directory, disk, firmware directory, hostname.
# The AppArmor half runs only where the kernel has AppArmor; elsewhere it is reported as
# skipped with the reason (not a failure under FW_TESTS_MUST_RUN).
source "$(dirname "$0")/../lib/harness.sh"
require_root
command -v nsenter >/dev/null || skip "needs nsenter (util-linux)"
command -v cc >/dev/null || skip "needs a C compiler for the probe (build-essential)"
fw_inst_setup
build_example_firmware

HERE=$(cd "$(dirname "$0")" && pwd)

# ---- host references, taken before anything runs inside
MARKER="/fw-confinement-marker.$$.$RANDOM"
touch "$MARKER"
trap 'rc=$?; rm -f "$MARKER"; (exit $rc); fw_inst_on_exit' EXIT
HOST_HOSTNAME=$(hostname)
# The host's root disk: the device of the root mount (a virtual 0:N root has none: then
# the first disk of /proc/partitions).
DISK=$(awk '$5 == "/" { dev = $3 } END { print dev }' /proc/self/mountinfo)
if [[ -z "$DISK" || "$DISK" == 0:* ]]; then
  DISK=$(awk 'NR > 2 && $2 % 16 == 0 { print $1 ":" $2; exit }' /proc/partitions)
fi
[[ -n "$DISK" ]] || skip "cannot find the host's root disk"
# realtime - boottime: constant unless someone sets the clock.
CLOCK_OFFSET=$(clock_offset)

# ---- the attacking firmware: the example rootfs, a static probe and the attack script
FW="$FW_TMP/attack-fw"
cp -a "$FW_EX_DIR" "$FW"
cc -static -O2 -Wall -Wextra -Werror -o "$FW/bin/fw-probe" "$HERE/confinement_probe.c"
install -m 0755 "$HERE/confinement_attack.sh" "$FW/sbin/attack"
fw_tree_sum() { (cd "$1" && find . -printf '%p %y %m %s %T@\n' | sort && find . -type f -exec sha1sum {} + | sort) | sha1sum; }
FW_SUM=$(fw_tree_sum "$FW")

export FIRMWARED_DUMP_PROFILE=y
start_daemon

run fwctl prepare firmwares "$FW"
expect_eq "prepare the attacking firmware" 0 "$RC"
FW_SHA1=$(field sha1 "$OUT")
FW_MNT="$FIRMWARED_MOUNT_PATH/firmwares/$FW_SHA1"
FW_MNT_SUM=$(fw_tree_sum "$FW_MNT")
run fwctl prepare instances "$FW_SHA1"
expect_eq "prepare an instance" 0 "$RC"
NAME=$(field name "$OUT")
SHA1=$(field sha1 "$OUT")
WS="$FIRMWARED_MOUNT_PATH/instances/$SHA1"
fwctl set_property instances "$NAME" cmdline "/sbin/attack $MARKER ${DISK%%:*} ${DISK##*:}"
run fwctl start "$NAME"
expect_eq "start the attacking instance" "$NAME started" "$OUT"
PID=$(fw_inst_prop "$NAME" init_pid)
check "the attacks ran to their end" fw_inst_wait_for 30 grep -q "ATTACKS DONE" "$WS/console.log"
LOG=$(tr -d '\r' <"$WS/console.log")
echo "--- what the instance saw ---"
grep '^RESULT' <<<"$LOG" | sed 's/^RESULT /  /'
echo "-----------------------------"

res() { sed -n "s/^RESULT $1 //p" <<<"$LOG" | head -n 1; }
EPERM_MSG="Operation not permitted"

# ---- the clock: setting refused (exact errno), reading works, the host's clock unmoved
expect_eq "date -s: busybox's message" "rc=0 date: can't set date: $EPERM_MSG" "$(res date_set)"
# (busybox 1.35 names the failing call "(null)")
expect_match "adjtimex -o: refused" "^rc=1 adjtimex: .*: $EPERM_MSG\$" "$(res adjtimex_set_offset)"
expect_eq "adjtimex (read) works" "rc=0" "$(res adjtimex_busybox_read)"
expect_match "date (read) inside is the host's time" '^[0-9]+$' "$(res date_read)"
check "... within 10 s" test $(( $(date +%s) - $(res date_read) )) -lt 10
for k in clock_settime_realtime clock_settime_monotonic clock_settime_boottime settimeofday \
         settimeofday_null adjtimex_setoffset clock_adjtime_realtime_setoffset clock_adjtime_tai; do
  expect_eq "$k: EPERM" EPERM "$(res "$k")"
done
for k in clock_gettime adjtimex_read clock_adjtime_realtime_read; do
  expect_eq "$k works" OK "$(res "$k")"
done
drift=$("$PYTHON" -c "print(abs($(clock_offset) - $CLOCK_OFFSET) > 2)")
if [[ "$drift" == True ]]; then
  # Put the clock back (realtime = boottime + the offset measured at the start).
  "$PYTHON" -c "import time; time.clock_settime(time.CLOCK_REALTIME, time.clock_gettime(time.CLOCK_BOOTTIME) + $CLOCK_OFFSET)"
fi
expect_eq "the host's clock did not move" False "$drift"

# ---- the kernel: modules, kexec, file handles (EPERM from the filter, where the kernel
# itself would answer ENOSYS or succeed)
expect_eq "insmod: refused" "rc=1 insmod: can't insert '/tmp/evil.ko': $EPERM_MSG" "$(res insmod)"
expect_eq "no kexec tool in the firmware" "rc=127" "$(res kexec_tool)"
for k in init_module finit_module delete_module kexec_load kexec_file_load open_by_handle_at; do
  expect_eq "$k: EPERM" EPERM "$(res "$k")"
done
expect_eq "name_to_handle_at is allowed (a genuine handle, on the instance's /tmp)" OK \
  "$(res name_to_handle_at)"

# ---- /proc: the kernel controls shared with the host
for f in sysrq-trigger kcore; do
  if [[ -e /proc/$f ]]; then
    what="masked (read-only /dev/null)"
  else
    what="absent from this kernel"
  fi
  echo "note: /proc/$f is $what"
done
if [[ -e /proc/sysrq-trigger ]]; then
  expect_eq "sysrq-trigger write: read-only" \
    "rc=1 sh: can't create /proc/sysrq-trigger: Read-only file system" "$(res sysrq_write)"
else
  expect_eq "sysrq-trigger write: no such file" \
    "rc=1 sh: can't create /proc/sysrq-trigger: nonexistent directory" "$(res sysrq_write)"
fi
if [[ -e /proc/kcore ]]; then
  expect_eq "kcore read: nothing" "rc=0 0" "$(res kcore_read)"
else
  expect_eq "kcore read: no such file" \
    "rc=0 head: /proc/kcore: No such file or directory 0" "$(res kcore_read)"
fi
if [[ -e /proc/timer_list ]]; then
  expect_eq "timer_list read: nothing" "rc=0 0" "$(res timer_list_read)"
fi
expect_eq "sysctl vm write: read-only" \
  "rc=1 sh: can't create /proc/sys/vm/swappiness: Read-only file system" "$(res sysctl_vm_write)"
expect_eq "sysctl kernel write: read-only" \
  "rc=1 sh: can't create /proc/sys/kernel/printk_ratelimit: Read-only file system" \
  "$(res sysctl_kernel_write)"

# ---- the host's disk: no block device node can be made, anywhere
expect_eq "mknod of the host's disk in /tmp: refused" \
  "rc=1 mknod: /tmp/disk: $EPERM_MSG" "$(res mknod_disk_tmp)"
expect_eq "... so nothing to read" "rc=0 head: /tmp/disk: No such file or directory 0" \
  "$(res read_disk_tmp)"
expect_eq "mknod of the host's disk in /dev: refused" \
  "rc=1 mknod: /dev/hostdisk: $EPERM_MSG" "$(res mknod_disk_dev)"
expect_eq "mknod(S_IFBLK): EPERM" EPERM "$(res mknod_block)"
expect_eq "... open: ENOENT" ENOENT "$(res open_block)"

# ---- leaving the root
expect_eq "chroot into a subdirectory works" OK "$(res chroot_into_subdir)"
expect_eq "chroot(\".\") after climbing works" OK "$(res chroot_dot)"
expect_eq "... but the host's root is not there (marker)" ENOENT "$(res escaped_stat_host_marker)"
expect_eq "... it is the instance's root" OK "$(res escaped_stat_firmware_release)"
check "the host marker is still on the host" test -e "$MARKER"
expect_eq "the firmware's lower dir is not visible inside" no "$(res lowerdir_visible)"
# The overlay names its lower dir: ro, or in a user namespace its idmapped copy .idmap/l0.
expect_match "remount of the lower dir read-write: refused" \
  "^rc=1 mount: can't find $WS/(ro|\.idmap/l0) in /proc/mounts$" "$(res remount_lower_rw)"
expect_eq "... mount(MS_REMOUNT): ENOENT" ENOENT "$(res remount_rw)"
expect_eq "... mount(MS_REMOUNT|MS_BIND): ENOENT" ENOENT "$(res remount_bind_rw)"
expect_eq "writing the firmware inside works (copy-up)" rc=0 "$(res write_firmware)"
expect_eq "... it lands in the upper dir" "pwned" "$(tail -n 1 "$WS/rw/etc/build.prop")"
check "... with the deletion as a whiteout" test -c "$WS/rw/etc/hostname"
expect_eq "the host's firmware directory is unchanged" "$FW_SUM" "$(fw_tree_sum "$FW")"
expect_eq "the firmware's mount is unchanged" "$FW_MNT_SUM" "$(fw_tree_sum "$FW_MNT")"

# ---- what the instance sees of the host
expect_eq "sethostname inside works" "rc=0" "$(res sethostname)"
expect_eq "... inside" fw-evil-host "$(res hostname_inside)"
expect_eq "... the host's hostname is unchanged" "$HOST_HOSTNAME" "$(hostname)"
pids=$(res pids_inside)
check "only the instance's processes are visible ($pids)" test "$pids" -lt 10
links=$(res links_inside)
expect_match "only lo and the instance's interface are visible" \
  "^((lo|$(fw_inst_prop "$NAME" interface)) )*\$" "$links"
check "... lo is there" grep -qw lo <<<"$links"
foreign=$(tr ' ' '\n' <<<"$(res mounts_inside)" | grep -vE '^$|^/$|^/(dev|proc|sys|tmp|run)(/.*)?$' || true)
expect_eq "no host mount point is visible" "" "$foreign"
expect_eq "PID 1 holds only its console" "0 1 2" "$(ls "/proc/$PID/fd" | sort -n | tr '\n' ' ' | sed 's/ $//')"
expect_eq "... all three the console" 1 \
  "$(for f in 0 1 2; do readlink "/proc/$PID/fd/$f"; done | sort -u | wc -l)"

# ---- the capabilities and the filter of PID 1 (the exec'd sleep), read from the host
status=$(cat "/proc/$PID/status")
bnd=$(sed -n 's/^CapBnd:[[:space:]]*//p' <<<"$status")
dropped=$(( (1 << 25) | (1 << 35) | (1 << 16) | (1 << 17) | (1 << 33) | (1 << 32) ))
expect_eq "CapBnd lacks sys_time, wake_alarm, sys_module, sys_rawio, mac_admin, mac_override" \
  0 $(( 0x$bnd & dropped ))
check "CapBnd keeps sys_admin" test $(( 0x$bnd & (1 << 21) )) -ne 0
for set in CapInh CapPrm CapEff CapAmb; do
  v=$(sed -n "s/^$set:[[:space:]]*//p" <<<"$status")
  expect_eq "$set lacks the dropped capabilities" 0 $(( 0x$v & dropped ))
done
expect_eq "seccomp filter mode" 2 "$(sed -n 's/^Seccomp:[[:space:]]*//p' <<<"$status")"
expect_eq "no no_new_privs (setuid programs work)" 0 \
  "$(sed -n 's/^NoNewPrivs:[[:space:]]*//p' <<<"$status")"
expect_eq "the attack script saw the same bounding set" "$bnd" "$(res capbnd_inside)"

# ---- EXEC'd processes get PID 1's confinement (once the daemon offers EXEC)
if [[ " $(fwctl commands 2>/dev/null | tr '\n' ' ') " == *" EXEC "* ]]; then
  run fwctl exec "$NAME" -- /bin/fw-probe time
  expect_eq "exec: the probe ran" 0 "$RC"
  for k in clock_settime_realtime settimeofday_null adjtimex_setoffset; do
    check "exec: $k EPERM" grep -qx "RESULT $k EPERM" <<<"$OUT"
  done
  check "exec: adjtimex_read works" grep -qx "RESULT adjtimex_read OK" <<<"$OUT"
  run fwctl exec "$NAME" -- /bin/cat /proc/self/status
  expect_eq "exec: same bounding set as PID 1" "$bnd" "$(sed -n 's/^CapBnd:[[:space:]]*//p' <<<"$OUT")"
  expect_eq "exec: seccomp filter mode" 2 "$(sed -n 's/^Seccomp:[[:space:]]*//p' <<<"$OUT")"
else
  echo "SKIP (EXEC): this daemon has no EXEC command yet"
fi

# ---- AppArmor
if "$PYTHON" -c 'import sys; sys.exit(0 if open("/sys/module/apparmor/parameters/enabled").read().strip() == "Y" else 1)' 2>/dev/null; then
  expect_eq "PID 1 runs in its profile" "firmwared_$SHA1 (enforce)" \
    "$(cat "/proc/$PID/attr/current" 2>&1)"
  expect_match "devtmpfs cannot be mounted" "^rc=[1-9].*Permission denied" "$(res gap_mount_devtmpfs)"
else
  echo "SKIP (AppArmor enforcement): the kernel has no AppArmor (/sys/module/apparmor missing)"
  expect_eq "the daemon warned once that AppArmor is missing" 1 \
    "$(grep -c "AppArmor is not available: the kernel has no AppArmor; instances run without" "$FW_LOG")"
  check "dump_profile=y logged the generated profile" \
    grep -q "AppArmor profile firmwared_$SHA1 (not loaded: AppArmor is not used):" "$FW_LOG"
  check "... with its name" grep -q "^profile firmwared_$SHA1 flags=(attach_disconnected" "$FW_LOG"
  check "... and its root" grep -qF "@{root}=\"$WS\"" "$FW_LOG"
fi
# What the host's own root gets when reading its disk (some machines refuse it to
# everyone, e.g. through a BPF LSM): tells whose refusal the devtmpfs note below is.
host_node="$FW_TMP/hostdisk"
mknod "$host_node" b "${DISK%%:*}" "${DISK##*:}"
host_read=$(head -c 512 "$host_node" 2>/dev/null | wc -c || true)
host_err=$(head -c 1 "$host_node" 2>&1 >/dev/null || true)
rm -f "$host_node"
echo "note: without AppArmor, known limits (docs/security.md):"
echo "  remount /proc/sys read-write + write: $(res gap_remount_proc_sys)"
echo "  mount devtmpfs: $(res gap_mount_devtmpfs)"
echo "  read the host's disk ($DISK) through it: $(res gap_read_disk_devtmpfs)"
echo "  the same read by the host's root: $host_read bytes${host_err:+ ($host_err)}"

# ---- teardown: the instance, then a daemon that must not warn (disable_apparmor=y)
run fwctl kill "$NAME"
expect_eq "kill" "$NAME killed" "$OUT"
run fwctl drop instances "$NAME"
expect_eq "drop" "$NAME dropped" "$OUT"
run fwctl drop firmwares "$FW_SHA1"
expect_eq "drop the firmware" 0 "$RC"
fw_inst_expect_no_leftovers "after the attacks"
stop_daemon
: >"$FW_LOG"
export FIRMWARED_DISABLE_APPARMOR=y
start_daemon
expect_eq "disable_apparmor=y: no AppArmor warning" 0 "$(grep -c "AppArmor" "$FW_LOG" || true)"
stop_daemon
assert_no_leaks
expect_eq "the host's clock still did not move" False \
  "$("$PYTHON" -c "print(abs($(clock_offset) - $CLOCK_OFFSET) > 2)")"
