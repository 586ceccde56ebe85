#pragma once
// Text rendering of replies and notifications, compatible with fdc's outputs.

#include <string>

#include "firmwared/protocol/codec.h"

namespace fwctl {

// Renders a successful reply as fdc printed it ("PONG", space-separated lists, ...).
// Returns the text without a trailing newline ("" prints nothing).
std::string format_reply(const fw::protocol::Message& reply);

// Renders a notification as one line: "EVENT key=value ...".
std::string format_event(const fw::protocol::Message& event);

}  // namespace fwctl
