// SPDX-License-Identifier: GPL-3.0-or-later
// `curia bench queue` as a user runs it, on a SQLite file and on a PostgreSQL 15 of the test's own
// (tests/unit/storage/pg_server.h): 8 claimers empty the queue, and the store, read back here
// independently of the tool, holds every job done and claimed once. No timed assertion: the rate is
// only checked to be reported.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "curia/config/json.h"
#include "curia/storage/store.h"
#include "pg_server.h"
#include "test_support.h"

namespace curia {
namespace {

using test::RunTool;
using test::TempDir;

config::Json ReadJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return config::ParseJson(text.str(), path, config::JsonDialect::kStrict);
}

// The figures the tool wrote: every job done, none twice, none lost, a rate.
void ExpectExactlyOnce(const config::Json& j, int64_t jobs) {
  EXPECT_EQ(j["jobs"].asInt64(), jobs);
  EXPECT_EQ(j["claims"].asInt64(), jobs);
  EXPECT_EQ(j["done"].asInt64(), jobs);
  EXPECT_EQ(j["claimed_twice"].asInt64(), 0);
  EXPECT_EQ(j["lost"].asInt64(), 0);
  EXPECT_EQ(j["completions_refused"].asInt64(), 0);
  EXPECT_TRUE(j["exactly_once"].asBool());
  EXPECT_GT(j["claims_per_second"].asDouble(), 0);
  EXPECT_GE(j["claim_ms_p99"].asDouble(), j["claim_ms_p50"].asDouble());
  int64_t sum = 0;
  for (const auto& n : j["per_claimer"]) sum += n.asInt64();
  EXPECT_EQ(j["per_claimer"].size(), 8u);
  EXPECT_EQ(sum, jobs);
}

TEST(CliBenchQueue, SqliteEightClaimersEveryJobOnce) {
  TempDir dir;
  const std::string db = dir.File("queue.sqlite");
  const auto r = RunTool({"bench", "queue", "--database", db, "--claimers", "8", "--jobs", "150", "--json",
                          dir.File("q.json")});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("claims/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("exactly once"), std::string::npos) << r.out;
  const config::Json j = ReadJson(dir.File("q.json"));
  EXPECT_EQ(j["store"].asString(), "sqlite");
  ExpectExactlyOnce(j, 150);
  // The store itself, read here: 150 jobs, all done after one claim each, by 8 claimers at most.
  auto store = storage::OpenStore(db);
  storage::JobFilter f;
  f.limit = 1000;
  const std::vector<storage::JobRow> rows = store->Jobs(f);
  ASSERT_EQ(rows.size(), 150u);
  std::set<std::string> owners;
  for (const storage::JobRow& row : rows) {
    EXPECT_EQ(row.state, storage::JobState::kDone) << row.id;
    EXPECT_EQ(row.attempts, 1) << row.id;
    owners.insert(storage::NodeOfOwner(row.owner));
  }
  for (const std::string& o : owners) EXPECT_EQ(o.rfind("bench-", 0), 0u) << o;

  // A database with queued work is refused (the benchmark would claim a node's jobs), saying so.
  storage::NewJob job;
  job.idempotency_key = "real-work";
  job.series_uid = "1.2.3";
  job.rule = "r";
  store->Enqueue(job, 1000);
  const auto refused = RunTool({"bench", "queue", "--database", db, "--jobs", "5"});
  EXPECT_NE(refused.status, 0);
  EXPECT_NE(refused.err.find("already has 1 queued job(s)"), std::string::npos) << refused.err;
  EXPECT_EQ(store->CountJobs(storage::JobFilter{}), 151);  // nothing enqueued or claimed
}

TEST(CliBenchQueue, PostgresEightConnectionsEveryJobOnce) {
  std::string why;
  test::PgServer* server = test::PgServer::Get(&why);
  if (!server) GTEST_SKIP() << why;
  const std::string url = server->NewDatabase();
  const std::string db = url.substr(url.rfind('/') + 1);
  TempDir dir;
  const auto r = RunTool({"bench", "queue", "--database", url, "--jobs", "120", "--json", dir.File("q.json")});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const config::Json j = ReadJson(dir.File("q.json"));
  EXPECT_EQ(j["store"].asString(), "postgresql");
  ExpectExactlyOnce(j, 120);
  // Read back with another client: every job done after exactly one claim; 8 connections were used.
  EXPECT_EQ(server->Query(db, "SELECT count(*) FROM curia.jobs"), "120");
  EXPECT_EQ(server->Query(db, "SELECT count(*) FROM curia.jobs WHERE state = 'done' AND attempts = 1"), "120");
  EXPECT_EQ(server->Query(db, "SELECT count(*) FROM curia.audit WHERE event = 'started'"), "120");

  // An unreachable server: a clear error naming the URL, no crash.
  const auto bad = RunTool({"bench", "queue", "--database", "postgresql://curia@127.0.0.1:1/nowhere"});
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("postgresql://127.0.0.1:1/nowhere"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("cannot connect"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace curia
