#pragma once
// The lines between firmwared and a net helper running as `NET_HOOK serve`
// (docs/net-helper.md, "Serve mode"): one request per line in, one answer per line out, in
// the order of the requests. Shared by the daemon (host/net_helper.h) and net_hook.
//
//   banner   net_hook serve 1 VERSION              written once, before anything is read
//   request  ID OWNER ARG...                       ARG... is argv[1..] of an exec
//   answer   ID STATUS OUTPUT                      STATUS as an exec's exit status
//
// Fields are separated by one space. Every field is escaped: the bytes 0x00-0x20, '%' and
// 0x7f become %XX (two upper-case hex digits), and an empty field is the lone '%'. ID is a
// decimal number from 1 to 2^63-1, STATUS one from 0 to 255; OWNER is FIRMWARED_OWNER of
// an exec ('%' when unset).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "firmwared/base/result.h"

namespace fw::helper_wire {

// The first line a serving helper writes: "net_hook serve 1" and the helper's version.
inline constexpr std::string_view kBannerPrefix = "net_hook serve 1";
// Whether `line` (without its newline) is a banner of this protocol version.
bool is_banner(std::string_view line);

std::string escape(std::string_view field);
// EPROTO naming the field when it holds a bad escape or a byte that should be escaped.
Result<std::string> unescape(std::string_view field);

struct Request {
  uint64_t id = 0;
  std::string owner;              // FIRMWARED_OWNER, "" when none
  std::vector<std::string> args;  // the action and its options; at least one
};
struct Answer {
  uint64_t id = 0;
  int status = 0;      // 0 done, 1 failed, 2 bad usage (as net_hook's exit status)
  std::string output;  // the message an exec would print on stderr ("" when none)
};

// The line, newline included.
std::string format_request(const Request& request);
std::string format_answer(const Answer& answer);
// Parse one line (its newline removed). EPROTO with a sentence naming what is wrong.
Result<Request> parse_request(std::string_view line);
Result<Answer> parse_answer(std::string_view line);

// Leading digits of a line that failed to parse as a request, when they form a valid ID:
// the helper answers a malformed request under its ID when it can, else under 0.
uint64_t leading_id(std::string_view line);

}  // namespace fw::helper_wire
