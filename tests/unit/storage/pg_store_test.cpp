// SPDX-License-Identifier: GPL-3.0-or-later
// PgStore against a real PostgreSQL 15 (pg_server.h, started once for this binary): the Store
// contract (store_contract.h), then what only a shared server has: schema creation by nodes
// starting at once, NOTIFY waking a waiter, connection errors naming the URL without its secrets,
// lost connections replaced.
#include "curia/storage/pg_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "curia/config/error.h"
#include "pg_server.h"
#include "store_contract.h"
#include "test_support.h"

namespace curia::storage {
namespace {

using contract::MakeJob;
using contract::MakeOutput;
using test::PgServer;

// A fresh database on the tests' server for each test.
struct PgBackend {
  static bool Available(std::string* why) { return PgServer::Get(why) != nullptr; }
  PgBackend() {
    std::string why;
    url = PgServer::Get(&why)->NewDatabase();
  }
  std::unique_ptr<Store> Open() { return std::make_unique<PgStore>(url); }
  std::string url;
};

// The server and a fresh database, or a skip saying why there is none.
#define CURIA_PG_DATABASE(server, url)          \
  std::string why_;                             \
  PgServer* server = PgServer::Get(&why_);      \
  if (!server) GTEST_SKIP() << why_;            \
  const std::string url = server->NewDatabase()

// The database name at the end of a URL.
std::string DbOf(const std::string& url) { return url.substr(url.rfind('/') + 1); }

}  // namespace

namespace contract {
INSTANTIATE_TYPED_TEST_SUITE_P(Pg, StoreContract, ::testing::Types<PgBackend>);
}  // namespace contract

namespace {

TEST(PgStore, CreatesItsSchemaAndReopens) {
  CURIA_PG_DATABASE(server, url);
  int64_t id = 0;
  {
    std::unique_ptr<Store> store = OpenStore(url);
    ASSERT_NE(dynamic_cast<PgStore*>(store.get()), nullptr);
    EXPECT_EQ(store->path(), url.substr(0, url.find("postgres@")) + url.substr(url.find('@') + 1));
    EXPECT_TRUE(store->SharedByNodes());
    NewJob job = MakeJob("k1");
    job.tasks = {"a\nb", "\"quoted\"", "", "é"};  // round-trips exactly
    id = store->Enqueue(job, 100.125).first;
  }
  const std::string db = DbOf(url);
  EXPECT_EQ(server->Query(db, "SELECT version FROM curia.schema_version"), std::to_string(PgStore::kSchemaVersion));
  EXPECT_EQ(server->Query(db, "SELECT value FROM curia.meta WHERE key = 'application'"), "curia-node");
  EXPECT_EQ(server->Query(db, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
                              "WHERE schemaname = 'curia'"),
            "arrivals,audit,exports,jobs,meta,nodes,outputs,schema_version");
  EXPECT_EQ(server->Query(db, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'"), "0");  // Orthanc's
  PgStore store(url);
  const JobRow job = *store.GetJob(id);
  EXPECT_EQ(job.tasks, (std::vector<std::string>{"a\nb", "\"quoted\"", "", "é"}));
  EXPECT_EQ(job.created_at, 100.125);
  // Bytes with NULs and high bytes survive bytea.
  std::string bytes("DICM\0\x01\xff\x80sr", 10);
  const std::optional<JobRow> claimed = store.Claim(200.5, 60);
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->lease_until, 260.5);
  ASSERT_TRUE(store.Complete(ClaimOf(*claimed), "{}", "{}", "d", {MakeOutput("SR", "1.2", bytes)}, 201));
  const std::vector<OutputRow> outputs = store.Outputs(id);
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].size, 10);
  EXPECT_EQ(store.OutputBytes(outputs[0].id), bytes);
  const std::optional<ExportTask> task = store.NextExport(202, 30);
  ASSERT_TRUE(task);
  EXPECT_EQ(task->bytes, bytes);
}

// Four nodes starting at once on an empty database: one creates the schema, the others wait for it
// (the advisory lock) and use it; nobody fails, the schema is there once.
TEST(PgStore, NodesStartingAtOnceCreateTheSchemaOnce) {
  CURIA_PG_DATABASE(server, url);
  constexpr int kNodes = 4;
  std::atomic<int> ready{0};
  std::vector<std::string> errors(kNodes);
  std::vector<std::unique_ptr<PgStore>> stores(kNodes);
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (ready < kNodes) std::this_thread::yield();
      try {
        stores[i] = std::make_unique<PgStore>(url);
        stores[i]->Enqueue(MakeJob("k" + std::to_string(i), 1, std::to_string(i)), i);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kNodes; ++i) EXPECT_EQ(errors[i], "") << "node " << i;
  const std::string db = DbOf(url);
  EXPECT_EQ(server->Query(db, "SELECT COUNT(*) FROM curia.schema_version"), "1");
  EXPECT_EQ(server->Query(db, "SELECT version FROM curia.schema_version"), std::to_string(PgStore::kSchemaVersion));
  EXPECT_EQ(server->Query(db, "SELECT COUNT(*) FROM curia.meta WHERE key = 'application'"), "1");
  EXPECT_EQ(stores[0]->CountJobs({}), kNodes);
}

// A schema 1 database (before region jobs and the nodes table) is migrated in place, its jobs kept.
TEST(PgStore, MigratesASchema1Database) {
  CURIA_PG_DATABASE(server, url);
  const std::string db = DbOf(url);
  int64_t id = 0;
  {
    PgStore store(url);
    id = store.Enqueue(MakeJob("k1"), 0).first;
  }
  server->Query(db, "ALTER TABLE curia.jobs DROP COLUMN region_instance, DROP COLUMN region_scope; "
                    "DROP TABLE curia.nodes; UPDATE curia.schema_version SET version = 1");
  ASSERT_EQ(server->Query(db, "SELECT version FROM curia.schema_version"), "1");
  PgStore store(url);
  EXPECT_EQ(server->Query(db, "SELECT version FROM curia.schema_version"), std::to_string(PgStore::kSchemaVersion));
  const JobRow job = *store.GetJob(id);
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.region_instance, "");
  EXPECT_EQ(job.region_scope, "");
  EXPECT_TRUE(store.ListNodes().empty());
  NodeBeat beat;
  beat.name = "node-a";
  store.Heartbeat(beat, 30);
  ASSERT_EQ(store.ListNodes().size(), 1u);
  EXPECT_EQ(store.ListNodes()[0].last_seen, 30);
}

// Work enqueued by one node wakes another node's waiter at once (NOTIFY at commit); without work
// the waiter returns false after its timeout.
TEST(PgStore, NotifyWakesAWaiter) {
  CURIA_PG_DATABASE(server, url);
  PgStore waiter(url), sender(url);
  EXPECT_FALSE(waiter.WaitForWork(0.2));  // LISTENs from now on; nothing came
  std::atomic<bool> woken{false};
  std::atomic<double> waited{0};
  std::thread t([&] {
    const auto start = std::chrono::steady_clock::now();
    woken = waiter.WaitForWork(10);
    waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  sender.Enqueue(MakeJob("k1"), 1);
  t.join();
  EXPECT_TRUE(woken);
  EXPECT_LT(waited, 5.0);  // woken by the notification, long before the 10 s timeout
  // A job queued again (a retryable failure) is announced too.
  const std::optional<JobRow> job = sender.Claim(2, 60);
  ASSERT_TRUE(job);
  EXPECT_FALSE(waiter.WaitForWork(0.1));  // a claim makes no work: nothing new (the enqueue's was consumed)
  ASSERT_TRUE(sender.Fail(ClaimOf(*job), "device busy", true, 3, 3));
  EXPECT_TRUE(waiter.WaitForWork(5));
}

// The claims' writes are conditional across connections too: a node (store) that lost its lease
// cannot complete once another node took the job over.
TEST(PgStore, TwoNodesLostLeaseRefusedAcrossConnections) {
  CURIA_PG_DATABASE(server, url);
  PgStore a(url), b(url);
  const int64_t id = a.Enqueue(MakeJob("k1"), 0).first;
  const std::optional<JobRow> first = a.Claim(10, 30);
  ASSERT_TRUE(first);
  EXPECT_FALSE(b.Claim(11, 30));  // taken
  EXPECT_EQ(b.RecoverExpiredLeases(41, 3), 1);  // any node recovers
  const std::optional<JobRow> second = b.Claim(42, 30);
  ASSERT_TRUE(second);
  EXPECT_FALSE(a.Complete(ClaimOf(*first), R"({"from": "a"})", "{}", "d", {}, 50));
  EXPECT_TRUE(b.Complete(ClaimOf(*second), R"({"from": "b"})", "{}", "d", {}, 51));
  EXPECT_EQ(a.GetJob(id)->findings_json, R"({"from": "b"})");
}

// Connection problems name the URL without its password or query, with the right code.
TEST(PgStore, ConnectionErrorsNameTheRedactedUrl) {
  std::string why;
  PgServer* server = PgServer::Get(&why);
  if (!server) GTEST_SKIP() << why;
  // Nothing listens there (a port that was just free).
  int closed_port = server->port() + 1;
  const std::string refused = "postgresql://curia:s3cret@127.0.0.1:" + std::to_string(closed_port) +
                              "/curia?passfile=/etc/secret-file";
  try {
    PgStore store(refused);
    ADD_FAILURE() << "connected to a closed port";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable) << message;
    EXPECT_EQ(message.rfind("postgresql://127.0.0.1:" + std::to_string(closed_port) + "/curia: cannot connect: ", 0), 0u)
        << message;
    EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
    EXPECT_EQ(message.find("secret-file"), std::string::npos) << message;
  }
  // A URL libpq cannot parse: the user's to fix.
  EXPECT_EQ(test::ErrorMessage([] { OpenStore("postgresql://u:pw@h/db?nonsense=1"); }),
            "postgresql://h/db: not a usable PostgreSQL URL: invalid URI query parameter: \"nonsense\"");
  // Right server, wrong database.
  const std::string missing = server->Url("no_such_db");
  try {
    PgStore store(missing);
    ADD_FAILURE() << "opened a missing database";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_NE(std::string(e.what()).find("no_such_db\" does not exist"), std::string::npos) << e.what();
  }
}

TEST(PgStore, RefusesANewerOrForeignSchema) {
  CURIA_PG_DATABASE(server, url);
  const std::string db = DbOf(url);
  const std::string name = PgStore(url).path();
  server->Query(db, "UPDATE curia.schema_version SET version = 7");
  EXPECT_EQ(test::ErrorMessage([&] { PgStore store(url); }),
            name + ": written by a newer Curia Node (schema 7, this version reads up to " +
                std::to_string(PgStore::kSchemaVersion) + ")");
  const std::string other = server->NewDatabase();
  server->Query(DbOf(other), "CREATE SCHEMA curia; CREATE TABLE curia.patients(name text)");
  EXPECT_NE(test::ErrorMessage([&] { PgStore store(other); }).find(": schema \"curia\" exists but is not Curia Node's"),
            std::string::npos);
  EXPECT_EQ(server->Query(DbOf(other), "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'curia'"), "1");  // untouched
}

// A pooled connection that the server dropped (a restart, an administrator) is replaced: the next
// call works.
TEST(PgStore, ReplacesLostConnections) {
  CURIA_PG_DATABASE(server, url);
  PgStore store(url);
  const int64_t id = store.Enqueue(MakeJob("k1"), 0).first;
  server->Query(DbOf(url), "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE application_name = 'curia-node' AND pid <> pg_backend_pid()");
  std::optional<JobRow> job;
  ASSERT_NO_THROW(job = store.GetJob(id));
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, JobState::kQueued);
  // And the listener reconnects: a notification after its connection was dropped still arrives.
  PgStore other(url);
  EXPECT_FALSE(store.WaitForWork(0.1));
  server->Query(DbOf(url), "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE application_name = 'curia-node' AND pid <> pg_backend_pid()");
  EXPECT_FALSE(store.WaitForWork(0.2));  // notices the loss
  EXPECT_FALSE(store.WaitForWork(0.1));  // LISTENs again
  other.Enqueue(MakeJob("k2", 1, "s2"), 1);
  EXPECT_TRUE(store.WaitForWork(5));
}

}  // namespace
}  // namespace curia::storage
