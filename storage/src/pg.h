// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A thin RAII layer over libpq, private to storage/: a connection opened from a URL, statements
// run with their values as parameters ($1, $2, ...; never spliced into the SQL), and their results
// read by row and column. Values go in as text (bytes as binary, for bytea); results come back as
// text and are converted here (bytea unescaped).
//
//   pg::Connection c(url, RedactUrl(url));
//   pg::Result r = c.Exec("SELECT id FROM jobs WHERE state = $1", {pg::Text("queued")});
//   for (int i = 0; i < r.Rows(); ++i) ids.push_back(r.Int(i, 0));
//
// libpq rather than libpqxx: libpq is PostgreSQL's own client library, already on every host that
// runs orthanc-postgresql (libpq5), and this layer needs only what it offers directly (parameters,
// the socket for LISTEN/NOTIFY, SQLSTATE codes); libpqxx would add a second runtime library for a
// wrapper of about the size of this file.
//
// Errors are curia::Error naming the URL (without its secrets) and PostgreSQL's message; the
// SQLSTATE of the last failure stays readable (last_sqlstate) so that callers can retry
// serialisation failures and deadlocks. Not thread-safe: one thread uses a connection at a time.
#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace curia::storage::pg {

struct FinishConnection {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ClearResult {
  void operator()(PGresult* r) const { PQclear(r); }
};

// One parameter: its text (or bytes, when binary) and whether it is NULL.
struct Value {
  std::string data;
  bool binary = false;
};
inline Value Text(std::string s) { return {std::move(s), false}; }
inline Value Bytes(std::string s) { return {std::move(s), true}; }
Value Int(int64_t v);
Value Real(double v);  // exact: 17 significant digits

class Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  PGresult* raw() const { return r_.get(); }
  int Rows() const { return PQntuples(r_.get()); }
  int64_t Affected() const;  // rows an INSERT/UPDATE/DELETE changed
  bool IsNull(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  int64_t Int(int row, int col) const;
  double Real(int row, int col) const;
  std::string Text(int row, int col) const;
  std::string Bytes(int row, int col) const;  // a bytea column, unescaped
  bool Bool(int row, int col) const { return Text(row, col) == "t"; }

 private:
  std::unique_ptr<PGresult, ClearResult> r_;
};

class Connection {
 public:
  // Connects to `url` (a libpq connection URI). `name` (the URL without secrets) prefixes every
  // message. Throws kInvalidArgument for a URL libpq cannot parse, kUnavailable when the server
  // cannot be reached or refuses the connection.
  Connection(const std::string& url, const std::string& name);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  PGconn* handle() const { return c_.get(); }
  bool ok() const { return PQstatus(c_.get()) == CONNECTION_OK; }
  const std::string& last_sqlstate() const { return sqlstate_; }

  // Runs one statement. Throws curia::Error: kUnavailable for a lost connection or a server that
  // is shutting down, kInvalidArgument for data or constraint errors, kInternal otherwise.
  Result Exec(const std::string& sql, const std::vector<Value>& values = {});

 private:
  std::string name_;
  std::string sqlstate_;
  std::unique_ptr<PGconn, FinishConnection> c_;
};

}  // namespace curia::storage::pg
