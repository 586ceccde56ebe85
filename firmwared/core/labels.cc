#include "firmwared/core/labels.h"

#include "firmwared/base/strings.h"

namespace fw::core {
namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_key_char(char c) { return is_alnum(c) || c == '.' || c == '_' || c == '/' || c == '-'; }

bool is_value_char(char c) { return is_key_char(c) || c == ':' || c == '@' || c == '+'; }

}  // namespace

Status validate_label_key(std::string_view key) {
  auto invalid = [&](const std::string& rule) {
    return make_error(EINVAL, "invalid label key " + quote(key) + ": " + rule);
  };
  if (key.empty()) return invalid("a key cannot be empty");
  if (key.size() > kMaxLabelKey) {
    return invalid("a key has at most " + std::to_string(kMaxLabelKey) + " bytes, not " +
                   std::to_string(key.size()));
  }
  if (!is_alnum(key.front())) return invalid("a key starts with a letter or a digit");
  for (size_t i = 0; i < key.size(); ++i) {
    if (!is_key_char(key[i])) {
      return invalid("byte " + std::to_string(i) + " (" + quote(key.substr(i, 1)) +
                     ") is not allowed, a key may only contain letters, digits, '.', '_', '/' "
                     "and '-'");
    }
  }
  return {};
}

Status validate_label_value(std::string_view key, std::string_view value) {
  auto invalid = [&](const std::string& rule) {
    return make_error(EINVAL, "invalid value " + quote(value) + " of label " +
                                  quote(std::string(key)) + ": " + rule);
  };
  if (value.size() > kMaxLabelValue) {
    return invalid("a value has at most " + std::to_string(kMaxLabelValue) + " bytes, not " +
                   std::to_string(value.size()));
  }
  for (size_t i = 0; i < value.size(); ++i) {
    if (!is_value_char(value[i])) {
      return invalid("byte " + std::to_string(i) + " (" + quote(value.substr(i, 1)) +
                     ") is not allowed, a value may only contain letters, digits, '.', '_', "
                     "'/', '-', ':', '@' and '+'");
    }
  }
  return {};
}

Result<std::pair<std::string, std::string>> parse_label(std::string_view label) {
  const size_t eq = label.find('=');
  if (eq == std::string_view::npos) {
    return make_error(EINVAL, "invalid label " + quote(label) + ": expected KEY=VALUE");
  }
  std::string key(label.substr(0, eq));
  std::string value(label.substr(eq + 1));
  FW_TRY(validate_label_key(key));
  FW_TRY(validate_label_value(key, value));
  return std::make_pair(std::move(key), std::move(value));
}

Result<Labels> parse_labels(const std::vector<std::string>& labels) {
  if (labels.size() > kMaxLabels) {
    return make_error(E2BIG, "too many labels: " + std::to_string(labels.size()) +
                                 ", an instance has at most " + std::to_string(kMaxLabels));
  }
  Labels out;
  for (const std::string& l : labels) {
    FW_ASSIGN_OR_RETURN(auto kv, parse_label(l));
    if (out.count(kv.first) != 0) {
      return make_error(EINVAL, "label key " + quote(kv.first) + " is given twice");
    }
    out.emplace(std::move(kv));
  }
  return out;
}

std::vector<std::string> label_list(const Labels& labels) {
  std::vector<std::string> out;
  for (const auto& [k, v] : labels) out.push_back(k + "=" + v);
  return out;
}

}  // namespace fw::core
