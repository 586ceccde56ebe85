#include "firmwared/core/identifiers.h"

#include <algorithm>
#include <tuple>

#include "firmwared/base/strings.h"
#include "firmwared/core/shell_words.h"

namespace fw::core {
namespace {

constexpr size_t kSha1Digits = 40;
constexpr size_t kMinPrefix = 6;

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

// Case-insensitive comparison of the first `prefix.size()` bytes of a stored sha1.
bool sha1_starts_with(std::string_view sha1, std::string_view prefix) {
  return sha1.size() >= prefix.size() && to_lower(sha1.substr(0, prefix.size())) == prefix;
}

Error not_found(std::string_view folder, std::string_view id) {
  std::string message = "no " + std::string(folder) + " named " + quote(id);
  if (is_sha1(id)) {
    message += " or with sha1 " + quote(std::string(id));
  } else if (is_hex(id) && id.size() >= kMinPrefix && id.size() < kSha1Digits) {
    message += " or with sha1 starting with " + quote(std::string(id));
  } else if (is_hex(id) && id.size() < kMinPrefix) {
    message += " (a sha1 prefix needs at least " + std::to_string(kMinPrefix) + " hex digits)";
  }
  return make_error(ENOENT, std::move(message));
}

Error ambiguous(std::string_view folder, std::string_view id,
                std::vector<const EntityRef*> candidates) {
  std::sort(candidates.begin(), candidates.end(), [](const EntityRef* a, const EntityRef* b) {
    return std::tie(a->name, a->sha1) < std::tie(b->name, b->sha1);
  });
  std::vector<std::string> listed;
  for (const EntityRef* e : candidates) listed.push_back(e->name + "[" + e->sha1 + "]");
  return make_error(EINVAL, "ambiguous identifier " + quote(id) +
                                ": it starts the sha1 of several " + std::string(folder) +
                                "s: " + join(listed, ", "));
}

}  // namespace

bool is_sha1(std::string_view s) { return s.size() == kSha1Digits && is_hex(s); }

Result<std::string> resolve_identifier(std::string_view folder_singular, std::string_view id,
                                       const std::vector<EntityRef>& entities) {
  if (id.empty()) {
    return make_error(EINVAL, "empty " + std::string(folder_singular) + " identifier");
  }
  for (const EntityRef& e : entities) {
    if (e.name == id) return e.sha1;
  }
  if (!is_hex(id) || id.size() < kMinPrefix || id.size() > kSha1Digits) {
    return not_found(folder_singular, id);
  }
  const std::string lower = to_lower(id);
  if (id.size() == kSha1Digits) {
    for (const EntityRef& e : entities) {
      if (to_lower(e.sha1) == lower) return e.sha1;
    }
    return not_found(folder_singular, id);
  }
  std::vector<const EntityRef*> candidates;
  for (const EntityRef& e : entities) {
    if (sha1_starts_with(e.sha1, lower)) candidates.push_back(&e);
  }
  if (candidates.empty()) return not_found(folder_singular, id);
  if (candidates.size() > 1) return ambiguous(folder_singular, id, std::move(candidates));
  return candidates.front()->sha1;
}

}  // namespace fw::core
