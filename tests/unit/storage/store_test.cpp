// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/storage/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "curia/config/error.h"
#include "store_contract.h"
#include "test_support.h"

namespace curia::storage {
namespace {

using contract::Current;
using contract::Events;
using contract::MakeJob;
using contract::MakeOutput;
using test::TempDir;

// The contract (store_contract.h) on a SQLite file in a temporary folder.
struct SqliteBackend {
  static bool Available(std::string*) { return true; }
  TempDir dir;
  std::unique_ptr<Store> Open() { return std::make_unique<SqliteStore>(dir.File("curia.sqlite")); }
};
}  // namespace

namespace contract {
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, StoreContract, ::testing::Types<SqliteBackend>);
}  // namespace contract

namespace {

// The message of the curia::Error that `f` throws with any code, or "no error".
std::string AnyErrorMessage(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// Runs SQL on a file with the raw sqlite3 API (as another tool would).
void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  const std::string message = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

// The first column of the first row of a query, as text.
std::string RawQuery(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out = "(error)";
  if (sqlite3_open(path.c_str(), &db) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      out = text ? reinterpret_cast<const char*>(text) : "";
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return out;
}

TEST(Store, CreatesSchemaAndFolderAndReopens) {
  TempDir dir;
  const std::string path = dir.File("a/b/curia.sqlite");
  int64_t id = 0;
  {
    SqliteStore store(path);
    EXPECT_EQ(store.path(), path);
    NewJob job = MakeJob("k1");
    job.tasks = {"a\nb", "\"quoted\"", ""};  // round-trips exactly
    id = store.Enqueue(job, 100).first;
    store.RecordArrival("s1", "MODALITY", "ORTHANC", 10);
    store.RecordArrival("s1", "OTHER", "ORTHANC", 12);
  }
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(RawQuery(path, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), std::to_string(SqliteStore::kSchemaVersion));
  EXPECT_EQ(RawQuery(path, "SELECT value FROM meta WHERE key = 'application'"), "curia-node");
  EXPECT_EQ(RawQuery(path, "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master "
                           "WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name)"),
            "arrivals,audit,exports,jobs,meta,nodes,outputs");
  SqliteStore store(path);
  const std::optional<JobRow> job = store.GetJob(id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->tasks, (std::vector<std::string>{"a\nb", "\"quoted\"", ""}));
  EXPECT_EQ(job->outputs, (std::vector<std::string>{"SR", "SC"}));
  EXPECT_EQ(job->destinations, (std::vector<std::string>{"PACS"}));
  EXPECT_EQ(job->state, JobState::kQueued);
  EXPECT_EQ(job->created_at, 100);
  EXPECT_EQ(job->instances, 120);
  EXPECT_EQ(job->series_uid, "1.2.3.4");

  const std::optional<Store::Arrival> a = store.GetArrival("s1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->calling_aet, "OTHER");
  EXPECT_EQ(a->first_at, 10);
  EXPECT_EQ(a->last_at, 12);
  EXPECT_EQ(a->routed_at, 0);
  EXPECT_EQ(a->instances, 2);
  EXPECT_FALSE(store.GetArrival("nope"));
}

// A schema 1 database (the first release) is migrated in place, its jobs kept.
TEST(Store, MigratesASchema1Database) {
  TempDir dir;
  const std::string path = dir.File("curia.sqlite");
  int64_t id = 0;
  {
    SqliteStore store(path);
    id = store.Enqueue(MakeJob("k1"), 0).first;
    ASSERT_TRUE(store.Claim(10, 600));
  }
  // What schema 1 lacks: interruptions (2), the owners of claims and the export leases (3), the
  // region jobs' columns (4), the nodes (5).
  RawExec(path,
          "DROP TABLE nodes; ALTER TABLE jobs DROP COLUMN interruptions; ALTER TABLE jobs DROP COLUMN owner; "
          "ALTER TABLE jobs DROP COLUMN region_instance; ALTER TABLE jobs DROP COLUMN region_scope; "
          "ALTER TABLE exports DROP COLUMN owner; ALTER TABLE exports DROP COLUMN lease_until; PRAGMA user_version = 1");
  ASSERT_EQ(RawQuery(path, "PRAGMA user_version"), "1");
  SqliteStore store(path);
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), std::to_string(SqliteStore::kSchemaVersion));
  EXPECT_EQ(store.GetJob(id)->state, JobState::kRunning);
  EXPECT_EQ(store.GetJob(id)->region_scope, "");
  EXPECT_EQ(store.RecoverExpiredLeases(20, 3, true), 1);
  EXPECT_EQ(store.GetJob(id)->state, JobState::kQueued);
  EXPECT_TRUE(store.ListNodes().empty());
  NodeBeat beat;
  beat.name = "node-a";
  store.Heartbeat(beat, 30);
  ASSERT_EQ(store.ListNodes().size(), 1u);
  EXPECT_EQ(store.ListNodes()[0].last_seen, 30);
}

TEST(Store, StateNames) {
  for (JobState s : {JobState::kQueued, JobState::kRunning, JobState::kExporting, JobState::kDone, JobState::kFailed,
                     JobState::kDead, JobState::kCancelled, JobState::kSuperseded}) {
    EXPECT_EQ(ParseJobState(JobStateName(s)), s);
  }
  EXPECT_FALSE(ParseJobState("Queued"));
  EXPECT_STREQ(ExportStateName(ExportState::kCancelled), "cancelled");
}

TEST(Store, RefusesAFileThatIsNotSqlite) {
  TempDir dir;
  const std::string path = dir.File("curia.sqlite");
  std::string garbage(8192, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 131 + 7) % 251);
  test::WriteFile(path, garbage);
  const std::string message = test::ErrorMessage([&] { SqliteStore store(path); });
  EXPECT_NE(message.find(path + ": not a usable Curia database: "), std::string::npos) << message;
  EXPECT_NE(message.find("not a database"), std::string::npos) << message;
  EXPECT_EQ(test::ReadFile(path), garbage);  // left alone
}

TEST(Store, RefusesANewerSchema) {
  TempDir dir;
  const std::string path = dir.File("curia.sqlite");
  { SqliteStore store(path); }
  RawExec(path, "PRAGMA user_version = 7");
  const std::string message = test::ErrorMessage([&] { SqliteStore store(path); });
  EXPECT_EQ(message, path + ": written by a newer Curia Node (schema 7, this version reads up to " +
                         std::to_string(SqliteStore::kSchemaVersion) + ")");
}

TEST(Store, RefusesAForeignSqliteDatabase) {
  TempDir dir;
  const std::string path = dir.File("other.sqlite");
  RawExec(path, "CREATE TABLE patients(name TEXT); INSERT INTO patients VALUES ('x')");
  const std::string before = test::ReadFile(path);
  const std::string message = test::ErrorMessage([&] { SqliteStore store(path); });
  EXPECT_NE(message.find(path + ": not a Curia database"), std::string::npos) << message;
  EXPECT_EQ(test::ReadFile(path), before);  // not even switched to WAL
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));

  // Same with a table named like ours but another application's.
  const std::string meta_path = dir.File("meta.sqlite");
  RawExec(meta_path, "CREATE TABLE meta(key TEXT, value TEXT); PRAGMA user_version = 1");
  const std::string meta_message = test::ErrorMessage([&] { SqliteStore store(meta_path); });
  EXPECT_NE(meta_message.find(meta_path + ": not a Curia database"), std::string::npos) << meta_message;
}

TEST(Store, RefusesACorruptDatabase) {
  TempDir dir;
  const std::string path = dir.File("curia.sqlite");
  {
    SqliteStore store(path);
    for (int i = 0; i < 200; ++i) store.Enqueue(MakeJob("k" + std::to_string(i), 1, std::to_string(i)), i);
  }
  // Checkpointed into the main file on close; overwrite a page in the middle of the jobs table.
  std::string bytes = test::ReadFile(path);
  ASSERT_GT(bytes.size(), 8 * 4096u);
  for (size_t i = 5 * 4096; i < 6 * 4096; ++i) bytes[i] = static_cast<char>(0xA5);
  test::WriteFile(path, bytes);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  const std::string message = test::ErrorMessage([&] { SqliteStore store(path); });
  EXPECT_NE(message.find(path + ": not a usable Curia database: "), std::string::npos) << message;
}

// Disk full without root: a file-size limit (RLIMIT_FSIZE) makes SQLite's writes fail as on a
// full disk. The failed transaction must leave the database as it was.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of a signal
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit saved_{};
  void (*old_handler_)(int) = nullptr;
};

TEST(Store, DiskFullRollsBack) {
  TempDir dir;
  const std::string path = dir.File("curia.sqlite");
  auto store = std::make_unique<SqliteStore>(path);
  const int64_t id = store->Enqueue(MakeJob("k1"), 0).first;
  ASSERT_TRUE(store->Claim(10, 60));
  const std::string big(4 << 20, 'x');  // 4 MiB object, written after a small one
  std::string message;
  {
    FileSizeLimit limit(1 << 20);
    message = AnyErrorMessage(
        [&] { store->Complete(Current(*store, id), "{}", "{}", "d", {MakeOutput("SR", "1", "small"), MakeOutput("SC", "2", big)}, 20); });
  }
  EXPECT_NE(message.find(path + ": "), std::string::npos) << message;
  EXPECT_NE(message, "no error");
  // Nothing of the failed transaction is visible, and the store works on.
  JobRow job = *store->GetJob(id);
  EXPECT_EQ(job.state, JobState::kRunning);
  EXPECT_EQ(job.finished_at, 0);
  EXPECT_TRUE(store->Outputs(id).empty());
  EXPECT_TRUE(store->Exports(id).empty());
  EXPECT_EQ(Events(store->Audit(id)), (std::vector<std::string>{"queued", "started"}));
  ASSERT_TRUE(store->Complete(Current(*store, id), "{}", "{}", "d", {MakeOutput("SR", "1", "small")}, 21));
  store.reset();
  SqliteStore reopened(path);  // passes the quick check
  EXPECT_EQ(reopened.GetJob(id)->state, JobState::kExporting);
  EXPECT_EQ(reopened.Outputs(id).size(), 1u);
}

TEST(Store, DiskFullErrorCode) {
  TempDir dir;
  const std::string path = dir.File("curia.sqlite");
  SqliteStore store(path);
  const std::string big(4 << 20, 'y');
  FileSizeLimit limit(1 << 20);
  try {
    store.Enqueue(MakeJob(big), 0);  // a huge idempotency key
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable) << e.what();
  }
}

// OpenStore: a file path opens a SqliteStore, used through the interface alone.
TEST(Store, OpenStoreOpensAFilePathAsSqlite) {
  TempDir dir;
  const std::string path = dir.File("db/curia.sqlite");
  int64_t id = 0;
  {
    std::unique_ptr<Store> store = OpenStore(path);
    ASSERT_TRUE(store);
    EXPECT_NE(dynamic_cast<SqliteStore*>(store.get()), nullptr);
    EXPECT_EQ(store->path(), path);
    id = store->Enqueue(MakeJob("k1"), 0).first;
    ASSERT_EQ(store->Claim(1, 60)->id, id);
  }
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), std::to_string(SqliteStore::kSchemaVersion));
  SqliteStore reopened(path);
  EXPECT_EQ(reopened.GetJob(id)->state, JobState::kRunning);
  // "://" inside a path is not a URL scheme.
  const std::string odd = dir.File("a://b.sqlite");
  EXPECT_EQ(OpenStore(odd)->path(), odd);
}

// An unsupported database URL is refused with a message that names it without its credentials,
// before anything is created; RedactUrl drops the user information and the query (PostgreSQL URLs
// are opened by pg_store_test.cpp, against a real server).
TEST(Store, OpenStoreRefusesDatabaseUrlsWithoutTheirSecrets) {
  EXPECT_EQ(RedactUrl("postgresql://curia:s3cret@db.example:5432/curia?sslpassword=hush"),
            "postgresql://db.example:5432/curia");
  EXPECT_EQ(RedactUrl("postgres://u:p/w@h/d#frag"), "postgres://h/d");
  EXPECT_EQ(RedactUrl("/var/lib/curia.sqlite"), "/var/lib/curia.sqlite");
  EXPECT_EQ(test::ErrorMessage([] { OpenStore("mysql://u:s3cret@h/d"); }),
            "mysql://h/d: 'mysql' URLs are not supported; give the database as a file path (SQLite) or a "
            "postgresql:// URL (PostgreSQL)");
  EXPECT_FALSE(std::filesystem::exists("postgresql:"));
  EXPECT_FALSE(std::filesystem::exists("postgres:"));
  EXPECT_FALSE(std::filesystem::exists("mysql:"));
}

TEST(Store, ExportStateNames) {
  for (ExportState s : {ExportState::kPending, ExportState::kDelivered, ExportState::kDead, ExportState::kCancelled}) {
    EXPECT_EQ(ParseExportState(ExportStateName(s)), s);
  }
  EXPECT_FALSE(ParseExportState("Pending"));
  EXPECT_FALSE(ParseExportState(""));
}

// Unknown ids: reads give nothing, state changes say false, and the calls whose contract is "this
// one exists" throw kNotFound naming the database; nothing is written.
TEST(Store, UnknownJobsAndExports) {
  TempDir dir;
  const std::string path = dir.File("curia.sqlite");
  SqliteStore store(path);
  EXPECT_FALSE(store.GetJob(42));
  EXPECT_FALSE(store.RenewLease({42, "x"}, 100));
  EXPECT_FALSE(store.Cancel(42, 1));
  EXPECT_FALSE(store.Retry(42, 1));
  EXPECT_FALSE(store.Complete({42, "x"}, "{}", "{}", "d", {MakeOutput("SR", "1")}, 1));
  EXPECT_EQ(test::ErrorMessage([&] { store.Fail({42, "x"}, "x", true, 3, 1); }, ErrorCode::kNotFound),
            path + ": no job 42");
  EXPECT_EQ(test::ErrorMessage([&] { store.ExportDelivered(7, 1); }, ErrorCode::kNotFound), path + ": no export 7");
  EXPECT_EQ(test::ErrorMessage([&] { store.ExportFailed({7, "x"}, "x", ExportPolicy{}, 1); }, ErrorCode::kNotFound),
            path + ": no export 7");
  EXPECT_EQ(store.CountExportFailures(), 0);  // not counted for an export that does not exist
  EXPECT_EQ(RawQuery(path, "SELECT COUNT(*) FROM audit"), "0");
  EXPECT_EQ(RawQuery(path, "SELECT COUNT(*) FROM outputs"), "0");
}

}  // namespace
}  // namespace curia::storage
