#pragma once
// A small RAII layer over the sqlite3 C API (https://sqlite.org/c3ref/intro.html): Db owns a
// connection, Statement a prepared statement. Errors are fw::Error values whose message is
// sqlite's own (sqlite3_errmsg) and whose code is an errno chosen by errno_of_sqlite().
// sqlite3.h stays out of this header: callers link sqlite privately through fw_catalogue.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "firmwared/base/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace fw::catalogue {

// Maps an extended sqlite result code to an errno: ENOSPC for SQLITE_FULL, EBUSY for
// SQLITE_BUSY and SQLITE_LOCKED, EEXIST for UNIQUE and PRIMARY KEY violations, EINVAL for
// other constraint violations, ENOMEM, EROFS for SQLITE_READONLY, EACCES for SQLITE_PERM and
// SQLITE_AUTH, EIO for everything else.
int errno_of_sqlite(int rc);

// One prepared statement. Move-only; finalized on destruction.
class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  ~Statement();

  // Bind parameter `index` (1-based, ?N). Text is copied; an empty string binds '' (never
  // NULL). A failed bind is remembered and reported by the next step() or run().
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, int64_t value);
  Statement& bind_null(int index);

  // Runs one step: true when a row is ready for the column accessors, false when done.
  Result<bool> step();
  // Steps until done, ignoring any rows.
  Status run();
  // Makes the statement runnable again; bindings are kept until bound anew.
  void reset();

  bool column_is_null(int col) const;
  int64_t column_int64(int col) const;
  // The column as text ("" for NULL).
  std::string column_text(int col) const;

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::optional<Error> bind_error_;
};

// One database connection. Move-only; closed on destruction.
class Db {
 public:
  // Opens the database at `path`, creating the file if missing; ":memory:" gives a private
  // in-memory database. Extended result codes are on. Errors name the file and carry the
  // system errno when sqlite could not open it (ENOENT, EACCES, ...), else EIO.
  static Result<Db> open(const std::string& path);

  Db() = default;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  Db(Db&& other) noexcept;
  Db& operator=(Db&& other) noexcept;
  ~Db();

  // Runs one or more ';'-separated statements, discarding any rows.
  Status exec(const std::string& sql);
  Result<Statement> prepare(std::string_view sql);
  // Runs a statement returning one row and returns its first column (ENODATA if no row).
  Result<int64_t> query_int(std::string_view sql);
  Result<std::string> query_text(std::string_view sql);

  // Waits up to `ms` for another connection's lock instead of failing with SQLITE_BUSY.
  void set_busy_timeout(int ms);
  // True inside BEGIN ... COMMIT (sqlite3_get_autocommit() is false).
  bool in_transaction() const;
  const std::string& path() const { return path_; }

 private:
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  void close() noexcept;

  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace fw::catalogue
