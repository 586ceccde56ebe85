#!/usr/bin/env bash
# The escape suite: what root inside an instance can do to its host, per mode.
#
# Interface (stable; the ctest tests escape_privileged and escape_userns and the AppArmor VM
# lane call it):
#   tests/integration/escape_suite.sh MODE        MODE = privileged | userns
# as root, with FW_BUILD_DIR (default <source>/build/dev) holding firmwared and fwctl, and
# a C compiler able to link statically (gcc -static). It starts a private daemon, sets the
# instance property `userns` to n (privileged) or y (userns) before START, runs
# escape_probe.c as the instance's PID 1 (escape_attack.sh), checks from the host what
# reached it, then prints one table row per probe:
#   <probe> <result> <expected> <ok|MISMATCH> <detail>
# and exits 0 when every result matches the expected column, 1 on any mismatch, 77 when
# it cannot run (not root, no compiler; and for MODE=userns a daemon without the `userns`
# property, whatever FW_TESTS_MUST_RUN says: that mode does not exist yet).
# The expected column is chosen by MODE and by whether AppArmor is enforced
# (privileged, userns, privileged+apparmor, userns+apparmor); ESCAPE_EXPECTED=FILE replaces
# the built-in table (same format); ESCAPE_RESULTS=FILE also writes the rows there (tab
# separated). Expected cells: a verdict, several joined by `|`, `?` (reported, not
# checked), `=nobody` (what an unprivileged host user gets from the same probe, measured
# on the host) or `=host` (what the host's own root gets, measured in a throwaway mount
# namespace: some machines refuse things to everyone, e.g. through a BPF LSM).
#
# Everything the probes touch is harmless (see escape_probe.c); what the suite puts on the
# host (a marker file, a key in root's user keyring, listeners, a traced sleep, cgroups, a
# sysctl value should a probe change it, interfaces and device nodes the instance made
# there) is removed on every exit path.
FW_SOURCE_DIR=${FW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
FW_BUILD_DIR=${FW_BUILD_DIR:-$FW_SOURCE_DIR/build/dev}
export FW_SOURCE_DIR FW_BUILD_DIR
MODE=${1:-}
source "$(dirname "$0")/../lib/harness.sh"
case $MODE in
  privileged) NETBYTES=10.246. PREFIX=fwesp ;;
  userns) NETBYTES=10.247. PREFIX=fwesu ;;
  *) echo "usage: $0 privileged|userns" >&2; exit 2 ;;
esac
FW_TEST_NAME=escape_$MODE
require_root
[[ -n "${ESCAPE_PROBE:-}" ]] || command -v cc >/dev/null ||
  skip "needs a C compiler for the probe (build-essential)"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
fw_inst_setup
export FIRMWARED_HOST_INTERFACE_PREFIX=$PREFIX FIRMWARED_NET_FIRST_TWO_BYTES=$NETBYTES
start_daemon
# Both modes are the daemon's: the instance property `userns` must be there.
PROPS=" $(fwctl properties instances | tr '\n' ' ') "
expect_match "PROPERTIES instances answers" ' cmdline\[\] ' "$PROPS"
expect_match "the daemon has the instance property userns" ' userns ' "$PROPS"
HAS_USERNS=y
HERE=$(cd "$(dirname "$0")" && pwd)
TAG=${FW_TMP##*.}
TAG=${TAG,,}

# ---- the probe, built static (also run on the host for the =nobody and =host references)
# (ESCAPE_PROBE=FILE: a probe built beforehand, as the AppArmor VM lane passes it.)
PROBE="$FW_TMP/escape_probe"
if [[ -n "${ESCAPE_PROBE:-}" ]]; then
  cp "$ESCAPE_PROBE" "$PROBE"
else
  cc -static -O2 -Wall -Wextra -Werror -Wno-format-truncation -o "$PROBE" \
    "$HERE"/escape_probe.c "$HERE"/escape_probe_kernel.c "$HERE"/escape_probe_cgroup.c \
    "$HERE"/escape_probe_net.c
fi
chmod 0755 "$PROBE"

# ---- what the suite puts on the host, and its removal on every exit path
# A file at the host's root that the chroot escape looks for (ESCAPE_MARKER: an existing
# one, for a host whose root is read-only, as the VM lane's).
MARKER=${ESCAPE_MARKER:-"/fw-escape-marker.$TAG"}
RELEASE_MARKER="$FW_TMP/release-agent-ran"
NODE="fw-escape-$TAG"
NEW_LINK="fwen$TAG" OUT_LINK="fweo$TAG"
NEW_LINK=${NEW_LINK:0:15} OUT_LINK=${OUT_LINK:0:15}
SOMAXCONN=$(cat /proc/sys/net/core/somaxconn)
KEY="" RING="" TRACEE="" LISTENER="" CG2_DIR="" CG1_DIR=""
escape_cleanup() {
  local rc=$?
  set +e
  [[ -n "${ESCAPE_MARKER:-}" ]] || rm -f "$MARKER"
  rm -f "/dev/$NODE"
  [[ -n "$KEY" ]] && "$PROBE" host-key-remove "$KEY"
  # The tracee first: it holds the cgroups below.
  [[ -n "$TRACEE" ]] && kill "$TRACEE" 2>/dev/null && wait "$TRACEE" 2>/dev/null
  [[ -n "$LISTENER" ]] && kill "$LISTENER" 2>/dev/null
  [[ "$(cat /proc/sys/net/core/somaxconn)" != "$SOMAXCONN" ]] &&
    echo "$SOMAXCONN" >/proc/sys/net/core/somaxconn
  ip link del "$NEW_LINK" 2>/dev/null
  ip link del "$OUT_LINK" 2>/dev/null
  [[ -n "$CG2_DIR" ]] && rmdir "$CG2_DIR" 2>/dev/null
  [[ -n "$CG1_DIR" ]] && rmdir "$CG1_DIR" 2>/dev/null
  KEY="" TRACEE="" LISTENER="" CG2_DIR="" CG1_DIR=""
  return $rc
}
trap 'escape_cleanup; fw_inst_on_exit' EXIT

[[ -n "${ESCAPE_MARKER:-}" ]] || touch "$MARKER"
# The host's root disk: the device of the root mount (a virtual 0:N root has none: then
# the first disk of /proc/partitions).
DISK=$(awk '$5 == "/" { dev = $3 } END { print dev }' /proc/self/mountinfo)
if [[ -z "$DISK" || "$DISK" == 0:* ]]; then
  DISK=$(awk 'NR > 2 && $2 % 16 == 0 { print $1 ":" $2; exit }' /proc/partitions)
fi
UFFD=-
[[ -c /dev/userfaultfd ]] && UFFD=$(stat -c '%t %T' /dev/userfaultfd | { read -r a b; echo "$((16#$a)):$((16#$b))"; })
PAYLOAD="fw-escape-secret-$TAG-$RANDOM$RANDOM"
read -r KEY RING < <("$PROBE" host-key-add "fw-escape-$TAG" "$PAYLOAD")
sleep 600 &
TRACEE=$!
# A TCP listener on 0.0.0.0 (a private port the kernel picks), an abstract and a path unix
# socket; each connection gets a banner.
PORT_FILE="$FW_TMP/port"
"$PYTHON" - "$PORT_FILE" "fw-escape-$TAG" "$FW_TMP/host.sock" <<'EOF' &
import os, selectors, socket, sys
port_file, abstract, path = sys.argv[1:4]
tcp = socket.socket(); tcp.bind(("0.0.0.0", 0)); tcp.listen(8)
ab = socket.socket(socket.AF_UNIX); ab.bind("\0" + abstract); ab.listen(8)
pa = socket.socket(socket.AF_UNIX); pa.bind(path); pa.listen(8)
with open(port_file + ".tmp", "w") as f: f.write(str(tcp.getsockname()[1]))
os.rename(port_file + ".tmp", port_file)
sel = selectors.DefaultSelector()
for s in (tcp, ab, pa): sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        c, _ = key.fileobj.accept(); c.sendall(b"fw-escape-banner\n"); c.close()
EOF
LISTENER=$!
fw_inst_wait_for 5 test -s "$PORT_FILE" || { echo "the host listener did not start" >&2; exit 1; }
PORT=$(cat "$PORT_FILE")
# cgroups the test owns in the host's trees: the cgroup2 root and a v1 pids hierarchy.
CG2_ROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
if [[ -n "$CG2_ROOT" ]]; then CG2_DIR="$CG2_ROOT/fw-escape-$TAG"; mkdir "$CG2_DIR"; fi
CG1_ROOT=$(awk '$9 == "cgroup" && $NF ~ /(^|,)pids(,|$)/ { print $5; exit }' /proc/self/mountinfo)
if [[ -n "$CG1_ROOT" ]]; then CG1_DIR="$CG1_ROOT/fw-escape-$TAG"; mkdir "$CG1_DIR"; fi
# The tracee lives in them, so that nothing else removes them as empty while the suite
# runs (an init beside this test, holding the host's tree, may sweep empty cgroups).
for d in $CG2_DIR $CG1_DIR; do echo "$TRACEE" >"$d/cgroup.procs"; done

# ---- the attacking firmware
FW="$FW_TMP/escape-fw"
build_example_firmware
cp -a "$FW_EX_DIR" "$FW"
install -m 0755 "$PROBE" "$FW/bin/fw-escape"
install -m 0755 "$HERE/escape_attack.sh" "$FW/sbin/escape-attack"

run fwctl prepare firmwares "$FW"
expect_eq "prepare the attacking firmware" 0 "$RC"
FW_SHA1=$(field sha1 "$OUT")
run fwctl prepare instances "$FW_SHA1"
expect_eq "prepare an instance" 0 "$RC"
NAME=$(field name "$OUT")
SHA1=$(field sha1 "$OUT")
WS="$FIRMWARED_MOUNT_PATH/instances/$SHA1"
if [[ $HAS_USERNS == y ]]; then
  run fwctl set_property instances "$NAME" userns "$([[ $MODE == userns ]] && echo y || echo n)"
  expect_eq "set the instance's userns property for mode $MODE" "0 " "$RC $ERR"
fi
HOST_LINK="$PREFIX$(fw_inst_prop "$NAME" id)"
HOST_IP=$(fw_inst_prop "$NAME" host_ip)
fwctl set_property instances "$NAME" cmdline "/sbin/escape-attack marker=$MARKER disk=$DISK \
uffd=$UFFD node=$NODE ptrace_pid=$TRACEE key=$KEY host_keyring=$RING somaxconn=$((SOMAXCONN + 7)) \
abstract=fw-escape-$TAG unix_path=$FW_TMP/host.sock host_ip=$HOST_IP port=$PORT \
host_netns=$(stat -Lc %i /proc/self/ns/net) host_link=$HOST_LINK new_link=$NEW_LINK \
out_name=$OUT_LINK cg2=${CG2_DIR:+fw-escape-$TAG} cg1_ctl=${CG1_DIR:+pids} \
cg1=${CG1_DIR:+fw-escape-$TAG} release_marker=$RELEASE_MARKER tag=$TAG"
run fwctl start "$NAME"
expect_eq "start the attacking instance" "$NAME started" "$OUT"
fw_inst_wait_for 60 grep -q "ESCAPE DONE" "$WS/console.log" ||
  echo "the probes did not finish within 60 s" >&2
LOG=$(tr -d '\r' <"$WS/console.log" | grep '^PROBE ' | sed 's/^PROBE //')

# ---- what reached the host, seen from the host (rows named on_host)
host_row() { printf '%s %s %s\n' "$1" "$2" "$3"; }
HOST_ROWS=$(
  if [[ -e "/dev/$NODE" ]]; then host_row devtmpfs_node_on_host allowed "the FIFO made in the instance's devtmpfs is /dev/$NODE on the host"
  else host_row devtmpfs_node_on_host refused "no /dev/$NODE on the host"; fi
  if [[ -e "$RELEASE_MARKER" ]]; then host_row release_agent_on_host allowed "the agent ran as host root: $(cat "$RELEASE_MARKER") (host mntns $(readlink /proc/self/ns/mnt))"
  else host_row release_agent_on_host refused "no marker on the host"; fi
  now=$(cat /proc/sys/net/core/somaxconn)
  if [[ "$now" != "$SOMAXCONN" ]]; then host_row sysctl_net_on_host allowed "the host's net.core.somaxconn became $now"
  else host_row sysctl_net_on_host refused "the host's net.core.somaxconn is still $SOMAXCONN (the write hit the instance's netns)"; fi
  if [[ -n "$CG2_DIR" ]]; then
    v=$(cat "$CG2_DIR/cgroup.max.descendants")
    host_row cgroup_v2_on_host "$([[ $v == 7 ]] && echo allowed || echo refused)" "the host's $CG2_DIR/cgroup.max.descendants is $v"
  else host_row cgroup_v2_on_host not-present "no cgroup2 hierarchy on the host"; fi
  if [[ -n "$CG1_DIR" ]]; then
    v=$(cat "$CG1_DIR/pids.max")
    host_row cgroup_v1_on_host "$([[ $v == 7 ]] && echo allowed || echo refused)" "the host's $CG1_DIR/pids.max is $v"
  else host_row cgroup_v1_on_host not-present "no v1 pids hierarchy on the host"; fi
  if ip link show "$NEW_LINK" >/dev/null 2>&1; then host_row netns_link_on_host allowed "veth $NEW_LINK created by the instance is in the host's namespace"
  else host_row netns_link_on_host refused "no $NEW_LINK on the host"; fi
  if ip link show "$OUT_LINK" >/dev/null 2>&1; then host_row veth_out_on_host allowed "the instance's veth is $OUT_LINK in the host's namespace"
  else host_row veth_out_on_host refused "no $OUT_LINK on the host"; fi
  key=$(sed -n 's/^keyctl_read_host_key allowed payload //p' <<<"$LOG")
  if [[ "$key" == "$PAYLOAD" ]]; then host_row key_payload_matches allowed "the instance read the host key's payload"
  else host_row key_payload_matches refused "the instance did not read the payload"; fi
)
escape_cleanup

# ---- references measured on the host: an unprivileged user, and root itself
NOBODY_DIR="$FW_TMP/nobody"
mkdir -p "$NOBODY_DIR" && chown 65534:65534 "$NOBODY_DIR"
NOBODY=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
  "$PROBE" only=bpf,perf,userfaultfd,devices "dir=$NOBODY_DIR" "uffd=$UFFD" | sed 's/^PROBE //')
HOSTROOT=$(unshare -m --propagation private sh -c \
  'mkdir -p "$1" && mount -t tmpfs tmpfs "$1" && "$2" only=disk "dir=$1" "disk=$3"' \
  sh "$FW_TMP/hostroot" "$PROBE" "$DISK" | sed 's/^PROBE //')
verdict_in() { awk -v p="$1" '$1 == p { print $2; exit }' <<<"$2"; }

# ---- expected results. Columns: privileged, userns, privileged+apparmor, userns+apparmor.
# userns: the instance's own cgroup namespace lets its root mount a v1 controller hierarchy
# (cgroup_v1_mount_controller allowed): its files are the host's, owned by a root the
# instance does not map, so what it sees is what any host user reads in /sys/fs/cgroup
# and every write is refused (cgroup_v1_host_write, cgroup_v1_on_host).
# Privileged without AppArmor: measured on the test machine; `allowed` there is the
# documented reality (docs/security.md), not a wish. The instance's cgroup namespace and
# device policy (both modes) refuse the host's cgroup files, v1 hierarchies of its own,
# release_agent, /dev/kmsg and userfaultfd's device. userns: what the kernel must refuse to
# an unprivileged host uid that is root in a child user namespace owning the instance's
# namespaces, with locked mounts. The AppArmor columns: from the profile, to be confirmed
# by the VM lane (`?` = not checked).
EXPECTED_BUILTIN=$(cat <<'EOF'
chroot_escape              refused          refused          refused          refused
date_s                     refused          refused          refused          refused
proc_sys_remount_rw        allowed          refused          refused          refused
sysctl_vm_write            allowed          refused          refused          refused
proc_unmask                allowed          refused          refused          refused
mount_proc                 allowed          refused          refused          refused
core_pattern_write         allowed          refused          refused          refused
sysctl_net_write           allowed          refused          refused          ?
sysctl_net_on_host         refused          refused          refused          refused
proc_kcore                 not-present|refused not-present|refused not-present|refused not-present|refused
proc_sysrq_trigger         not-present|allowed not-present|refused not-present|refused not-present|refused
mount_sysfs                allowed          refused          refused          refused
mount_devtmpfs             allowed          refused          refused          refused
devtmpfs_node_create       allowed          refused          refused          refused
devtmpfs_node_on_host      allowed          refused          refused          refused
mknod_host_disk            refused          refused          refused|not-present refused|not-present
open_host_disk             =host            refused          refused|not-present refused|not-present
dev_mem                    refused|not-present refused|not-present refused|not-present refused|not-present
dev_kmsg_read              refused          refused          refused          refused
dev_kmsg_write             refused          refused          refused          refused
syslog_read                =nobody          =nobody          =nobody          =nobody
init_module                refused          refused          refused          refused
finit_module               refused          refused          refused          refused
kexec_load                 refused          refused          refused          refused
kexec_file_load            refused          refused          refused          refused
clock_settime              refused          refused          refused          refused
settimeofday               refused          refused          refused          refused
adjtimex                   refused          refused          refused          refused
clock_adjtime              refused          refused          refused          refused
ptrace_host_pid            refused          refused          refused          refused
open_by_handle_at          refused          refused          refused          refused
bpf_socket_filter          refused          =nobody          refused          =nobody
bpf_kprobe                 refused|not-present =nobody       refused          =nobody
perf_system_wide           refused          =nobody          refused          =nobody
userfaultfd_syscall        refused          =nobody          refused          =nobody
dev_userfaultfd            refused|not-present refused|not-present refused|not-present refused|not-present
keyctl_read_host_key       refused          refused          refused          refused
key_payload_matches        refused          refused          refused          refused
keyctl_host_keyring        refused          refused          refused          refused
userns_unshare             allowed          allowed          allowed          ?
userns_mount_proc          refused          refused          refused          refused
userns_mount_sysfs         refused          refused          refused          refused
userns_mount_devtmpfs      refused          refused          refused          refused
userns_remount_proc_sys    refused          refused          refused          refused
unix_abstract_host         refused          refused          refused          refused
unix_path_host             refused          refused          refused          refused
host_tcp_service           refused          refused          refused          refused
cgroup_v2_mount            allowed|not-present refused|allowed|not-present refused|not-present ?
cgroup_v2_host_write       refused|not-present refused|not-present refused|not-present refused|not-present
cgroup_v2_on_host          refused|not-present refused|not-present refused|not-present refused|not-present
cgroup_v1_mount_controller allowed|not-present allowed|refused|not-present ? allowed|refused|not-present
cgroup_v1_host_write       refused|not-present refused|not-present refused|not-present refused|not-present
cgroup_v1_on_host          refused|not-present refused|not-present refused|not-present refused|not-present
cgroup_v1_mount_named      refused          refused          refused          refused
cgroup_v1_release_agent    refused          refused          refused          refused
release_agent_on_host      refused          refused          refused          refused
netns_setns_pid1           refused          refused          refused          refused
netns_host_links           allowed          refused          allowed          refused
netns_host_link_create     allowed          refused          allowed          refused
netns_link_on_host         allowed          refused          allowed          refused
netns_move_veth_out        allowed          refused          allowed          refused
veth_out_on_host           allowed          refused          allowed          refused
EOF
)
EXPECTED=$EXPECTED_BUILTIN
if [[ -n "${ESCAPE_EXPECTED:-}" ]]; then
  EXPECTED=$(cat "$ESCAPE_EXPECTED") || { echo "cannot read ESCAPE_EXPECTED=$ESCAPE_EXPECTED" >&2; exit 2; }
fi
COLUMN=$MODE
if [[ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" == Y ]]; then
  COLUMN="$MODE+apparmor"
fi
col=$(case $COLUMN in privileged) echo 2 ;; userns) echo 3 ;; privileged+apparmor) echo 4 ;; *) echo 5 ;; esac)

# ---- the table
ALL=$(printf '%s\n%s\n' "$LOG" "$HOST_ROWS")
[[ -n "${ESCAPE_RESULTS:-}" ]] && : >"$ESCAPE_RESULTS"
echo "--- escape suite, mode $MODE, expected column $COLUMN ($(uname -r)) ---"
printf '%-27s %-12s %-22s %-8s %s\n' probe result expected check detail
while read -r probe want; do
  [[ -z "$probe" || "$probe" == \#* ]] && continue
  line=$(awk -v p="$probe" '$1 == p { print; exit }' <<<"$ALL")
  got=$(awk '{ print $2 }' <<<"$line")
  detail=$(cut -d' ' -f3- <<<"$line")
  [[ -n "$got" ]] || got=missing
  shown=$want
  case $want in
    =nobody) want=$(verdict_in "$probe" "$NOBODY"); shown="=nobody:$want" ;;
    =host) want=$(verdict_in "$probe" "$HOSTROOT"); shown="=host:$want" ;;
  esac
  if [[ "$want" == "?" ]]; then status=info
  elif [[ "|$want|" == *"|$got|"* ]]; then status=ok
  else status=MISMATCH; fi
  printf '%-27s %-12s %-22s %-8s %s\n' "$probe" "$got" "$shown" "$status" "$detail"
  [[ -n "${ESCAPE_RESULTS:-}" ]] && printf '%s\t%s\t%s\t%s\t%s\n' "$probe" "$got" "$shown" "$status" "$detail" >>"$ESCAPE_RESULTS"
  [[ $status == info ]] || check "$probe: $got, expected $shown" test "$status" = ok
done < <(awk -v c="$col" '$1 !~ /^#/ && NF >= c { print $1, $c }' <<<"$EXPECTED")
unlisted=$(awk '{ print $1 }' <<<"$ALL" | sort -u | while read -r p; do
  awk -v p="$p" '$1 == p { f = 1 } END { exit !f }' <<<"$EXPECTED" || echo "$p"; done | tr '\n' ' ')
expect_eq "every probe has an expected result" "" "${unlisted% }"
echo "--------------------------------------------------------------"

# ---- teardown
run fwctl kill "$NAME"
expect_eq "kill" "$NAME killed" "$OUT"
run fwctl drop instances "$NAME"
expect_eq "drop" "$NAME dropped" "$OUT"
run fwctl drop firmwares "$FW_SHA1"
expect_eq "drop the firmware" 0 "$RC"
fw_inst_expect_no_leftovers "after the escape suite"
stop_daemon
assert_no_leaks
