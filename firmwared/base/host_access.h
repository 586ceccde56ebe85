#pragma once
// The value of an instance's `host_access` (and of the configuration key of the same name):
// what the instance may reach on the host through its veth. Shared by the daemon, which
// validates it, and the net helper, which turns it into nftables rules
// (docs/security.md, "Network").
//
//   none                          nothing on the host; no forwarding (the default)
//   all                           no filtering at all
//   tcp:22 udp:53 tcp:8000-8010   only these ports, only at the instance's host_ip;
//                                 no forwarding

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "firmwared/base/result.h"

namespace fw {

struct PortRange {
  enum class Proto { kTcp, kUdp };
  Proto proto = Proto::kTcp;
  uint16_t first = 0;  // 1..65535
  uint16_t last = 0;   // first..65535
  bool operator==(const PortRange&) const = default;
};

struct HostAccess {
  enum class Kind { kNone, kAll, kPorts };
  Kind kind = Kind::kNone;
  std::vector<PortRange> ports;  // kPorts only: as given, at least one
  bool operator==(const HostAccess&) const = default;
};

// The most entries a port list may hold.
inline constexpr size_t kMaxHostAccessEntries = 64;

// Parses `text`: "none", "all", or entries PROTO:PORT or PROTO:FIRST-LAST separated by
// blanks or commas (PROTO tcp or udp, ports 1..65535 in decimal without sign or leading
// zero, FIRST <= LAST, at most kMaxHostAccessEntries). EINVAL naming the offending entry
// and the rule otherwise (the message starts with "invalid host_access").
Result<HostAccess> parse_host_access(std::string_view text);

// The canonical text of `access`: "none", "all" or the entries joined by one space
// ("tcp:22 udp:53 tcp:8000-8010"); parse_host_access() of it gives `access` back.
std::string to_string(const HostAccess& access);

// The nftables table (family inet) holding the filters of the daemon whose
// host_interface_prefix is `prefix` and whose owner id (sys::daemon_owner_id) is `owner`:
// "firmwared_<prefix>_<owner>". One per daemon, so two daemons never touch each other's
// rules, even with the same prefix (one's sweep at start cannot remove a filter the other
// is adding).
std::string host_access_table(std::string_view prefix, std::string_view owner);

// The rule parse_host_access() enforces, as a phrase completing "must be ...".
const char* host_access_rule();

}  // namespace fw
