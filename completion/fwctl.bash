# bash completion for fwctl(1). Installed as <datadir>/bash-completion/completions/fwctl,
# loaded by bash-completion on first use; may also be sourced by hand.
#
# fwctl itself computes the candidates (`fwctl __complete WORDS... CURRENT`): the verbs and
# options from its own table, and from the running daemon the folders, entity names (and
# ids once one is being typed), properties and configuration keys. The daemon is the one
# the line names with --socket, else FIRMWARED_SOCKET_PATH's, else /run/firmwared.sock.
# The first line of its output says whether file names complete too.

_fwctl() {
  local prog=${COMP_WORDS[0]} i w
  [[ -x $prog || $(type -t "$prog") == file ]] || prog=fwctl
  # Rejoin what COMP_WORDBREAKS split: "--socket=/x" and "name:/path" are one word to fwctl.
  local words=() cur
  for ((i = 1; i <= COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if ((${#words[@]} > 0)) && [[ $w == [=:] || ${words[-1]} == *[=:] ]]; then
      words[-1]+=$w
    else
      words+=("$w")
    fi
  done
  if ((${#words[@]} == 0)); then words=(""); fi
  # The word under the cursor, as bash sees it (after its last '=' or ':').
  cur=${COMP_WORDS[COMP_CWORD]}
  [[ $cur == [=:] ]] && cur=""
  local full=${words[-1]}
  unset 'words[-1]'

  local out mode
  out=$("$prog" __complete "${words[@]}" "$full" 2>/dev/null) || return 0
  mode=${out%%$'\n'*}
  [[ $out == *$'\n'* ]] && out=${out#*$'\n'} || out=""

  COMPREPLY=()
  local line strip=${full%"$cur"}
  while IFS= read -r line; do
    [[ -n $line ]] || continue
    # bash replaces only the part after the last '=' or ':' of the word.
    COMPREPLY+=("${line#"$strip"}")
  done <<<"$out"
  case $mode in
    files)
      compopt -o filenames 2>/dev/null
      while IFS= read -r line; do COMPREPLY+=("$line"); done < <(compgen -f -- "$cur")
      ;;
    dirs)
      compopt -o filenames 2>/dev/null
      while IFS= read -r line; do COMPREPLY+=("$line"); done < <(compgen -d -- "$cur")
      ;;
  esac
  # "label=" and "name:" want more after them.
  if ((${#COMPREPLY[@]} == 1)) && [[ ${COMPREPLY[0]} == *[=:] ]]; then
    compopt -o nospace 2>/dev/null
  fi
  return 0
}
complete -F _fwctl fwctl
