# One interface target carries the warning set and, when asked, the sanitizers.
add_library(fw_warnings INTERFACE)
target_compile_options(fw_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused
  -Woverloaded-virtual -Wnull-dereference -Wformat=2 -Wimplicit-fallthrough
  -Wmisleading-indentation)
if(FW_WERROR)
  target_compile_options(fw_warnings INTERFACE -Werror)
endif()
# GCC 12 at -O3 (the Release build type) reports -Wrestrict inside libstdc++'s
# char_traits::copy when short strings are concatenated or assigned ("accessing
# 9223372036854775810 or more bytes ... may overlap"), a false positive reported as GCC bugs
# 105329 and 105651. Off for GCC before 13 in that build type only; -O2 builds and other
# compilers keep the warning.
target_compile_options(fw_warnings INTERFACE
  $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,13>,$<CONFIG:Release>>:-Wno-restrict>)
# GCC-only warnings: clang (the fuzz preset) rejects them as unknown.
target_compile_options(fw_warnings INTERFACE
  $<$<CXX_COMPILER_ID:GNU>:-Wduplicated-cond -Wlogical-op>)
if(FW_SANITIZE)
  target_compile_options(fw_warnings INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(fw_warnings INTERFACE -fsanitize=address,undefined)
endif()
# FW_FUZZ (clang only, preset fuzz): every library is instrumented for libFuzzer's coverage
# and built with ASan+UBSan; only the fuzz targets link libFuzzer's main (fuzz/).
if(FW_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "FW_FUZZ needs clang (cmake --preset fuzz uses clang++-14)")
  endif()
  target_compile_options(fw_warnings INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
    -fno-omit-frame-pointer)
  target_link_options(fw_warnings INTERFACE -fsanitize=address,undefined)
endif()
