#pragma once
// Text rendering of replies and notifications, compatible with fdc's outputs.

#include <string>
#include <vector>

#include "firmwared/protocol/codec.h"

namespace fwctl {

// Renders a successful reply as fdc printed it ("PONG", space-separated lists, ...).
// Returns the text without a trailing newline ("" prints nothing).
// `args` are the request's arguments (some outputs repeat the identifier the user gave).
std::string format_reply(const fw::protocol::Message& reply,
                         const std::vector<std::string>& args = {});

// The text fdc showed for a value carried by `holder`, a SHOW entry or a GET_PROPERTY reply
// ({"value"[, "epoch"]}): numbers in decimal, null as "", a time (an "epoch" beside the ISO
// 8601 value) as ctime(3) gives it in local time.
std::string property_text(const fw::protocol::Json& holder);

// A GET_CONFIG value as the configuration spells it: booleans as y or n.
std::string config_text(const fw::protocol::Json& value);

// Renders an import progress bar ("[#####.....]  50% /path"), without newline.
std::string format_progress(int percent, const std::string& path);

// Renders a notification as one line: "EVENT key=value ...".
std::string format_event(const fw::protocol::Message& event);

}  // namespace fwctl
