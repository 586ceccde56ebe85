# One interface target carries the warning set and, when asked, the sanitizers.
add_library(fw_warnings INTERFACE)
target_compile_options(fw_warnings INTERFACE
  -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused
  -Woverloaded-virtual -Wnull-dereference -Wformat=2 -Wimplicit-fallthrough
  -Wmisleading-indentation -Wduplicated-cond -Wlogical-op)
if(FW_SANITIZE)
  target_compile_options(fw_warnings INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(fw_warnings INTERFACE -fsanitize=address,undefined)
endif()
