#pragma once
// fwctl diff and fwctl export (docs/diff.md): the client side of DIFF,
// DIFF_FILE and EXPORT.

#include <string>
#include <vector>

#include "firmwared/protocol/codec.h"
#include "fwctl/verbs.h"

namespace fwctl {

// The verbs `diff` and `export`.
std::vector<Verb> diff_verbs();

// True for the daemon commands those verbs stand for: no verb is generated for them.
bool is_diff_command(const std::string& command);

// "A\t/etc/x" lines of a DIFF reply's entries, coloured (A green, M yellow, D red, T cyan)
// when `color`; no trailing newline.
std::string format_name_status(const fw::protocol::Json& entries, bool color);

// The --stat table of a DIFF reply's stat object; no trailing newline.
std::string format_diff_stat(const fw::protocol::Json& stat);

// Colours a unified diff: headers bold, hunk lines cyan, '-' red, '+' green.
std::string color_unified_diff(const std::string& text);

}  // namespace fwctl
