#!/usr/bin/env bash
# The `binds` property end to end: host paths bound into a running instance.
#  - a ro bind is visible and not writable inside (ro, nosuid, nodev in PID 1's mount
#    table); an rw bind writes through to the host; a file can be bound on a file;
#  - refused at SET with an error naming the value, the property unchanged: "/", the
#    daemon's state (mount_path, repository, the database's directory, a directory holding
#    the socket), a missing path, a relative path, "..", a symlink;
#  - a firmware whose /data links to /etc: a bind on /data/x lands on the instance's own
#    /etc/x, never on the host's;
#  - a host path swapped for a symlink between SET and START fails the START, which changes
#    nothing;
#  - the binds live only in the instance's mount namespaces: the host's mount table never
#    holds them, no process holds them after KILL, and the overlay diff does not show the
#    files under them; nothing is left after DROP.
#
# Argument "privileged": the same in privileged mode (userns=n); otherwise the default mode
# (a user namespace where AppArmor does not confine instances).
source "$(dirname "$0")/../lib/harness.sh"
require_root
MODE=${1:-default}
fw_inst_setup
[[ $MODE == privileged ]] && export FIRMWARED_USERNS=n
build_example_firmware
start_daemon

H=$FW_TMP/host
mkdir -p "$H/ro" "$H/rw"
echo "from the host" >"$H/ro/hello"
echo "bound file" >"$H/file.txt"
FW=$FW_TMP/fw
cp -a "$FW_EX_DIR" "$FW"
ln -s /etc "$FW/data"
run fwctl prepare instances "$FW"
expect_eq "prepare: exit 0" 0 "$RC"
NAME=$(field name)
SHA1=$(field sha1)
WS=$FIRMWARED_MOUNT_PATH/instances/$SHA1

# ---- SET: accepted values, stored with their mode -------------------------------------------
run fwctl set_property instances "$NAME" "binds[0]" "$H/ro:/mnt/ro"
expect_eq "set binds[0]: exit 0" 0 "$RC"
expect_eq "get binds[0]: stored with its mode (ro by default)" "$H/ro:/mnt/ro:ro" \
  "$(fw_inst_prop "$NAME" "binds[0]")"
run fwctl set_property instances "$NAME" "binds[1]" "$H/rw:/mnt/rw:rw"
expect_eq "set binds[1] rw: exit 0" 0 "$RC"
run fwctl set_property instances "$NAME" "binds[2]" "$H/file.txt:/etc/bound.txt"
expect_eq "set binds[2] (a file): exit 0" 0 "$RC"
run fwctl set_property instances "$NAME" "binds[3]" "$H/ro:/data/x"
expect_eq "set binds[3] (through the firmware's /data -> /etc): exit 0" 0 "$RC"
BINDS="$H/ro:/mnt/ro:ro $H/rw:/mnt/rw:rw $H/file.txt:/etc/bound.txt:ro $H/ro:/data/x:ro"
expect_eq "get binds: all of them" "$BINDS" "$(fw_inst_prop "$NAME" binds)"
expect_eq "binds[] is listed by properties" "binds[]" \
  "$("$FWCTL" properties instances | tr ' ' '\n' | grep -x 'binds\[\]' || true)"

# ---- SET: refusals --------------------------------------------------------------------------
ln -s "$H/ro" "$H/link"
refuse() {  # refuse DESCRIPTION VALUE REGEX
  run fwctl set_property instances "$NAME" "binds[4]" "$2"
  expect_eq "refused, $1: exit 1" 1 "$RC"
  expect_match "refused, $1: says why" "$3" "$ERR"
}
refuse "the host's root" "/:/mnt/x" "bind '/:/mnt/x'.*host path '/' is the root directory"
refuse "mount_path" "$FIRMWARED_MOUNT_PATH:/mnt/x" "state directory '$FIRMWARED_MOUNT_PATH'"
refuse "a workspace" "$WS/rw:/mnt/x" "in the daemon's state directory"
refuse "the repository" "$FIRMWARED_REPOSITORY_PATH:/mnt/x" "state directory"
refuse "the database's directory" "$(dirname "$FIRMWARED_DATABASE_PATH"):/mnt/x" "state directory"
refuse "a directory holding the socket and the state" "$FW_TMP:/mnt/x" \
  "holds the daemon's socket|state directory"
refuse "a missing path" "$H/missing:/mnt/x" "host path '$H/missing' does not exist"
refuse "a relative path" "host/ro:/mnt/x" "host path 'host/ro' is not absolute"
refuse "'..'" "$H/../host/ro:/mnt/x" "holds a '\.\.' component"
refuse "'..' inside" "$H/ro:/mnt/../../etc" "instance path '/mnt/\.\./\.\./etc' holds a '\.\.'"
refuse "a symlink" "$H/link:/mnt/x" "is not canonical.*resolves to '$H/ro'"
refuse "a device" "/dev/null:/mnt/x" "is in /dev"
refuse "/proc" "/proc/sys:/mnt/x" "is in /proc"
refuse "an instance path in /dev" "$H/ro:/dev/x" "firmwared mounts the instance's own /dev"
refuse "the same instance path twice" "$H/rw:/mnt/ro" "instance path '/mnt/ro' is bound twice"
expect_eq "refusals change nothing" "$BINDS" "$(fw_inst_prop "$NAME" binds)"
rm "$H/link"

# ---- START: visible, ro not writable, rw writes through --------------------------------------
run fwctl start --wait-console 'firmware booted' --timeout 30 "$NAME"
expect_eq "start with binds: exit 0" 0 "$RC"
[[ $RC -eq 0 ]] || echo "$ERR" >&2
INIT=$(fw_inst_prop "$NAME" init_pid)
UID_BASE=$(fw_inst_prop "$NAME" uid_base)
[[ $MODE == privileged ]] && expect_eq "privileged mode: no id range" 0 "$UID_BASE"
run fwctl set_property instances "$NAME" "binds[0]" nil
expect_eq "binds of a started instance: EBUSY (exit 1)" 1 "$RC"
expect_match "binds of a started instance: says it shapes the launch" "only while ready" "$ERR"

run fw_inst_exec "$INIT" cat /mnt/ro/hello
expect_eq "ro bind: the host's file is visible inside" "from the host" "$OUT"
run fw_inst_exec "$INIT" sh -c 'echo x >/mnt/ro/new'
expect_eq "ro bind: writing inside fails" 1 "$RC"
expect_match "ro bind: EROFS" "Read-only file system" "$ERR"
check "ro bind: nothing written on the host" test ! -e "$H/ro/new"
MI=$(awk '$5 == "/mnt/ro" { print $6 }' "/proc/$INIT/mountinfo")
expect_match "ro bind: ro,nosuid,nodev in PID 1's mount table" "^ro,nosuid,nodev" "$MI"
OPT=$(awk '$5 == "/mnt/ro" { for (i = 7; $i != "-"; i++) print $i }' "/proc/$INIT/mountinfo")
check "ro bind: private (no shared: or master: propagation tag: $OPT)" \
  test -z "$(grep -E 'shared:|master:' <<<"$OPT")"
if [[ "$UID_BASE" != 0 ]]; then
  # User-namespace mode: the bind and its flags are locked in PID 1's mount namespace.
  run fw_inst_exec "$INIT" mount -o remount,bind,rw /mnt/ro
  check "userns: the instance's root cannot remount the ro bind rw" test "$RC" -ne 0
  run fw_inst_exec "$INIT" umount /mnt/ro
  check "userns: the instance's root cannot unmount the bind" test "$RC" -ne 0
  run fw_inst_exec "$INIT" sh -c 'echo x >/mnt/ro/new'
  expect_eq "userns: the ro bind is still read-only" 1 "$RC"
fi
# In a user namespace the instance's root is host uid UID_BASE: the host directory is
# made writable for it, as a user would (fwctl(1), binds).
[[ "$UID_BASE" != 0 ]] && chown "$UID_BASE:$UID_BASE" "$H/rw"
run fw_inst_exec "$INIT" sh -c 'echo from the instance >/mnt/rw/out'
expect_eq "rw bind: writing inside works" 0 "$RC"
expect_eq "rw bind: the write reached the host" "from the instance" "$(cat "$H/rw/out" 2>&1)"
MI=$(awk '$5 == "/mnt/rw" { print $6 }' "/proc/$INIT/mountinfo")
expect_match "rw bind: rw,nosuid,nodev" "^rw,nosuid,nodev" "$MI"
run fw_inst_exec "$INIT" cat /etc/bound.txt
expect_eq "a file bound on a file" "bound file" "$OUT"
run fw_inst_exec "$INIT" cat /etc/x/hello
expect_eq "/data/x with /data -> /etc: bound on the instance's /etc/x" "from the host" "$OUT"
check "the host's /etc/x was never made" test ! -e /etc/x
check "the host's /etc has no bound.txt" test ! -e /etc/bound.txt

# ---- the host never sees them; the diff does not hold their files ----------------------------
check "PID 1's mount table holds the bind of $H/ro" grep -q " $H/ro /mnt/ro " "/proc/$INIT/mountinfo"
expect_eq "the host's mount table holds no bind of $H" "" \
  "$(grep -F " $H" /proc/self/mountinfo || true)"
expect_eq "the host's mount table: nothing below the union but the union" "" \
  "$(awk -v d="$WS/union/" 'index($5, d) == 1' /proc/self/mountinfo)"
run fwctl diff "$NAME"
expect_eq "diff: exit 0" 0 "$RC"
check "diff: no file under a bind ($(tr '\n' ' ' <<<"$OUT"))" \
  test -z "$(grep -E '/mnt/(ro|rw)/|/etc/x/|hello|/out' <<<"$OUT")"
check "the upper dir holds no file written through the bind" test ! -e "$WS/rw/mnt/rw/out"

run fwctl kill "$NAME"
expect_eq "kill: exit 0" 0 "$RC"
fw_inst_expect_no_leftovers "after kill"
# (The standby made for the next run has them in place already: not counted.)
holders_of_binds() {
  local standbys f p
  standbys=" $(fw_inst_standby_pids) "
  for f in $(grep -lF " $H/" /proc/[0-9]*/mountinfo 2>/dev/null || true); do
    p=${f#/proc/}
    p=${p%/mountinfo}
    [[ $standbys == *" $p "* ]] || echo "$f"
  done
}
expect_eq "after kill: no process holds a bind of $H" "" "$(holders_of_binds)"

# ---- a host path swapped for a symlink between SET and START ---------------------------------
mv "$H/ro" "$H/ro.real"
ln -s /etc "$H/ro"
run fwctl start "$NAME"
expect_eq "start after the swap: refused (exit 1)" 1 "$RC"
expect_match "start after the swap: names the bind and the symlink" \
  "starting instance $NAME: binds\[0\]: bind '$H/ro:/mnt/ro:ro': host path '$H/ro' is not canonical" \
  "$ERR"
expect_eq "start after the swap: still ready" ready "$(fw_inst_prop "$NAME" state)"
fw_inst_expect_no_leftovers "after the refused start"
rm "$H/ro"
mv "$H/ro.real" "$H/ro"

# ---- the same swap racing the START: the monitor's own open refuses the symlink -----------
# A loop swaps the host path between the real directory and a symlink to a decoy while
# STARTs run: whatever check sees which, a started instance shows the real directory,
# never the decoy (a START may also fail, at the daemon's check or at the monitor's open).
mkdir -p "$H/race" "$H/decoy"
echo real >"$H/race/marker"
echo decoy >"$H/decoy/marker"
run fwctl set_property instances "$NAME" binds "$H/race:/mnt/race"
expect_eq "race: set binds: exit 0" 0 "$RC"
(
  set +e
  while [[ ! -e "$H/stop" ]]; do
    mv "$H/race" "$H/race.real" 2>/dev/null && ln -s "$H/decoy" "$H/race"
    rm -f "$H/race" 2>/dev/null && mv "$H/race.real" "$H/race" 2>/dev/null
  done
  [[ -L "$H/race" ]] && rm "$H/race"
  [[ -d "$H/race.real" ]] && mv "$H/race.real" "$H/race"
  exit 0
) &
SWAPPER=$!
started=0 refused_daemon=0 refused_monitor=0 other=0 decoy=0
for i in $(seq 1 12); do
  run fwctl start "$NAME"
  if [[ $RC -eq 0 ]]; then
    started=$((started + 1))
    INIT=$(fw_inst_prop "$NAME" init_pid)
    seen=$(fw_inst_exec "$INIT" cat /mnt/race/marker 2>&1 || true)
    [[ "$seen" == real ]] || decoy=$((decoy + 1))
    "$FWCTL" kill "$NAME" >/dev/null
  elif [[ "$ERR" == *"binding host paths (binds)"* ]]; then
    refused_monitor=$((refused_monitor + 1))
  elif [[ "$ERR" == *"not canonical"* || "$ERR" == *"does not exist"* ]]; then
    refused_daemon=$((refused_daemon + 1))
  else
    other=$((other + 1))
    echo "race: start $i: $ERR" >&2
  fi
done
touch "$H/stop"
wait "$SWAPPER"
check "race: the swapper put the directory back" test -d "$H/race" -a ! -L "$H/race"
echo "race: $started started, $refused_daemon refused by the daemon, $refused_monitor by the monitor, $other other" >&2
expect_eq "race: no started instance ever saw the decoy" 0 "$decoy"
expect_eq "race: every START either started or was refused for the swap" 0 "$other"
run fwctl set_property instances "$NAME" binds "$BINDS"
expect_eq "race: binds put back" "$BINDS" "$(fw_inst_prop "$NAME" binds)"
# A standby whose binds the swap broke is being made again (retried, and now after the
# change): its monitor is no leftover of a run. Once it stands by, none may be left.
sandbox_settled() { [[ "$(fw_inst_prop "$NAME" sandbox)" =~ ^(ready|none)$ ]]; }
check "race: the standby is made again" fw_inst_wait_for 10 sandbox_settled
fw_inst_expect_no_leftovers "after the race"

# ---- persisted: a restarted daemon still has them --------------------------------------------
fw_inst_quit_daemon || true
start_daemon
expect_eq "binds survive a daemon restart" "$BINDS" "$(fw_inst_prop "$NAME" binds)"
run fwctl set_property instances "$NAME" "binds[1]" nil
expect_eq "truncate binds: exit 0" 0 "$RC"
expect_eq "truncated to one" "$H/ro:/mnt/ro:ro" "$(fw_inst_prop "$NAME" binds)"

FW_SHA1=$(fw_inst_prop "$NAME" firmware_sha1)
run fwctl drop instances "$NAME"
expect_eq "drop: exit 0" 0 "$RC"
run fwctl drop firmwares "$FW_SHA1"
expect_eq "drop the firmware: exit 0" 0 "$RC"
fw_inst_quit_daemon
assert_no_leaks
