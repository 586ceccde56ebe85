#pragma once
// Locating shipped files (word lists, net helper, AppArmor template) both when installed
// and when running straight from the build tree.

#include <string>

#include "firmwared/base/result.h"

namespace fw {

// Returns the directory holding the running executable (/proc/self/exe), "" on failure.
std::string executable_dir();

// Returns the first existing path among `candidates` relative to executable_dir(), then
// the install location `installed`. Returns `installed` when none exists.
std::string find_shipped(const std::initializer_list<const char*>& candidates,
                         const std::string& installed);

// Reads a small file such as /proc/PID/stat whole (EFBIG past `max_bytes`). Errors carry
// errno and name the path.
Result<std::string> read_small_file(const std::string& path, size_t max_bytes = 1u << 20);

}  // namespace fw
