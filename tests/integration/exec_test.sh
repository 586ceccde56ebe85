#!/usr/bin/env bash
# EXEC: `fwctl exec` runs a command inside a started instance (its
# namespaces, root and confinement), streams stdio (a pty with -t), passes -e and -w, and
# returns the command's exit status (125 daemon error, 126 cannot execute, 127 not found);
# no descriptor leaks into the command; 20 concurrent execs; nothing leaks afterwards.
source "$(dirname "$0")/../lib/harness.sh"
require_root
setup
export FIRMWARED_HOST_INTERFACE_PREFIX=fwtex FIRMWARED_NET_FIRST_TWO_BYTES=10.241.
build_example_firmware
start_daemon
INST="" READY="" FW=""
exec_cleanup() {
  local rc=$? id
  set +e
  for id in $INST; do "$FWCTL" kill "$id" >/dev/null 2>&1; done
  (exit "$rc")
  fw_inst_on_exit
}
trap exec_cleanup EXIT

x() { "$FWCTL" exec "$INST" -- "$@"; }

FW=$(field name "$("$FWCTL" prepare firmwares "$FW_EX_DIR")")
FDS0=$(fw_inst_settled_fds)
INST=$(field name "$("$FWCTL" prepare instances "$FW")")
READY=$(field name "$("$FWCTL" prepare instances "$FW")")
run "$FWCTL" start --wait-console 'firmware booted' --timeout 30 "$INST"
expect_eq "the instance boots" 0 "$RC"
INIT_PID=$(fw_inst_prop "$INST" init_pid)
FDS1=$(fw_inst_settled_fds)

# ---- exit statuses ----------------------------------------------------------------------
run x true
expect_eq "exec true: 0" 0 "$RC"
run x sh -c 'exit 3'
expect_eq "exec sh -c 'exit 3': 3" 3 "$RC"
run x no-such-command-here
expect_eq "exec of a missing command: 127" 127 "$RC"
run x sh -c 'echo x > /tmp/f; chmod 644 /tmp/f'
expect_eq "creating a non-executable file" 0 "$RC"
run x /tmp/f
expect_eq "exec of a non-executable file: 126" 126 "$RC"

# ---- stdio ------------------------------------------------------------------------------
OUT=$(printf 'a\nb\n' | x wc -l)
expect_eq "stdin is piped to the command" 2 "$(tr -d ' ' <<<"$OUT")"
OUT=$(x sh -c 'echo out; echo err >&2' 2>"$FW_TMP/err")
expect_eq "stdout stays stdout" out "$OUT"
expect_eq "stderr stays stderr" err "$(cat "$FW_TMP/err")"
# script(1)'s stdin must not reach EOF while the command runs: util-linux 2.38 then writes
# an end-of-file byte to the terminal (a NUL once fwctl put it in raw mode), which the
# command's pty echoes as "^@".
OUT=$(script -qec "$FWCTL exec -t $INST -- sh -c 'tty; echo \$TERM'" /dev/null < <(sleep 5) |
        tr -d '\r')
expect_match "-t: the command's stdin is a pts" '^/dev/pts/[0-9]+' "$OUT"
expect_match "-t: TERM=xterm" $'\nxterm$' "$OUT"
OUT=$(script -qec "$FWCTL exec -t $INST -- sh -c 'test -t 0 && echo yes || echo no'" \
        /dev/null < <(sleep 5) | tr -d '\r')
expect_eq "-t: test -t 0 is true" yes "$OUT"
OUT=$(x sh -c 'test -t 0 && echo yes || echo no' </dev/null)
expect_eq "without -t: test -t 0 is false" no "$OUT"

# ---- environment, working directory, namespaces -----------------------------------------
expect_eq "-e NAME=VALUE" "bar baz" \
  "$("$FWCTL" exec -e FOO=bar -e BAR=baz "$INST" -- sh -c 'echo $FOO $BAR')"
expect_eq "-w DIR" /etc "$("$FWCTL" exec -w /etc "$INST" -- pwd)"
OUT=$(x sh -c 'echo $$')
check "the command is in the instance's PID namespace (pid $OUT is small)" test "$OUT" -lt 100
expect_eq "/proc/1/cmdline is the firmware's init" \
  "$(tr '\0' ' ' <"/proc/$INIT_PID/cmdline")" "$(x cat /proc/1/cmdline | tr '\0' ' ')"
expect_eq "the instance's hostname" "$(fw_inst_exec "$INIT_PID" hostname)" "$(x hostname)"
expect_eq "the instance's root" "firmware booted" \
  "$(x sh -c 'test -e /var/lib/firmware-booted && echo firmware booted')"
expect_eq "no descriptor leaks into the command" "0 1 2 3" \
  "$(x ls /proc/self/fd </dev/null | tr '\n' ' ' | sed 's/ $//')"

# ---- confinement ------------------------------------------------------------------------
# busybox date exits 0 even when settime fails: its message tells.
run x date -s 2000-01-01
expect_match "date -s: Operation not permitted" "Operation not permitted" "$ERR"
CAPBND=$(x sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)
expect_match "CapBnd is read" '^[0-9a-f]+$' "$CAPBND"
expect_eq "CapBnd lacks CAP_SYS_TIME (bit 25)" 0 "$(((16#${CAPBND:-0} >> 25) & 1))"

# ---- errors -----------------------------------------------------------------------------
run "$FWCTL" exec "$READY" -- true
expect_eq "exec into a ready instance: 125" 125 "$RC"
expect_match "exec into a ready instance: a clear message" "$READY.*(not started|ready)" "$ERR"
run "$FWCTL" exec no_such_instance -- true
expect_eq "exec into an unknown instance: 125" 125 "$RC"
expect_match "exec into an unknown instance: named" "no_such_instance" "$ERR"

# ---- 20 concurrent execs ----------------------------------------------------------------
PIDS=()
for k in $(seq 1 20); do
  "$FWCTL" exec "$INST" -- sh -c "sleep 0.2; echo job$k" >"$FW_TMP/job$k" 2>&1 </dev/null &
  PIDS+=($!)
done
FAILED=0
for p in "${PIDS[@]}"; do wait "$p" || FAILED=$((FAILED + 1)); done
expect_eq "20 concurrent execs all exit 0" 0 "$FAILED"
BAD=""
for k in $(seq 1 20); do [[ "$(cat "$FW_TMP/job$k")" == "job$k" ]] || BAD+=" $k"; done
expect_eq "20 concurrent execs: each printed its own output" "" "$BAD"

fw_inst_expect_fds "after the execs" "$FDS1"
"$FWCTL" kill "$INST" >/dev/null
"$FWCTL" drop instances "$INST" >/dev/null
"$FWCTL" drop instances "$READY" >/dev/null
INST=""
fw_inst_expect_fds "after dropping the instances" "$FDS0"
"$FWCTL" drop firmwares "$FW" >/dev/null
fw_inst_expect_no_leftovers "exec"
stop_daemon
assert_no_leaks
