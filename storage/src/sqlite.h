// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A thin RAII layer over the sqlite3 C API, private to storage/: a connection with a cache of
// prepared statements, a statement that is reset when it goes out of scope, and a write
// transaction (BEGIN IMMEDIATE) that rolls back unless committed.
//
//   sqlite::Transaction tx(db);
//   sqlite::Statement(db, "UPDATE jobs SET state = ?1 WHERE id = ?2").Bind("queued", id).Run();
//   tx.Commit();
//
// Errors are curia::Error naming the database file and SQLite's message. Not thread-safe: the
// owner serialises access (Store holds a mutex).
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>

namespace curia::storage::sqlite {

struct CloseDatabase {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct FinalizeStatement {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using DatabasePtr = std::unique_ptr<sqlite3, CloseDatabase>;
using StatementPtr = std::unique_ptr<sqlite3_stmt, FinalizeStatement>;

// Bound as a BLOB (a std::string binds as TEXT). The bytes must outlive the statement's step.
struct Blob {
  const std::string& bytes;
};

class Database {
 public:
  // Opens (creating) the file read-write. Throws curia::Error naming the file.
  explicit Database(const std::string& path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  sqlite3* handle() const { return db_.get(); }
  const std::string& path() const { return path_; }

  // Runs SQL without values (schema, pragmas, transaction control).
  void Exec(const char* sql);
  int64_t Changes() const { return sqlite3_changes64(db_.get()); }
  int64_t LastInsertId() const { return sqlite3_last_insert_rowid(db_.get()); }
  // "<path>: <SQLite's message> (<context>)"; the code follows the kind of failure: I/O, disk full,
  // busy or read-only -> kUnavailable; not a database or corrupt -> kInvalidArgument; else kInternal.
  [[noreturn]] void Throw(int rc, const std::string& context) const;

 private:
  friend class Statement;
  struct Cached {
    StatementPtr stmt;
    bool in_use = false;
  };
  // cache_ is declared after db_, so its statements are finalised before the connection closes.
  std::string path_;
  DatabasePtr db_;
  std::unordered_map<std::string, Cached> cache_;
};

// One use of a prepared statement (from the connection's cache unless that one is in use).
class Statement {
 public:
  Statement(Database& db, const std::string& sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binds the values to ?1, ?2, ... in order.
  template <typename... Args>
  Statement& Bind(const Args&... args) {
    int index = 0;
    (BindOne(++index, args), ...);
    return *this;
  }
  // Binds one value to ?index.
  template <typename T>
  Statement& BindAt(int index, const T& value) {
    BindOne(index, value);
    return *this;
  }
  // True when a row is available, false when done.
  bool Step();
  // Runs a statement that returns no rows.
  void Run();

  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Real(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string Text(int col) const;  // also reads BLOBs, byte for byte

 private:
  template <typename T>
  void BindOne(int index, const T& value) {
    if constexpr (std::is_same_v<T, bool> || std::is_integral_v<T> || std::is_enum_v<T>) {
      BindInt(index, static_cast<int64_t>(value));
    } else if constexpr (std::is_floating_point_v<T>) {
      BindReal(index, static_cast<double>(value));
    } else if constexpr (std::is_same_v<T, std::nullptr_t>) {
      BindNull(index);
    } else if constexpr (std::is_same_v<T, Blob>) {
      BindBlob(index, value.bytes);
    } else {
      BindText(index, std::string_view(value));
    }
  }
  void BindInt(int index, int64_t value);
  void BindReal(int index, double value);
  void BindNull(int index);
  void BindText(int index, std::string_view value);
  void BindBlob(int index, const std::string& bytes);
  void Check(int rc) const;

  Database& db_;
  sqlite3_stmt* stmt_ = nullptr;
  Database::Cached* cached_ = nullptr;  // null: owned_ holds a statement prepared for this use
  StatementPtr owned_;
};

// BEGIN IMMEDIATE ... COMMIT; rolled back by the destructor unless Commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void Commit();

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace curia::storage::sqlite
