#pragma once
// Small string helpers shared by the daemon and fwctl.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fw {

std::string to_upper(std::string_view s);
std::string to_lower(std::string_view s);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
bool starts_with(std::string_view s, std::string_view prefix);
// ctime(3) text of unix time `t` without the trailing newline ("Sun Nov 22 20:07:18 2026"),
// "" when it cannot be represented.
std::string ctime_string(int64_t t);
// True when `s` is valid UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF).
bool is_valid_utf8(std::string_view s);

}  // namespace fw
