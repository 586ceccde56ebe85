#pragma once
// Resolving the identifier a user gives for an entity: its name, its sha1, or a
// unique prefix of its sha1.

#include <string>
#include <string_view>
#include <vector>

#include "firmwared/base/result.h"

namespace fw::core {

// What resolution needs to know of an entity of a folder.
struct EntityRef {
  std::string sha1;  // 40 hex digits
  std::string name;  // unique in its folder
};

// True when `s` is exactly 40 hex digits, in either case.
bool is_sha1(std::string_view s);

// Returns the sha1 (as stored in `entities`) of the entity `id` designates, trying in order:
// an exact name, a full sha1 (case-insensitive), a prefix of at least 6 hex digits starting
// exactly one sha1. `folder_singular` ("firmware", "instance") names the kind in messages.
// Errors: EINVAL for an empty id; EINVAL "ambiguous identifier 'abcdef': it starts the sha1
// of several firmwares: a[sha1], b[sha1]" (every candidate, sorted by name then sha1);
// ENOENT "no firmware named 'x' or with sha1 starting with 'x'" (wording adapted when `id`
// cannot be a sha1 or a long enough prefix).
Result<std::string> resolve_identifier(std::string_view folder_singular, std::string_view id,
                                       const std::vector<EntityRef>& entities);

}  // namespace fw::core
