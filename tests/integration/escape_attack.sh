#!/bin/sh
# PID 1 of escape_suite.sh's firmware (copied to /sbin/escape-attack): runs the escape
# probes as the instance's PID 1 itself, so with exactly PID 1's confinement, prints one
# "PROBE <name> <refused|allowed|not-present> <detail>" line per attempt on the console,
# then "ESCAPE DONE", then execs a sleep.
#
# Usage: escape-attack KEY=VALUE... (handed to /bin/fw-escape, see escape_probe.c)
PATH=/sbin:/bin
export PATH

# Without nodev: an attacker mounts its scratch space as it likes.
mount -t tmpfs -o nosuid,mode=1777 tmpfs /tmp

# busybox date exits 0 even when the kernel refuses; its message tells. The time set is
# the current one: harmless should it be allowed.
out=$(date -s "@$(date +%s)" 2>&1 >/dev/null)
case $out in
	*"can't set date"*) echo "PROBE date_s refused $out" ;;
	*) echo "PROBE date_s allowed date -s @now worked" ;;
esac

/bin/fw-escape "$@"

echo "ESCAPE DONE"
exec sleep 2147483647
