#!/usr/bin/env bash
# The installed product: `cmake --install` of the build tree.
#  - DESTDIR install: every expected file at its GNUInstallDirs place with its mode, nothing
#    of the tests, fuzz targets or static libraries;
#  - an install relocated with --prefix (staged with DESTDIR in a scratch directory): the
#    INSTALLED firmwared,
#    with no configuration file and no shipped-path setting, finds its monitor, word lists,
#    AppArmor template and net_hook below that prefix, and the installed fwctl runs the main
#    job (import, prepare, start, exec, diff, kill, drop);
#  - the installed man pages format without a warning;
#  - the installed bash completion completes a verb, a folder and an instance name of the
#    running daemon (the socket from the environment and from --socket); so does the zsh
#    one when zsh is installed.
source "$(dirname "$0")/../lib/harness.sh"
require_root
command -v cmake >/dev/null || skip "needs cmake"
fw_inst_setup
build_example_firmware

CACHE="$FW_BUILD_DIR/CMakeCache.txt"
cache() {  # cache NAME DEFAULT: a cache variable of the build, DEFAULT when empty
  local v
  v=$(sed -n "s/^$1:[A-Z]*=//p" "$CACHE" | head -n1)
  echo "${v:-$2}"
}
PREFIX=$(cache CMAKE_INSTALL_PREFIX /usr/local)
BINDIR=$(cache CMAKE_INSTALL_BINDIR bin)
SBINDIR=$(cache CMAKE_INSTALL_SBINDIR sbin)
LIBEXECDIR=$(cache CMAKE_INSTALL_LIBEXECDIR libexec)
DATADIR=$(cache CMAKE_INSTALL_DATAROOTDIR share)
MANDIR=$(cache CMAKE_INSTALL_MANDIR "$DATADIR/man")
DOCDIR=$(cache CMAKE_INSTALL_DOCDIR "$DATADIR/doc/firmwared")
# cmake --install rewrites the build tree's install_manifest.txt: keep whatever was there.
MANIFEST="$FW_BUILD_DIR/install_manifest.txt"
if [[ -f "$MANIFEST" ]]; then cp -p "$MANIFEST" "$FW_TMP/manifest.saved"; fi
restore_manifest() {
  if [[ -f "$FW_TMP/manifest.saved" ]]; then
    cp -p "$FW_TMP/manifest.saved" "$MANIFEST"
  else
    rm -f "$MANIFEST"
  fi
}
install_cleanup() {
  local rc=$? id
  set +e
  restore_manifest
  for id in $("$FWCTL" list instances 2>/dev/null | tr ' ' '\n' | sed 's/\[.*//'); do
    "$FWCTL" kill "$id" >/dev/null 2>&1
  done
  (exit "$rc")
  fw_inst_on_exit
}
trap install_cleanup EXIT

# ---- DESTDIR install: the manifest ------------------------------------------------------
DEST="$FW_TMP/dest"
run env DESTDIR="$DEST" cmake --install "$FW_BUILD_DIR"
expect_eq "DESTDIR=... cmake --install: exit 0" 0 "$RC"
[[ $RC -eq 0 ]] || printf '%s\n%s\n' "$OUT" "$ERR" >&2
# Relative to the prefix; mode; the bash completion's directory may come from
# bash-completion's pkg-config file, so it is matched by name.
EXPECTED="$SBINDIR/firmwared 755
$BINDIR/fwctl 755
$LIBEXECDIR/firmwared/firmwared-monitor 755
$LIBEXECDIR/firmwared/firmwared-archive 755
$LIBEXECDIR/firmwared/net_hook 755
$DATADIR/firmwared/resources/adjectives.txt 644
$DATADIR/firmwared/resources/nouns.txt 644
$DATADIR/firmwared/apparmor/firmwared-instance 644
$MANDIR/man1/fwctl.1 644
$MANDIR/man5/firmwared.conf.5 644
$MANDIR/man8/firmwared.8 644
$DOCDIR/examples/firmwared.conf 644
$DOCDIR/examples/net_hook.sh 755
$DATADIR/zsh/vendor-completions/_fwctl 644"
ROOT="$DEST$PREFIX"
while read -r path mode; do
  check "installed: $path" test -f "$ROOT/$path"
  expect_eq "mode of $path" "$mode" "$(stat -c %a "$ROOT/$path" 2>/dev/null)"
done <<<"$EXPECTED"
BASH_COMPLETION=$(cd "$ROOT" && find . -path '*/bash-completion/completions/fwctl' -type f |
                    sed 's|^\./||')
expect_match "installed: the bash completion" '^[^[:space:]]*share/bash-completion/completions/fwctl$' \
  "$BASH_COMPLETION"
# Everything installed is expected; the systemd units, sysusers.d and tmpfiles.d files
# (systemd/) are checked by their own tests.
UNEXPECTED=$(cd "$DEST" && find . ! -type d | sed 's|^\./|/|' | while read -r f; do
  rel=${f#"$PREFIX"/}
  grep -qxF "$rel" < <(cut -d' ' -f1 <<<"$EXPECTED"; echo "$BASH_COMPLETION") && continue
  [[ $f == */systemd/* || $f == */sysusers.d/* || $f == */tmpfiles.d/* ]] && continue
  echo "$f"
done)
expect_eq "nothing else is installed (no test, fuzz target or static library)" "" "$UNEXPECTED"
expect_eq "no test, fuzz target, gtest or archive anywhere" "" \
  "$(cd "$DEST" && find . \( -iname '*test*' -o -iname '*fuzz*' -o -name '*.a' \
       -o -name '*gtest*' \) -print)"
check "the installed firmwared is the built one" cmp -s "$FW_BUILD_DIR/firmwared/firmwared" \
  "$ROOT/$SBINDIR/firmwared"

# ---- the man pages ----------------------------------------------------------------------
for page in man1/fwctl.1 man5/firmwared.conf.5 man8/firmwared.8; do
  f="$ROOT/$MANDIR/$page"
  expect_eq "groff -ww: $page has no warning" "" "$(groff -t -ww -z -man "$f" 2>&1)"
  if command -v man >/dev/null; then
    for width in 80 100; do
      expect_eq "man --warnings at $width columns: $page has no warning" "" \
        "$(MANWIDTH=$width man --warnings -E UTF-8 -l "$f" 2>&1 >/dev/null)"
    done
  fi
done
rm -rf "$DEST"

# ---- a relocated install runs with no configuration -------------------------------------
# Into a staging directory too: a file whose install destination is absolute (configured
# from the prefix at cmake time) must land in the scratch directory, not on this host.
P="$FW_TMP/stage/opt/fw-relocated"
run env DESTDIR="$FW_TMP/stage" cmake --install "$FW_BUILD_DIR" --prefix /opt/fw-relocated
expect_eq "cmake --install --prefix: exit 0" 0 "$RC"
[[ $RC -eq 0 ]] || printf '%s\n%s\n' "$OUT" "$ERR" >&2
FIRMWARED="$P/$SBINDIR/firmwared"
FWCTL="$P/$BINDIR/fwctl"
export FWCTL
# No shipped-path key from the environment, no configuration file (a missing one means
# the defaults; the default path is /etc/firmwared.conf, which may exist: use an empty one).
unset FIRMWARED_RESOURCES_DIR FIRMWARED_APPARMOR_PROFILE FIRMWARED_NET_HOOK
: >"$FW_TMP/empty.conf"
start_daemon "$FW_TMP/empty.conf"
expect_eq "resources_dir below the prefix" "$P/$DATADIR/firmwared/resources" \
  "$("$FWCTL" get_config resources_dir)"
expect_eq "apparmor_profile below the prefix" "$P/$DATADIR/firmwared/apparmor/firmwared-instance" \
  "$("$FWCTL" get_config apparmor_profile)"
expect_eq "net_hook below the prefix" "$P/$LIBEXECDIR/firmwared/net_hook" \
  "$("$FWCTL" get_config net_hook)"

run "$FWCTL" prepare firmwares "$FW_EX_DIR"
expect_eq "prepare firmwares: exit 0" 0 "$RC"
FW=$(field name)
expect_match "the firmware's name comes from the installed word lists" '^[a-z]+_[a-z]+$' "$FW"
run "$FWCTL" prepare instances "$FW"
expect_eq "prepare instances: exit 0" 0 "$RC"
INST=$(field name)
run "$FWCTL" start --wait-console 'firmware booted' --timeout 30 "$INST"
expect_eq "start (the installed monitor, the installed net_hook): exit 0" 0 "$RC"
[[ $RC -eq 0 ]] || printf '%s\n%s\n' "$OUT" "$ERR" >&2
MONITOR_PID=$(pgrep -f -- "firmwared-monitor --name $INST( |$)" | head -n1 || true)
expect_eq "the monitor running is the installed one" "$P/$LIBEXECDIR/firmwared/firmwared-monitor" \
  "$(readlink "/proc/${MONITOR_PID:-0}/exe" 2>/dev/null)"
run "$FWCTL" exec "$INST" -- sh -c 'echo installed >/etc/installed.txt; cat /etc/installed.txt'
expect_eq "exec: exit 0" 0 "$RC"
expect_eq "exec: its output" installed "$OUT"
run "$FWCTL" diff "$INST"
expect_eq "diff: exit 0" 0 "$RC"
expect_match "diff: the file exec created" '/etc/installed\.txt' "$OUT"
run "$FWCTL" export "$INST" --changes "$FW_TMP/installed.tar"
expect_eq "export (the installed firmwared-archive): exit 0" 0 "$RC"
[[ $RC -eq 0 ]] || printf '%s\n%s\n' "$OUT" "$ERR" >&2
expect_match "export: the file exec created" $'(^|\n)etc/installed\\.txt($|\n)' \
  "$(tar -tf "$FW_TMP/installed.tar" 2>&1)"

# ---- bash completion against the running daemon -----------------------------------------
COMPLETION="$P/$BASH_COMPLETION"
complete_line() {  # complete_line WORD...: what the completion offers for the last word
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
           _fwctl; printf "%s\n" "${COMPREPLY[@]}"' complete "$COMPLETION" "$@" 2>&1
}
expect_eq "completion: a verb prefix" "$(printf 'start\nstats\nstop')" \
  "$(complete_line "$FWCTL" st | sort)"
expect_match "completion: the folders" $'firmwares\ninstances' "$(complete_line "$FWCTL" list "")"
expect_eq "completion: the instance name" "$INST" "$(complete_line "$FWCTL" start "${INST:0:3}")"
expect_eq "completion: a property of the folder" "init_pid" \
  "$(complete_line "$FWCTL" get_property instances "$INST" init_p)"
expect_eq "completion: a config key" "net_hook" "$(complete_line "$FWCTL" get_config net_h)"
expect_eq "completion: the socket from --socket, not the environment" "$INST" \
  "$(FIRMWARED_SOCKET_PATH=/nonexistent complete_line "$FWCTL" --socket "$FIRMWARED_SOCKET_PATH" \
      start "${INST:0:3}")"
expect_eq "completion: no daemon, no name (and no error)" "" \
  "$(FIRMWARED_SOCKET_PATH=/nonexistent complete_line "$FWCTL" start "${INST:0:3}")"

# zsh (when installed): the function alone, with compadd and _files standing in for zsh's
# completion system.
ZSH_COMPLETION="$P/$DATADIR/zsh/vendor-completions/_fwctl"
if command -v zsh >/dev/null; then
  zcomplete() {
    zsh -fc 'compadd() { shift 2; print -l -- "$@"; }; _files() { print "<files $*>"; }
             f=$1; shift; words=("$@"); CURRENT=$#words; source "$f"' zcomplete "$ZSH_COMPLETION" "$@" 2>&1
  }
  expect_eq "zsh completion: a verb prefix" "$(printf 'start\nstats\nstop')" "$(zcomplete "$FWCTL" st)"
  expect_eq "zsh completion: the instance name" "$INST" "$(zcomplete "$FWCTL" start "${INST:0:3}")"
  expect_eq "zsh completion: exec's command completes files" "<files >" \
    "$(zcomplete "$FWCTL" exec "$INST" -- "")"
else
  echo "zsh is not installed: its completion is not exercised" >&2
fi

# ---- kill, drop: nothing left -----------------------------------------------------------
run "$FWCTL" kill "$INST"
expect_eq "kill: exit 0" 0 "$RC"
run "$FWCTL" drop instances "$INST"
expect_eq "drop instances: exit 0" 0 "$RC"
run "$FWCTL" drop firmwares "$FW"
expect_eq "drop firmwares: exit 0" 0 "$RC"
expect_eq "no instance left" "" "$("$FWCTL" list instances)"
stop_daemon
fw_inst_expect_no_leftovers "after the job"
assert_no_leaks
