#!/usr/bin/env bash
# net_hook.sh: firmwared's network helper interface implemented with iproute2, as an example
# of a user-supplied helper (set `net_hook = /path/to/net_hook.sh` in firmwared.conf).
# Same arguments, effects and exit statuses as the shipped libnl helper (docs/net-helper.md):
#
#   net_hook.sh create (--netns PATH|--pid PID) --host-if NAME --inner-if NAME \
#                      --host-addr A.B.C.D/N --inner-addr A.B.C.D/N
#   net_hook.sh steal (--netns PATH|--pid PID) --iface NAME [--new-name NAME] [--addr A.B.C.D/N]
#   net_hook.sh release (--netns PATH|--pid PID) --iface NAME [--host-name NAME] [--missing-ok]
#   net_hook.sh clean --host-if NAME
#
# Not implemented here: filter, unfilter and sweep (the host_access filter, nftables; see
# docs/net-helper.md). They are refused as unknown actions (exit 2), so with this script
# every START fails at its filter step: closed, never open. Add them (nft -f - under
# flock, as the shipped helper does) before using it with firmwared.
#
# Exit status: 0 success, 1 failure (one line "net_hook: ACTION: WHAT: REASON" on stderr),
# 2 bad usage. Needs ip (iproute2) and nsenter (util-linux).
set -uo pipefail

USAGE='usage: net_hook create (--netns PATH | --pid PID) --host-if NAME --inner-if NAME
                       --host-addr A.B.C.D/N --inner-addr A.B.C.D/N
       net_hook steal (--netns PATH | --pid PID) --iface NAME [--new-name NAME]
                      [--addr A.B.C.D/N]
       net_hook release (--netns PATH | --pid PID) --iface NAME [--host-name NAME]
                        [--missing-ok]
       net_hook clean --host-if NAME
       net_hook --help | --version'

ACTION=""

usage_error() {
  printf 'net_hook: %s\n%s\n' "$1" "$USAGE" >&2
  exit 2
}

# fail WHAT ERROR_TEXT: the one-line failure message, exit 1.
fail() {
  local reason=${2//$'\n'/ }
  reason=${reason%% Command failed*}  # ip -batch's trailer
  printf 'net_hook: %s: %s: %s\n' "$ACTION" "$1" "${reason:-failed}" >&2
  exit 1
}

check_ifname() {  # check_ifname FLAG VALUE
  local v=$2
  if ((${#v} < 1 || ${#v} > 15)); then usage_error "$1 '$v': must be 1 to 15 bytes long"; fi
  [[ "$v" == . || "$v" == .. ]] && usage_error "$1 '$v': must not be '.' or '..'"
  [[ "$v" == *[/:]* ]] && usage_error "$1 '$v': must not contain '/' or ':'"
  if [[ "$v" == *[[:space:][:cntrl:]]* ]]; then
    usage_error "$1 '$v': must not contain whitespace or control characters"
  fi
  return 0
}

check_cidr() {  # check_cidr FLAG VALUE
  local v=$2 octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
  if ! [[ "$v" =~ ^$octet\.$octet\.$octet\.$octet/([1-9]|[12][0-9]|3[0-2])$ ]]; then
    usage_error "$1 '$v': expected A.B.C.D/N (N from 1 to 32)"
  fi
}

declare -A OPT=()
parse_args() {
  local allowed arg name value
  case $ACTION in
    create) allowed=" netns pid host-if inner-if host-addr inner-addr " ;;
    steal) allowed=" netns pid iface new-name addr " ;;
    release) allowed=" netns pid iface host-name missing-ok " ;;
    clean) allowed=" host-if " ;;
    *) usage_error "unknown action '$ACTION' (expected create, steal, release or clean)" ;;
  esac
  while (($# > 0)); do
    arg=$1
    shift
    [[ "$arg" == --?* ]] || usage_error "unexpected argument '$arg' (arguments are named)"
    name=${arg#--}
    name=${name%%=*}
    [[ "$allowed" == *" $name "* ]] || usage_error "unknown option --$name for $ACTION"
    [[ -v "OPT[$name]" ]] && usage_error "--$name given twice"
    if [[ "$name" == missing-ok ]]; then
      [[ "$arg" == *=* ]] && usage_error "--$name takes no value"
      value=y
    elif [[ "$arg" == *=* ]]; then
      value=${arg#*=}
    elif (($# > 0)) && [[ "$1" != --* ]]; then
      value=$1
      shift
    else
      usage_error "--$name needs a value"
    fi
    [[ -n "$value" ]] || usage_error "--$name has an empty value"
    OPT[$name]=$value
  done
}

require() {
  local f
  for f in "$@"; do [[ -v "OPT[$f]" ]] || usage_error "--$f is required"; done
}

# Sets NS (a path iproute2's `netns` accepts: one with a '/') and NS_LABEL.
resolve_netns() {
  if [[ -v OPT[netns] && -v OPT[pid] ]]; then usage_error "--netns and --pid are exclusive"; fi
  if [[ -v OPT[pid] ]]; then
    if ! [[ "${OPT[pid]}" =~ ^[1-9][0-9]{0,6}$ ]] || ((OPT[pid] > 4194304)); then
      usage_error "--pid '${OPT[pid]}': not a process id (decimal, 1..4194304)"
    fi
    NS=/proc/${OPT[pid]}/ns/net
  elif [[ -v OPT[netns] ]]; then
    NS=${OPT[netns]}
    [[ "$NS" == */* ]] || NS=./$NS
  else
    usage_error "the namespace is required: --netns PATH or --pid PID"
  fi
  NS_LABEL=$NS
}

# Checks that NS is a network namespace other than ours (as the libnl helper does).
check_netns() {
  if [[ ! -e "$NS" ]]; then
    [[ -L "$NS" ]] && fail "opening network namespace $NS_LABEL" "Permission denied"
    fail "opening network namespace $NS_LABEL" "No such file or directory"
  fi
  nsenter --net="$NS" true 2>/dev/null || fail "$NS_LABEL is not a network namespace" \
    "Invalid argument"
  if [[ "$(stat -L -c %d:%i "$NS")" == "$(stat -L -c %d:%i /proc/$$/ns/net)" ]]; then
    fail "$NS_LABEL is the helper's own network namespace, not an instance's" "Invalid argument"
  fi
}

inside() { nsenter --net="$NS" "$@"; }
host_has() { ip link show dev "$1" >/dev/null 2>&1; }
inside_has() { inside ip link show dev "$1" >/dev/null 2>&1; }

do_create() {
  require host-if inner-if host-addr inner-addr
  resolve_netns
  local h=${OPT[host-if]} i=${OPT[inner-if]} ha=${OPT[host-addr]} ia=${OPT[inner-addr]} err
  check_ifname --host-if "$h"
  check_ifname --inner-if "$i"
  check_cidr --host-addr "$ha"
  check_cidr --inner-addr "$ia"
  [[ "${ha%/*}" != "${ia%/*}" ]] || usage_error "--host-addr and --inner-addr are the same address"
  check_netns
  host_has "$h" && fail "creating veth $h with peer $i" \
    "interface $h already exists on the host: File exists"
  inside_has "$i" && fail "creating veth $h with peer $i" \
    "interface $i already exists in $NS_LABEL: File exists"
  # The peer is born inside the namespace: IFLA_NET_NS_FD in the peer's attributes.
  if ! err=$(ip link add "$h" up type veth peer name "$i" netns "$NS" 2>&1); then
    fail "creating veth $h with peer $i in $NS_LABEL" "$err"
  fi
  if ! err=$(printf 'addr add %s dev %s\n' "$ha" "$h" | ip -batch - 2>&1) ||
     ! err=$(printf 'addr add %s dev %s\nlink set %s up\nlink set lo up\n' "$ia" "$i" "$i" |
             inside ip -batch - 2>&1); then
    ip link del "$h" 2>/dev/null  # rollback: the host end takes its peer with it
    fail "configuring veth $h/$i" "$err"
  fi
}

do_steal() {
  require iface
  resolve_netns
  local iface=${OPT[iface]} err
  local name=${OPT[new-name]:-$iface}
  check_ifname --iface "$iface"
  [[ -v OPT[new-name] ]] && check_ifname --new-name "$name"
  [[ -v OPT[addr] ]] && check_cidr --addr "${OPT[addr]}"
  check_netns
  host_has "$iface" || fail "interface $iface on the host" "No such device"
  inside_has "$name" && fail "interface $name already in $NS_LABEL" "File exists"
  # One request: the kernel moves the link (closing it), then renames it inside.
  if ! err=$(ip link set dev "$iface" down netns "$NS" name "$name" 2>&1); then
    fail "moving $iface into $NS_LABEL as $name" "$err"
  fi
  local cmds="link set $name up"
  [[ -v OPT[addr] ]] && cmds=$'addr add '"${OPT[addr]} dev $name"$'\n'"$cmds"
  if ! err=$(inside ip -batch - <<<"$cmds" 2>&1); then
    inside ip link set dev "$name" netns "/proc/$$/ns/net" name "$iface" 2>/dev/null
    fail "configuring $name in $NS_LABEL" "$err"
  fi
}

do_release() {
  require iface
  resolve_netns
  local iface=${OPT[iface]} err
  local name=${OPT[host-name]:-$iface}
  check_ifname --iface "$iface"
  [[ -v OPT[host-name] ]] && check_ifname --host-name "$name"
  if [[ ! -e "$NS" && -v OPT[missing-ok] ]]; then return 0; fi  # the namespace is gone
  check_netns
  if ! inside_has "$iface"; then
    [[ -v OPT[missing-ok] ]] && return 0
    fail "interface $iface in $NS_LABEL" "No such device"
  fi
  host_has "$name" && fail "interface $name already on the host" "File exists"
  # /proc/$$/ns/net: this shell never leaves the host namespace (nsenter runs ip only).
  if ! err=$(inside ip link set dev "$iface" down netns "/proc/$$/ns/net" name "$name" 2>&1); then
    fail "moving $iface into the host namespace as $name" "$err"
  fi
}

do_clean() {
  require host-if
  local h=${OPT[host-if]} line err
  check_ifname --host-if "$h"
  line=$(ip -d -o link show dev "$h" 2>/dev/null) || return 0  # already gone
  [[ "$line" == *" \\    veth "* ]] || fail "$h is not a veth" "not deleting it"
  if ! err=$(ip link del dev "$h" 2>&1); then
    host_has "$h" || return 0  # deleted meanwhile
    fail "deleting interface $h" "$err"
  fi
}

main() {
  local a
  for a in "$@"; do
    if [[ "$a" == --help || "$a" == -h ]]; then
      echo "net_hook.sh: the iproute2 version of firmwared's network helper (docs/net-helper.md)."
      echo "$USAGE"
      exit 0
    fi
  done
  if (($# == 1)) && [[ "$1" == --version ]]; then
    echo "net_hook.sh (firmwared example, iproute2) 0.1.0"
    exit 0
  fi
  (($# > 0)) || usage_error "missing action"
  [[ "$1" != -* ]] || usage_error "the action (create, steal, release, clean) must come first"
  ACTION=$1
  shift
  parse_args "$@"
  "do_$ACTION"
}

main "$@"
