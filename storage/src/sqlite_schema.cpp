// SPDX-License-Identifier: GPL-3.0-or-later
// Opening a SqliteStore: its folder, the checks that refuse files that are not ours (or are broken),
// and the schema with its migrations (PRAGMA user_version).
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "curia/config/error.h"
#include "sqlite_store_impl.h"

namespace curia::storage {
namespace {

using sqlite::Statement;
using sqlite::Transaction;

// PRAGMA application_id of a Curia database ("CURI"): tells our files from other SQLite files.
constexpr int64_t kApplicationId = 0x43555249;

// Schema version n is made by kMigrations[n - 1] from version n - 1 (version 0: an empty file).
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE meta(
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL);
INSERT INTO meta(key, value) VALUES ('application', 'curia-node'), ('export_failures', '0');

CREATE TABLE arrivals(
  study_id TEXT PRIMARY KEY,
  calling_aet TEXT NOT NULL,
  called_aet TEXT NOT NULL,
  first_at REAL NOT NULL,
  last_at REAL NOT NULL,
  routed_at REAL NOT NULL DEFAULT 0,
  instances INTEGER NOT NULL DEFAULT 0);
CREATE INDEX arrivals_last_at ON arrivals(last_at);

CREATE TABLE jobs(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  idempotency_key TEXT NOT NULL UNIQUE,
  study_id TEXT NOT NULL,
  study_uid TEXT NOT NULL,
  series_id TEXT NOT NULL,
  series_uid TEXT NOT NULL,
  rule TEXT NOT NULL,
  tasks TEXT NOT NULL,         -- JSON array of strings
  priority INTEGER NOT NULL,
  outputs TEXT NOT NULL,       -- JSON array of strings
  destinations TEXT NOT NULL,  -- JSON array of strings
  instances INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN
    ('queued', 'running', 'exporting', 'done', 'failed', 'dead', 'cancelled', 'superseded')),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL,
  started_at REAL NOT NULL DEFAULT 0,
  finished_at REAL NOT NULL DEFAULT 0,
  lease_until REAL NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  progress_done INTEGER NOT NULL DEFAULT 0,
  progress_total INTEGER NOT NULL DEFAULT 0,
  superseded_by INTEGER NOT NULL DEFAULT 0,
  model_digest TEXT NOT NULL DEFAULT '',
  findings_json TEXT NOT NULL DEFAULT '',
  timings_json TEXT NOT NULL DEFAULT '');
CREATE INDEX jobs_claim ON jobs(state, priority, created_at, id);
CREATE INDEX jobs_series ON jobs(rule, series_uid, state);
CREATE INDEX jobs_study ON jobs(study_id);

CREATE TABLE outputs(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id INTEGER NOT NULL REFERENCES jobs(id),
  kind TEXT NOT NULL,
  sop_class_uid TEXT NOT NULL,
  sop_instance_uid TEXT NOT NULL,
  series_uid TEXT NOT NULL,
  bytes BLOB NOT NULL);
CREATE INDEX outputs_job ON outputs(job_id);

CREATE TABLE exports(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id INTEGER NOT NULL REFERENCES jobs(id),
  output_id INTEGER NOT NULL REFERENCES outputs(id),
  destination TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'cancelled')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at REAL NOT NULL,
  delivered_at REAL NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '');
CREATE INDEX exports_due ON exports(state, next_at, id);
CREATE INDEX exports_job ON exports(job_id);

CREATE TABLE audit(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at REAL NOT NULL,
  job_id INTEGER NOT NULL DEFAULT 0,
  study_id TEXT NOT NULL DEFAULT '',
  event TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '');
CREATE INDEX audit_job ON audit(job_id);
CREATE INDEX audit_study ON audit(study_id);
)sql",
    // 2: interruptions (Orthanc stopped while the job ran) counted apart from attempts.
    R"sql(
ALTER TABLE jobs ADD COLUMN interruptions INTEGER NOT NULL DEFAULT 0;
)sql",
    // 3: owners of claims (a token per claim of a job or an export) and export leases.
    R"sql(
ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE exports ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE exports ADD COLUMN lease_until REAL NOT NULL DEFAULT 0;
)sql",
    // 4: region jobs (issue 17): the SEG or RTSTRUCT instance they read, and the scope that
    // supersession compares besides rule and series.
    R"sql(
ALTER TABLE jobs ADD COLUMN region_instance TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN region_scope TEXT NOT NULL DEFAULT '';
)sql",
    // 5: the nodes using the database (issue 20): their heartbeats, and the leases each lost and
    // took back.
    R"sql(
CREATE TABLE nodes(
  name TEXT PRIMARY KEY,
  first_seen REAL NOT NULL DEFAULT 0,
  last_seen REAL NOT NULL DEFAULT 0,
  version TEXT NOT NULL DEFAULT '',
  role TEXT NOT NULL DEFAULT '',
  workers INTEGER NOT NULL DEFAULT 0,
  pid INTEGER NOT NULL DEFAULT 0,
  host TEXT NOT NULL DEFAULT '',
  leases_lost INTEGER NOT NULL DEFAULT 0,
  leases_recovered INTEGER NOT NULL DEFAULT 0);
)sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == SqliteStore::kSchemaVersion,
              "one migration per schema version");

}  // namespace

SqliteStore::SqliteStore(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) throw Error(ErrorCode::kInvalidArgument, path + ": cannot create its folder: " + ec.message());
  }
  impl_ = std::make_unique<Impl>(path);
  impl_->Open();
}

SqliteStore::~SqliteStore() = default;

const std::string& SqliteStore::path() const { return impl_->path(); }

bool SqliteStore::SharedByNodes() const { return false; }

bool SqliteStore::WaitForWork(double timeout_s) {
  std::this_thread::sleep_for(std::chrono::duration<double>(std::max(0.0, timeout_s)));
  return false;
}

void SqliteStore::Impl::Corrupt(const std::string& what) const {
  throw Error(ErrorCode::kInvalidArgument, path() + ": " + what);
}

// Checks the file, then creates or migrates the schema.
void SqliteStore::Impl::Open() {
  // A file that is not SQLite fails on its first read; report that (and a failed quick check)
  // as an unusable database rather than as an I/O problem.
  std::string problems;
  try {
    db.Exec("PRAGMA busy_timeout = 5000");
    Statement check(db, "PRAGMA quick_check");
    while (check.Step()) {
      const std::string line = check.Text(0);
      if (line == "ok") continue;
      if (!problems.empty()) problems += "; ";
      problems += line;
    }
  } catch (const Error& e) {
    const std::string prefix = path() + ": ";
    std::string message = e.what();
    if (message.rfind(prefix, 0) == 0) message.erase(0, prefix.size());
    const size_t context = message.rfind(" (");
    if (context != std::string::npos) message.erase(context);
    problems = message;
  }
  if (!problems.empty()) Corrupt("not a usable Curia database: " + problems);

  if (sqlite3_db_readonly(db.handle(), "main") == 1) {
    throw Error(ErrorCode::kInvalidArgument, path() + ": not writable");
  }
  // Refuse other files before changing anything in them (journal mode included).
  CheckIdentity();
  {
    Statement mode(db, "PRAGMA journal_mode = WAL");
    const std::string got = mode.Step() ? mode.Text(0) : std::string();
    if (got != "wal") {
      throw Error(ErrorCode::kInvalidArgument, path() + ": cannot use write-ahead logging (journal mode " + got +
                                                   "); is its folder writable?");
    }
  }
  db.Exec("PRAGMA synchronous = NORMAL");
  db.Exec("PRAGMA foreign_keys = ON");

  Transaction tx(db);  // another process creating or migrating the same file: we wait, then see its work
  const int64_t version = CheckIdentity();
  if (version == 0) {
    // The id is a constant, the versions are ours: no values from outside in these statements.
    db.Exec(("PRAGMA application_id = " + std::to_string(kApplicationId)).c_str());
  }
  for (int64_t v = version; v < kSchemaVersion; ++v) {
    db.Exec(kMigrations[v]);
    db.Exec(("PRAGMA user_version = " + std::to_string(v + 1)).c_str());
  }
  tx.Commit();
}

// The schema version of a Curia database (0: an empty file, to be created). Throws for another
// application's database and for a newer schema.
int64_t SqliteStore::Impl::CheckIdentity() {
  const int64_t application_id = PragmaInt("application_id");
  const int64_t version = PragmaInt("user_version");
  int64_t tables = 0;
  {
    Statement s(db, "SELECT COUNT(*) FROM sqlite_master");
    if (s.Step()) tables = s.Int(0);
  }
  if (tables == 0 && version == 0) return 0;
  if (application_id != kApplicationId || !HasCuriaMeta()) {
    Corrupt("not a Curia database (a SQLite database without Curia's tables)");
  }
  if (version > kSchemaVersion) {
    Corrupt("written by a newer Curia Node (schema " + std::to_string(version) + ", this version reads up to " +
            std::to_string(kSchemaVersion) + ")");
  }
  return version;
}

int64_t SqliteStore::Impl::PragmaInt(const char* name) {
  Statement s(db, std::string("PRAGMA ") + name);
  return s.Step() ? s.Int(0) : 0;
}

bool SqliteStore::Impl::HasCuriaMeta() {
  Statement t(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
  if (!t.Step()) return false;
  Statement s(db, "SELECT value FROM meta WHERE key = 'application'");
  return s.Step() && s.Text(0) == "curia-node";
}

}  // namespace curia::storage
