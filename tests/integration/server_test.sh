#!/usr/bin/env bash
# The daemon's own commands through fwctl, with fdc-compatible outputs and exit codes.
source "$(dirname "$0")/../lib/harness.sh"
require_root
setup

# Daemon not running yet: exit 3 with a clear message.
run fwctl ping
expect_eq "ping without daemon exits 3" 3 "$RC"
expect_match "ping without daemon explains" "cannot reach firmwared at $FIRMWARED_SOCKET_PATH" "$ERR"

start_daemon

run fwctl ping
expect_eq "ping prints PONG" "PONG" "$OUT"
expect_eq "ping exits 0" 0 "$RC"
run fwctl PiNg
expect_eq "verbs are case-insensitive" "PONG" "$OUT"

version=$("$FIRMWARED" --version | awk '{print $2}')
run fwctl version
expect_eq "version is the daemon's" "$version" "$OUT"

run fwctl config_keys
expect_eq "config_keys lists keys alphabetically" \
  "apparmor_profile cgroup client_idle_timeout client_line_timeout console_log_max container_interface database_path disable_apparmor dump_profile host_access host_interface_prefix log_level max_connections max_connections_per_uid mount_path net_first_two_bytes net_hook post_prepare_instance_hook premade_sandbox prevent_removal repository_path resources_dir socket_path stealable_interfaces userns userns_pool verbose_hook_scripts" \
  "$OUT"

run fwctl get_config SOCKET_PATH
expect_eq "get_config is case-insensitive and honours the environment" "$FIRMWARED_SOCKET_PATH" "$OUT"
run fwctl get_config container_interface
expect_eq "get_config default" "eth0" "$OUT"
run fwctl get_config no_such_key
expect_eq "unknown config key exits 1" 1 "$RC"
expect_eq "unknown config key message" "firmwared error: unknown config key 'no_such_key' (CONFIG_KEYS lists them)" "$ERR"

run fwctl commands
expect_match "commands lists PING and VERSION" "(^| )PING( |$)" "$OUT"
expect_match "commands lists SUBSCRIBE" "(^| )SUBSCRIBE( |$)" "$OUT"
expect_match "commands ends with RESTART, as fdc's did" " RESTART$" "$OUT"
# fdc's own test (010_command_commands.sh) compared the sorted list with its commands; ours
# has more, so every one of fdc's must be there.
missing=""
for c in ADD_PROPERTY COMMANDS CONFIG_KEYS DROP FOLDERS GET_CONFIG GET_PROPERTY HELP KILL LIST \
  PING PREPARE PROPERTIES QUIT REMOUNT RESTART SET_PROPERTY SHOW START VERSION; do
  [[ " $OUT " == *" $c "* ]] || missing+=" $c"
done
expect_eq "commands has every command fdc listed" "" "$missing"
run fwctl folders
expect_eq "folders" "firmwares instances snapshots" "$OUT"

run fwctl help ping
expect_eq "help: three fdc lines then usage" \
  "$(printf 'Command PING\nSynopsis: PING\nOverview: Checks that the daemon answers.\nUsage: fwctl ping')" "$OUT"
# The daemon's HELP through --json.
run fwctl --json help_not_a_verb
expect_eq "unknown verb exits 2" 2 "$RC"
run fwctl --json ping
expect_match "--json prints the raw reply" '^\{"answer":"PONG","seq":[0-9]+\}$' "$OUT"
run fwctl --json get_config nope
expect_eq "--json error exits 1" 1 "$RC"
expect_match "--json error carries errno" '"errno":3,"error":"ESRCH"' "$OUT"

run fwctl ping extra
expect_eq "bad usage exits 1" 1 "$RC"
expect_eq "bad usage message names the value, then the usage" \
  "$(printf "fwctl: ping: unexpected operand 'extra'\nfwctl: usage: fwctl ping")" "$ERR"
run fwctl --help
expect_match "--help lists verbs" "prepare +Creates an entity" "$OUT"

# The daemon's own HELP text for a command (raw protocol).
run "$PYTHON" "$FW_SOURCE_DIR/tests/lib/fwclient.py" "$FIRMWARED_SOCKET_PATH" \
  '{"seq":5,"command":"help","args":["start"]}'
expect_match "HELP reply" '"answer": "HELP".*"synopsis": "START ID"' "$OUT"

# QUIT: the bye bye text, the daemon exits 0 and removes its socket.
run fwctl quit
expect_eq "quit output" "firmwared said bye bye" "$OUT"
for _ in $(seq 1 100); do kill -0 "$FW_DAEMON_PID" 2>/dev/null || break; sleep 0.02; done
rc=0
wait "$FW_DAEMON_PID" || rc=$?
FW_DAEMON_PID=""
expect_eq "daemon exits 0 after QUIT" 0 "$rc"
check "socket removed after QUIT" test ! -e "$FIRMWARED_SOCKET_PATH"
