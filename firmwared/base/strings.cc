#include "firmwared/base/strings.h"

#include <cctype>
#include <ctime>

namespace fw {

std::string to_upper(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return r;
}

std::string to_lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string r;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i != 0) r += sep;
    r += parts[i];
  }
  return r;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string ctime_string(int64_t t) {
  const time_t tt = static_cast<time_t>(t);
  char buf[64];  // ctime_r(3) needs at least 26 bytes
  if (::ctime_r(&tt, buf) == nullptr) return "";
  std::string s = buf;
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    unsigned cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

namespace {
constexpr char kHexDigits[] = "0123456789abcdef";
}  // namespace

std::string to_hex(const unsigned char* bytes, size_t n) {
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHexDigits[bytes[i] >> 4];
    out[2 * i + 1] = kHexDigits[bytes[i] & 0xf];
  }
  return out;
}

std::string printable(std::string_view text, size_t max_bytes) {
  bool cut = false;
  if (text.size() > max_bytes) {
    size_t end = max_bytes;
    // Back off UTF-8 continuation bytes so the cut does not split a character.
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    text = text.substr(0, end);
    cut = true;
  }
  const bool utf8 = is_valid_utf8(text);
  std::string r;
  r.reserve(text.size() + 3);
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F || (u >= 0x80 && !utf8)) {
      r += "\\x";
      r += to_hex(&u, 1);
    } else {
      r += c;
    }
  }
  if (cut) r += "...";
  return r;
}

std::string quote(std::string_view text) {
  // Appended piecewise: "'" + std::string(...) trips g++ 12's -Wrestrict false positive.
  std::string r;
  r += '\'';
  r += printable(text, kMaxQuotedBytes);
  r += '\'';
  return r;
}

std::string quote_path(std::string_view path) {
  if (path.size() > kMaxPathBytes) return quote(path);
  std::string r;
  r += '\'';
  r += printable(path, kMaxPathBytes);
  r += '\'';
  return r;
}

}  // namespace fw
