#!/usr/bin/env bash
# bench/import_bench.sh [SIZE_MIB] [RUNS]: a firmware image's import (`fwctl prepare
# firmwares IMG`: copy into the repository + SHA-1, fsync'ed and published) against
# `cp IMG X && sha1sum X` of the same file in the same run, on the same filesystem (the
# repository and X are both under /tmp/fwtest-bench.XXXXXX); and the re-import of an
# image already catalogued (it only hashes) against `sha1sum IMG`. The image is an ext4 of
# SIZE_MIB (default 512; at least 512: a smaller ext4 spends more than a tenth on its own
# metadata) full of random data. Medians of RUNS (default 5; each run is printed: the
# disk's writeback makes single runs vary by a third on a VM). The page cache
# is warm for both sides: the image is read once before timing and stays cached (each side
# reads the same cached file; neither drops caches). Root only; builds the release preset
# unless FW_BUILD_DIR names a build; cleans up everything.
set -euo pipefail
SIZE=${1:-512}
RUNS=${2:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/daemon.sh
source "$here/bench/daemon.sh"
bench_daemon_init imp 10.254.
tmp=$BD_TMP
ms() { printf '%.1f' "$(echo "$1 / 1000" | bc -l)"; }

# The image: an ext4 whose one file fills it with incompressible data.
mkdir -p "$tmp/src/data"
head -c $((SIZE * 1024 * 1024 * 9 / 10)) /dev/urandom >"$tmp/src/data/blob"
mkfs.ext4 -q -F -d "$tmp/src" "$tmp/image.ext4" "${SIZE}M" >/dev/null
rm -rf "$tmp/src"
IMG=$tmp/image.ext4
cat "$IMG" >/dev/null  # warm the page cache for every run below

bench_daemon_start

import_us=() base_us=() reimport_us=() sha_us=()
for _ in $(seq 1 "$RUNS"); do
  sync
  t0=$(now_us)
  sha1=$("$FWCTL" prepare firmwares "$IMG" | sed -n 's/^sha1: //p')
  t1=$(now_us)
  import_us+=($((t1 - t0)))
  # The re-import of a known image: hashed, compared, not copied.
  t0=$(now_us)
  "$FWCTL" prepare firmwares "$IMG" >/dev/null 2>&1 || true
  t1=$(now_us)
  reimport_us+=($((t1 - t0)))
  "$FWCTL" drop firmwares "$sha1" >/dev/null
  sync
  t0=$(now_us)
  cp "$IMG" "$tmp/copy" && sha1sum "$tmp/copy" >/dev/null
  t1=$(now_us)
  base_us+=($((t1 - t0)))
  rm -f "$tmp/copy"
  t0=$(now_us)
  sha1sum "$IMG" >/dev/null
  t1=$(now_us)
  sha_us+=($((t1 - t0)))
done
imp=$(printf '%s\n' "${import_us[@]}" | median)
base=$(printf '%s\n' "${base_us[@]}" | median)
reimp=$(printf '%s\n' "${reimport_us[@]}" | median)
sha=$(printf '%s\n' "${sha_us[@]}" | median)

printf 'Import of a %d MiB ext4 image (random data), median of %d, warm page cache\n' "$SIZE" "$RUNS"
printf '  fwctl prepare firmwares IMG (copy+SHA-1+fsync)  %9s ms\n' "$(ms "$imp")"
printf '  baseline: cp IMG X && sha1sum X                 %9s ms\n' "$(ms "$base")"
printf '  ratio import / baseline                         %9.2f  (target <= 0.7)\n' "$(echo "$imp / $base" | bc -l)"
runs_ms() { local u out=(); for u in "$@"; do out+=("$(ms "$u")"); done; echo "${out[*]}"; }
printf '    runs: import %s; baseline %s (ms)\n' "$(runs_ms "${import_us[@]}")" \
  "$(runs_ms "${base_us[@]}")"
printf '  re-import of the known image (hash only)        %9s ms\n' "$(ms "$reimp")"
printf '  baseline: sha1sum IMG                           %9s ms\n' "$(ms "$sha")"
printf '  ratio re-import / sha1sum                       %9.2f\n' "$(echo "$reimp / $sha" | bc -l)"
result import.copy_sha1 "fwctl prepare firmwares IMG (${SIZE} MiB, median)" "$(ms "$imp")" ms \
  "cp IMG X && sha1sum X" "$(ms "$base")" '<=0.7'
result import.reimport "re-import of a known image (hash only, median)" "$(ms "$reimp")" ms \
  "sha1sum IMG" "$(ms "$sha")" -
