#!/usr/bin/env bash
# Names, labels and `wait --exit` of instances: `fwctl prepare instances FW --name NAME
# --label K=V` gives the instance that name (accepted by start/show/kill/drop) and labels
# (shown by show and ps --json); a taken or invalid name, or a bad label, is refused naming
# the value with nothing created; names and labels survive a daemon restart; the name is
# writable while ready only; `ps --filter` keeps matching instances (several filters AND);
# `wait ID --exit` exits with PID 1's status (7 for exit 7, 137 after a KILL), at once for
# an instance already stopped.
source "$(dirname "$0")/../lib/harness.sh"
require_root
command -v nsenter >/dev/null || skip "needs nsenter (util-linux)"
fw_inst_setup
build_example_firmware
start_daemon

MNT=$FIRMWARED_MOUNT_PATH
json() {  # json PYTHON_EXPR JSON: evaluates EXPR with `d` the parsed JSON
  "$PYTHON" -c 'import json, sys
d = json.loads(sys.argv[2])
print(eval(sys.argv[1]))' "$1" "$2"
}
# expect_error DESCRIPTION ERRNO_NAME MESSAGE_REGEX COMMAND...
expect_error() {
  local what=$1 errname=$2 regex=$3
  shift 3
  run fwctl "$@"
  expect_eq "$what: exit 1" 1 "$RC"
  expect_match "$what: message" "^firmwared error: $regex\$" "$ERR"
  run fwctl --json "$@"
  expect_match "$what: --json $errname" "\"error\":\"$errname\"" "$OUT"
}
workspaces() { ls "$MNT/instances" 2>/dev/null | grep -v '^trash$' | wc -l; }

run fwctl prepare firmwares "$FW_EX_EXT2"
FW=$(field sha1 "$OUT")

# ---- --name and --label
run fwctl prepare instances "$FW" --name web1 --label ci=1 --label job=build-42
expect_eq "prepare --name: exit 0" 0 "$RC"
expect_eq "prepare --name: the name line" "name: web1" "$(sed -n 3p <<<"$OUT")"
SHA1=$(field sha1 "$OUT")
expect_eq "show by name: sha1" "$SHA1" "$(fwctl get_property instances web1 sha1)"
expect_eq "labels[]" "ci=1 job=build-42" "$(fw_inst_prop web1 'labels[]')"
run fwctl show instances web1
expect_match "show lists labels[]" $'(^|\n)labels\\[\\]: ci=1 job=build-42($|\n)' "$OUT"
run fwctl prepare instances "$FW" --name=web2 --label=ci=2
expect_eq "prepare --name=: exit 0" 0 "$RC"
run fwctl prepare instances "$FW"
OTHER=$(field name "$OUT")
expect_match "without --name: a generated name" '^[a-z]+_[a-z]+$' "$OTHER"

# ---- refused names and labels: nothing created
N0=$(fwctl list instances | wc -w)
W0=$(workspaces)
expect_error "taken name" EEXIST \
  "preparing an instance: an instance named 'web1' already exists" prepare instances "$FW" --name web1
expect_error "a name with a slash" EINVAL "preparing an instance: invalid name 'a/b': .*" \
  prepare instances "$FW" --name a/b
expect_error "a name that shadows a sha1 prefix" EINVAL \
  "preparing an instance: invalid name '${SHA1:0:12}': a name cannot be 6 to 40 hex digits, it would shadow a sha1 prefix" \
  prepare instances "$FW" --name "${SHA1:0:12}"
expect_error "a number as name" EINVAL ".*invalid name '12': a name cannot be only digits.*" \
  prepare instances "$FW" --name 12
expect_error "a label without =" EINVAL ".*invalid label 'ci': expected KEY=VALUE" \
  prepare instances "$FW" --name web9 --label ci
expect_error "a label value with a blank" EINVAL ".*invalid value 'a b' of label 'k': .*" \
  prepare instances "$FW" --label 'k=a b'
expect_error "a label given twice" EINVAL ".*label key 'k' is given twice" \
  prepare instances "$FW" --label k=1 --label k=2
expect_error "name= for firmwares" EINVAL \
  "PREPARE firmwares takes no name= or label= option \\(only instances do\\)" \
  prepare firmwares "$FW_EX_EXT2" --name fw1
expect_eq "refused: no instance created" "$N0" "$(fwctl list instances | wc -w)"
expect_eq "refused: no workspace created" "$W0" "$(workspaces)"
expect_eq "refused: web9 does not exist" "" "$(fwctl get_property instances web9 sha1 2>/dev/null)"

# ---- ps --filter and --json labels
run fwctl ps --json
expect_eq "ps --json: labels of web1" "{'ci': '1', 'job': 'build-42'}" \
  "$(json "[r['labels'] for r in d if r['name'] == 'web1'][0]" "$OUT")"
expect_eq "ps --json: no labels" "{}" "$(json "[r['labels'] for r in d if r['name'] == '$OTHER'][0]" "$OUT")"
names_of() { run fwctl ps --json "$@"; json "' '.join(sorted(r['name'] for r in d))" "$OUT"; }
expect_eq "filter label=ci" "web1 web2" "$(names_of --filter label=ci)"
expect_eq "filter label=ci=2" "web2" "$(names_of --filter label=ci=2)"
expect_eq "filter label=job=build-42 AND label=ci=1" "web1" \
  "$(names_of --filter label=job=build-42 --filter label=ci=1)"
expect_eq "filter label=ci=2 AND name=web1" "" "$(names_of --filter label=ci=2 --filter name=web1)"
expect_eq "filter name=" "$OTHER" "$(names_of --filter "name=$OTHER")"
expect_eq "filter state=ready" "$(echo "$OTHER web1 web2" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')" \
  "$(names_of --filter state=ready)"
expect_eq "filter state=started" "" "$(names_of --filter state=started)"
run fwctl ps --filter label=ci=1
expect_eq "ps table with a filter: header + 1 row" 2 "$(wc -l <<<"$OUT")"
expect_match "ps table with a filter: web1" $'\nweb1 ' "$OUT"
run fwctl ps --filter colour=red
expect_eq "bad filter: exit 1" 1 "$RC"
expect_match "bad filter: named" "invalid --filter 'colour=red'" "$ERR"
run fwctl ps --filter state=running
expect_match "bad state filter: named" "invalid --filter 'state=running'" "$ERR"

# ---- names survive a daemon restart, and are accepted by start/kill/wait/drop
fwctl set_property instances web2 'labels[]' "ci=2 extra=x" >/dev/null
stop_daemon
start_daemon
expect_eq "restart: web1 keeps its sha1" "$SHA1" "$(fwctl get_property instances web1 sha1)"
expect_eq "restart: web1 keeps its labels" "ci=1 job=build-42" "$(fw_inst_prop web1 'labels[]')"
expect_eq "restart: web2 keeps its changed labels" "ci=2 extra=x" "$(fw_inst_prop web2 'labels[]')"
expect_eq "restart: filter still works" "web2" "$(names_of --filter label=extra)"

# ---- wait --exit
fwctl set_property instances web1 cmdline "/bin/sh -c 'exit 7'" >/dev/null
run fwctl wait web1 --exit
expect_eq "wait --exit before any run: exit 1" 1 "$RC"
expect_match "wait --exit before any run: says so" "has not run" "$ERR"
run fwctl start web1
expect_eq "start by name" "web1 started" "$OUT"
run timeout 20 "$FWCTL" wait web1 --exit --timeout 15
expect_eq "wait --exit: exit code 7" 7 "$RC"
expect_eq "wait --exit: prints the status" "web1 exited: status 7 (exited)" "$OUT"
run fwctl --json wait "${SHA1:0:12}" --exit
expect_eq "wait --exit of a stopped instance: 7 at once" 7 "$RC"
expect_eq "wait --exit --json: exit_status" 7 "$(json "d['exit_status']" "$OUT")"
expect_eq "wait --exit --json: name" web1 "$(json "d['name']" "$OUT")"

fwctl set_property instances web1 cmdline /sbin/init >/dev/null
fwctl start web1 >/dev/null
expect_eq "started: filter state=started" "web1" "$(names_of --filter state=started)"
# The name is PID 1's hostname: it changes only while ready.
run fwctl set_property instances web1 name web3
expect_eq "rename while started: exit 1" 1 "$RC"
expect_match "rename while started: EBUSY" "its name \\(PID 1's hostname\\) can change only while ready" "$ERR"
expect_eq "the hostname is the name" web1 "$(fw_inst_exec "$(fw_inst_prop web1 init_pid)" hostname)"
run timeout 10 "$FWCTL" wait web1 --exit --timeout 1
expect_eq "wait --exit timeout: 124" 124 "$RC"
"$FWCTL" wait web1 --exit --timeout 20 >"$FW_TMP/wait.out" 2>&1 &
WAITER=$!
sleep 0.5
run fwctl kill web1
expect_eq "kill by name" "web1 killed" "$OUT"
WRC=0
wait "$WAITER" || WRC=$?
expect_eq "wait --exit after KILL: 128+9" 137 "$WRC"
expect_eq "wait --exit after KILL: prints it" "web1 exited: status 137 (killed)" "$(cat "$FW_TMP/wait.out")"

# ---- renaming while ready
expect_error "rename to a taken name" EEXIST "an instance named 'web2' already exists" \
  set_property instances web1 name web2
expect_error "rename to an invalid name" EINVAL "invalid name 'a b': .*" \
  set_property instances web1 name 'a b'
fwctl set_property instances web1 name web3 >/dev/null
expect_eq "renamed: the new name resolves" "$SHA1" "$(fwctl get_property instances web3 sha1)"
expect_eq "renamed: the old one is free" "" "$(fwctl get_property instances web1 sha1 2>/dev/null)"
run fwctl prepare instances "$FW" --name web1
expect_eq "the old name can be taken again" 0 "$RC"
stop_daemon
start_daemon
expect_eq "restart: the rename persists" "$SHA1" "$(fwctl get_property instances web3 sha1)"

# ---- drop by name
for i in web1 web2 web3 "$OTHER"; do
  run fwctl drop instances "$i"
  expect_eq "drop $i by name" "$i dropped" "$OUT"
done
expect_eq "all dropped" "" "$(fwctl list instances)"
fwctl drop firmwares "$FW" >/dev/null
fw_inst_expect_no_leftovers "names"
stop_daemon
assert_no_leaks
fw_inst_expect_no_leftovers "after the daemon stopped"
