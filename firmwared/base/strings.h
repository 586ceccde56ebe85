#pragma once
// Small string helpers shared by the daemon and fwctl.

#include <string>
#include <string_view>
#include <vector>

namespace fw {

std::string to_upper(std::string_view s);
std::string to_lower(std::string_view s);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
bool starts_with(std::string_view s, std::string_view prefix);
// True when `s` is valid UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF).
bool is_valid_utf8(std::string_view s);

}  // namespace fw
