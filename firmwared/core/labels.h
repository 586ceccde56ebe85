#pragma once
// Labels of instances: KEY=VALUE pairs given at PREPARE (and through the labels[] property),
// stored with the instance, for scripts to find their instances (fwctl ps --filter).

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "firmwared/base/result.h"

namespace fw::core {

// Key → value, sorted by key (the order labels[] lists them).
using Labels = std::map<std::string, std::string>;

inline constexpr size_t kMaxLabels = 32;
inline constexpr size_t kMaxLabelKey = 63;
inline constexpr size_t kMaxLabelValue = 127;

// A key: 1..kMaxLabelKey bytes of [A-Za-z0-9._/-], starting with a letter or digit.
// EINVAL naming the key and the rule it breaks.
Status validate_label_key(std::string_view key);
// A value: 0..kMaxLabelValue bytes of [A-Za-z0-9._:/@+-] (no blank, quote or '=', so that
// labels[] needs no quoting and `label=KEY=VALUE` filters split at the first '='). EINVAL
// naming the value, its key and the rule it breaks.
Status validate_label_value(std::string_view key, std::string_view value);

// Parses "KEY=VALUE" (VALUE may be empty). EINVAL when there is no '=' or either part is
// invalid, naming the label.
Result<std::pair<std::string, std::string>> parse_label(std::string_view label);
// Parses every "KEY=VALUE": EINVAL for an invalid one or a key given twice; E2BIG for more
// than kMaxLabels.
Result<Labels> parse_labels(const std::vector<std::string>& labels);
// The labels as "KEY=VALUE" strings, sorted by key (labels[]'s elements).
std::vector<std::string> label_list(const Labels& labels);

}  // namespace fw::core
