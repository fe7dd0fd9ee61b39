// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A PostgreSQL 15 server of the tests' own: initdb into a temporary folder, pg_ctl start on a free
// loopback port (listen_addresses=127.0.0.1, its socket in that folder), stopped and removed when
// the test binary ends. Never a system service. Started once per process, on first use; as root it
// runs as the "postgres" user (initdb refuses root).
//
//   PgServer* server = PgServer::Get(&why);        // nullptr: binaries absent (why says so)
//   const std::string url = server->NewDatabase();  // postgresql://postgres@127.0.0.1:PORT/tN
//
// Thread-safe.
#include <string>

namespace curia::test {

class PgServer {
 public:
  // The server, started on the first call. nullptr with `why` when PostgreSQL's binaries are not
  // installed; a server that fails to start fails the calling test (throws std::runtime_error
  // with initdb's or pg_ctl's output).
  static PgServer* Get(std::string* why);

  int port() const { return port_; }
  // The URL of database `db` on this server.
  std::string Url(const std::string& db) const;
  // A new, empty database; its URL.
  std::string NewDatabase();
  // Runs SQL in database `db` (libpq, as another client would); the first column of the first row
  // ("" when none). Throws std::runtime_error with PostgreSQL's message.
  std::string Query(const std::string& db, const std::string& sql) const;

  void Stop();  // at exit

 private:
  PgServer() = default;
  std::string dir_;
  int port_ = 0;
  int next_db_ = 0;
  bool as_postgres_ = false;
};

}  // namespace curia::test
