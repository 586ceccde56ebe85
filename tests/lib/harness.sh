# Shared helpers of the root integration tests (sourced, bash).
#
# Each test runs a real firmwared on a private configuration under a fresh
# /tmp/fwtest.XXXXXX directory and removes everything it created on exit, even on
# failure: daemon, mounts under the directory, loop devices of its images, the directory.
#
# Environment: FW_BUILD_DIR (where firmwared and fwctl are), FW_SOURCE_DIR, and
# FW_TESTS_MUST_RUN=1 to turn a skip (not root) into a failure.

set -euo pipefail

FW_BUILD_DIR=${FW_BUILD_DIR:?FW_BUILD_DIR must point at the build tree}
FW_SOURCE_DIR=${FW_SOURCE_DIR:?FW_SOURCE_DIR must point at the source tree}
FIRMWARED="$FW_BUILD_DIR/firmwared/firmwared"
FWCTL="$FW_BUILD_DIR/fwctl/fwctl"
PYTHON=/usr/bin/python3
FW_TEST_NAME=$(basename "$0" .sh)
FW_DAEMON_PID=""
FW_FAILURES=0
FW_CHECKS=0

skip() {
  if [[ "${FW_TESTS_MUST_RUN:-0}" == 1 ]]; then
    echo "FAIL: $FW_TEST_NAME cannot run: $* (FW_TESTS_MUST_RUN=1 forbids skipping)" >&2
    exit 1
  fi
  echo "SKIP: $FW_TEST_NAME: $*" >&2
  exit 77
}

require_root() {
  [[ $(id -u) -eq 0 ]] || skip "needs root"
}

# Unmounts everything below $1, deepest first; lazily if busy.
unmount_below() {
  local dir=$1 m
  [[ -d "$dir" ]] || return 0
  while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done < <(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
             sort -r)
}

# Detaches loop devices whose backing file lies below $1.
detach_loops_below() {
  local dir=$1 dev file
  while read -r dev file; do
    [[ "$file" == "$dir"/* ]] && losetup -d "$dev" 2>/dev/null || true
  done < <(losetup -n -O NAME,BACK-FILE 2>/dev/null || true)
}

# The directories of this test's daemons in the cgroup hierarchies (FIRMWARED_CGROUP, and
# FIRMWARED_CGROUP-* for a second daemon), with the instance cgroups below them, deepest
# first.
fw_test_cgroups() {
  [[ -n "${FIRMWARED_CGROUP:-}" ]] || return 0
  find /sys/fs/cgroup -mindepth 1 -maxdepth 8 -type d \( -name "$FIRMWARED_CGROUP" -o \
    -name "$FIRMWARED_CGROUP.daemon" -o -name "$FIRMWARED_CGROUP-*" \) -prune -print 2>/dev/null |
    while read -r d; do find "$d" -depth -type d; done
}

# Kills what is left in this test's cgroups and removes them.
remove_test_cgroups() {
  local d pid
  while read -r d; do
    [[ -n "$d" ]] || continue
    for pid in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done < <(fw_test_cgroups)
  while read -r d; do
    [[ -n "$d" ]] && rmdir "$d" 2>/dev/null
  done < <(fw_test_cgroups)
  return 0
}

fw_cleanup() {
  local rc=$?
  set +e
  stop_daemon
  remove_test_cgroups
  if [[ -n "${FW_TMP:-}" ]]; then
    unmount_below "$FW_TMP"
    detach_loops_below "$FW_TMP"
    rm -rf "$FW_TMP"
  fi
  if [[ $rc -eq 0 && $FW_FAILURES -ne 0 ]]; then rc=1; fi
  if [[ $rc -eq 0 ]]; then
    echo "PASS: $FW_TEST_NAME ($FW_CHECKS checks)"
  elif [[ $rc -ne 77 ]]; then
    echo "FAIL: $FW_TEST_NAME ($FW_FAILURES of $FW_CHECKS checks failed, exit $rc)" >&2
    if [[ -n "${FW_LOG:-}" && -f "${FW_LOG_COPY:-}" ]]; then
      echo "--- daemon log ---" >&2
      tail -n 40 "$FW_LOG_COPY" >&2
    fi
  fi
  exit $rc
}

# Creates the test's private directory and the environment pointing the daemon and fwctl
# at it.
setup() {
  FW_TMP=$(mktemp -d /tmp/fwtest.XXXXXX)
  chmod 0755 "$FW_TMP"
  trap fw_cleanup EXIT
  export FIRMWARED_SOCKET_PATH="$FW_TMP/firmwared.sock"
  export FIRMWARED_DATABASE_PATH="$FW_TMP/var/catalogue.db"
  export FIRMWARED_MOUNT_PATH="$FW_TMP/mount_points"
  export FIRMWARED_REPOSITORY_PATH="$FW_TMP/firmwares"
  export FIRMWARED_LOG_LEVEL=debug
  # A user-namespace id pool of its own (64 ranges of 65536 ids, picked by the temp dir's
  # name in 0x70000000..0x7fffffff): two daemons sharing a pool would give two live
  # instances the same ids.
  local suffix=${FW_TMP##*.}
  export FIRMWARED_USERNS_POOL="$((0x70000000 + ($(cksum <<<"$suffix" | cut -d' ' -f1) % 64) * 64 * 65536)):64"
  # A cgroup directory of its own in every hierarchy: the daemon sweeps the instance
  # cgroups it finds there at start, and the cleanup removes it.
  export FIRMWARED_CGROUP="fwtest-$suffix"
  FW_LOG="$FW_TMP/firmwared.log"
  FW_LOG_COPY="/tmp/$FW_TEST_NAME.daemon.log"
  # A failure before the daemon started must not show the log of an earlier run.
  rm -f "$FW_LOG_COPY"
}

# Starts the daemon (extra arguments go to it) and waits until it answers PING.
start_daemon() {
  "$FIRMWARED" "$@" >>"$FW_LOG" 2>&1 &
  FW_DAEMON_PID=$!
  local i
  for i in $(seq 1 200); do
    if "$FWCTL" ping >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$FW_DAEMON_PID" 2>/dev/null; then
      cp "$FW_LOG" "$FW_LOG_COPY" 2>/dev/null || true
      echo "firmwared exited during start:" >&2
      cat "$FW_LOG" >&2
      FW_DAEMON_PID=""
      return 1
    fi
    sleep 0.025
  done
  echo "firmwared did not answer PING within 5 s" >&2
  return 1
}

# Stops the daemon with SIGTERM (SIGKILL after 5 s); returns its exit status.
stop_daemon() {
  [[ -n "$FW_DAEMON_PID" ]] || return 0
  local pid=$FW_DAEMON_PID rc=0 i
  FW_DAEMON_PID=""
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.025
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "firmwared did not stop on SIGTERM, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || rc=$?
  cp "$FW_LOG" "$FW_LOG_COPY" 2>/dev/null || true
  return $rc
}

fwctl() { "$FWCTL" "$@"; }

check() {  # check DESCRIPTION COMMAND...: the command must succeed
  local what=$1
  shift
  FW_CHECKS=$((FW_CHECKS + 1))
  if ! "$@"; then
    FW_FAILURES=$((FW_FAILURES + 1))
    echo "  not ok: $what" >&2
  fi
}

expect_eq() {  # expect_eq DESCRIPTION EXPECTED ACTUAL
  FW_CHECKS=$((FW_CHECKS + 1))
  if [[ "$2" != "$3" ]]; then
    FW_FAILURES=$((FW_FAILURES + 1))
    printf '  not ok: %s\n    expected: %q\n    actual:   %q\n' "$1" "$2" "$3" >&2
  fi
}

expect_match() {  # expect_match DESCRIPTION REGEX ACTUAL
  FW_CHECKS=$((FW_CHECKS + 1))
  if ! [[ "$3" =~ $2 ]]; then
    FW_FAILURES=$((FW_FAILURES + 1))
    printf '  not ok: %s\n    expected to match: %s\n    actual: %q\n' "$1" "$2" "$3" >&2
  fi
}

# Runs a command, storing stdout in OUT, stderr in ERR and the exit status in RC.
run() {
  local o e
  o=$(mktemp) e=$(mktemp)
  RC=0
  "$@" >"$o" 2>"$e" || RC=$?
  OUT=$(cat "$o")
  ERR=$(cat "$e")
  rm -f "$o" "$e"
}

# field NAME [TEXT]: the value of TEXT's "NAME: value" line (fwctl's detail views); TEXT
# defaults to $OUT, the output of the last run.
field() { sed -n "s/^$1: //p" <<<"${2-$OUT}"; }

# The wall clock in milliseconds.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# The wall clock minus CLOCK_BOOTTIME, in seconds: it moves only when someone sets the clock.
clock_offset() { "$PYTHON" -c 'import time; print(time.time() - time.clock_gettime(time.CLOCK_BOOTTIME))'; }

# Builds the example firmware (examples/make-example-firmware) into $FW_TMP/example, once
# per test, and sets FW_EX_DIR (the rootfs directory), FW_EX_EXT2, FW_EX_SQUASHFS and
# FW_EX_EROFS ("" when mkfs.erofs is missing).
build_example_firmware() {
  if [[ -n "${FW_EX_DIR:-}" && -d "$FW_EX_DIR" ]]; then return 0; fi
  local out="$FW_TMP/example" line
  mkdir -p "$out"
  FW_EX_DIR="" FW_EX_EXT2="" FW_EX_SQUASHFS="" FW_EX_EROFS=""
  while read -r line; do
    case $line in
      */rootfs) FW_EX_DIR=$line ;;
      *.ext2) FW_EX_EXT2=$line ;;
      *.squashfs) FW_EX_SQUASHFS=$line ;;
      *.erofs) FW_EX_EROFS=$line ;;
    esac
  done < <("$FW_SOURCE_DIR/examples/make-example-firmware" "$out")
  if [[ -z "$FW_EX_DIR" || -z "$FW_EX_EXT2" || -z "$FW_EX_SQUASHFS" ]]; then
    echo "make-example-firmware did not produce the rootfs, ext2 and squashfs images" >&2
    return 1
  fi
}

# Checks that nothing of this test is left in the kernel: no mount at or below $FW_TMP and
# no loop device whose backing file lies below $FW_TMP. Call it after dropping everything
# and stopping the daemon.
assert_no_leaks() {
  local mounts loops
  mounts=$(awk -v d="$FW_TMP" '$5 == d || index($5, d "/") == 1 { print $5 }' \
             /proc/self/mountinfo)
  expect_eq "no mount left below $FW_TMP" "" "$mounts"
  loops=$(for f in /sys/block/loop*/loop/backing_file; do
            [[ -r "$f" ]] || continue
            b=$(cat "$f" 2>/dev/null) || continue
            [[ "$b" == "$FW_TMP"/* ]] && echo "${f#/sys/block/}: $b"
          done; true)
  expect_eq "no loop device backed by a file below $FW_TMP" "" "$loops"
  expect_eq "no instance cgroup left in $FIRMWARED_CGROUP" "" \
    "$(fw_test_cgroups | grep -E "/$FIRMWARED_CGROUP/[^/]+" || true)"
}

# ---- instances (instances*_test.sh) -----------------------------------------------------
# Monitors and instances outlive the daemon by design, so these tests kill whatever of
# theirs survived before the common cleanup runs.

# Like setup; on exit, first kills the leftover processes of this test's instances.
fw_inst_setup() {
  setup
  trap fw_inst_on_exit EXIT
  # Host veth names and addresses of its own, so that daemons of tests running at the same
  # time neither collide on fd_veth0 nor sweep each other's veths as leftovers.
  local suffix=${FW_TMP##*.}
  export FIRMWARED_HOST_INTERFACE_PREFIX="fwi$suffix"
  export FIRMWARED_NET_FIRST_TWO_BYTES="10.$((100 + $(cksum <<<"$suffix" | cut -d' ' -f1) % 150))."
}

fw_inst_on_exit() {
  local rc=$? pids
  set +e
  pids=$(fw_inst_leftover_pids)
  if [[ -n "$pids" ]]; then
    echo "killing leftover instance processes:" $pids >&2
    kill -KILL $pids 2>/dev/null
    sleep 0.2
  fi
  (exit $rc)
  fw_cleanup
}

# Prints the pids of live processes belonging to this test's instances: monitors working
# below $FW_TMP and every process whose root is an overlay with its upper dir below $FW_TMP.
# The standbys of ready instances (premade_sandbox: a monitor named fw-standby, and in a
# user namespace the PID 1 it holds waiting) are not leftovers: fw_inst_standby_pids.
fw_inst_leftover_pids() {
  local esc standbys
  esc=$(printf '%s' "$FW_TMP" | sed 's/[.[\*^$()+?{|]/\\&/g')
  standbys=" $(fw_inst_standby_pids) "
  {
    pgrep -f -- "firmwared-monitor .*--workspace $esc/" || true
    grep -slE "^[0-9]+ [0-9]+ [0-9]+:[0-9]+ [^ ]+ / .*upperdir=$esc/" /proc/[0-9]*/mountinfo |
      sed -n 's|^/proc/\([0-9]*\)/mountinfo$|\1|p' || true
  } | sort -nu | while read -r p; do
    [[ $standbys == *" $p "* ]] || echo "$p"
  done | tr '\n' ' ' | sed 's/ $//'
}

# The pids of the monitors whose command line matches the extended regex $1, the standbys
# (named fw-standby: the pre-made sandboxes of ready instances) left out.
fw_run_monitor_pids() {
  local p pp
  for p in $(pgrep -f -- "$1" || true); do
    [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == fw-standby ]] && continue
    # (In userns mode a standby holds PID 1 waiting: a copy of the monitor, its child.)
    pp=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null || true)
    [[ -n "$pp" && "$(cat "/proc/$pp/comm" 2>/dev/null)" == fw-standby ]] && continue
    echo "$p"
  done
}

# The pids of this test's standby monitors (named fw-standby) and of their children.
fw_inst_standby_pids() {
  local esc p
  esc=$(printf '%s' "$FW_TMP" | sed 's/[.[\*^$()+?{|]/\\&/g')
  for p in $(pgrep -f -- "firmwared-monitor .*--workspace $esc/" || true); do
    [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == fw-standby ]] || continue
    echo "$p"
    pgrep -P "$p" || true
  done | sort -nu | tr '\n' ' ' | sed 's/ $//'
}

# The processes in the cgroup directory $1 that are no standby's (a ready instance's pre-made
# PID 1 waits in its instance's cgroup): what a run left there. Nothing for a missing dir.
fw_inst_cgroup_run_procs() {
  local standbys p
  [[ -r $1/cgroup.procs ]] || return 0
  standbys=" $(fw_inst_standby_pids) "
  while read -r p; do
    [[ $standbys == *" $p "* ]] || echo "$p"
  done <"$1/cgroup.procs"
}

# The first line of /etc/build.prop, which the example firmware serves on TCP port 9050 of
# its address $1 (timeout $2 seconds, default 5); Python's error on stderr when unreachable.
fw_build_prop_line() {
  "$PYTHON" - "$1" "${2:-5}" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], 9050), timeout=float(sys.argv[2]))
print(s.makefile().readline().strip())
PY
}

# Zombie children of the daemon (there must never be any).
fw_inst_daemon_zombies() {
  [[ -n "$FW_DAEMON_PID" ]] || return 0
  ps -o pid=,stat= --ppid "$FW_DAEMON_PID" 2>/dev/null | awk '$2 ~ /^Z/ { print $1 }' |
    tr '\n' ' ' | sed 's/ $//'
}

# fw_inst_wait_for SECONDS COMMAND...: polls COMMAND every 20 ms; 1 on timeout.
fw_inst_wait_for() {
  local limit=$1 i
  shift
  for ((i = 0; i < limit * 50; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.02
  done
  "$@" >/dev/null 2>&1
}

fw_inst_no_leftovers() { [[ -z "$(fw_inst_leftover_pids)" ]]; }

# Checks (waiting up to 5 s) that no process of this test's instances is left.
fw_inst_expect_no_leftovers() {
  fw_inst_wait_for 5 fw_inst_no_leftovers || true
  expect_eq "$1: no monitor or instance process left" "" "$(fw_inst_leftover_pids)"
  expect_eq "$1: no zombie child of the daemon" "" "$(fw_inst_daemon_zombies)"
}

fw_inst_daemon_fds() { ls "/proc/$FW_DAEMON_PID/fd" 2>/dev/null | wc -l; }
# The daemon's fd count once the connections of earlier fwctl calls are closed (it closes
# its end asynchronously): two equal readings 0.2 s apart (at most 2 s), standbys' left out.
fw_inst_settled_fds() {
  local a b i
  b=$(fw_inst_daemon_fds)
  for i in 1 2 3 4 5 6 7 8 9 10; do
    a=$b
    sleep 0.2
    b=$(fw_inst_daemon_fds)
    [[ "$a" == "$b" ]] && break
  done
  # Without the three held for each standby (fw_inst_expect_fds adds them back).
  echo $((b - 3 * $(fw_inst_standby_count)))
}

# fw_inst_expect_fds DESCRIPTION COUNT: the daemon's fd count comes back to COUNT within
# 3 s (a client's session closes a little after the client exits), plus the three the daemon
# holds for each standby of this test's instances (pidfd, status and control pipes).
fw_inst_expect_fds() {
  fw_inst_wait_for 3 fw_inst_fds_are "$2" || true
  local want=$(($2 + 3 * $(fw_inst_standby_count)))
  expect_eq "$1: daemon fd count back to $2 (+3 per standby)" "$want" "$(fw_inst_daemon_fds)"
}
fw_inst_fds_are() { [[ "$(fw_inst_daemon_fds)" -eq $(($1 + 3 * $(fw_inst_standby_count))) ]]; }
# This test's standby monitors (ready ones: named fw-standby).
fw_inst_standby_count() {
  local esc p n=0
  esc=$(printf '%s' "$FW_TMP" | sed 's/[.[\*^$()+?{|]/\\&/g')
  for p in $(pgrep -f -- "firmwared-monitor .*--workspace $esc/" || true); do
    [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == fw-standby ]] && n=$((n + 1))
  done
  echo "$n"
}

# Mounts at or below $1 (count).
fw_inst_mounts_below() {
  awk -v d="$1" '$5 == d || index($5, d "/") == 1' /proc/self/mountinfo | wc -l
}

fw_inst_prop() { "$FWCTL" get_property instances "$1" "$2"; }

fw_inst_state_is() { [[ "$("$FWCTL" get_property instances "$1" state)" == "$2" ]]; }

# fw_inst_wait_state ID STATE [SECONDS]: 1 when the state is not reached in time.
fw_inst_wait_state() { fw_inst_wait_for "${3:-10}" fw_inst_state_is "$1" "$2"; }

# fw_inst_exec PID COMMAND...: runs the firmware's busybox COMMAND inside the instance whose
# PID 1 is host pid PID (all its namespaces, its root).
fw_inst_exec() {
  local pid=$1 user=()
  shift
  # In user-namespace mode, as the instance's root (nsenter -U becomes uid 0 there): host
  # root's own ids cannot be written through the instance's idmapped layers.
  [[ "$(readlink "/proc/$pid/ns/user")" == "$(readlink /proc/self/ns/user)" ]] || user=(-U)
  nsenter -t "$pid" "${user[@]}" -m -u -i -n -p -r -w /bin/busybox "$@"
}

# Processes in the PID namespace of host pid $1 (count, seen from the host).
fw_inst_pidns_count() {
  local ns p n=0
  ns=$(readlink "/proc/$1/ns/pid") || return 1
  for p in /proc/[0-9]*; do
    [[ "$(readlink "$p/ns/pid" 2>/dev/null)" == "$ns" ]] && n=$((n + 1))
  done
  echo "$n"
}

# Stops the daemon with fwctl quit and waits for it; returns its exit status.
fw_inst_quit_daemon() {
  local pid=$FW_DAEMON_PID rc=0
  "$FWCTL" quit >/dev/null || return 1
  fw_inst_wait_for 5 bash -c "! kill -0 $pid" || true
  wait "$pid" || rc=$?
  FW_DAEMON_PID=""
  cp "$FW_LOG" "$FW_LOG_COPY" 2>/dev/null || true
  return $rc
}

# fw_owner_id MOUNT_PATH: the id a daemon with that mount_path marks its kernel objects with
# (its veths' ifalias "firmwared:<id>", its nftables table "firmwared_<prefix>_<id>").
fw_owner_id() { printf '%s' "$(realpath -m "$1")" | sha1sum | cut -c1-16; }

# Kills the daemon with SIGKILL (a crash) and reaps it.
# fw_second_daemon DIR [NAME=VALUE...]: starts another firmwared with its state below DIR
# (socket, catalogue, mounts, repository, log) and its own cgroup directory (a daemon sweeps
# the instance cgroups it finds in its own), plus the given environment; sets D2_PID and
# waits until it answers. `d2 ARGS...` runs fwctl against it.
fw_second_daemon() {
  local dir=$1
  shift
  mkdir -p "$dir"
  (
    export FIRMWARED_SOCKET_PATH=$dir/firmwared.sock FIRMWARED_DATABASE_PATH=$dir/var/catalogue.db
    export FIRMWARED_MOUNT_PATH=$dir/mount_points FIRMWARED_REPOSITORY_PATH=$dir/firmwares
    export FIRMWARED_CGROUP=$FIRMWARED_CGROUP-d2
    exec env "$@" "$FIRMWARED" >>"$dir/firmwared.log" 2>&1
  ) &
  D2_PID=$!
  D2_DIR=$dir
  fw_inst_wait_for 5 d2 ping
}
d2() { FIRMWARED_SOCKET_PATH=$D2_DIR/firmwared.sock "$FWCTL" "$@"; }

fw_inst_crash_daemon() {
  local pid=$FW_DAEMON_PID
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  FW_DAEMON_PID=""
}

# Mounts on the ro and union dirs of workspace $1 (stacked ones counted): 2 when mounted
# once. Other mounts an issue may add in the workspace (the netns pin) are not counted.
fw_inst_workspace_mounts() {
  awk -v a="$1/ro" -v b="$1/union" '$5 == a || $5 == b' /proc/self/mountinfo | wc -l
}

# fw_inst_expect_settled DESCRIPTION EXPECTED COMMAND...: COMMAND's output becomes EXPECTED
# within 5 s (for state the daemon settles after its reply, such as a network teardown).
fw_inst_expect_settled() {
  local what=$1 want=$2
  shift 2
  fw_inst_wait_for 5 fw_inst_output_is "$want" "$@" || true
  expect_eq "$what" "$want" "$("$@")"
}
fw_inst_output_is() {
  local want=$1
  shift
  [[ "$("$@")" == "$want" ]]
}
