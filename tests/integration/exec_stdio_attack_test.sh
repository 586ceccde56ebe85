#!/usr/bin/env bash
# EXEC stdio: only anonymous pipes and /dev/null, /dev/zero,
# /dev/full cross into an instance as a command's stdin, stdout or stderr. A raw client
# handing a directory, a host file, a pty, a named FIFO, a socket or an O_PATH descriptor is
# refused with a message naming the stream, the command never runs, the host is unchanged
# and the refused descriptors are closed. fwctl relays its terminal and files through
# pipes: `< /` fails clearly, `< file` still works, and under a terminal the command's
# stdio are pipes on which TIOCSTI fails.
source "$(dirname "$0")/../lib/harness.sh"
require_root
command -v cc >/dev/null || skip "needs a C compiler for the probe (build-essential)"
command -v script >/dev/null || skip "needs script(1) (util-linux) for a terminal"
setup
export FIRMWARED_HOST_INTERFACE_PREFIX=fwtsx FIRMWARED_NET_FIRST_TWO_BYTES=10.238.
HERE=$(cd "$(dirname "$0")" && pwd)
EXEC_FDS="$PYTHON $HERE/../lib/exec_fds.py"
build_example_firmware
FWDIR="$FW_TMP/stdio-fw"
cp -a "$FW_EX_DIR" "$FWDIR"
cc -static -O2 -Wall -Wextra -Werror -o "$FWDIR/bin/fw-probe" "$HERE/confinement_probe.c"
start_daemon
INST=""
stdio_cleanup() {
  local rc=$?
  set +e
  [[ -n "$INST" ]] && "$FWCTL" kill "$INST" >/dev/null 2>&1
  (exit "$rc")
  fw_inst_on_exit
}
trap stdio_cleanup EXIT
x() { "$FWCTL" exec "$INST" -- "$@"; }

FW=$(field name "$("$FWCTL" prepare firmwares "$FWDIR")")
INST=$(field name "$("$FWCTL" prepare instances "$FW")")
run "$FWCTL" start --wait-console 'firmware booted' --timeout 30 "$INST"
expect_eq "the instance boots" 0 "$RC"

# Host objects an attacker would aim at: a root-owned 0644 file, a 0644 FIFO, a directory.
VICTIM="$FW_TMP/victim"
echo original >"$VICTIM"
chmod 0644 "$VICTIM"
FIFO="$FW_TMP/fifo"
mkfifo -m 0644 "$FIFO"
MARKER_DIR="$FW_TMP/host-dir"
mkdir "$MARKER_DIR"
FDS0=$(fw_inst_settled_fds)

# ---- the daemon refuses what must not cross (a raw client, as a hostile group member) --
# attack NAME STDIN STDOUT STDERR STREAM KIND SCRIPT: the reply must be EINVAL naming STREAM
# and KIND, and SCRIPT (which first touches /ran.NAME) must never have run.
attack() {
  local name=$1 in=$2 out=$3 err=$4 stream=$5 kind=$6 script=$7 reply
  reply=$($EXEC_FDS "$FIRMWARED_SOCKET_PATH" "$INST" "$in" "$out" "$err" \
            sh -c "touch /ran.$name; $script")
  expect_match "$name: refused with EINVAL" '"error": "EINVAL"' "$reply"
  expect_match "$name: the message names $stream and what it is" \
    "EXEC $INST: $stream is $kind; only pipes and /dev/null cross into an instance" "$reply"
  run x test -e "/ran.$name"
  expect_eq "$name: the command never ran" 1 "$RC"
}
attack dir "dir:/" pipe pipe stdin "a directory" \
  "cat /proc/self/fd/0/etc/hostname; echo pwned > /proc/self/fd/0$MARKER_DIR/pwned"
check "dir: nothing was written on the host" test ! -e "$MARKER_DIR/pwned"
attack file "file:$VICTIM" pipe pipe stdin "a regular file" "echo pwned > /proc/self/fd/0"
expect_eq "file: the host file is unchanged" original "$(cat "$VICTIM")"
attack pty-stdout pipe pty pipe stdout "a terminal" "echo hi"
attack pty-stdin pty pipe pipe stdin "a terminal" "cat"
attack fifo "fifo:$FIFO" pipe pipe stdin "a named FIFO" "echo pwned > /proc/self/fd/0"
attack socket pipe pipe socket stderr "a socket" "echo hi >&2"
attack opath "opath:/" pipe pipe stdin "an O_PATH descriptor" "ls /proc/self/fd/0/"
attack stderr-file pipe pipe "file:$VICTIM" stderr "a regular file" "echo pwned >&2"
expect_eq "stderr-file: the host file is unchanged" original "$(cat "$VICTIM")"
check "the daemon holds none of the refused descriptors" \
  sh -c "! ls -l /proc/$FW_DAEMON_PID/fd | grep -e '$VICTIM' -e '$FIFO' -e ' /\$'"
expect_eq "no descriptor leaked in the daemon" "$FDS0" "$(fw_inst_settled_fds)"

# What may cross still does: pipes and /dev/null.
REPLY=$($EXEC_FDS "$FIRMWARED_SOCKET_PATH" "$INST" null pipe pipe sh -c 'echo out; echo err >&2')
expect_match "pipes and /dev/null: the command runs" '"exit_status": 0' "$REPLY"
expect_match "pipes: stdout arrives" $'\nSTDOUT out' "$REPLY"
expect_match "pipes: stderr arrives" $'\nSTDERR err' "$REPLY"

# ---- fwctl relays ---------------------------------------------------------------------
run "$FWCTL" exec "$INST" -- cat /proc/self/fd/0/etc/hostname </
expect_eq "fwctl exec < /: 125" 125 "$RC"
expect_eq "fwctl exec < /: a clear message" "fwctl: stdin is a directory" "$ERR"
expect_eq "fwctl exec < /: nothing printed" "" "$OUT"
printf 'line one\nline two\n' >"$FW_TMP/input"
run x sh -c 'cat' <"$FW_TMP/input"
expect_eq "fwctl exec < file: relayed" $'line one\nline two' "$OUT"
run x sh -c 'echo pwned > /proc/self/fd/0' <"$VICTIM"
expect_eq "fwctl exec < file: writing to /proc/self/fd/0 does not reach it" original \
  "$(cat "$VICTIM")"
x sh -c 'echo to a file; echo to stderr >&2' >"$FW_TMP/out.txt" 2>"$FW_TMP/err.txt"
expect_eq "fwctl exec > file" "to a file" "$(cat "$FW_TMP/out.txt")"
expect_eq "fwctl exec 2> file" "to stderr" "$(cat "$FW_TMP/err.txt")"
head -c 300000 /dev/urandom >"$FW_TMP/big"
x cat >"$FW_TMP/big.out" <"$FW_TMP/big"
check "fwctl exec: 300 kB through the relay, both ways, intact" cmp "$FW_TMP/big" "$FW_TMP/big.out"
x sh -c 'yes | head -c 200000' | cmp -s - <(yes | head -c 200000)
expect_eq "fwctl exec | consumer: passed-through pipe, intact" 0 "$?"
run x sh -c 'yes | head -c 1000000; echo status $? >&2' >/dev/null </dev/null
expect_eq "fwctl exec > /dev/null: passed through" 0 "$RC"

# Under a terminal: the command's stdio are pipes, TIOCSTI fails on them and on their
# /proc reopens (ENOTTY; in a user namespace the reopen itself is refused, EACCES: the
# pipes belong to a host uid the instance does not map), and the terminal saw none of the
# probe's '#'.
OUT=$(script -qec "$FWCTL exec $INST -- /bin/fw-probe tiocsti" /dev/null < <(sleep 5) |
        tr -d '\r')
for fd in 0 1 2; do
  expect_match "terminal: the command's fd $fd is a pipe" "FD $fd pipe:" "$OUT"
  expect_match "terminal: TIOCSTI on fd $fd: ENOTTY" "RESULT tiocsti_fd$fd ENOTTY" "$OUT"
  expect_match "terminal: TIOCSTI on a reopen of fd $fd: ENOTTY or EACCES" \
    "RESULT tiocsti_reopen_fd$fd (ENOTTY|EACCES)" "$OUT"
done
# -t: the pty is a new one of the instance's devpts, not the operator's terminal.
OUT=$(script -qec "stty rows 33 cols 77; $FWCTL exec -t $INST -- sh -c \
        'readlink /proc/self/fd/0; stty size; stat -L -c %d /dev/pts/ptmx /proc/self/fd/0'" \
        /dev/null < <(sleep 5) | tr -d '\r')
expect_match "-t: the command's stdin is a pts" $'(^|\n)/dev/pts/[0-9]+\n' "$OUT"
expect_match "-t: the window size is the operator's" $'\n33 77\n' "$OUT"
DEVS=($(tail -2 <<<"$OUT"))
expect_eq "-t: the pts is on the instance's devpts" "${DEVS[0]:-a}" "${DEVS[1]:-b}"
check "-t: the instance's devpts is not the host's" \
  test "${DEVS[0]:-x}" != "$(stat -c %d /dev/pts/ptmx)"

"$FWCTL" kill "$INST" >/dev/null
"$FWCTL" drop instances "$INST" >/dev/null
INST=""
"$FWCTL" drop firmwares "$FW" >/dev/null
fw_inst_expect_no_leftovers "exec stdio"
stop_daemon
assert_no_leaks
