#include "firmwared/base/helper_wire.h"

#include <cerrno>
#include <charconv>

namespace fw::helper_wire {

namespace {

constexpr char kHex[] = "0123456789ABCDEF";

bool must_escape(unsigned char c) { return c <= 0x20 || c == '%' || c == 0x7f; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits at single spaces; an empty field (two spaces, a leading or trailing one) is an
// error since empty fields are written as '%'.
Result<std::vector<std::string_view>> split(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t sp = line.find(' ', start);
    const std::string_view f = line.substr(start, sp == std::string_view::npos ? sp : sp - start);
    if (f.empty()) {
      return make_error(EPROTO, line.empty() ? "empty line" : "empty field (doubled space?)");
    }
    out.push_back(f);
    if (sp == std::string_view::npos) return out;
    start = sp + 1;
  }
}

Result<uint64_t> parse_number(std::string_view f, uint64_t min, uint64_t max, const char* what) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
  const bool canonical = !(f.size() > 1 && f[0] == '0');
  if (ec != std::errc() || end != f.data() + f.size() || !canonical || v < min || v > max) {
    return make_error(EPROTO, std::string(what) + " '" + std::string(f.substr(0, 24)) +
                                  "' is not a number from " + std::to_string(min) + " to " +
                                  std::to_string(max));
  }
  return v;
}

constexpr uint64_t kMaxId = (uint64_t{1} << 63) - 1;

}  // namespace

bool is_banner(std::string_view line) {
  return line.substr(0, kBannerPrefix.size()) == kBannerPrefix &&
         (line.size() == kBannerPrefix.size() || line[kBannerPrefix.size()] == ' ');
}

std::string escape(std::string_view field) {
  if (field.empty()) return "%";
  std::string out;
  out.reserve(field.size());
  for (const char ch : field) {
    const auto c = static_cast<unsigned char>(ch);
    if (must_escape(c)) {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += ch;
    }
  }
  return out;
}

Result<std::string> unescape(std::string_view field) {
  if (field == "%") return std::string();
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    const auto c = static_cast<unsigned char>(field[i]);
    if (c != '%') {
      if (must_escape(c)) {
        return make_error(EPROTO, "byte " + std::to_string(c) + " should have been escaped");
      }
      out += field[i];
      continue;
    }
    if (field.size() - i < 3) return make_error(EPROTO, "truncated %XX escape");
    const int h = hex_value(field[i + 1]), l = hex_value(field[i + 2]);
    if (h < 0 || l < 0) {
      return make_error(EPROTO, "bad escape '" + std::string(field.substr(i, 3)) +
                                    "' (expected % and two upper-case hex digits)");
    }
    out += static_cast<char>(h * 16 + l);
    i += 2;
  }
  return out;
}

std::string format_request(const Request& r) {
  std::string line = std::to_string(r.id) + " " + escape(r.owner);
  for (const auto& a : r.args) line += " " + escape(a);
  return line + "\n";
}

std::string format_answer(const Answer& a) {
  return std::to_string(a.id) + " " + std::to_string(a.status) + " " + escape(a.output) + "\n";
}

Result<Request> parse_request(std::string_view line) {
  FW_ASSIGN_OR_RETURN(auto fields, split(line));
  if (fields.size() < 3) {
    return make_error(EPROTO, "a request is 'ID OWNER ACTION [ARG...]', got " +
                                  std::to_string(fields.size()) + " field(s)");
  }
  Request r;
  FW_ASSIGN_OR_RETURN(r.id, parse_number(fields[0], 1, kMaxId, "request id"));
  FW_ASSIGN_OR_RETURN(r.owner, unescape(fields[1]));
  for (size_t i = 2; i < fields.size(); ++i) {
    auto a = unescape(fields[i]);
    if (!a.ok()) return a.error().wrap("argument " + std::to_string(i - 1));
    r.args.push_back(std::move(*a));
  }
  return r;
}

Result<Answer> parse_answer(std::string_view line) {
  FW_ASSIGN_OR_RETURN(auto fields, split(line));
  if (fields.size() != 3) {
    return make_error(EPROTO, "an answer is 'ID STATUS OUTPUT', got " +
                                  std::to_string(fields.size()) + " field(s)");
  }
  Answer a;
  FW_ASSIGN_OR_RETURN(a.id, parse_number(fields[0], 0, kMaxId, "answer id"));
  FW_ASSIGN_OR_RETURN(uint64_t status, parse_number(fields[1], 0, 255, "exit status"));
  a.status = static_cast<int>(status);
  auto out = unescape(fields[2]);
  if (!out.ok()) return out.error().wrap("the output");
  a.output = std::move(*out);
  return a;
}

uint64_t leading_id(std::string_view line) {
  const size_t sp = line.find(' ');
  auto id = parse_number(line.substr(0, sp), 1, kMaxId, "id");
  return id.ok() ? *id : 0;
}

}  // namespace fw::helper_wire
