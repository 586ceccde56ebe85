#include "firmwared/core/export_report.h"

#include <charconv>
#include <vector>

#include "firmwared/base/helper_wire.h"
#include "firmwared/base/strings.h"

namespace fw::core {

namespace {

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t sp = line.find(' ', start);
    out.push_back(line.substr(start, sp == std::string_view::npos ? sp : sp - start));
    if (sp == std::string_view::npos) return out;
    start = sp + 1;
  }
}

bool number(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

std::string format_export_report(const Result<ExportStat>& result) {
  if (result.ok()) {
    return "ok " + std::to_string(result->entries) + " " + std::to_string(result->whiteouts) + " " +
           std::to_string(result->skipped) + " " + std::to_string(result->bytes) + "\n";
  }
  const int code =
      result.error().code > 0 && result.error().code < 4096 ? result.error().code : EIO;
  return "error " + std::to_string(code) + " " + helper_wire::escape(result.error().message) + "\n";
}

Result<ExportStat> parse_export_report(std::string_view text) {
  const auto bad = [&](const std::string& why) {
    return make_error(EPROTO, "the archive helper's report " + quote(text) + " " + why);
  };
  if (text.empty()) return bad("is empty");
  if (text.back() != '\n') return bad("does not end with a newline");
  const std::string_view line = text.substr(0, text.size() - 1);
  if (line.find('\n') != std::string_view::npos) return bad("is more than one line");
  const std::vector<std::string_view> f = fields(line);
  if (f[0] == "ok") {
    if (f.size() != 5) return bad("needs 4 counts after \"ok\"");
    ExportStat s;
    if (!number(f[1], s.entries) || !number(f[2], s.whiteouts) || !number(f[3], s.skipped) ||
        !number(f[4], s.bytes)) {
      return bad("has a count that is not a decimal number");
    }
    return s;
  }
  if (f[0] == "error") {
    if (f.size() != 3) return bad("needs an errno and a message after \"error\"");
    uint64_t code = 0;
    if (!number(f[1], code) || code == 0 || code >= 4096) return bad("has a bad errno");
    auto message = helper_wire::unescape(f[2]);
    if (!message.ok()) return bad("has a bad message: " + message.error().message);
    return make_error(static_cast<int>(code), *message);
  }
  return bad("starts with neither \"ok\" nor \"error\"");
}

}  // namespace fw::core
