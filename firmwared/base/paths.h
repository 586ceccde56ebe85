#pragma once
// The running executable's directory (config::shipped_paths() derives the shipped files'
// places from it); comparing absolute paths.

#include <string>
#include <string_view>

#include "firmwared/base/result.h"

namespace fw {

// Returns the directory holding the running executable (/proc/self/exe), "" on failure.
std::string executable_dir();

// Reads a small file such as /proc/PID/stat whole (EFBIG past `max_bytes`). Errors carry
// errno and name the path.
Result<std::string> read_small_file(const std::string& path, size_t max_bytes = 1u << 20);

// Returns `dir` resolved through symlinks (realpath(3)) when it exists, as given otherwise,
// without trailing slashes ("/a/b/" -> "/a/b", "/" stays "/"): the kernel reports mount
// points and loop backing files by their real path (d_path), so a directory compared with
// them must be real too.
std::string canonical_dir(const std::string& dir);

// True when `path` is `dir` itself or lies below it, both absolute and canonical (no
// trailing slash, no "." or ".." parts). Compares whole components ("/a/bc" is not below
// "/a/b"). "/" holds every absolute path, itself included. Anything relative or empty, on
// either side, is below nothing: a directory that failed to resolve must never match all
// of the host's mounts.
bool is_below(std::string_view path, std::string_view dir);

}  // namespace fw
