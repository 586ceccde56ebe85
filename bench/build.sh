# shellcheck shell=bash
# Sourced by the benchmarks (bash): sets B to the build directory measured. With
# FW_BUILD_DIR set, that one as it is; otherwise the release preset, configured and built
# first so a benchmark never measures a stale or debug build.
bench_build() {
  local here=$1
  if [[ -n ${FW_BUILD_DIR:-} ]]; then
    B=$FW_BUILD_DIR
  else
    (cd "$here" && cmake --preset release >/dev/null && cmake --build --preset release >/dev/null) ||
      { echo "bench: building the release preset failed" >&2; exit 1; }
    B=$here/build/release
  fi
  [[ -x $B/firmwared/firmwared ]] || { echo "bench: no firmwared in $B" >&2; exit 1; }
}
