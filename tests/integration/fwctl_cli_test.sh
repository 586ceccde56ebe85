#!/usr/bin/env bash
# fwctl's command line (fwctl/options.h): every verb's --help exits 0 without contacting a
# daemon, --json is accepted after every verb, --socket=PATH and --reply-timeout, the old
# --timeout before the verb, did-you-mean for verbs and options, `fwctl help` lists verbs,
# usage errors name the bad value (exec: exit 125).
source "$(dirname "$0")/../lib/harness.sh"
require_root
setup

run fwctl help
expect_eq "fwctl help: exit 0" 0 "$RC"
VERBS=$(sed -n '/^Verbs:/,/^$/s/^  \([a-z_]*\) .*/\1/p' <<<"$OUT")
check "fwctl help lists ping, exec, start, ps" \
  eval 'grep -qx ping <<<"$VERBS" && grep -qx exec <<<"$VERBS" && grep -qx start <<<"$VERBS" && grep -qx ps <<<"$VERBS"'

# No daemon yet: --help must not need one (a connection attempt would exit 3).
for verb in $VERBS; do
  for h in --help -h; do
    run fwctl "$verb" "$h"
    expect_eq "$verb $h: exit 0, no daemon needed" 0 "$RC"
    expect_match "$verb $h: fdc's first line" "^Command ${verb^^}"$'\n'"Synopsis: " "$OUT"
  done
  # --json after the verb is never an unknown option (other usage errors are fine here).
  run fwctl "$verb" --json
  check "$verb --json: accepted ($ERR)" eval '! grep -q "unknown option" <<<"$ERR"'
  # The usage line of `help VERB` and of `VERB --help` is the same one.
  HELP_USAGE=$(fwctl help "$verb" | grep '^Usage: ')
  VERB_USAGE=$(fwctl "$verb" --help | grep '^Usage: ')
  expect_eq "$verb: one usage line" "$HELP_USAGE" "$VERB_USAGE"
done

run fwctl help exec
expect_match "help exec: synopsis and usage agree on the order" \
  "Synopsis: EXEC ID .*"$'\n'".*Usage: fwctl exec ID " "$OUT"
run fwctl diff -h
expect_eq "diff -h is help, not an instance name" 0 "$RC"

run fwctl strat x
expect_eq "mistyped verb: exit 2" 2 "$RC"
expect_eq "mistyped verb: suggestion" "fwctl: unknown verb 'strat' (did you mean 'start'?)" "$ERR"
run fwctl logs x --folow
expect_eq "mistyped option: exit 1" 1 "$RC"
expect_match "mistyped option: suggestion" "unknown option '--folow' \\(did you mean '--follow'\\?\\)" "$ERR"
run fwctl --jsn ping
expect_match "mistyped global option: suggestion" "did you mean '--json'" "$ERR"
run fwctl ping --timeout 5
expect_match "--timeout after a verb without one: points to --reply-timeout" \
  "did you mean '--reply-timeout'" "$ERR"
run fwctl start x --timeout 3
expect_eq "start --timeout without --wait-console: usage error" 1 "$RC"
expect_match "start --timeout without --wait-console: says why" "--wait-console" "$ERR"
run fwctl stop x --signal
expect_match "missing value names the option" "option '--signal' needs a value \\(SIGNAL\\)" "$ERR"
run fwctl exec x
expect_eq "exec usage error: exit 125" 125 "$RC"
run fwctl exec x --bogus -- true
expect_eq "exec unknown option: exit 125" 125 "$RC"
run fwctl --reply-timeout=abc ping
expect_match "bad --reply-timeout names the value" "'abc' is not a number of seconds" "$ERR"

start_daemon
SOCK=$FIRMWARED_SOCKET_PATH
run env -u FIRMWARED_SOCKET_PATH "$FWCTL" ping --json --socket="$SOCK"
expect_match "--socket=PATH after the verb, --json after the verb" '^\{"answer":"PONG"' "$OUT"
run env -u FIRMWARED_SOCKET_PATH "$FWCTL" --socket "$SOCK" --reply-timeout 5 ping
expect_eq "--socket PATH --reply-timeout 5 before the verb" "PONG" "$OUT"
run fwctl --timeout 5 ping
expect_eq "--timeout before the verb: the reply timeout's old name" "PONG" "$OUT"
run fwctl ps --json
expect_eq "ps --json: exit 0" 0 "$RC"
run fwctl --json ps
expect_eq "--json ps: exit 0" 0 "$RC"
run fwctl set_property instances nope stop_signal -1
expect_match "an operand '-1' reaches the daemon (not an option)" "firmwared error" "$ERR"

