#pragma once
// Locating shipped files (word lists, net helper, AppArmor template) both when installed
// and when running straight from the build tree.

#include <string>

namespace fw {

// Returns the directory holding the running executable (/proc/self/exe), "" on failure.
std::string executable_dir();

// Returns the first existing path among `candidates` relative to executable_dir(), then
// the install location `installed`. Returns `installed` when none exists.
std::string find_shipped(const std::initializer_list<const char*>& candidates,
                         const std::string& installed);

}  // namespace fw
