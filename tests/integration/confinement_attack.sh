#!/bin/sh
# PID 1 of confinement_test.sh's firmware (copied to /sbin/attack): runs the attacks of a
# root firmware against its host as the instance's PID 1 itself, so with exactly PID 1's
# confinement, and prints one "RESULT <name> <what happened>" line per attempt on the
# console, then "ATTACKS DONE", then execs a sleep (PID 1 then holds only its console).
#
# Usage: attack MARKER DISK_MAJOR DISK_MINOR
#   MARKER: a file the test created at the host's root; DISK_*: the host's root disk.
# Every attack is harmless should it succeed (the clock is set one hour ahead at most, and
# the test puts it back; sysctls are written their current value).
marker=$1 major=$2 minor=$3
PATH=/sbin:/bin
export PATH

r() { echo "RESULT $1 $2"; }
# try NAME CMD...: runs CMD, reports "rc=<status> <stderr and stdout on one line>".
try() {
	name=$1
	shift
	out=$("$@" 2>&1)
	rc=$?
	out=$(echo "$out" | tr '\n' ' ' | sed 's/ *$//')
	r "$name" "rc=$rc${out:+ $out}"
}

mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp

# ---- the clock
before=$(date +%s)
try date_set sh -c "date -s @$((before + 3600)) >/dev/null"
try adjtimex_set_offset adjtimex -o 1
try adjtimex_busybox_read adjtimex -q
r date_read "$(date +%s)"
/bin/fw-probe time

# ---- the kernel
echo junk >/tmp/evil.ko
try insmod insmod /tmp/evil.ko
try kexec_tool sh -c 'command -v kexec'
/bin/fw-probe kernel /tmp/evil.ko

# ---- /proc
try sysrq_write sh -c 'echo h > /proc/sysrq-trigger'
try kcore_read sh -c 'head -c 64 /proc/kcore | wc -c'
try timer_list_read sh -c 'wc -c < /proc/timer_list'
try sysctl_vm_write sh -c 'v=$(cat /proc/sys/vm/swappiness) && echo "$v" > /proc/sys/vm/swappiness'
try sysctl_kernel_write sh -c 'v=$(cat /proc/sys/kernel/printk_ratelimit) && echo "$v" > /proc/sys/kernel/printk_ratelimit'

# ---- the host's disk
try mknod_disk_tmp mknod /tmp/disk b "$major" "$minor"
try read_disk_tmp sh -c 'head -c 512 /tmp/disk | wc -c'
try mknod_disk_dev mknod /dev/hostdisk b "$major" "$minor"
/bin/fw-probe disk /tmp/disk2 "$major" "$minor"

# ---- leaving the root
/bin/fw-probe chroot-escape "$marker"
lower=$(sed -n 's/^overlay \/ overlay .*lowerdir=\([^,]*\).*/\1/p' /proc/mounts)
r lowerdir_visible "$(test -e "$lower" && echo yes || echo no)"
try remount_lower_rw mount -o remount,rw "$lower"
/bin/fw-probe remount "$lower"
try write_firmware sh -c 'echo pwned >> /etc/build.prop && rm /etc/hostname && touch /bin/dropped'

# ---- what the instance sees of the host
try sethostname hostname fw-evil-host
r hostname_inside "$(hostname)"
r pids_inside "$(ls /proc | grep -c '^[0-9][0-9]*$')"
r links_inside "$(ip -o link | awk -F': ' '{ print $2 }' | sed 's/@.*//' | sort | tr '\n' ' ')"
r mounts_inside "$(awk '{ print $2 }' /proc/mounts | sort -u | tr '\n' ' ')"
r capbnd_inside "$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)"
r seccomp_inside "$(sed -n 's/^Seccomp:[[:space:]]*//p' /proc/self/status)"

# ---- known limits without AppArmor (documented in docs/security.md): a root firmware
# holding CAP_SYS_ADMIN outside a user namespace can undo the /proc masks and reach the
# host's devices through a devtmpfs. Reported, not asserted.
try gap_remount_proc_sys sh -c 'mount -o remount,rw,bind /proc/sys && v=$(cat /proc/sys/vm/swappiness) && echo "$v" > /proc/sys/vm/swappiness'
mkdir -p /tmp/devtmpfs
try gap_mount_devtmpfs mount -t devtmpfs devtmpfs /tmp/devtmpfs
hex=$(printf '%x:%x' "$major" "$minor")
node=
for f in /tmp/devtmpfs/*; do
	[ -b "$f" ] && [ "$(stat -c '%t:%T' "$f")" = "$hex" ] && node=$f && break
done
try gap_read_disk_devtmpfs sh -c "test -n '$node' && head -c 512 '$node' | wc -c"
umount /tmp/devtmpfs 2>/dev/null

echo "ATTACKS DONE"
exec sleep 2147483647
