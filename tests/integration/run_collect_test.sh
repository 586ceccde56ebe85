#!/usr/bin/env bash
# fwctl run (prepare + start + exec, --rm even when fwctl is interrupted) and fwctl collect
# (an instance's artefacts in a directory: every file there and parsable).
source "$(dirname "$0")/../lib/harness.sh"
require_root
fw_inst_setup
build_example_firmware
start_daemon
instances() { "$FWCTL" list instances; }
no_instance() { [[ -z "$(instances)" ]]; }

F=$(field name "$(fwctl prepare firmwares "$FW_EX_DIR")")

# ---- run -- CMD: its exit status, --rm drops ---------------------------------------------
run fwctl run --rm "$F" -- sh -c 'cat /etc/build.prop; exit 7'
expect_eq "run --rm FW -- CMD exits with CMD's status" 7 "$RC"
expect_eq "CMD's output is fwctl's" "$(cat "$FW_EX_DIR/etc/build.prop")" "$OUT"
expect_eq "--rm dropped the instance" "" "$(instances)"
run fwctl run --rm --wait-console 'firmware booted' --timeout 30 "$F" -- true
expect_eq "run --rm --wait-console ... -- true: 0" 0 "$RC"
expect_eq "nothing printed by fwctl itself" "" "$OUT"
expect_eq "--rm dropped it" "" "$(instances)"
run fwctl run --rm --wait-console 'never printed' --timeout 1 "$F" -- true
expect_eq "a console wait that times out: exit 3" 3 "$RC"
expect_eq "--rm dropped it anyway" "" "$(instances)"
run fwctl run "$F" -- true
expect_eq "run without --rm: CMD's status" 0 "$RC"
expect_match "the instance left running is named on stderr" "instance [a-z_0-9]+ is left running" "$ERR"
LEFT=$(sed -n 's/.*instance \([a-z_0-9]*\) is left running.*/\1/p' <<<"$ERR")
expect_eq "it is started" started "$(fwctl get_property instances "$LEFT" state)"
fwctl kill "$LEFT" >/dev/null
fwctl drop instances "$LEFT" >/dev/null

# ---- bad usage: nothing is prepared ------------------------------------------------------
run fwctl run --rm --name run_named --label job=42 "$F" -- sh -c 'hostname; exit 3'
expect_eq "--name: CMD's status" 3 "$RC"
expect_eq "--name: the instance is named so (its hostname)" run_named "$OUT"
expect_eq "--rm dropped the named instance" "" "$(instances)"
fwctl prepare instances "$F" --name run_taken >/dev/null
run fwctl run --rm --name run_taken "$F" -- true
expect_eq "--name of an existing instance: exit 1" 1 "$RC"
expect_match "the clash is named" "run_taken" "$ERR"
run fwctl run --name 'bad name' "$F"
expect_eq "an invalid --name: exit 1" 1 "$RC"
fwctl drop instances run_taken >/dev/null
run fwctl run --rm --wait-console '(' "$F"
expect_eq "a bad regex: exit 1" 1 "$RC"
run fwctl run no_such_firmware
expect_eq "an unknown firmware: exit 1" 1 "$RC"
expect_match "named" "no_such_firmware" "$ERR"
expect_eq "nothing was prepared" "" "$(instances)"

# ---- --rm when fwctl is interrupted ------------------------------------------------------
for sig in INT TERM; do
  "$FWCTL" run --rm --wait-console 'firmware booted' --timeout 30 "$F" -- sleep 60 \
    </dev/null >/dev/null 2>"$FW_TMP/run-$sig.err" &
  pid=$!
  sleeping() {
    local id
    id=$(instances | sed 's/\[.*//')
    [[ -n "$id" ]] &&
      "$FWCTL" exec "$id" -- sh -c 'ps | grep -q "[s]leep 60"' </dev/null >/dev/null 2>&1
  }
  check "SIG$sig: CMD runs" fw_inst_wait_for 30 sleeping
  kill -"$sig" "$pid"
  rc=0
  wait "$pid" || rc=$?
  expect_eq "fwctl run --rm killed with SIG$sig: 128+N" "$((128 + $(kill -l "$sig")))" "$rc"
  check "SIG$sig: the instance was dropped" no_instance
done

# ---- run without CMD, then collect ------------------------------------------------------
run fwctl --json run --wait-console 'firmware booted' --timeout 30 "$F"
expect_eq "run FW (no CMD): exit 0" 0 "$RC"
ID=$("$PYTHON" -c 'import json,sys; print(json.loads(sys.stdin.read())["name"])' <<<"$OUT")
expect_eq "it printed the PREPARED reply of a started instance" started \
  "$(fwctl get_property instances "$ID" state)"
fwctl exec "$ID" -- sh -c 'echo changed >/etc/added; echo hi >/dev/console' </dev/null
D=$FW_TMP/collected
run fwctl collect "$ID" "$D"
expect_eq "collect: exit 0" 0 "$RC"
[[ $RC -eq 0 ]] || echo "$ERR" >&2
for f in console.log diff.txt diff.json changes.tar stats.json show.txt show.json; do
  check "collect wrote $f" test -s "$D/$f"
done
check "console.log has the boot" grep -q 'firmware booted' "$D/console.log"
check "diff.txt lists the added file" grep -q '^A.*/etc/added' "$D/diff.txt"
check "show.txt names the instance" grep -q "^name: $ID\$" "$D/show.txt"
for f in diff.json stats.json show.json; do
  check "$f parses" "$PYTHON" -c 'import json,sys; json.load(open(sys.argv[1]))' "$D/$f"
done
check "changes.tar holds etc/added" bash -c "tar -tf '$D/changes.tar' | grep -q 'etc/added'"
check "stats.json has the instance" grep -q "\"$ID\"" "$D/stats.json"
run fwctl collect "$ID" "$D"
expect_eq "collect into a non-empty directory: exit 1" 1 "$RC"
expect_match "it says so" "not empty" "$ERR"
run fwctl collect no_such_instance "$FW_TMP/never"
expect_eq "collect of an unknown instance: exit 1" 1 "$RC"
check "and no directory was made" test ! -e "$FW_TMP/never"
fwctl kill "$ID" >/dev/null
mkdir "$FW_TMP/stopped"
run fwctl collect "$ID" "$FW_TMP/stopped"
expect_eq "collect of a stopped instance (into an empty directory): exit 0" 0 "$RC"
check "its stats.json is the error reply" grep -q '"answer":"ERROR"' "$FW_TMP/stopped/stats.json"
fwctl drop instances "$ID" >/dev/null

# ---- run --rm without CMD waits for PID 1 ------------------------------------------------
"$FWCTL" run --rm --wait-console 'firmware booted' --timeout 30 "$F" >"$FW_TMP/rm.out" 2>&1 &
pid=$!
# Started and booted: a STOP before the console matched would end the run with that error.
named() {
  [[ -s "$FW_TMP/rm.out" ]] && fw_inst_state_is "$(head -1 "$FW_TMP/rm.out")" started &&
    fwctl logs "$(head -1 "$FW_TMP/rm.out")" 2>/dev/null | grep -q 'firmware booted'
}
check "run --rm FW (no CMD) prints the name of a started instance" fw_inst_wait_for 30 named
check "and keeps waiting" kill -0 "$pid"
fwctl stop "$(head -1 "$FW_TMP/rm.out")" >/dev/null
rc=0
wait "$pid" || rc=$?
[[ $rc -eq 0 ]] || sed 's/^/    fwctl run: /' "$FW_TMP/rm.out" >&2
expect_eq "once PID 1 exits it drops the instance: exit 0" 0 "$rc"
expect_eq "the instance is gone" "" "$(instances)"

fwctl drop firmwares "$F" >/dev/null
stop_daemon
assert_no_leaks
