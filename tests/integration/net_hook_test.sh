#!/usr/bin/env bash
# The network helper's interface (docs/net-helper.md), run against real namespaces and links
# for both implementations: the libnl helper (net-helpers/net_hook) and the iproute2 example
# (examples/net_hook.sh). Pins: the veth peer is born inside the namespace with its address,
# both ends and lo up, traffic flows both ways; --pid works; steal/release move, rename and
# address an interface and bring it back; clean is idempotent; bad usage exits 2, failures
# exit 1 with one line and leave nothing behind (rollback after a failed step included).
# Prints the median time of `create` (50 create+clean cycles) for each helper, and of the
# kernel's "born inside" versus "create then move" for the closing note.
#
# Every kernel object is named fwt* and removed on exit, even on failure. Traffic only goes
# to the namespaces created here: each ping first checks its route leaves via our veth.
source "$(dirname "$0")/../lib/harness.sh"
require_root
for tool in ip nsenter; do
  command -v "$tool" >/dev/null || skip "needs $tool"
done
if command -v ping >/dev/null; then
  PING=(ping)
elif command -v busybox >/dev/null; then
  PING=(busybox ping)
else
  skip "needs ping (iputils-ping or busybox)"
fi

LIBNL_HOOK="$FW_BUILD_DIR/net-helpers/net_hook"
SHELL_HOOK="$FW_SOURCE_DIR/examples/net_hook.sh"
[[ -x "$LIBNL_HOOK" ]] || { echo "missing $LIBNL_HOOK (build target net_hook)" >&2; exit 1; }

NETNS=(fwtns0 fwtns1)
LINKS=(fwtveth0 fwtveth0p fwtveth1 fwtveth2 fwtveth3 fwtvethM fwtdum0 fwtdum0p)
SLEEPER=""
N=${FW_NET_HOOK_CYCLES:-50}

remove_net_objects() {
  local ns l
  if [[ -n "$SLEEPER" ]]; then
    kill "$SLEEPER" 2>/dev/null || true
    wait "$SLEEPER" 2>/dev/null || true
    SLEEPER=""
  fi
  for ns in "${NETNS[@]}"; do
    if [[ -e /run/netns/$ns ]]; then ip netns del "$ns" 2>/dev/null || true; fi
  done
  for l in "${LINKS[@]}"; do
    if ip link show dev "$l" >/dev/null 2>&1; then ip link del dev "$l" 2>/dev/null || true; fi
  done
  return 0
}

net_test_cleanup() {
  local rc=$?
  set +e
  remove_net_objects
  (exit $rc)
  fw_cleanup
}

FW_TMP=$(mktemp -d /tmp/fwtest.XXXXXX)
trap net_test_cleanup EXIT
remove_net_objects  # leftovers of an interrupted earlier run carry our names

# --- helpers -----------------------------------------------------------------------------

nsargs() { [[ -n "$1" ]] && printf '%s\n' -n "$1"; true; }

link_exists() {  # link_exists NS DEV ("" = host)
  local a
  mapfile -t a < <(nsargs "$1")
  ip "${a[@]}" link show dev "$2" >/dev/null 2>&1
}

link_flags() {  # link_flags NS DEV: the <...> flags, comma-separated
  local a
  mapfile -t a < <(nsargs "$1")
  ip "${a[@]}" -o link show dev "$2" 2>/dev/null | sed -n 's/^[0-9]*: [^<]*<\([^>]*\)>.*/\1/p'
}

is_up() { [[ ",$(link_flags "$1" "$2")," == *,UP,* ]]; }

addrs() {  # addrs NS DEV: its IPv4 addresses with prefix, space-separated
  local a
  mapfile -t a < <(nsargs "$1")
  ip "${a[@]}" -o -4 addr show dev "$2" 2>/dev/null | awk '{printf "%s%s", sep, $4; sep=" "}'
}

link_kind() {  # link_kind NS DEV: the IFLA_INFO_KIND shown by ip -d
  local a
  mapfile -t a < <(nsargs "$1")
  ip "${a[@]}" -d -o link show dev "$2" 2>/dev/null | sed -n 's/.*\\    \([a-z0-9_]*\) .*/\1/p' |
    tail -n 1
}

# ping_via NS ADDR DEV: one ping from NS ("" = host) to ADDR, only if the route uses DEV.
ping_via() {
  local a route
  mapfile -t a < <(nsargs "$1")
  route=$(ip "${a[@]}" route get "$2" 2>/dev/null)
  if [[ "$route" != *" dev $3 "* ]]; then
    echo "    refusing to ping $2: its route is not via $3: $route" >&2
    return 1
  fi
  if [[ -n "$1" ]]; then
    ip netns exec "$1" "${PING[@]}" -c1 -W1 "$2" >/dev/null 2>&1
  else
    "${PING[@]}" -c1 -W1 "$2" >/dev/null 2>&1
  fi
}

one_line_failure() {  # one_line_failure DESCRIPTION ACTION: checks RC=1 and ERR
  expect_eq "$1: exit 1" 1 "$RC"
  expect_eq "$1: exactly one line on stderr" 1 "$(printf '%s\n' "$ERR" | wc -l)"
  expect_match "$1: 'net_hook: $2: what: why'" "^net_hook: $2: .+: .+$" "$ERR"
}

only_lo_inside() {  # only_lo_inside DESCRIPTION NS
  expect_eq "$1" "lo" "$(ip -n "$2" -o link show | awk -F': ' '{print $2}' | tr '\n' ' ' |
                        sed 's/ $//')"
}

make_stealable() {  # fwtdum0: a dummy, or an ifb / veth end where the kernel has no dummy
  if ip link add fwtdum0 type dummy 2>/dev/null; then
    STEAL_KIND=dummy
  elif ip link add fwtdum0 type ifb 2>/dev/null; then
    STEAL_KIND=ifb
  else
    ip link add fwtdum0 type veth peer name fwtdum0p
    STEAL_KIND=veth
  fi
}

# --- the scenario, for one helper ----------------------------------------------------------

scenario() {  # scenario LABEL HELPER
  local label=$1 hook=$2 sleeper_ns dead
  echo "--- $label: $hook"
  ip netns add fwtns0
  ip netns add fwtns1

  run "$hook" create --netns /run/netns/fwtns0 --host-if fwtveth0 --inner-if eth0 \
    --host-addr 10.254.0.254/24 --inner-addr 10.254.0.1/24
  expect_eq "$label: create exits 0" 0 "$RC"
  expect_eq "$label: create is silent" "" "$OUT$ERR"
  expect_eq "$label: host end has the host address" "10.254.0.254/24" "$(addrs "" fwtveth0)"
  check "$label: host end is up" is_up "" fwtveth0
  expect_match "$label: host end's peer is in fwtns0" "link-netns fwtns0" \
    "$(ip -o link show dev fwtveth0)"
  expect_eq "$label: inner end has the inner address" "10.254.0.1/24" "$(addrs fwtns0 eth0)"
  expect_eq "$label: inner end is a veth" "veth" "$(link_kind fwtns0 eth0)"
  check "$label: inner end is up" is_up fwtns0 eth0
  check "$label: lo is up inside" is_up fwtns0 lo
  expect_match "$label: flags other than UP are kept" "MULTICAST" "$(link_flags fwtns0 eth0)"
  check "$label: host reaches the inner address" ping_via "" 10.254.0.1 fwtveth0
  check "$label: the namespace reaches the host address" ping_via fwtns0 10.254.0.254 eth0

  # A second namespace, named by the pid of a process inside it: a distinct pair.
  ip netns exec fwtns1 sleep 300 &
  SLEEPER=$!
  for _ in $(seq 1 100); do
    sleeper_ns=$(readlink "/proc/$SLEEPER/ns/net" 2>/dev/null)
    [[ "$sleeper_ns" == "$(ip netns exec fwtns1 readlink /proc/self/ns/net)" ]] && break
    sleep 0.01
  done
  run "$hook" create --pid "$SLEEPER" --host-if fwtveth1 --inner-if eth0 \
    --host-addr 10.254.1.254/24 --inner-addr 10.254.1.1/24
  expect_eq "$label: create --pid exits 0" 0 "$RC"
  expect_match "$label: second pair's peer is in fwtns1" "link-netns fwtns1" \
    "$(ip -o link show dev fwtveth1)"
  expect_eq "$label: second inner address" "10.254.1.1/24" "$(addrs fwtns1 eth0)"
  expect_eq "$label: first namespace untouched" "10.254.0.1/24" "$(addrs fwtns0 eth0)"
  check "$label: host reaches the second namespace" ping_via "" 10.254.1.1 fwtveth1
  check "$label: the second namespace reaches the host" ping_via fwtns1 10.254.1.254 eth0

  # steal + release of a host interface, renamed and addressed inside.
  make_stealable
  run "$hook" steal --netns /run/netns/fwtns0 --iface fwtdum0 --new-name eth1 \
    --addr 10.254.9.1/24
  expect_eq "$label: steal exits 0 ($STEAL_KIND)" 0 "$RC"
  expect_eq "$label: steal is silent" "" "$OUT$ERR"
  check "$label: stolen interface left the host" eval '! link_exists "" fwtdum0'
  expect_eq "$label: stolen interface has its address inside" "10.254.9.1/24" \
    "$(addrs fwtns0 eth1)"
  expect_eq "$label: stolen interface keeps its kind" "$STEAL_KIND" "$(link_kind fwtns0 eth1)"
  check "$label: stolen interface is up inside" is_up fwtns0 eth1

  run "$hook" release --netns /run/netns/fwtns0 --iface eth1 --host-name fwtdum0
  expect_eq "$label: release exits 0" 0 "$RC"
  check "$label: released interface is back on the host" link_exists "" fwtdum0
  expect_eq "$label: released interface is the stolen one" "$STEAL_KIND" "$(link_kind "" fwtdum0)"
  check "$label: released interface is down" eval '! is_up "" fwtdum0'
  expect_eq "$label: released interface has no address" "" "$(addrs "" fwtdum0)"
  check "$label: released interface left the namespace" eval '! link_exists fwtns0 eth1'
  run "$hook" release --netns /run/netns/fwtns0 --iface eth1 --host-name fwtdum0
  one_line_failure "$label: release of an absent interface" release
  expect_match "$label: release names the absent interface" "eth1" "$ERR"
  run "$hook" release --netns /run/netns/fwtns0 --iface eth1 --missing-ok
  expect_eq "$label: release --missing-ok of an absent interface exits 0" 0 "$RC"
  sleep 0 &
  dead=$!
  wait "$dead"
  run "$hook" release --pid "$dead" --iface eth1 --missing-ok
  expect_eq "$label: release --missing-ok from a dead process exits 0" 0 "$RC"

  # steal without rename or address, then release without --host-name, the namespace
  # given as an inherited descriptor (how a daemon holding the namespace open names it).
  local nsfd
  exec {nsfd}</run/netns/fwtns1
  run "$hook" steal --netns /run/netns/fwtns1 --iface fwtdum0
  expect_eq "$label: plain steal exits 0" 0 "$RC"
  check "$label: plain steal keeps the name inside" link_exists fwtns1 fwtdum0
  run "$hook" release --netns "/proc/self/fd/$nsfd" --iface fwtdum0
  expect_eq "$label: plain release through /proc/self/fd/N exits 0" 0 "$RC"
  check "$label: plain release brings it back" link_exists "" fwtdum0
  exec {nsfd}<&-
  run "$hook" clean --host-if fwtdum0
  one_line_failure "$label: clean of a non-veth refuses" clean
  check "$label: clean left the non-veth alone" link_exists "" fwtdum0
  ip link del fwtdum0

  # Failures: one line, exit 1, nothing half-made, nothing pre-existing destroyed.
  ip link add fwtveth2 type veth peer name fwtveth0p
  run "$hook" create --netns /run/netns/fwtns1 --host-if fwtveth2 --inner-if eth9 \
    --host-addr 10.254.2.254/24 --inner-addr 10.254.2.1/24
  one_line_failure "$label: create with an existing host interface" create
  expect_match "$label: the message names the existing interface" "fwtveth2" "$ERR"
  check "$label: the existing interface survives" link_exists "" fwtveth0p
  check "$label: no inner end was made" eval '! link_exists fwtns1 eth9'
  ip link del fwtveth2
  run "$hook" create --netns /run/netns/fwtns0 --host-if fwtveth3 --inner-if eth0 \
    --host-addr 10.254.3.254/24 --inner-addr 10.254.3.1/24
  one_line_failure "$label: create with an inner name taken" create
  check "$label: no host end was left" eval '! link_exists "" fwtveth3'
  run "$hook" create --netns "$FW_TMP/nonexistent" --host-if fwtveth3 --inner-if eth0 \
    --host-addr 10.254.3.254/24 --inner-addr 10.254.3.1/24
  one_line_failure "$label: create into a missing namespace" create
  run "$hook" create --netns /etc/hostname --host-if fwtveth3 --inner-if eth0 \
    --host-addr 10.254.3.254/24 --inner-addr 10.254.3.1/24
  one_line_failure "$label: create into a file that is not a namespace" create
  run "$hook" steal --netns /run/netns/fwtns0 --iface fwtveth3
  one_line_failure "$label: steal of an absent interface" steal
  check "$label: failed creates left no host end" eval '! link_exists "" fwtveth3'

  inject_failures "$label" "$hook"

  # clean: deletes the pair; an absent interface is success.
  run "$hook" clean --host-if fwtveth0
  expect_eq "$label: clean exits 0" 0 "$RC"
  check "$label: clean removed the host end" eval '! link_exists "" fwtveth0'
  check "$label: clean removed the inner end" eval '! link_exists fwtns0 eth0'
  run "$hook" clean --host-if fwtveth0
  expect_eq "$label: clean of an absent interface exits 0" 0 "$RC"
  run "$hook" clean --host-if fwtveth1
  expect_eq "$label: clean of the second pair exits 0" 0 "$RC"
  only_lo_inside "$label: nothing left in fwtns0" fwtns0
  only_lo_inside "$label: nothing left in fwtns1" fwtns1

  bad_usage "$label" "$hook"

  remove_net_objects
  expect_eq "$label: no fwt link left" "" "$(ip -o link show | grep -o ' fwt[^:@]*' || true)"
}

# A step failing after the pair exists must delete it; after a steal, move it back. The
# failure is injected: an LD_PRELOAD shim failing the Nth rtnl_addr_add for the libnl
# helper, an nsenter that fails `ip -batch` for the shell one.
inject_failures() {  # inject_failures LABEL HELPER
  local label=$1 hook=$2 env=()
  if [[ "$hook" == "$LIBNL_HOOK" ]]; then
    build_shim || return 0
    env=(env LD_PRELOAD="$FW_TMP/fail_shim.so" FWT_FAIL_NTH=2)
  else
    env=(env PATH="$FW_TMP/fakebin:$PATH")
  fi
  run "${env[@]}" "$hook" create --netns /run/netns/fwtns1 --host-if fwtveth3 --inner-if eth3 \
    --host-addr 10.254.3.254/24 --inner-addr 10.254.3.1/24
  one_line_failure "$label: create failing inside (injected)" create
  check "$label: the failed create's host end was deleted" eval '! link_exists "" fwtveth3'
  check "$label: the failed create's inner end was deleted" eval '! link_exists fwtns1 eth3'

  make_stealable
  [[ "$hook" == "$LIBNL_HOOK" ]] && env=(env LD_PRELOAD="$FW_TMP/fail_shim.so" FWT_FAIL_NTH=1)
  run "${env[@]}" "$hook" steal --netns /run/netns/fwtns1 --iface fwtdum0 --new-name eth4 \
    --addr 10.254.4.1/24
  one_line_failure "$label: steal failing inside (injected)" steal
  check "$label: the failed steal moved the interface back" link_exists "" fwtdum0
  check "$label: nothing stolen stays inside" eval '! link_exists fwtns1 eth4'
  ip link del fwtdum0 2>/dev/null || true
  ip link del fwtdum0p 2>/dev/null || true
}

build_shim() {
  [[ -f "$FW_TMP/fail_shim.so" ]] && return 0
  if ! command -v cc >/dev/null; then
    echo "    (no C compiler: skipping the injected failures of the libnl helper)" >&2
    return 1
  fi
  cat >"$FW_TMP/fail_shim.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
/* Fails the FWT_FAIL_NTH-th rtnl_addr_add() of the process with -NLE_PERM (28). */
int rtnl_addr_add(void* sk, void* addr, int flags) {
  static int calls;
  int (*real)(void*, void*, int) = (int (*)(void*, void*, int))dlsym(RTLD_NEXT, "rtnl_addr_add");
  const char* nth = getenv("FWT_FAIL_NTH");
  if (nth != NULL && ++calls == atoi(nth)) return -28;
  return real(sk, addr, flags);
}
EOF
  cc -shared -fPIC -o "$FW_TMP/fail_shim.so" "$FW_TMP/fail_shim.c" -ldl
}

make_fakebin() {
  mkdir -p "$FW_TMP/fakebin"
  cat >"$FW_TMP/fakebin/nsenter" <<EOF
#!/usr/bin/env bash
for a in "\$@"; do
  if [[ "\$a" == -batch ]]; then echo "Error: injected failure" >&2; exit 1; fi
done
exec $(command -v nsenter) "\$@"
EOF
  chmod +x "$FW_TMP/fakebin/nsenter"
}

bad_usage() {  # bad_usage LABEL HELPER: each must exit 2 with usage, creating nothing
  local label=$1 hook=$2 args
  local ns=(--netns /run/netns/fwtns0)
  local ok=(--host-if fwtveth3 --inner-if eth0 --host-addr 10.254.3.254/24
            --inner-addr 10.254.3.1/24)
  local cases=(
    ""
    "frobnicate"
    "--host-if fwtveth3 create"
    "create ${ns[*]} --host-if fwtveth3 --inner-if eth0 --host-addr 10.254.3.254/24"
    "create ${ns[*]} ${ok[*]} --bogus 1"
    "create ${ns[*]} ${ok[*]} --host-if fwtveth4"
    "create ${ns[*]} ${ok[*]} --pid 1"
    "create ${ok[*]}"
    "create ${ns[*]} ${ok[*]} extra"
    "create ${ns[*]} --host-if fwtveth3 --inner-if eth0 --host-addr 10.254.3.254/24 --inner-addr"
    "create ${ns[*]} --host-if fwtveth3_too_long_ --inner-if eth0 --host-addr 1.2.3.4/24 --inner-addr 1.2.3.5/24"
    "create ${ns[*]} --host-if fwt/veth --inner-if eth0 --host-addr 1.2.3.4/24 --inner-addr 1.2.3.5/24"
    "create ${ns[*]} --host-if fwtveth3 --inner-if eth:0 --host-addr 1.2.3.4/24 --inner-addr 1.2.3.5/24"
    "create ${ns[*]} --host-if fwtveth3 --inner-if .. --host-addr 1.2.3.4/24 --inner-addr 1.2.3.5/24"
    "create ${ns[*]} --host-if fwtveth3 --inner-if eth0 --host-addr 256.2.3.4/24 --inner-addr 1.2.3.5/24"
    "create ${ns[*]} --host-if fwtveth3 --inner-if eth0 --host-addr 1.2.3.4 --inner-addr 1.2.3.5/24"
    "create ${ns[*]} --host-if fwtveth3 --inner-if eth0 --host-addr 1.2.3.4/33 --inner-addr 1.2.3.5/24"
    "create ${ns[*]} --host-if fwtveth3 --inner-if eth0 --host-addr 1.2.3.4/0 --inner-addr 1.2.3.5/24"
    "create ${ns[*]} --host-if fwtveth3 --inner-if eth0 --host-addr 01.2.3.4/24 --inner-addr 1.2.3.5/24"
    "create ${ns[*]} --host-if fwtveth3 --inner-if eth0 --host-addr 1.2.3.4/24 --inner-addr 1.2.3.4/24"
    "create --pid 0 ${ok[*]}"
    "create --pid 12x ${ok[*]}"
    "steal ${ns[*]}"
    "steal ${ns[*]} --iface fwtveth3 --addr 10.254.3.1"
    "release ${ns[*]} --iface eth1 --missing-ok=yes"
    "release ${ns[*]} --iface eth1 --host-name"
    "clean"
    "clean --host-if fwtveth3 ${ns[*]}"
  )
  for args in "${cases[@]}"; do
    # shellcheck disable=SC2086  # word splitting of the case is the point
    run "$hook" $args
    expect_eq "$label: bad usage '$args' exits 2" 2 "$RC"
    expect_match "$label: bad usage '$args' explains and shows usage" "^net_hook: .*usage: " \
      "$(printf '%s' "$ERR" | tr '\n' ' ')"
  done
  run "$hook" create "${ns[@]}" --host-if "fwt veth" --inner-if eth0 --host-addr 1.2.3.4/24 \
    --inner-addr 1.2.3.5/24
  expect_eq "$label: a name with a space exits 2" 2 "$RC"
  run "$hook" --help
  expect_eq "$label: --help exits 0" 0 "$RC"
  expect_match "$label: --help shows the usage" "usage: net_hook create" "$OUT"
  run "$hook" --version
  expect_eq "$label: --version exits 0" 0 "$RC"
  check "$label: bad usage created nothing" eval '! link_exists "" fwtveth3'
}

# --- timing --------------------------------------------------------------------------------
# Timestamps are ${EPOCHREALTIME/./} (µs) read in place: a $(...) would fork and add ms.

median_ms() {  # median of the microsecond values on stdin, in ms with 3 decimals
  sort -n | awk '{v[NR]=$1} END {m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2;
                                 printf "%.3f", m / 1000}'
}

time_helper() {  # time_helper HELPER: prints "create_median clean_median" in ms
  local hook=$1 i t0 t1 t2 creates=() cleans=()
  for ((i = 0; i < N; i++)); do
    t0=${EPOCHREALTIME/./}
    "$hook" create --netns /run/netns/fwtns0 --host-if fwtveth0 --inner-if eth0 \
      --host-addr 10.254.0.254/24 --inner-addr 10.254.0.1/24 || return 1
    t1=${EPOCHREALTIME/./}
    "$hook" clean --host-if fwtveth0 || return 1
    t2=${EPOCHREALTIME/./}
    creates+=($((10#$t1 - 10#$t0)))
    cleans+=($((10#$t2 - 10#$t1)))
  done
  echo "$(printf '%s\n' "${creates[@]}" | median_ms) $(printf '%s\n' "${cleans[@]}" | median_ms)"
}

time_kernel() {  # time_kernel born|moved: one `ip -batch` per cycle, the pair only
  local mode=$1 i t0 t1 samples=() cmds
  if [[ "$mode" == born ]]; then
    cmds=$'link add fwtvethM type veth peer name eth0 netns fwtns0\n'
  else
    cmds=$'link add fwtvethM type veth peer name fwtveth0p\nlink set fwtveth0p netns fwtns0 name eth0\n'
  fi
  for ((i = 0; i < N; i++)); do
    t0=${EPOCHREALTIME/./}
    ip -batch - <<<"$cmds" || return 1
    t1=${EPOCHREALTIME/./}
    ip link del fwtvethM || return 1
    samples+=($((10#$t1 - 10#$t0)))
  done
  printf '%s\n' "${samples[@]}" | median_ms
}

measure() {
  local libnl shell born moved
  ip netns add fwtns0
  libnl=$(time_helper "$LIBNL_HOOK") || { echo "  not ok: timing the libnl helper" >&2; return 1; }
  shell=$(time_helper "$SHELL_HOOK") || { echo "  not ok: timing the shell helper" >&2; return 1; }
  born=$(time_kernel born) || return 1
  moved=$(time_kernel moved) || return 1
  echo "--- timing, median of $N cycles (ms)"
  # shellcheck disable=SC2086  # "create clean" splits into the two fields
  printf '  create, libnl helper (net_hook):       %8s   (clean %s)\n' $libnl
  # shellcheck disable=SC2086
  printf '  create, iproute2 helper (net_hook.sh): %8s   (clean %s)\n' $shell
  printf '  ip -batch: veth born in the netns:     %8s\n' "$born"
  printf '  ip -batch: veth created, then moved:   %8s\n' "$moved"
  remove_net_objects
}

make_fakebin
scenario libnl "$LIBNL_HOOK"
scenario shell "$SHELL_HOOK"
check "timing" measure
remove_net_objects
expect_eq "no fwt namespace left" "" "$(ip netns list | grep '^fwt' || true)"
expect_eq "no fwt link left" "" "$(ip -o link show | grep -o ' fwt[^:@]*' || true)"
