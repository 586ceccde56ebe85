#!/usr/bin/env bash
# fdc compatibility: the test cases of Parrot's firmwared client fdc (its tests/NNN_command_*.sh:
# add_property, commands, config_keys, drop, folders, get_config, get_property, array access,
# help, kill, list, ping, prepare, properties, quit, remount, set_property, show, start, and
# instance_alive), run with fwctl and the verb names fdc used, on a firmware built here (the
# BusyBox example firmware as an ext2 image, like fdc's example_firmware.ext2), checking fdc's
# text outputs. Where fwctl deliberately differs, the check follows fwctl's documented
# behaviour and a comment says how fdc's original case read.
source "$(dirname "$0")/../lib/harness.sh"
require_root
fw_inst_setup
build_example_firmware
start_daemon

# fdc read identifiers from `fdc list FOLDER` as "name[sha1]" and kept the name.
first_name() { local l; l=$(fwctl list "$1"); l=${l%% *}; echo "${l%[*}"; }
expect_lines_match() {  # expect_lines_match DESCRIPTION REGEX TEXT: every line matches
  local line ok=1
  while IFS= read -r line; do
    [[ "$line" =~ $2 ]] || { ok=0; echo "    line not matching $2: $line" >&2; }
  done <<<"$3"
  expect_eq "$1" 1 "$ok"
}

# ---- 100 ping: PONG ------------------------------------------------------------------------
run fwctl ping
expect_eq "ping: PONG" "0 PONG" "$RC $OUT"

# ---- 010 commands: fdc's sorted list (ADD_PROPERTY ... VERSION, RESTART among them) ----------
# fwctl's list has fdc's 21 names and firmwared's newer commands; like fdc's, it is one line,
# space-separated, ending with RESTART (the client-side verb).
run fwctl commands
expect_eq "commands: exit 0, one line" "0 1" "$RC $(wc -l <<<"$OUT")"
expect_match "commands: ends with RESTART" ' RESTART$' "$OUT"
for c in ADD_PROPERTY COMMANDS CONFIG_KEYS DROP FOLDERS GET_CONFIG GET_PROPERTY HELP KILL LIST \
  PING PREPARE PROPERTIES QUIT REMOUNT RESTART SET_PROPERTY SHOW START VERSION; do
  expect_match "commands: lists $c" "(^| )$c( |$)" "$OUT"
done
expect_eq "commands: no name twice" "$(wc -w <<<"$OUT")" \
  "$(tr ' ' '\n' <<<"$OUT" | sort -u | wc -l)"

# ---- 020 config_keys: one line of key names ----------------------------------------------------
# fdc listed its own 18 keys (curl_hook, x11_path, ... are gone: firmwared.conf(5)); fwctl lists
# firmwared's, sorted. The keys both have must be there.
run fwctl config_keys
expect_eq "config_keys: exit 0, one line" "0 1" "$RC $(wc -l <<<"$OUT")"
for k in container_interface host_interface_prefix mount_path net_first_two_bytes net_hook \
  post_prepare_instance_hook prevent_removal repository_path resources_dir socket_path \
  verbose_hook_scripts apparmor_profile disable_apparmor dump_profile; do
  expect_match "config_keys: lists $k" "(^| )$k( |$)" "$OUT"
done
expect_eq "config_keys: sorted" "$(tr ' ' '\n' <<<"$OUT" | sort | tr '\n' ' ' | sed 's/ $//')" "$OUT"

# ---- 040 folders ---------------------------------------------------------------------------------
# fdc: "instances firmwares"; firmwared has a third folder, snapshots (docs/diff.md), and lists
# them sorted.
run fwctl folders
expect_eq "folders" "0 firmwares instances snapshots" "$RC $OUT"

# ---- 050 get_config container_interface: eth0 (the default) ------------------------------------
run fwctl get_config container_interface
expect_eq "get_config container_interface" "0 eth0" "$RC $OUT"
run fwctl get_config prevent_removal
expect_eq "get_config of a y/n key prints y or n" "0 n" "$RC $OUT"

# ---- 070 help: the three lines ---------------------------------------------------------------------
# fdc printed exactly three lines; fwctl prints the same three (the daemon's HELP reply, from the
# same table) and then its usage line ("Usage: fwctl folders", fwctl(1)). The overview is
# firmwared's wording, fdc's read "Asks the server to list the currently registered folders.".
HELP_JSON=$("$PYTHON" "$FW_SOURCE_DIR/tests/lib/fwclient.py" "$FIRMWARED_SOCKET_PATH" \
  '{"seq": 1, "command": "HELP", "args": ["folders"]}')
OVERVIEW=$("$PYTHON" -c 'import json, sys; print(json.loads(sys.argv[1])["overview"])' "$HELP_JSON")
run fwctl help folders
expect_eq "help folders: the three lines" \
  "Command FOLDERS"$'\n'"Synopsis: FOLDERS"$'\n'"Overview: $OVERVIEW" "$(head -n 3 <<<"$OUT")"
expect_eq "help folders: then the usage" "Usage: fwctl folders" "$(sed -n 4p <<<"$OUT")"
run fwctl help restart
expect_eq "help restart: exit 0" 0 "$RC"
expect_eq "help restart: Command line" "Command RESTART" "$(sed -n 1p <<<"$OUT")"
expect_match "help restart: Synopsis line" '^Synopsis: RESTART ID$' "$(sed -n 2p <<<"$OUT")"
expect_match "help restart: Overview line" '^Overview: .+' "$(sed -n 3p <<<"$OUT")"

# ---- 110 prepare: "new entity in firmwares folder created" ----------------------------------------
cp "$FW_EX_EXT2" "$FW_TMP/example_firmware.ext2"
run fwctl prepare firmwares "$FW_TMP/example_firmware.ext2"
expect_eq "prepare firmwares: exit 0" 0 "$RC"
expect_match "prepare firmwares: fdc's message" '.*new entity in firmwares folder created.*' "$OUT"
FW_SHA1=$(field sha1)

# ---- 090 list: name[sha1] ----------------------------------------------------------------------------
run fwctl list firmwares
expect_match "list firmwares: name[sha1]" '^[a-z_]+\[[a-f0-9]+\]$' "$OUT"
FIRMWARE=$(first_name firmwares)
expect_eq "list firmwares: the prepared one" "$FIRMWARE[$FW_SHA1]" "$OUT"

# ---- 060 get_property firmwares ID sha1 ----------------------------------------------------------
# fdc compared with the hash of its example image; ours is built here, so the sha1 PREPARE gave.
run fwctl get_property firmwares "$FIRMWARE" sha1
expect_eq "get_property firmwares sha1" "0 $FW_SHA1" "$RC $OUT"
expect_eq "get_property: the sha1 is the image's content hash" \
  "$(sha1sum "$FW_TMP/example_firmware.ext2" | cut -d' ' -f1)" "$OUT"

# ---- 120 properties firmwares ------------------------------------------------------------------------
# fdc: "name sha1 base_workspace path uuid"; firmwared lists those first, then its own.
run fwctl properties firmwares
expect_match "properties firmwares: fdc's five first" '^name sha1 base_workspace path uuid( |$)' "$OUT"

# ---- 160 show: one "key: value" line per property ------------------------------------------------------
run fwctl show firmwares "$FIRMWARE"
expect_eq "show firmwares: exit 0" 0 "$RC"
expect_lines_match "show firmwares: every line is key: value" '^[a-z0-9_]+: ?.*$' "$OUT"
expect_eq "show firmwares: one line per property" "$(fwctl properties firmwares | wc -w)" \
  "$(wc -l <<<"$OUT")"

# ---- 005 add_property, then set and get it ---------------------------------------------------------------
run fwctl add_property firmwares foo
expect_eq "add_property firmwares foo" "0 property foo added" "$RC $OUT"
run fwctl set_property firmwares "$FIRMWARE" foo bar
# fdc printed the value it set.
expect_eq "set_property firmwares foo bar: prints the value" "0 bar" "$RC $OUT"
run fwctl get_property firmwares "$FIRMWARE" foo
expect_eq "get_property firmwares foo" "0 bar" "$RC $OUT"

# ---- instances -----------------------------------------------------------------------------------------------
run fwctl prepare instances "$FIRMWARE"
expect_match "prepare instances: fdc's message" 'new entity in instances folder created' "$OUT"
INSTANCE=$(first_name instances)
expect_match "list instances: a name" '^[a-z_]+$' "$INSTANCE"
run fwctl show instances "$INSTANCE"
expect_lines_match "show instances: every line is key: value (arrays key[])" \
  '^[a-z0-9_]+(\[\])?: ?.*$' "$OUT"

# ---- 150 set_property instances ID interface plop ------------------------------------------------------------
run fwctl set_property instances "$INSTANCE" interface plop
expect_eq "set_property interface: prints the value" "0 plop" "$RC $OUT"
run fwctl get_property instances "$INSTANCE" interface
expect_eq "get_property interface" "0 plop" "$RC $OUT"
fwctl set_property instances "$INSTANCE" interface eth0 >/dev/null

# ---- 061 array access: cmdline[N] ---------------------------------------------------------------------------
# fdc set cmdline[0..2] to foo bar baz and cmdline[3] to nil (the end of the array), and read
# "foo bar baz". firmwared requires cmdline[0] to be an absolute path inside the firmware
# (EINVAL otherwise), so element 0 is /foo here.
CMDLINE0=$(fwctl get_property instances "$INSTANCE" 'cmdline[0]')
run fwctl set_property instances "$INSTANCE" 'cmdline[0]' foo
expect_eq "cmdline[0] must be absolute: exit 1" 1 "$RC"
expect_match "cmdline[0] must be absolute: says why" 'absolute path' "$ERR"
for kv in '0 /foo' '1 bar' '2 baz' '3 nil'; do
  run fwctl set_property instances "$INSTANCE" "cmdline[${kv%% *}]" "${kv#* }"
  expect_eq "set_property cmdline[${kv%% *}]" "0 ${kv#* }" "$RC $OUT"
done
run fwctl get_property instances "$INSTANCE" cmdline
expect_eq "get_property cmdline: the whole array" "0 /foo bar baz" "$RC $OUT"
run fwctl get_property instances "$INSTANCE" 'cmdline[1]'
expect_eq "get_property cmdline[1]" "0 bar" "$RC $OUT"
run fwctl get_property instances "$INSTANCE" 'cmdline[3]'
expect_eq "get_property cmdline[3]: past the end is nil" "0 nil" "$RC $OUT"
fwctl set_property instances "$INSTANCE" 'cmdline[1]' nil >/dev/null
fwctl set_property instances "$INSTANCE" 'cmdline[0]' "$CMDLINE0" >/dev/null
expect_eq "cmdline restored" "$CMDLINE0" "$(fwctl get_property instances "$INSTANCE" cmdline)"

# ---- 140 remount ------------------------------------------------------------------------------------------------
run fwctl remount "$INSTANCE"
expect_eq "remount" "0 $INSTANCE remounted" "$RC $OUT"

# ---- 170 start ------------------------------------------------------------------------------------------------------
run fwctl start "$INSTANCE"
expect_eq "start" "0 $INSTANCE started" "$RC $OUT"
ID_EXPECTED=$(fwctl get_property instances "$INSTANCE" id)

# ---- typed JSON (not fdc's: fdc had no --json) -----------------------------------------------------------
# --json show: numbers are numbers, unknown values null, the time ISO 8601 UTC with its epoch;
# the text output keeps fdc's ctime(3) form of the same instant.
run fwctl --json show instances "$INSTANCE"
expect_eq "--json show: exit 0" 0 "$RC"
TYPED=$("$PYTHON" -c '
import datetime, json, re, sys
props = {p["name"]: p for p in json.loads(sys.argv[1])["properties"]}
bad = []
def want(ok, what):
    if not ok:
        bad.append(what)
for k in ("id", "pid", "init_pid", "uid_base", "time_offset"):
    v = props[k]["value"]
    want(type(v) is int, k + " is a number: " + repr(v))
want(props["init_pid"]["value"] > 0, "init_pid of a started instance is positive")
for k in ("name", "sha1", "state", "interface"):
    want(type(props[k]["value"]) is str, k + " is a string")
want(props["exit_status"]["value"] is None, "exit_status of a running instance is null")
t = props["time"]
want(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t["value"]) is not None,
     "time is ISO 8601 UTC: " + repr(t["value"]))
want(type(t.get("epoch")) is int, "time has an epoch number")
want(datetime.datetime.fromtimestamp(t["epoch"], datetime.timezone.utc)
     .strftime("%Y-%m-%dT%H:%M:%SZ") == t["value"], "time and epoch are the same instant")
print("; ".join(bad) if bad else "ok")
print(t.get("epoch"))' "$OUT")
expect_eq "--json show: typed values" ok "$(sed -n 1p <<<"$TYPED")"
EPOCH=$(sed -n 2p <<<"$TYPED")
recent() { [[ "$1" =~ ^[0-9]+$ ]] && (($1 > $(date +%s) - 600 && $1 <= $(date +%s))); }
check "--json show: the time is this test's (within 10 minutes)" recent "$EPOCH"
expect_eq "show (text): the time line is ctime(3) of the epoch" \
  "$(LC_ALL=C date -d "@$EPOCH" '+%a %b %e %H:%M:%S %Y')" \
  "$(field time "$(fwctl show instances "$INSTANCE")")"
run fwctl --json get_property instances "$INSTANCE" id
expect_eq "--json get_property id: a number" "int $ID_EXPECTED" \
  "$("$PYTHON" -c 'import json, sys; v = json.loads(sys.argv[1])["value"]; print(type(v).__name__, v)' "$OUT")"
run fwctl --json get_property instances "$INSTANCE" time
expect_eq "--json get_property time: ISO value and epoch" "$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ) $EPOCH" \
  "$("$PYTHON" -c 'import json, sys; j = json.loads(sys.argv[1]); print(j["value"], j["epoch"])' "$OUT")"
jtype() { "$PYTHON" -c 'import json, sys; v = json.loads(sys.argv[1])["value"]; print(type(v).__name__, json.dumps(v))' "$1"; }
run fwctl --json get_config prevent_removal
expect_eq "--json get_config prevent_removal: a boolean" "bool false" "$(jtype "$OUT")"
run fwctl --json get_config client_idle_timeout
expect_eq "--json get_config client_idle_timeout: a number" "int 300" "$(jtype "$OUT")"
run fwctl --json get_config container_interface
expect_eq "--json get_config container_interface: a string" 'str "eth0"' "$(jtype "$OUT")"

# ---- 500 instance alive: the firmware serves /etc/build.prop on port 9050 of its address ----------------------
# fdc's case used adb on NET_FIRST_TWO_BYTES + id + ".1"; the example firmware serves the
# file on plain TCP there.
ID=$(fwctl get_property instances "$INSTANCE" id)
ADDRESS=$(fwctl get_config net_first_two_bytes)$ID.1
expect_eq "instance address is the ip property" "$ADDRESS" "$(fwctl get_property instances "$INSTANCE" ip)"
BUILD_PROP=""
for _ in $(seq 1 100); do
  BUILD_PROP=$("$PYTHON" - "$ADDRESS" <<'EOF' 2>/dev/null || true
import socket, sys
s = socket.create_connection((sys.argv[1], 9050), timeout=1)
data = b""
while True:  # the whole file, whether or not the server closes after it
    try:
        chunk = s.recv(4096)
    except socket.timeout:
        break
    if not chunk:
        break
    data += chunk
print(data.decode(errors="replace"), end="")
EOF
)
  [[ -n "$BUILD_PROP" ]] && break
  sleep 0.1
done
expect_eq "instance alive: serves its build.prop" "$(cat "$FW_EX_DIR/etc/build.prop")" \
  "$(sed '/^$/d' <<<"$BUILD_PROP")"

# ---- 080 kill ---------------------------------------------------------------------------------------------------------
run fwctl kill "$INSTANCE"
expect_eq "kill" "0 $INSTANCE killed" "$RC $OUT"

# ---- 030 drop: "ID dropped" --------------------------------------------------------------------------------------------
run fwctl drop instances "$INSTANCE"
expect_eq "drop instances" "0 $INSTANCE dropped" "$RC $OUT"
run fwctl drop firmwares "$FIRMWARE"
expect_eq "drop firmwares" "0 $FIRMWARE dropped" "$RC $OUT"
expect_eq "drop: nothing left" "" "$(fwctl list firmwares)"

# ---- version (fdc's VERSION) --------------------------------------------------------------------------------------------
run fwctl version
expect_match "version: one version number" '^0 [0-9]+\.[0-9]+\.[0-9]+' "$RC $OUT"

# ---- 130 quit: "firmwared said bye bye", and the daemon is gone ----------------------------------------------------------
run fwctl quit
expect_eq "quit" "0 firmwared said bye bye" "$RC $OUT"
gone() { ! kill -0 "$FW_DAEMON_PID" 2>/dev/null; }
check "quit: the daemon exits" fw_inst_wait_for 5 gone
wait "$FW_DAEMON_PID" 2>/dev/null || true
FW_DAEMON_PID=""
run fwctl ping
expect_eq "quit: nobody answers any more (exit 3)" 3 "$RC"

assert_no_leaks
fw_inst_expect_no_leftovers "end"
