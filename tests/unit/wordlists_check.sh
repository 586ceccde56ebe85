#!/usr/bin/env bash
# wordlists_check.sh - check resources/adjectives.txt and resources/nouns.txt.
#
# Every line: one word, [a-z] only, 2-12 characters; lists sorted (C order) and unique,
# at least 250 words each, no word in both lists, and the longest "adjective_noun" at most
# 24 characters.  Exits 0 if all is well, 1 naming each offending file and line otherwise.
#
# Usage: wordlists_check.sh [RESOURCES_DIR]
# (default: $FW_SOURCE_DIR/resources, else ../../resources relative to this script)
set -euo pipefail
export LC_ALL=C

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
dir=${1:-${FW_SOURCE_DIR:-$here/../..}/resources}

min_words=250
min_len=2
max_len=12
max_name=24

errors=0
err() {
	printf '%s\n' "$*" >&2
	errors=$((errors + 1))
}

# check_list FILE: per-line checks; sets list_count and list_max (longest valid word).
list_count=0
list_max=0
check_list() {
	local file=$1 out line
	list_count=0
	list_max=0
	if [[ ! -f $file ]]; then
		err "$file: missing"
		return
	fi
	if [[ -s $file && -n $(tail -c 1 -- "$file") ]]; then
		err "$file: last line does not end with a newline"
	fi
	# awk prints diagnostics prefixed with "E " and a final "S count maxlen" line.
	out=$(awk -v f="$file" -v lo="$min_len" -v hi="$max_len" '
		{
			w = $0
			if (w ~ /\r$/) { print "E " f ":" NR ": carriage return (DOS line ending)"; sub(/\r$/, "", w) }
			if (w == "") { print "E " f ":" NR ": empty line"; next }
			if (w !~ /^[a-z]+$/) { print "E " f ":" NR ": \"" w "\" is not lowercase [a-z] only" }
			else if (length(w) < lo || length(w) > hi) {
				print "E " f ":" NR ": \"" w "\" has " length(w) " characters (want " lo "-" hi ")"
			}
			if (w in seen) { print "E " f ":" NR ": \"" w "\" duplicates line " seen[w] }
			else seen[w] = NR
			if (n > 0 && w != prev && !(prev < w)) {
				print "E " f ":" NR ": \"" w "\" is out of order (after \"" prev "\" on line " prevnr ")"
			}
			prev = w; prevnr = NR
			n++
			if (w ~ /^[a-z]+$/ && length(w) > max) { max = length(w); maxw = w }
		}
		END { print "S " n + 0 " " max + 0 " " maxw }
	' "$file")
	while IFS= read -r line; do
		case $line in
		"E "*) err "${line#E }" ;;
		"S "*) read -r _ list_count list_max list_longest <<<"$line" ;;
		esac
	done <<<"$out"
	if ((list_count < min_words)); then
		err "$file: $list_count words, want at least $min_words"
	fi
}

adj=$dir/adjectives.txt
noun=$dir/nouns.txt

check_list "$adj"
nadj=$list_count maxadj=$list_max longadj=${list_longest:-}
check_list "$noun"
nnoun=$list_count maxnoun=$list_max longnoun=${list_longest:-}

if ((maxadj + 1 + maxnoun > max_name)); then
	err "longest name ${longadj}_${longnoun} has $((maxadj + 1 + maxnoun)) characters (max $max_name): shorten the longest adjective or noun"
fi

# No word in both lists (a name like "amber_amber" would look odd).
if [[ -f $adj && -f $noun ]]; then
	while IFS= read -r w; do
		[[ -n $w ]] || continue
		err "$noun:$(grep -n -x -F -- "$w" "$noun" | head -n1 | cut -d: -f1): \"$w\" is also in $adj (line $(grep -n -x -F -- "$w" "$adj" | head -n1 | cut -d: -f1))"
	done < <(sort -u -- "$adj" | comm -12 - <(sort -u -- "$noun"))
fi

if ((errors)); then
	printf 'wordlists_check: %d error(s)\n' "$errors" >&2
	exit 1
fi
echo "wordlists_check: OK ($nadj adjectives, $nnoun nouns, longest name $((maxadj + 1 + maxnoun)) characters)"
