# shellcheck shell=bash
# Sourced by the benchmarks that run a daemon of their own: a private daemon for one
# benchmark. bench_daemon_setup TAG NET_PREFIX makes the temporary directory $BD_TMP, points
# the daemon and fwctl at it (socket, catalogue, mount points, repository, a cgroup, host
# interface prefix and addresses of its own, so it never meets another daemon's instances)
# and installs the EXIT trap that removes everything: instances, daemon, mounts, cgroups,
# the directory. bench_daemon_start starts the daemon (log: $BD_TMP/log) and
# waits for PING; bench_daemon_stop kills and drops its instances and asks it to quit;
# bench_daemon_quit asks it to quit, leaving its catalogue to the next daemon of the same
# benchmark. Needs $B (bench/build.sh) and $FWCTL. Also: now_us, median (of the numbers on
# stdin) and result (one RESULT line, bench/README.md).
BD_TMP="" BD_PID="" BD_CGROUP=""
# bench_daemon_init TAG NET_PREFIX: what every such benchmark does first, with $here its
# source tree: refuses to run but as root, builds (bench/build.sh: $B), sets $FWCTL, then
# bench_daemon_setup TAG NET_PREFIX.
bench_daemon_init() {
  [[ $(id -u) -eq 0 ]] || { echo "bench/$(basename "$0"): needs root" >&2; exit 1; }
  # shellcheck source=bench/build.sh
  source "$here/bench/build.sh"
  bench_build "$here"
  FWCTL=$B/fwctl/fwctl
  bench_daemon_setup "$1" "$2"
}

bench_daemon_setup() {
  local tag=$1 net=$2
  BD_TMP=$(mktemp -d "/tmp/fwtest-bench.XXXXXX")
  chmod 0755 "$BD_TMP"
  BD_CGROUP=fw$tag-${BD_TMP##*.}
  trap bench_daemon_cleanup EXIT
  trap "exit 130" INT TERM
  export FIRMWARED_SOCKET_PATH=$BD_TMP/s.sock FIRMWARED_DATABASE_PATH=$BD_TMP/db/c.db \
    FIRMWARED_MOUNT_PATH=$BD_TMP/mp FIRMWARED_REPOSITORY_PATH=$BD_TMP/repo \
    FIRMWARED_HOST_INTERFACE_PREFIX=fwt$tag FIRMWARED_NET_FIRST_TWO_BYTES=$net \
    FIRMWARED_CGROUP=$BD_CGROUP FIRMWARED_LOG_LEVEL=info
}

bench_daemon_start() {
  "$B/firmwared/firmwared" 2>>"$BD_TMP/log" &
  BD_PID=$!
  for _ in $(seq 1 250); do
    "$FWCTL" ping >/dev/null 2>&1 && return 0
    kill -0 "$BD_PID" 2>/dev/null || break
    sleep 0.02
  done
  echo "bench: the daemon did not answer PING (log: $BD_TMP/log)" >&2
  tail -5 "$BD_TMP/log" >&2
  exit 1
}

bench_daemon_stop() {
  [[ -n $BD_PID ]] || return 0
  local id
  for id in $("$FWCTL" list instances 2>/dev/null | tr ' ' '\n' | sed 's/\[.*//'); do
    "$FWCTL" kill "$id" >/dev/null 2>&1
    "$FWCTL" drop instances "$id" >/dev/null 2>&1
  done
  bench_daemon_quit
}

bench_daemon_quit() {
  [[ -n $BD_PID ]] || return 0
  "$FWCTL" quit >/dev/null 2>&1
  wait "$BD_PID" 2>/dev/null
  BD_PID=""
}

now_us() { echo $(($(date +%s%N) / 1000)); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
result() { printf 'RESULT\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@"; }

bench_daemon_cleanup() {
  set +e
  bench_daemon_stop
  [[ -n $BD_TMP ]] || return 0
  awk -v d="$BD_TMP" 'index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
  # Its cgroups, children first: the daemon's own directory, what is under it, its leaf.
  find /sys/fs/cgroup -maxdepth 8 -depth -type d \( -path "*/$BD_CGROUP" -o \
    -path "*/$BD_CGROUP/*" -o -path "*/$BD_CGROUP.daemon" \) -exec rmdir {} \; 2>/dev/null
  rm -rf "$BD_TMP"
}

# bench_need COMMAND PACKAGE: 0 when COMMAND is there, installing PACKAGE first (apt-get,
# Debian) when it is missing, BENCH_INSTALL=1 and we are root; otherwise says on stderr why
# it is not measured (naming KEY, $3) and returns 1.
bench_need() {
  local cmd=$1 pkg=$2 key=$3
  command -v "$cmd" >/dev/null && return 0
  if [[ ${BENCH_INSTALL:-0} == 1 && $(id -u) -eq 0 ]]; then
    echo "bench: installing $pkg (for $cmd)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >/dev/null 2>&1 ||
      echo "$key: apt-get install $pkg failed" >&2
    command -v "$cmd" >/dev/null && return 0
  fi
  echo "$key: not measured: $cmd is not installed (Debian package $pkg; BENCH_INSTALL=1 as root installs it)" >&2
  return 1
}
