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

// Renders an import progress bar ("[#####.....]  50% /path"), without newline.
std::string format_progress(int percent, const std::string& path);

// Renders a notification as one line: "EVENT key=value ...".
std::string format_event(const fw::protocol::Message& event);

}  // namespace fwctl
