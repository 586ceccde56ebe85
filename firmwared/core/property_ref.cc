#include "firmwared/core/property_ref.h"

#include "firmwared/base/strings.h"
#include "firmwared/core/shell_words.h"

namespace fw::core {
namespace {

constexpr size_t kMaxNameBytes = 64;
constexpr size_t kMaxIndexDigits = 9;  // 999,999,999 fits any size_t, no overflow check

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

std::string elements(size_t n) { return std::to_string(n) + (n == 1 ? " element" : " elements"); }

Error past_end(std::string_view property, size_t index, size_t size) {
  return make_error(ERANGE, "index " + std::to_string(index) + " is past the end of " +
                                std::string(property) + " (" + elements(size) + ")");
}

Error too_many(std::string_view property, size_t count) {
  return make_error(E2BIG, std::string(property) + " would have " + elements(count) +
                               ", more than the maximum of " + std::to_string(kMaxArrayElements));
}

Error too_long(std::string_view property, size_t index, size_t bytes) {
  return make_error(E2BIG, "element " + std::to_string(index) + " of " + std::string(property) +
                               " would be " + std::to_string(bytes) +
                               " bytes long, more than the maximum of " +
                               std::to_string(kMaxArrayElementBytes));
}

Status check_limits(std::string_view property, const std::vector<std::string>& v) {
  if (v.size() > kMaxArrayElements) return too_many(property, v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i].size() > kMaxArrayElementBytes) return too_long(property, i, v[i].size());
  }
  return {};
}

}  // namespace

Result<PropertyRef> parse_property_ref(std::string_view text) {
  auto invalid = [&](const std::string& problem) {
    return make_error(EINVAL, "invalid property " + quote(text) + ": " + problem);
  };
  const size_t open = text.find('[');
  PropertyRef ref;
  ref.name = std::string(text.substr(0, open));
  if (ref.name.empty()) return invalid("the property name is empty");
  if (ref.name.size() > kMaxNameBytes) {
    return invalid("a property name has at most " + std::to_string(kMaxNameBytes) + " bytes");
  }
  for (size_t i = 0; i < ref.name.size(); ++i) {
    if (!is_name_char(ref.name[i])) {
      return invalid("byte " + std::to_string(i) + " (" + quote(ref.name.substr(i, 1)) +
                     ") is not allowed, a property name is made of letters, digits and '_'");
    }
  }
  if (open == std::string_view::npos) return ref;
  ref.array_syntax = true;
  const size_t close = text.find(']', open);
  if (close == std::string_view::npos) return invalid("missing ']' after '['");
  if (close + 1 != text.size()) return invalid("unexpected text after ']'");
  const std::string_view digits = text.substr(open + 1, close - open - 1);
  if (digits.empty()) return ref;
  bool decimal = digits.size() <= kMaxIndexDigits;
  size_t index = 0;
  for (char c : digits) {
    decimal = decimal && c >= '0' && c <= '9';
    index = index * 10 + static_cast<size_t>(c - '0');
  }
  if (!decimal) {
    return invalid("the index must be a decimal number of at most " +
                   std::to_string(kMaxIndexDigits) + " digits");
  }
  ref.index = index;
  return ref;
}

Result<std::string> array_get(std::string_view property, const std::vector<std::string>& v,
                              std::optional<size_t> index) {
  if (!index) {
    std::vector<std::string> quoted;
    quoted.reserve(v.size());
    for (const std::string& e : v) quoted.push_back(shell_quote(e));
    return join(quoted, " ");
  }
  if (*index < v.size()) return v[*index];
  if (*index == v.size()) return std::string("nil");
  return past_end(property, *index, v.size());
}

Status array_set(std::string_view property, std::vector<std::string>& v,
                 std::optional<size_t> index, const std::string& value) {
  if (!index) {
    auto words = shell_split(value);
    if (!words.ok()) return words.error().wrap("bad value for " + std::string(property));
    FW_TRY(check_limits(property, *words));
    v = std::move(*words);
    return {};
  }
  if (*index > v.size()) return past_end(property, *index, v.size());
  if (value == "nil") {
    v.resize(*index);
    return {};
  }
  if (value.size() > kMaxArrayElementBytes) return too_long(property, *index, value.size());
  if (*index == v.size()) {
    if (v.size() >= kMaxArrayElements) return too_many(property, v.size() + 1);
    v.push_back(value);
  } else {
    v[*index] = value;
  }
  return {};
}

}  // namespace fw::core
