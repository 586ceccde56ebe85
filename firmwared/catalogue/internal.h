#pragma once
// Helpers shared by the catalogue's .cc files; not part of its interface.

#include <string>
#include <string_view>
#include <vector>

#include "firmwared/base/result.h"
#include "firmwared/catalogue/sqlite.h"

namespace fw::catalogue::internal {

// Returns `r`, its error prefixed with `context`.
template <typename T>
Result<T> with_context(Result<T> r, const std::string& context) {
  if (!r.ok()) return r.error().wrap(context);
  return r;
}

// EINVAL unless `sha1` is 40 lowercase hex digits.
Status check_sha1(std::string_view sha1);

// The table holding the entities of `folder`; ENOENT for an unknown folder.
Result<std::string_view> folder_table(const std::string& folder);

// Whether entity `sha1` of `folder` exists.
Result<bool> entity_exists(Db& db, const std::string& folder, const std::string& sha1);

// Gives entity `sha1` of `folder` the name `name`, replacing its old one ("" removes it).
// EEXIST when another entity of the folder has the name.
Status write_name(Db& db, const std::string& folder, const std::string& sha1,
                  const std::string& name);

// The entity's name, or its sha1 when it has none (for messages).
Result<std::string> display_name(Db& db, const std::string& folder, const std::string& sha1);

// Runs `sql` with `text` bound to ?1 and returns the first column of every row.
Result<std::vector<std::string>> query_texts(Db& db, std::string_view sql, std::string_view text);

// Deletes row `sha1` of `table` (its trigger forgets the name and custom values).
Status delete_entity(Db& db, std::string_view table, const std::string& sha1);

// EBUSY "used by instance(s) a, b" naming `users` (sha1s of `folder`); ok when empty.
Status refuse_users(Db& db, const std::string& folder, const std::vector<std::string>& users);

}  // namespace fw::catalogue::internal
