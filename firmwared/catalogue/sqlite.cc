#include "firmwared/catalogue/sqlite.h"

#include <sqlite3.h>

#include <cstring>
#include <utility>

namespace fw::catalogue {
namespace {

// sqlite3_errmsg() describes the most recent failed call on the connection; without a
// connection (allocation failure at open) only the generic text of the code is known.
Error sqlite_error(sqlite3* db, int rc) {
  const char* msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return make_error(errno_of_sqlite(rc), msg != nullptr ? msg : sqlite3_errstr(rc));
}

}  // namespace

int errno_of_sqlite(int rc) {
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) return EEXIST;
  switch (rc & 0xff) {  // the primary code is the low byte of an extended one
    case SQLITE_FULL:
      return ENOSPC;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return EBUSY;
    case SQLITE_CONSTRAINT:
      return EINVAL;
    case SQLITE_NOMEM:
      return ENOMEM;
    case SQLITE_READONLY:
      return EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return EACCES;
    default:
      return EIO;
  }
}

// ---- Statement ----

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      bind_error_(std::move(other.bind_error_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
    bind_error_ = std::move(other.bind_error_);
  }
  return *this;
}

// sqlite3_finalize(NULL) is a harmless no-op.
Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, std::string_view text) {
  // A NULL pointer would bind SQL NULL, not '' (sqlite3_bind_text: "If the third parameter
  // is a NULL pointer then the fourth parameter is ignored and the result is a NULL").
  const char* data = text.data() != nullptr ? text.data() : "";
  int rc = sqlite3_bind_text64(stmt_, index, data, text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && !bind_error_) bind_error_ = sqlite_error(db_, rc);
  return *this;
}

Statement& Statement::bind(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && !bind_error_) bind_error_ = sqlite_error(db_, rc);
  return *this;
}

Statement& Statement::bind_null(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK && !bind_error_) bind_error_ = sqlite_error(db_, rc);
  return *this;
}

Result<bool> Statement::step() {
  if (bind_error_) return *bind_error_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return sqlite_error(db_, rc);
}

Status Statement::run() {
  for (;;) {
    FW_ASSIGN_OR_RETURN(bool row, step());
    if (!row) return {};
  }
}

// sqlite3_reset() repeats the error of the last step, which step() already reported.
void Statement::reset() { sqlite3_reset(stmt_); }

bool Statement::column_is_null(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

int64_t Statement::column_int64(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Statement::column_text(int col) const {
  // Per the sqlite docs, call _text() first, then _bytes() for the length of that text.
  const unsigned char* text = sqlite3_column_text(stmt_, col);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

// ---- Db ----

Result<Db> Db::open(const std::string& path) {
  sqlite3* raw = nullptr;
  // No SQLITE_OPEN_URI: the path is a file name, never parsed as a URI. sqlite's unix VFS
  // opens its files (database, -wal, -shm, journals) with O_CLOEXEC (robust_open()).
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  Db db(raw, path);  // owns `raw` even on failure: sqlite3_open_v2 allocates it anyway
  if (rc != SQLITE_OK) {
    Error error = sqlite_error(raw, rc);
    // SQLITE_CANTOPEN says nothing of why; the failed open(2)'s errno does.
    int sys = raw != nullptr ? sqlite3_system_errno(raw) : 0;
    if ((rc & 0xff) == SQLITE_CANTOPEN && sys != 0) {
      error = make_error(sys, error.message + " (" + std::strerror(sys) + ")");
    }
    return error.wrap("opening '" + path + "'");
  }
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

Db::Db(Db&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

Db& Db::operator=(Db&& other) noexcept {
  if (this != &other) {
    close();
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

Db::~Db() { close(); }

void Db::close() noexcept {
  // _v2 defers the close until the last statement is finalized instead of failing.
  sqlite3_close_v2(db_);
  db_ = nullptr;
}

Status Db::exec(const std::string& sql) {
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return sqlite_error(db_, rc);
  return {};
}

Result<Statement> Db::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return sqlite_error(db_, rc);
  return Statement(db_, stmt);
}

Result<int64_t> Db::query_int(std::string_view sql) {
  FW_ASSIGN_OR_RETURN(Statement st, prepare(sql));
  FW_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return make_error(ENODATA, "'" + std::string(sql) + "' returned no row");
  return st.column_int64(0);
}

Result<std::string> Db::query_text(std::string_view sql) {
  FW_ASSIGN_OR_RETURN(Statement st, prepare(sql));
  FW_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return make_error(ENODATA, "'" + std::string(sql) + "' returned no row");
  return st.column_text(0);
}

void Db::set_busy_timeout(int ms) { sqlite3_busy_timeout(db_, ms); }

bool Db::in_transaction() const { return db_ != nullptr && sqlite3_get_autocommit(db_) == 0; }

}  // namespace fw::catalogue
