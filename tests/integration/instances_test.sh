#!/usr/bin/env bash
# Instances end to end, for a directory firmware and an ext2
# image: PREPARE (lowest free id, workspace, mounts), START (PID 1 is the firmware's init in
# its own PID, mount, UTS, IPC and network namespaces, console log), a file written inside
# lands in the upper dir only and survives kill/start, exit statuses, every EBUSY/ECHILD/
# EINVAL/ERANGE rule, exec failure, REMOUNT, DROP (with and without prevent_removal), and
# nothing left behind: mounts, loop devices, processes, daemon fds.
source "$(dirname "$0")/../lib/harness.sh"
require_root
command -v nsenter >/dev/null || skip "needs nsenter (util-linux)"
fw_inst_setup
build_example_firmware
start_daemon

MNT=$FIRMWARED_MOUNT_PATH
json_field() {  # json_field FIELD JSON
  "$PYTHON" -c 'import json, sys
v = json.loads(sys.argv[1]).get(sys.argv[2])
print("" if v is None else v)' "$2" "$1"
}

fwctl ping >/dev/null
sleep 0.2
FDS0=$(fw_inst_daemon_fds)

# expect_error DESCRIPTION ERRNO_NAME MESSAGE_REGEX COMMAND...: fwctl exits 1, says
# "firmwared error: ..." matching MESSAGE_REGEX, and --json carries the errno name.
expect_error() {
  local what=$1 errname=$2 regex=$3
  shift 3
  run fwctl "$@"
  expect_eq "$what: exit 1" 1 "$RC"
  expect_match "$what: message" "^firmwared error: $regex\$" "$ERR"
  run fwctl --json "$@"
  expect_match "$what: --json $errname" "\"error\":\"$errname\"" "$OUT"
}

# prepare_instance SOURCE: PREPARE instances SOURCE; checks the 3-line output and sets
# NAME and SHA1.
prepare_instance() {
  run fwctl prepare instances "$1"
  expect_eq "prepare instances $(basename "$1"): exit 0" 0 "$RC"
  expect_eq "prepare instances: 3 lines" 3 "$(wc -l <<<"$OUT")"
  expect_eq "prepare instances: first line" "new entity in instances folder created" \
    "$(sed -n 1p <<<"$OUT")"
  expect_match "prepare instances: sha1 line" '^sha1: [0-9a-f]{40}$' "$(sed -n 2p <<<"$OUT")"
  expect_match "prepare instances: name line" '^name: [a-z]+_[a-z]+$' "$(sed -n 3p <<<"$OUT")"
  NAME=$(field name "$OUT")
  SHA1=$(field sha1 "$OUT")
}

# Waits until the process count of PID's namespace is stable (the init script is done
# spawning its children) and prints it.
settled_pidns_count() {
  local a b i
  a=$(fw_inst_pidns_count "$1")
  for i in $(seq 1 50); do
    sleep 0.1
    b=$(fw_inst_pidns_count "$1")
    [[ "$a" == "$b" ]] && break
    a=$b
  done
  echo "$b"
}

# The host's hardware addresses (not the loopback's).
HOST_MACS=$(ip -o link | sed -n 's/.* link\/[a-z]* \([0-9a-f:]*\) .*/\1/p' |
              grep -v '^00:00:00:00:00:00$' | sort -u)

# ---- the isolation of a started instance -----------------------------------------------------
# check_inside KIND NAME: the instance is started; pins what its PID 1 sees.
check_inside() {
  local kind=$1 name=$2 pid mon ws inside_pids host_count links iface macs mounts foreign
  pid=$(fw_inst_prop "$name" init_pid)
  mon=$(fw_inst_prop "$name" pid)
  ws=$(fw_inst_prop "$name" base_workspace)
  expect_match "$kind: init_pid is a pid" '^[1-9][0-9]*$' "$pid"
  expect_match "$kind: pid (monitor) is a pid" '^[1-9][0-9]*$' "$mon"
  expect_eq "$kind: PID 1's parent is the monitor" "$mon" "$(ps -o ppid= -p "$pid" | tr -d ' ')"
  expect_eq "$kind: PID 1 is the firmware's init" "/bin/sh /sbin/init " \
    "$(tr '\0' ' ' <"/proc/$pid/cmdline")"
  check "$kind: console.log says firmware booted" \
    fw_inst_wait_for 10 grep -q "firmware booted" "$ws/console.log"
  expect_eq "$kind: console_log property" "$ws/console.log" "$(fw_inst_prop "$name" console_log)"
  expect_match "$kind: outer_pts" '^/dev/pts/[0-9]+$' "$(fw_inst_prop "$name" outer_pts)"

  expect_eq "$kind: hostname inside is the instance name" "$name" "$(fw_inst_exec "$pid" hostname)"
  expect_eq "$kind: PID 1 inside is init" "/bin/sh /sbin/init " \
    "$(fw_inst_exec "$pid" cat /proc/1/cmdline | tr '\0' ' ')"
  expect_eq "$kind: the firmware's boot file says the hostname" "hostname=$name" \
    "$(fw_inst_exec "$pid" grep hostname= /var/lib/firmware-booted)"
  host_count=$(settled_pidns_count "$pid")
  check "$kind: the PID namespace holds only the firmware's few processes ($host_count)" \
    test "$host_count" -ge 2 -a "$host_count" -le 10
  inside_pids=$(fw_inst_exec "$pid" ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\n' ' ')
  # The listing `ls` is the only process more than the host sees in the namespace.
  expect_eq "$kind: /proc inside lists only the namespace's processes (+ ls)" \
    "$((host_count + 1))" "$(wc -w <<<"$inside_pids")"
  expect_match "$kind: pid 1 is listed inside" '^1 ' "$inside_pids"
  if ((FW_DAEMON_PID > 200)); then
    check "$kind: the daemon's pid is not visible inside" \
      fw_inst_exec "$pid" sh -c "! test -e /proc/$FW_DAEMON_PID"
  fi
  expect_eq "$kind: no firmwared process visible inside" "" \
    "$(fw_inst_exec "$pid" ps -o args | grep firmwared || true)"

  links=$(fw_inst_exec "$pid" ip -o link | awk -F': ' '{ print $2 }' | sed 's/@.*//' |
            sort | tr '\n' ' ' | sed 's/ $//')
  # lo only (the instance's own interface once networking is configured).
  iface=$(fw_inst_prop "$name" interface)
  expect_match "$kind: only lo is visible inside" "^(lo|lo $iface|$iface lo)\$" "$links"
  macs=$(fw_inst_exec "$pid" ip -o link | sed -n 's/.* link\/[a-z]* \([0-9a-f:]*\) .*/\1/p' |
           sort -u)
  expect_eq "$kind: no host interface visible inside" "" \
    "$(comm -12 <(echo "$HOST_MACS") <(echo "$macs") | grep -v '^$' || true)"

  mounts=$(fw_inst_exec "$pid" cat /proc/mounts)
  expect_eq "$kind: one mount inside names the test dir" 1 "$(grep -c "$FW_TMP" <<<"$mounts")"
  expect_match "$kind: ... the overlay root" "^overlay / overlay .*upperdir=$ws/(\.idmap/up/)?rw" \
    "$(grep "$FW_TMP" <<<"$mounts")"
  foreign=$(awk '{ print $2 }' <<<"$mounts" |
              grep -vE '^/$|^/(dev|proc|sys|tmp|run)(/.*)?$' || true)
  expect_eq "$kind: no host mount point visible inside" "" "$foreign"
}

# ---- one firmware kind ---------------------------------------------------------------------
run_variant() {
  local kind=$1 src fw fwname fwmnt A A_SHA1 B B_SHA1 I I_SHA1 ws pid pid2 mon
  echo "== $kind firmware"
  if [[ $kind == dir ]]; then
    src="$FW_TMP/src-dir"
    cp -a "$FW_EX_DIR" "$src"
    run fwctl prepare firmwares "$src"
    expect_eq "$kind: prepare firmware" 0 "$RC"
    fw=$(field sha1 "$OUT")
    prepare_instance "$fw"
  else
    src=$FW_EX_EXT2
    # An image path: the firmware is imported first.
    prepare_instance "$src"
    fw=$(fw_inst_prop "$NAME" firmware_sha1)
    expect_eq "$kind: prepare instances IMAGE imported the image" \
      "$(sha1sum "$src" | cut -c1-40)" "$fw"
    expect_eq "$kind: ... as an ext2 firmware" ext2 "$(fwctl get_property firmwares "$fw" format)"
  fi
  fwname=$(fwctl get_property firmwares "$fw" name)
  fwmnt="$MNT/firmwares/$fw"
  A=$NAME A_SHA1=$SHA1
  expect_eq "$kind: first instance has id 0" 0 "$(fw_inst_prop "$A" id)"
  expect_eq "$kind: firmware_path" "$fwmnt" "$(fw_inst_prop "$A" firmware_path)"
  prepare_instance "$fwname"
  B=$NAME B_SHA1=$SHA1
  expect_eq "$kind: second instance has id 1" 1 "$(fw_inst_prop "$B" id)"
  run fwctl drop instances "$A"
  expect_eq "$kind: drop output" "$A dropped" "$OUT"
  check "$kind: drop removed the workspace" test ! -e "$MNT/instances/$A_SHA1"
  prepare_instance "$fw"
  I=$NAME I_SHA1=$SHA1
  expect_eq "$kind: the lowest free id is reused" 0 "$(fw_inst_prop "$I" id)"
  expect_eq "$kind: list, by id" "$I[$I_SHA1] $B[$B_SHA1]" "$(fwctl list instances)"

  ws="$MNT/instances/$I_SHA1"
  expect_eq "$kind: base_workspace" "$ws" "$(fw_inst_prop "$I" base_workspace)"
  expect_eq "$kind: root" "$ws/union" "$(fw_inst_prop "$I" root)"
  expect_eq "$kind: upper_dir" "$ws/rw" "$(fw_inst_prop "$I" upper_dir)"
  # (Beside them, a standby's files: monitor.lock, console.log, pts, netns...)
  expect_eq "$kind: workspace dirs" "ro rw union work" \
    "$(find "$ws" -mindepth 1 -maxdepth 1 -type d -name '[!.]*' -printf '%f\n' | sort | tr '\n' ' ' | sed 's/ $//')"
  expect_eq "$kind: two mounts in the workspace (ro, union)" 2 "$(fw_inst_workspace_mounts "$ws")"
  check "$kind: the firmware shows through the overlay" test -x "$ws/union/sbin/init"
  expect_eq "$kind: state ready" ready "$(fw_inst_prop "$I" state)"
  expect_eq "$kind: pid 0 before any start" 0 "$(fw_inst_prop "$I" pid)"
  expect_eq "$kind: cmdline default" /sbin/init "$(fw_inst_prop "$I" cmdline)"
  expect_eq "$kind: exit_status empty before any run" "" "$(fw_inst_prop "$I" exit_status)"

  # ---- START and what PID 1 sees
  run fwctl start "$I"
  expect_eq "$kind: start output" "$I started" "$OUT"
  expect_eq "$kind: start exit 0" 0 "$RC"
  expect_eq "$kind: state started" started "$(fw_inst_prop "$I" state)"
  check_inside "$kind" "$I"
  pid=$(fw_inst_prop "$I" init_pid)
  mon=$(fw_inst_prop "$I" pid)

  # ---- a file written inside
  fw_inst_exec "$pid" sh -c 'echo x > /root/marker'
  expect_eq "$kind: the file lands in the upper dir" x "$(cat "$ws/rw/root/marker" 2>&1)"
  check "$kind: ... not in the firmware's mount" test ! -e "$fwmnt/root/marker"
  if [[ $kind == dir ]]; then
    check "$kind: ... not in the source dir" test ! -e "$src/root/marker"
  fi

  # ---- what a started instance refuses
  expect_error "$kind: START of started" EBUSY "instance $I is started, not ready" start "$I"
  expect_error "$kind: DROP of started" EBUSY "instance $I is started, not ready" \
    drop instances "$I"
  expect_error "$kind: REMOUNT of started" EBUSY "instance $I is started, not ready" remount "$I"
  local p busy="shapes its launch: it can change only while ready \\(it is started\\)"
  for p in interface cmdline 'cmdline[1]' stolen_interface stolen_btusb; do
    expect_error "$kind: set $p while started" EBUSY "property '${p%%\[*}' of instance $I $busy" \
      set_property instances "$I" "$p" /bin/x
  done
  expect_error "$kind: DROP of a firmware in use" EBUSY \
    "firmware $fwname is used by instance\\(s\\) $I, $B" drop firmwares "$fw"

  # ---- KILL
  run fwctl kill "$I"
  expect_eq "$kind: kill output" "$I killed" "$OUT"
  expect_eq "$kind: kill exit 0" 0 "$RC"
  expect_eq "$kind: state ready after kill" ready "$(fw_inst_prop "$I" state)"
  expect_eq "$kind: KILL gives 137" 137 "$(fw_inst_prop "$I" exit_status)"
  check "$kind: PID 1 is gone" fw_inst_wait_for 5 bash -c "! kill -0 $pid"
  check "$kind: the monitor is gone" fw_inst_wait_for 5 bash -c "! kill -0 $mon"
  fw_inst_expect_no_leftovers "$kind: after kill"
  expect_error "$kind: KILL of ready" ECHILD "instance $I is not started" kill "$I"
  expect_eq "$kind: mounts kept after kill" 2 "$(fw_inst_workspace_mounts "$ws")"

  # ---- the diff survives kill + start
  run fwctl start "$I"
  expect_eq "$kind: restart output" "$I started" "$OUT"
  pid2=$(fw_inst_prop "$I" init_pid)
  check "$kind: a new PID 1" test "$pid2" != "$pid"
  expect_eq "$kind: the file survives kill + start" x "$(fw_inst_exec "$pid2" cat /root/marker)"
  run fwctl --json kill "$I"
  expect_eq "$kind: --json kill answer" KILLED "$(json_field answer "$OUT")"
  expect_eq "$kind: --json kill exit_status" 137 "$(json_field exit_status "$OUT")"
  expect_eq "$kind: --json kill name" "$I" "$(json_field name "$OUT")"

  # ---- an init that exits by itself
  fwctl set_property instances "$I" cmdline "/bin/sh -c 'echo bye; exit 3'"
  expect_eq "$kind: cmdline with quotes reads back" "/bin/sh -c 'echo bye; exit 3'" \
    "$(fw_inst_prop "$I" cmdline)"
  expect_eq "$kind: cmdline[2]" "echo bye; exit 3" "$(fw_inst_prop "$I" 'cmdline[2]')"
  run fwctl start "$I"
  expect_eq "$kind: start of the exiting init" "$I started" "$OUT"
  check "$kind: back to ready by itself" fw_inst_wait_state "$I" ready
  expect_eq "$kind: exit_status 3" 3 "$(fw_inst_prop "$I" exit_status)"
  check "$kind: its output is in console.log" grep -q '^bye' "$ws/console.log"
  fw_inst_expect_no_leftovers "$kind: after exit 3"

  # ---- exec failure
  fwctl set_property instances "$I" cmdline /nonexistent
  expect_error "$kind: START with a missing init" ENOENT \
    "starting instance $I: executing '/nonexistent': No such file or directory" start "$I"
  expect_eq "$kind: state ready after exec failure" ready "$(fw_inst_prop "$I" state)"
  fw_inst_expect_no_leftovers "$kind: after exec failure"
  fwctl set_property instances "$I" cmdline /sbin/init

  # ---- cmdline[] semantics
  fwctl set_property instances "$I" 'cmdline[1]' --one
  expect_eq "$kind: cmdline[1] appends" "/sbin/init --one" "$(fw_inst_prop "$I" cmdline)"
  fwctl set_property instances "$I" 'cmdline[1]' "two words"
  expect_eq "$kind: cmdline[1] replaces" "/sbin/init 'two words'" "$(fw_inst_prop "$I" cmdline)"
  expect_eq "$kind: cmdline[1] reads" "two words" "$(fw_inst_prop "$I" 'cmdline[1]')"
  expect_eq "$kind: cmdline[count] is nil" nil "$(fw_inst_prop "$I" 'cmdline[2]')"
  expect_error "$kind: cmdline past the end" ERANGE \
    "index 3 is past the end of cmdline \\(2 elements\\)" get_property instances "$I" 'cmdline[3]'
  expect_error "$kind: set cmdline past the end" ERANGE \
    "index 5 is past the end of cmdline \\(2 elements\\)" set_property instances "$I" 'cmdline[5]' x
  fwctl set_property instances "$I" 'cmdline[1]' nil
  expect_eq "$kind: nil truncates" /sbin/init "$(fw_inst_prop "$I" cmdline)"
  fwctl set_property instances "$I" cmdline "/bin/echo 'a b' \"c d\" \$(id) \`id\` *"
  expect_eq "$kind: whole-array set, no expansion" "'a b'|'c d'|'\$(id)'|'\`id\`'|'*'" \
    "$(for k in 1 2 3 4 5; do
         printf "'%s'" "$(fw_inst_prop "$I" "cmdline[$k]")"
         if [[ $k -lt 5 ]]; then printf '|'; fi
       done)"
  expect_error "$kind: relative cmdline[0]" EINVAL \
    "cmdline\\[0\\] 'bin/sh' must be an absolute path inside the firmware" \
    set_property instances "$I" 'cmdline[0]' bin/sh
  expect_error "$kind: empty cmdline" EINVAL "cmdline cannot be empty: PID 1 needs a program" \
    set_property instances "$I" cmdline ""
  expect_eq "$kind: cmdline unchanged by refusals" "/bin/echo" "$(fw_inst_prop "$I" 'cmdline[0]')"
  fwctl set_property instances "$I" cmdline /sbin/init

  # ---- interface and stolen_interface
  fwctl set_property instances "$I" interface "abcdefghijklmno"
  expect_eq "$kind: a 15-char interface" abcdefghijklmno "$(fw_inst_prop "$I" interface)"
  expect_error "$kind: a 16-char interface" EINVAL \
    "invalid interface name 'abcdefghijklmnop': must be 1 to 15 bytes" \
    set_property instances "$I" interface abcdefghijklmnop
  expect_error "$kind: interface a/b" EINVAL "invalid interface name 'a/b': .*'/'.*" \
    set_property instances "$I" interface a/b
  expect_eq "$kind: interface unchanged" abcdefghijklmno "$(fw_inst_prop "$I" interface)"
  fwctl set_property instances "$I" interface eth0
  fwctl set_property instances "$I" stolen_interface "dummy7:in0:10.9.8.7/24"
  expect_eq "$kind: stolen_interface" "dummy7:in0:10.9.8.7/24" \
    "$(fw_inst_prop "$I" stolen_interface)"
  expect_error "$kind: stolen_interface bad address" EINVAL \
    "invalid stolen_interface 'dummy7:in0:10.9.8.700/24': .*" \
    set_property instances "$I" stolen_interface "dummy7:in0:10.9.8.700/24"
  expect_error "$kind: stolen_interface bad name" EINVAL \
    "stolen_interface: invalid interface name 'a/b': .*" \
    set_property instances "$I" stolen_interface "a/b"
  fwctl set_property instances "$I" stolen_interface ""
  expect_eq "$kind: stolen_interface cleared" "" "$(fw_inst_prop "$I" stolen_interface)"
  expect_error "$kind: read-only state" EPERM "property 'state' of instances is read-only" \
    set_property instances "$I" state started
  expect_error "$kind: unknown property" ESRCH ".*no property 'nope'.*" \
    get_property instances "$I" nope

  # ---- custom properties
  run fwctl add_property instances "owner_$kind"
  expect_eq "$kind: add_property" "property owner_$kind added" "$OUT"
  run fwctl add_property instances "tags_$kind[]"
  expect_match "$kind: properties end with the custom ones" " owner_$kind tags_$kind\\[\\]\$" \
    "$(fwctl properties instances)"
  fwctl set_property instances "$I" "owner_$kind" "ci job"
  fwctl set_property instances "$I" "tags_$kind" "a 'b c'"
  expect_eq "$kind: custom scalar" "ci job" "$(fw_inst_prop "$I" "owner_$kind")"
  expect_eq "$kind: custom array element" "b c" "$(fw_inst_prop "$I" "tags_${kind}[1]")"
  expect_eq "$kind: custom value is per instance" "" "$(fw_inst_prop "$B" "owner_$kind")"
  expect_match "$kind: show lists the custom values" "owner_$kind: ci job" \
    "$(fwctl show instances "$I")"

  # ---- REMOUNT
  if [[ $kind == dir ]]; then
    echo "added later" >"$src/etc/added-after-prepare"
  fi
  run fwctl remount "$I"
  expect_eq "$kind: remount output" "$I remounted" "$OUT"
  expect_eq "$kind: remount does not stack mounts" 2 "$(fw_inst_workspace_mounts "$ws")"
  expect_eq "$kind: the diff is still there after remount" x "$(cat "$ws/union/root/marker")"
  run fwctl start "$I"
  expect_eq "$kind: start after remount" "$I started" "$OUT"
  pid=$(fw_inst_prop "$I" init_pid)
  if [[ $kind == dir ]]; then
    expect_eq "$kind: a file added to the source dir shows after REMOUNT" "added later" \
      "$(fw_inst_exec "$pid" cat /etc/added-after-prepare 2>&1)"
  fi
  expect_eq "$kind: marker after remount" x "$(fw_inst_exec "$pid" cat /root/marker)"
  fwctl kill "$I" >/dev/null

  # ---- DROP
  run fwctl drop instances "$I"
  expect_eq "$kind: drop output" "$I dropped" "$OUT"
  check "$kind: drop removed the workspace" test ! -e "$ws"
  run fwctl drop instances "$B"
  expect_eq "$kind: drop B" "$B dropped" "$OUT"
  expect_eq "$kind: no instance left" "" "$(fwctl list instances)"
  fw_inst_expect_settled "$kind: no mount left below instances/" 0 \
    fw_inst_mounts_below "$MNT/instances"
  expect_eq "$kind: no workspace left" "" "$(ls -A "$MNT/instances")"
  run fwctl drop firmwares "$fw"
  expect_eq "$kind: drop the firmware once unused" 0 "$RC"
  fw_inst_expect_settled "$kind: no mount left below the mount path" 0 fw_inst_mounts_below "$MNT"
  fw_inst_expect_no_leftovers "$kind: end"
  fw_inst_expect_fds "$kind: end" "$FDS0"
}

T0=$(date +%s%N)
run_variant dir
run_variant ext2

# ---- prevent_removal=y: DROP keeps the workspace and its diff ----------------------------------
stop_daemon
export FIRMWARED_PREVENT_REMOVAL=y
start_daemon
unset FIRMWARED_PREVENT_REMOVAL
expect_eq "prevent_removal: in effect" y "$(fwctl get_config prevent_removal)"
prepare_instance "$FW_EX_DIR"
P=$NAME P_SHA1=$SHA1
fwctl start "$P" >/dev/null
fw_inst_exec "$(fw_inst_prop "$P" init_pid)" sh -c 'echo kept > /root/marker'
fwctl kill "$P" >/dev/null
run fwctl drop instances "$P"
expect_eq "prevent_removal: drop output" "$P dropped" "$OUT"
expect_eq "prevent_removal: the instance is gone" "" "$(fwctl list instances)"
check "prevent_removal: the workspace is kept" test -d "$MNT/instances/$P_SHA1"
expect_eq "prevent_removal: with its diff" kept "$(cat "$MNT/instances/$P_SHA1/rw/root/marker")"
fw_inst_expect_settled "prevent_removal: but unmounted" 0 fw_inst_mounts_below "$MNT/instances"
for fw in $(fwctl list firmwares | grep -o '\[[0-9a-f]*\]' | tr -d '[]'); do
  fwctl drop firmwares "$fw" >/dev/null
done
fw_inst_expect_no_leftovers "prevent_removal"

stop_daemon
assert_no_leaks
fw_inst_expect_no_leftovers "after the daemon stopped"
echo "instances_test: $(( ($(date +%s%N) - T0) / 1000000 )) ms"
