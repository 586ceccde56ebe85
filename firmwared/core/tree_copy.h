#pragma once
// Copies a directory tree like `cp -a` (COMMIT, issue 8 item 5): file types, contents,
// modes, owners, timestamps and, best effort, extended attributes. Hard links are copied
// as separate files. Never follows a symlink: every step is an *at call relative to an
// open directory with O_NOFOLLOW, so a tree changing meanwhile (a running instance) cannot
// lead the copy out of it. Does not cross into other mounts below `from`.

#include <cstdint>
#include <string>

#include "firmwared/base/result.h"

namespace fw::core {

// Copies the tree at `from` to `to`, which must not exist (EEXIST). Errors name the path;
// a failed copy leaves a partial `to` for the caller to remove. Sockets are skipped.
// `id_base` ≠ 0: `from` is seen through an instance's idmapped layers; its ids
// id_base..id_base+65535 are copied as 0..65535, what the instance sees.
Status copy_tree(const std::string& from, const std::string& to, uint32_t id_base = 0);

}  // namespace fw::core
