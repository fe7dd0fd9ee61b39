// SPDX-License-Identifier: GPL-3.0-or-later
#include "pg_server.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "test_support.h"

namespace curia::test {
namespace {

constexpr const char* kBin = "/usr/lib/postgresql/15/bin";

// A port the kernel says is free on 127.0.0.1 now (another process may take it before the server
// does: Get retries).
int FreePort() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(s);
  return port;
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

PgServer* g_server = nullptr;

void StopAtExit() {
  if (g_server) g_server->Stop();
}

}  // namespace

PgServer* PgServer::Get(std::string* why) {
  static std::mutex mutex;
  static PgServer* server = nullptr;
  static std::string failure;
  std::lock_guard<std::mutex> lock(mutex);
  if (server) return server;
  if (!std::filesystem::exists(std::string(kBin) + "/initdb") || !std::filesystem::exists(std::string(kBin) + "/pg_ctl")) {
    *why = std::string("PostgreSQL 15 is not installed (no ") + kBin +
           "/initdb or pg_ctl; apt-get install postgresql-15): PostgreSQL store tests skipped";
    return nullptr;
  }
  if (!failure.empty()) throw std::runtime_error(failure);

  auto s = std::unique_ptr<PgServer>(new PgServer());
  char pattern[] = "/tmp/curia-pg-XXXXXX";  // short: the socket path must fit in 107 bytes
  if (!mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
  s->dir_ = pattern;
  std::string prefix;
  if (geteuid() == 0) {
    // initdb refuses to run as root: the server runs as "postgres", owning its folder.
    const passwd* pw = getpwnam("postgres");
    if (!pw) throw std::runtime_error("running as root and there is no 'postgres' user to run PostgreSQL as");
    if (chown(s->dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("chown " + s->dir_ + " failed");
    prefix = "runuser -u postgres -- ";
    s->as_postgres_ = true;
  }
  const ShellResult init = RunShell(prefix + kBin + "/initdb -D " + s->dir_ + "/data -U postgres -A trust --no-sync "
                                    "-E UTF8 --locale=C 2>&1");
  if (init.status != 0) {
    failure = "initdb failed: " + init.output;
    throw std::runtime_error(failure);
  }
  // fsync off: a test server's data need not survive a power cut, and the tests run faster.
  for (int attempt = 0; attempt < 3; ++attempt) {
    s->port_ = FreePort();
    const std::string options = "-c listen_addresses=127.0.0.1 -p " + std::to_string(s->port_) + " -k " + s->dir_ +
                                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300";
    const ShellResult start = RunShell(prefix + kBin + "/pg_ctl -D " + s->dir_ + "/data -l " + s->dir_ +
                                       "/server.log -w -t 60 -o " + Quote(options) + " start 2>&1");
    if (start.status == 0) {
      server = s.release();
      g_server = server;
      std::atexit(StopAtExit);
      return server;
    }
    failure = "pg_ctl start failed: " + start.output + RunShell("cat " + std::string(pattern) + "/server.log").output;
  }
  throw std::runtime_error(failure);
}

void PgServer::Stop() {
  if (dir_.empty()) return;
  RunShell(std::string(as_postgres_ ? "runuser -u postgres -- " : "") + kBin + "/pg_ctl -D " + dir_ +
           "/data -m immediate -w stop >/dev/null 2>&1");
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  dir_.clear();
}

std::string PgServer::Url(const std::string& db) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + db;
}

std::string PgServer::NewDatabase() {
  static std::mutex mutex;
  std::string name;
  {
    std::lock_guard<std::mutex> lock(mutex);
    name = "t" + std::to_string(++next_db_);
  }
  Query("postgres", "CREATE DATABASE " + name);
  return Url(name);
}

std::string PgServer::Query(const std::string& db, const std::string& sql) const {
  std::unique_ptr<PGconn, decltype(&PQfinish)> c(PQconnectdb(Url(db).c_str()), &PQfinish);
  if (PQstatus(c.get()) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(c.get()));
  std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(c.get(), sql.c_str()), &PQclear);
  const ExecStatusType status = PQresultStatus(r.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw std::runtime_error(sql + ": " + PQresultErrorMessage(r.get()));
  }
  if (status != PGRES_TUPLES_OK || PQntuples(r.get()) == 0) return "";
  return PQgetvalue(r.get(), 0, 0);
}

}  // namespace curia::test
