#pragma once
// `fwctl events [--filter EXPR]...`: subscribes to the daemon's notifications and prints
// them, one per line, until BYEBYE, SIGINT or SIGTERM.

#include <string>
#include <vector>

#include "firmwared/base/result.h"
#include "firmwared/protocol/codec.h"
#include "fwctl/verbs.h"

namespace fwctl {

// One --filter: the notification field `key` must equal one of `values` (compared with
// the field's text: `exit_status=137` matches the integer 137).
struct EventFilter {
  std::string key;
  std::vector<std::string> values;
};

// Parses `KEY=V1[,V2...]`, or a bare word `DEAD` meaning `event=DEAD`. EINVAL when the key
// or a value is empty.
fw::Result<EventFilter> parse_event_filter(const std::string& expr);

// True when `event` matches every filter (an absent field matches none).
bool event_matches(const fw::protocol::Message& event, const std::vector<EventFilter>& filters);

int run_events(Context& ctx, const Args& args);

}  // namespace fwctl
