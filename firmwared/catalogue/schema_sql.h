#pragma once
// The text of schemas/catalogue.sql, embedded at build time (see CMakeLists.txt here).

#include <string_view>

namespace fw::catalogue {

// Returns the SQL that creates schema version 1 (migration 0 -> 1).
std::string_view catalogue_schema_sql();

}  // namespace fw::catalogue
