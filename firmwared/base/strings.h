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
// The `n` bytes at `bytes` as 2n lowercase hex digits (a digest, an identifier).
std::string to_hex(const unsigned char* bytes, size_t n);
// Returns `text` made safe to embed in a message (which travels as JSON): control bytes
// are written \xNN, as are bytes >= 0x80 when `text` is not valid UTF-8; a text longer than
// `max_bytes` is cut at a character boundary and ends with "...".
std::string printable(std::string_view text, size_t max_bytes);
// Every quote of client-supplied text (names, identifiers, property names and values,
// config keys, paths, options...) in a message goes through this, so that an ERROR reply
// stays small whatever the request: printable(text, kMaxQuotedBytes) between single
// quotes ('abc', 'aaa...').
inline constexpr size_t kMaxQuotedBytes = 64;
inline constexpr size_t kMaxPathBytes = 4096;  // PATH_MAX
std::string quote(std::string_view text);
// A path the client named, quoted whole when it could name a file (≤ PATH_MAX, 4096 bytes:
// the user needs all of it to act on the error), else cut like quote(): a longer text is no
// path, and the reply stays small.
std::string quote_path(std::string_view path);
// True when `s` is valid UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF).
bool is_valid_utf8(std::string_view s);

}  // namespace fw
