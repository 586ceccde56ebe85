#include "firmwared/base/host_access.h"

#include <cerrno>

#include "firmwared/base/strings.h"

namespace fw {

namespace {

Error bad(std::string_view text, const std::string& why) {
  return make_error(EINVAL, "invalid host_access " + quote(text) + ": " + why);
}

// A port: decimal 1..65535, no sign, no leading zero. Returns 0 when it is not one.
uint16_t parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5 || s[0] == '0') return 0;
  uint32_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  return n <= 65535 ? static_cast<uint16_t>(n) : 0;
}

std::vector<std::string_view> split_entries(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < text.size()) {
    const size_t end = text.find_first_of(" \t,", i);
    const size_t stop = end == std::string_view::npos ? text.size() : end;
    if (stop > i) out.push_back(text.substr(i, stop - i));
    i = stop + 1;
  }
  return out;
}

}  // namespace

std::string host_access_table(std::string_view prefix, std::string_view owner) {
  return "firmwared_" + std::string(prefix) + "_" + std::string(owner);
}

const char* host_access_rule() {
  return "none, all, or a list of tcp:PORT, udp:PORT, tcp:FIRST-LAST, udp:FIRST-LAST "
         "separated by spaces or commas (ports 1 to 65535, at most 64 entries)";
}

Result<HostAccess> parse_host_access(std::string_view text) {
  const std::vector<std::string_view> entries = split_entries(text);
  HostAccess out;
  if (entries.empty()) return bad(text, std::string("empty; must be ") + host_access_rule());
  if (entries.size() == 1 && entries[0] == "none") return out;
  if (entries.size() == 1 && entries[0] == "all") {
    out.kind = HostAccess::Kind::kAll;
    return out;
  }
  if (entries.size() > kMaxHostAccessEntries) {
    return bad(text, "more than " + std::to_string(kMaxHostAccessEntries) + " entries");
  }
  out.kind = HostAccess::Kind::kPorts;
  for (std::string_view e : entries) {
    if (e == "none" || e == "all") {
      return bad(text, "'" + std::string(e) + "' cannot be combined with ports");
    }
    const size_t colon = e.find(':');
    PortRange r;
    const std::string_view proto = e.substr(0, colon);
    if (colon == std::string_view::npos || (proto != "tcp" && proto != "udp")) {
      return bad(text, quote(e) + " is not PROTO:PORT with PROTO tcp or udp; must be " +
                           host_access_rule());
    }
    r.proto = proto == "tcp" ? PortRange::Proto::kTcp : PortRange::Proto::kUdp;
    const std::string_view ports = e.substr(colon + 1);
    const size_t dash = ports.find('-');
    r.first = parse_port(ports.substr(0, dash));
    r.last = dash == std::string_view::npos ? r.first : parse_port(ports.substr(dash + 1));
    if (r.first == 0 || r.last == 0) {
      return bad(text, quote(e) +
                           ": ports are decimal numbers from 1 to 65535 without "
                           "leading zeros (PORT or FIRST-LAST)");
    }
    if (r.first > r.last) return bad(text, quote(e) + ": the range ends before it starts");
    out.ports.push_back(r);
  }
  return out;
}

std::string to_string(const HostAccess& access) {
  switch (access.kind) {
    case HostAccess::Kind::kNone:
      return "none";
    case HostAccess::Kind::kAll:
      return "all";
    case HostAccess::Kind::kPorts:
      break;
  }
  std::string out;
  for (const PortRange& r : access.ports) {
    if (!out.empty()) out += ' ';
    out += r.proto == PortRange::Proto::kTcp ? "tcp:" : "udp:";
    out += std::to_string(r.first);
    if (r.last != r.first) out += "-" + std::to_string(r.last);
  }
  return out;
}

}  // namespace fw
