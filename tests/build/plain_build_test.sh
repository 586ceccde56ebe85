#!/usr/bin/env bash
# A packager's build: a plain configure (default build type, tests ON) and build with clang,
# with -DFW_WERROR=ON so that any warning fails, into a scratch directory of the build tree
# that is removed afterwards. Nothing built is run. GCC's plain builds are checked by hand
# (docs/testing.md); the presets and CI cover GCC with FW_WERROR.
#
# Uses ccache when it is installed and CCACHE_DIR is set. The scratch directory has a fixed
# name so that a warm cache hits even without CCACHE_BASEDIR.
# Environment: FW_SOURCE_DIR, FW_BUILD_DIR; FW_TESTS_MUST_RUN=1 turns a skip into a failure.
set -euo pipefail
SRC=${FW_SOURCE_DIR:?FW_SOURCE_DIR must point at the source tree}
BUILD=${FW_BUILD_DIR:?FW_BUILD_DIR must point at the build tree}

skip() {
  if [[ "${FW_TESTS_MUST_RUN:-0}" == 1 ]]; then
    echo "FAIL: plain_build cannot run: $* (FW_TESTS_MUST_RUN=1 forbids skipping)" >&2
    exit 1
  fi
  echo "SKIP: plain_build: $*" >&2
  exit 77
}

CXX=$(command -v clang++ || command -v clang++-14 || true)
CC=$(command -v clang || command -v clang-14 || true)
[[ -n "$CXX" && -n "$CC" ]] || skip "needs clang and clang++"

SCRATCH="$BUILD/plain-clang-build"
rm -rf "$SCRATCH"
trap 'rm -rf "$SCRATCH"' EXIT

# gtest_discover_tests would run each test binary after linking it (to list its tests):
# PRE_TEST leaves that to ctest, which is never run here.
args=(-S "$SRC" -B "$SCRATCH" -DFW_WERROR=ON -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX"
  -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST)
command -v ninja >/dev/null && args+=(-G Ninja)
if command -v ccache >/dev/null && [[ -n "${CCACHE_DIR:-}" ]]; then
  args+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  echo "using ccache ($CCACHE_DIR)"
fi
T0=$(date +%s)
# A build type left empty, tests ON: the defaults, as a packager's first try.
if ! cmake "${args[@]}" >"$SCRATCH.configure.log" 2>&1; then
  cat "$SCRATCH.configure.log" >&2
  rm -f "$SCRATCH.configure.log"
  echo "FAIL: plain_build: the configure failed" >&2
  exit 1
fi
rm -f "$SCRATCH.configure.log"
if ! cmake --build "$SCRATCH" -j "$(nproc)" >"$SCRATCH/build.log" 2>&1; then
  grep -E -B2 -A8 'error|warning' "$SCRATCH/build.log" | head -n 200 >&2
  echo "FAIL: plain_build: the clang build failed (warnings are errors here)" >&2
  exit 1
fi
echo "PASS: plain_build (clang $("$CXX" -dumpversion), default build type, tests ON, -Werror:" \
  "$(($(date +%s) - T0)) s)"
