// SPDX-License-Identifier: GPL-3.0-or-later
#include "sqlite.h"

#include "curia/config/error.h"
#include "store_text.h"

namespace curia::storage::sqlite {
namespace {

ErrorCode CodeOf(int rc) {
  switch (rc & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_NOMEM:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_PERM:
      return ErrorCode::kUnavailable;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return ErrorCode::kInvalidArgument;
    default:
      return ErrorCode::kInternal;
  }
}


}  // namespace

Database::Database(const std::string& path) : path_(path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  db_.reset(db);  // closed even when opening failed
  if (rc != SQLITE_OK) {
    const std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    throw Error(ErrorCode::kInvalidArgument, path + ": cannot open: " + message);
  }
  sqlite3_extended_result_codes(db, 1);
}

Database::~Database() = default;

void Database::Exec(const char* sql) {
  const int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) Throw(rc, store_text::Abbreviate(sql));
}

void Database::Throw(int rc, const std::string& context) const {
  std::string message = path_ + ": " + sqlite3_errmsg(db_.get());
  if (!context.empty()) message += " (" + context + ")";
  throw Error(CodeOf(rc), message);
}

Statement::Statement(Database& db, const std::string& sql) : db_(db) {
  auto it = db.cache_.find(sql);
  if (it == db.cache_.end() || it->second.in_use) {
    sqlite3_stmt* stmt = nullptr;
    const int flags = it == db.cache_.end() ? SQLITE_PREPARE_PERSISTENT : 0;
    const int rc = sqlite3_prepare_v3(db.handle(), sql.c_str(), static_cast<int>(sql.size() + 1), flags, &stmt,
                                      nullptr);
    StatementPtr owned(stmt);
    if (rc != SQLITE_OK) db.Throw(rc, store_text::Abbreviate(sql));
    if (it == db.cache_.end()) {
      it = db.cache_.emplace(sql, Database::Cached{std::move(owned), false}).first;
    } else {
      owned_ = std::move(owned);
      stmt_ = owned_.get();
      return;
    }
  }
  cached_ = &it->second;
  cached_->in_use = true;
  stmt_ = cached_->stmt.get();
}

Statement::~Statement() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  if (cached_) cached_->in_use = false;
}

void Statement::Check(int rc) const {
  if (rc != SQLITE_OK) db_.Throw(rc, store_text::Abbreviate(sqlite3_sql(stmt_)));
}

void Statement::BindInt(int index, int64_t value) { Check(sqlite3_bind_int64(stmt_, index, value)); }
void Statement::BindReal(int index, double value) { Check(sqlite3_bind_double(stmt_, index, value)); }
void Statement::BindNull(int index) { Check(sqlite3_bind_null(stmt_, index)); }
void Statement::BindText(int index, std::string_view value) {
  Check(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_STATIC, SQLITE_UTF8));
}
void Statement::BindBlob(int index, const std::string& bytes) {
  Check(sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_STATIC));
}

bool Statement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_.Throw(rc, store_text::Abbreviate(sqlite3_sql(stmt_)));
}

void Statement::Run() {
  while (Step()) {
  }
}

std::string Statement::Text(int col) const {
  const void* data = sqlite3_column_blob(stmt_, col);
  const int size = sqlite3_column_bytes(stmt_, col);
  return data ? std::string(static_cast<const char*>(data), static_cast<size_t>(size)) : std::string();
}

Transaction::Transaction(Database& db) : db_(db) { db_.Exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  // SQLite ends the transaction itself after some errors (disk full, I/O): roll back only when
  // one is still open.
  if (!done_ && !sqlite3_get_autocommit(db_.handle())) {
    sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

void Transaction::Commit() {
  db_.Exec("COMMIT");
  done_ = true;
}

}  // namespace curia::storage::sqlite
