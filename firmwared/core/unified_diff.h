#pragma once
// Line diffs of two texts in the unified format of `diff -u` (for `fwctl diff ID PATH
// --content`): Myers' O(ND) algorithm, linear space (the middle-snake bisection), on lines
// interned as integers.

#include <cstddef>
#include <string>
#include <string_view>

namespace fw::core {

// Renders the differences between `a` and `b` as unified diff hunks with `context` lines of
// context, after the two header lines "--- <a_label>" and "+++ <b_label>"; "" when the texts
// are equal. A last line without a newline is marked "\ No newline at end of file", as diff
// does. Past `max_steps` steps of the search (very different, very long texts) the rest is
// shown as deleted then added: still a correct diff, not a minimal one.
std::string unified_diff(std::string_view a, std::string_view b, const std::string& a_label,
                         const std::string& b_label, int context = 3,
                         size_t max_steps = 50'000'000);

// git's heuristic: binary when a NUL byte is in the first 8000 bytes.
bool looks_binary(std::string_view data);

}  // namespace fw::core
