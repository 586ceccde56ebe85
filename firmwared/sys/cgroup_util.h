#pragma once
// Internal to fw_sys's cgroup code: small file helpers for cgroupfs (kernfs) files.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "firmwared/base/result.h"

namespace fw::sys {

// The whole content of `path`. Errors: open/read errors naming the file.
Result<std::string> read_text(const std::string& path);
// One write(2) of `text` to `path` (cgroupfs takes one value per write). Errors name the
// value and the file.
Status write_text(const std::string& path, const std::string& text);
// The whitespace-separated words of `text`.
std::vector<std::string> words(std::string_view text);
// The number in `path` (e.g. "123\n"); nullopt when the file does not exist. Errors:
// read errors, EINVAL when it holds no number.
Result<std::optional<uint64_t>> read_u64(const std::string& path);
// The value of line "<key> <number>" of a flat-keyed file (memory.events, cpu.stat,
// memory.oom_control); nullopt when the file or the key does not exist.
Result<std::optional<uint64_t>> read_keyed(const std::string& path, std::string_view key);

}  // namespace fw::sys
