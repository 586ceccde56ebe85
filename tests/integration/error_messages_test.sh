#!/usr/bin/env bash
# ERROR replies stay small whatever the request (docs/protocol.md, "Errors"): every command
# given a 500 KiB argument, in each position, answers in less than 1 KiB and quotes at most
# 64 bytes of it; arguments naming a real folder, instance and firmware let the big one
# reach the property, value, path and option checks.
source "$(dirname "$0")/../lib/harness.sh"
require_root
fw_inst_setup
LIMITS="$FW_SOURCE_DIR/tests/lib/limit_clients.py"
start_daemon

# A minimal directory firmware (no /sbin/init: never started here).
mkdir -p "$FW_TMP/rootfs/bin" "$FW_TMP/rootfs/etc"
run fwctl prepare firmwares "$FW_TMP/rootfs"
FW=$(field sha1 "$OUT")
run fwctl prepare instances "$FW"
I=$(field name "$OUT")
check "instance prepared" test -n "$I"

for small in "instances $I cmdline x" "$I --full /tmp/x --force" "firmwares $FW name x" \
  "snapshots $I --changes x"; do
  # shellcheck disable=SC2086  # word splitting wanted
  run "$PYTHON" "$LIMITS" "$FIRMWARED_SOCKET_PATH" bigargs $small
  expect_eq "[$small]: no reply quotes more than 64 bytes of the argument" "" \
    "$(grep '^unbounded' <<<"$OUT")"
  size=$(sed -n 's/^largest reply \([0-9]*\) bytes.*/\1/p' <<<"$OUT")
  check "[$small]: largest reply ${size:-?} bytes < 1024 ($OUT$ERR)" test "${size:-99999}" -lt 1024
done
check "daemon alive" fwctl ping

run fwctl drop instances "$I"
expect_eq "drop the instance" "$I dropped" "$OUT"
run fwctl drop firmwares "$FW"
expect_eq "drop the firmware" 0 "$RC"
stop_daemon
assert_no_leaks
