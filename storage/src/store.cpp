// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/storage/store.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <mutex>

#include "curia/config/error.h"
#include "curia/config/json.h"
#include "sqlite.h"

namespace curia::storage {
namespace {

using sqlite::Blob;
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
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == Store::kSchemaVersion,
              "one migration per schema version");

// Job columns in the order ReadJob expects; the list view leaves the result JSON out.
#define CURIA_JOB_COLUMNS_BASE                                                                             \
  "id, idempotency_key, study_id, study_uid, series_id, series_uid, rule, tasks, priority, outputs, "    \
  "destinations, instances, state, attempts, created_at, updated_at, started_at, finished_at, "          \
  "lease_until, error, progress_done, progress_total, superseded_by, model_digest"
#define CURIA_JOB_COLUMNS CURIA_JOB_COLUMNS_BASE ", findings_json, timings_json"
#define CURIA_JOB_COLUMNS_LIST CURIA_JOB_COLUMNS_BASE ", '', ''"

#define CURIA_EXPORT_COLUMNS \
  "e.id, e.job_id, e.output_id, e.destination, e.state, e.attempts, e.next_at, e.delivered_at, e.last_error"

std::string EncodeList(const std::vector<std::string>& items) {
  config::Json array(::Json::arrayValue);
  for (const std::string& item : items) array.append(item);
  return config::Dump(array, -1);
}

std::vector<std::string> DecodeList(const std::string& text, const std::string& source) {
  const config::Json list = config::ParseJson(text, source);
  std::vector<std::string> items;
  for (const config::Json& item : list) {
    if (!item.isString()) throw Error(ErrorCode::kInvalidArgument, source + ": expected a list of strings");
    items.push_back(item.asString());
  }
  return items;
}

std::optional<ExportState> ParseExportState(const std::string& name) {
  for (ExportState s : {ExportState::kPending, ExportState::kDelivered, ExportState::kDead, ExportState::kCancelled}) {
    if (name == ExportStateName(s)) return s;
  }
  return std::nullopt;
}

std::string Plural(int64_t n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

// Seconds without trailing zeros ("2", "0.5").
std::string Seconds(double s) { return config::Dump(config::Json(s), -1) + " s"; }

}  // namespace

const char* JobStateName(JobState s) {
  switch (s) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kExporting: return "exporting";
    case JobState::kDone: return "done";
    case JobState::kFailed: return "failed";
    case JobState::kDead: return "dead";
    case JobState::kCancelled: return "cancelled";
    case JobState::kSuperseded: return "superseded";
  }
  return "unknown";
}

std::optional<JobState> ParseJobState(const std::string& name) {
  for (JobState s : {JobState::kQueued, JobState::kRunning, JobState::kExporting, JobState::kDone, JobState::kFailed,
                     JobState::kDead, JobState::kCancelled, JobState::kSuperseded}) {
    if (name == JobStateName(s)) return s;
  }
  return std::nullopt;
}

const char* ExportStateName(ExportState s) {
  switch (s) {
    case ExportState::kPending: return "pending";
    case ExportState::kDelivered: return "delivered";
    case ExportState::kDead: return "dead";
    case ExportState::kCancelled: return "cancelled";
  }
  return "unknown";
}

struct Store::Impl {
  explicit Impl(const std::string& path) : db(path) {}

  sqlite::Database db;
  std::mutex mutex;

  const std::string& path() const { return db.path(); }

  [[noreturn]] void Corrupt(const std::string& what) const {
    throw Error(ErrorCode::kInvalidArgument, path() + ": " + what);
  }

  // Checks the file, then creates or migrates the schema.
  void Open() {
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
  int64_t CheckIdentity() {
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

  int64_t PragmaInt(const char* name) {
    Statement s(db, std::string("PRAGMA ") + name);
    return s.Step() ? s.Int(0) : 0;
  }

  bool HasCuriaMeta() {
    Statement t(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
    if (!t.Step()) return false;
    Statement s(db, "SELECT value FROM meta WHERE key = 'application'");
    return s.Step() && s.Text(0) == "curia-node";
  }

  void Audit(int64_t job_id, const std::string& study_id, const std::string& event, const std::string& detail,
             double now) {
    Statement(db, "INSERT INTO audit(at, job_id, study_id, event, detail) VALUES (?1, ?2, ?3, ?4, ?5)")
        .Bind(now, job_id, study_id, event, detail)
        .Run();
  }

  JobRow ReadJob(const Statement& s) {
    JobRow j;
    const std::string where = path() + ": job " + std::to_string(s.Int(0));
    j.id = s.Int(0);
    j.idempotency_key = s.Text(1);
    j.study_id = s.Text(2);
    j.study_uid = s.Text(3);
    j.series_id = s.Text(4);
    j.series_uid = s.Text(5);
    j.rule = s.Text(6);
    j.tasks = DecodeList(s.Text(7), where + " tasks");
    j.priority = static_cast<int>(s.Int(8));
    j.outputs = DecodeList(s.Text(9), where + " outputs");
    j.destinations = DecodeList(s.Text(10), where + " destinations");
    j.instances = s.Int(11);
    const std::optional<JobState> state = ParseJobState(s.Text(12));
    if (!state) Corrupt("job " + std::to_string(j.id) + " has an unknown state '" + s.Text(12) + "'");
    j.state = *state;
    j.attempts = static_cast<int>(s.Int(13));
    j.created_at = s.Real(14);
    j.updated_at = s.Real(15);
    j.started_at = s.Real(16);
    j.finished_at = s.Real(17);
    j.lease_until = s.Real(18);
    j.error = s.Text(19);
    j.progress_done = s.Int(20);
    j.progress_total = s.Int(21);
    j.superseded_by = s.Int(22);
    j.model_digest = s.Text(23);
    j.findings_json = s.Text(24);
    j.timings_json = s.Text(25);
    return j;
  }

  // Reads the columns of CURIA_EXPORT_COLUMNS starting at `first`.
  ExportRow ReadExport(const Statement& s, int first = 0) {
    ExportRow e;
    e.id = s.Int(first + 0);
    e.job_id = s.Int(first + 1);
    e.output_id = s.Int(first + 2);
    e.destination = s.Text(first + 3);
    const std::optional<ExportState> state = ParseExportState(s.Text(first + 4));
    if (!state) Corrupt("export " + std::to_string(e.id) + " has an unknown state '" + s.Text(first + 4) + "'");
    e.state = *state;
    e.attempts = static_cast<int>(s.Int(first + 5));
    e.next_at = s.Real(first + 6);
    e.delivered_at = s.Real(first + 7);
    e.last_error = s.Text(first + 8);
    return e;
  }

  std::optional<JobRow> GetJob(int64_t job_id) {
    Statement s(db, "SELECT " CURIA_JOB_COLUMNS " FROM jobs WHERE id = ?1");
    s.Bind(job_id);
    if (!s.Step()) return std::nullopt;
    return ReadJob(s);
  }

  JobRow RequireJob(int64_t job_id) {
    std::optional<JobRow> job = GetJob(job_id);
    if (!job) throw Error(ErrorCode::kNotFound, path() + ": no job " + std::to_string(job_id));
    return *job;
  }

  void SetJobState(int64_t job_id, JobState state, double now) {
    Statement(db, "UPDATE jobs SET state = ?2, updated_at = ?3 WHERE id = ?1")
        .Bind(job_id, JobStateName(state), now)
        .Run();
  }

  // Older jobs of the rule and series in one of `states` -> superseded by `job`; their pending
  // exports cancelled.
  void Supersede(const JobRow& job, const std::vector<JobState>& states, double now) {
    if (job.series_uid.empty()) return;  // nothing identifies "the same series"
    std::vector<std::pair<int64_t, std::string>> older;  // id, study
    for (JobState state : states) {
      Statement s(db,
                  "SELECT id, study_id FROM jobs WHERE rule = ?1 AND series_uid = ?2 AND state = ?3 AND id < ?4 "
                  "ORDER BY id");
      s.Bind(job.rule, job.series_uid, JobStateName(state), job.id);
      while (s.Step()) older.emplace_back(s.Int(0), s.Text(1));
    }
    for (const auto& [id, study_id] : older) {
      Statement(db,
                "UPDATE jobs SET state = 'superseded', superseded_by = ?2, lease_until = 0, updated_at = ?3 "
                "WHERE id = ?1")
          .Bind(id, job.id, now)
          .Run();
      Statement(db, "UPDATE exports SET state = 'cancelled' WHERE job_id = ?1 AND state = 'pending'").Bind(id).Run();
      const int64_t cancelled = db.Changes();
      std::string detail = "by job " + std::to_string(job.id);
      if (cancelled > 0) detail += "; " + Plural(cancelled, "pending export") + " cancelled";
      Audit(id, study_id, "superseded", detail, now);
    }
  }

  // Dead and cancelled exports of the job -> pending, attempts reset, due now. Returns how many.
  int64_t RevivedExports(int64_t job_id, double now) {
    Statement(db,
              "UPDATE exports SET state = 'pending', attempts = 0, next_at = ?2 "
              "WHERE job_id = ?1 AND state IN ('dead', 'cancelled')")
        .Bind(job_id, now)
        .Run();
    return db.Changes();
  }

  int64_t CountExports(int64_t job_id, const char* state) {
    Statement s(db, "SELECT COUNT(*) FROM exports WHERE job_id = ?1 AND state = ?2");
    s.Bind(job_id, state);
    return s.Step() ? s.Int(0) : 0;
  }

  // An exporting job whose exports are all settled: done, or dead when one of them is (with the
  // first dead export's destination and error as the job's error).
  void SettleExports(int64_t job_id, const std::string& job_state, double now) {
    if (job_state != JobStateName(JobState::kExporting) || CountExports(job_id, "pending") > 0) return;
    Statement dead(db, "SELECT destination, last_error FROM exports WHERE job_id = ?1 AND state = 'dead' ORDER BY id LIMIT 1");
    dead.Bind(job_id);
    if (!dead.Step()) {
      SetJobState(job_id, JobState::kDone, now);
      return;
    }
    Statement(db, "UPDATE jobs SET state = 'dead', error = ?2, updated_at = ?3 WHERE id = ?1")
        .Bind(job_id, dead.Text(0) + ": " + dead.Text(1), now)
        .Run();
  }

  // WHERE clause of a filter from constant fragments; the values are bound in this order.
  struct Where {
    std::string sql;
    std::vector<std::string> values;
  };
  static Where FilterWhere(const JobFilter& f) {
    Where w;
    auto add = [&](const char* fragment, const std::string& value) {
      w.sql += w.sql.empty() ? " WHERE " : " AND ";
      w.sql += fragment;
      w.sql += std::to_string(w.values.size() + 1);
      w.values.push_back(value);
    };
    if (f.state) add("state = ?", JobStateName(*f.state));
    if (!f.study_id.empty()) add("study_id = ?", f.study_id);
    if (!f.rule.empty()) add("rule = ?", f.rule);
    return w;
  }
  static void BindWhere(Statement& s, const Where& w) {
    for (size_t i = 0; i < w.values.size(); ++i) s.BindAt(static_cast<int>(i + 1), w.values[i]);
  }
};

Store::Store(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) throw Error(ErrorCode::kInvalidArgument, path + ": cannot create its folder: " + ec.message());
  }
  impl_ = std::make_unique<Impl>(path);
  impl_->Open();
}

Store::~Store() = default;

const std::string& Store::path() const { return impl_->path(); }

// --- arrivals ---

void Store::RecordArrival(const std::string& study_id, const std::string& calling_aet, const std::string& called_aet,
                          double now, int64_t instances) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement(impl_->db,
            "INSERT INTO arrivals(study_id, calling_aet, called_aet, first_at, last_at, instances) "
            "VALUES (?1, ?2, ?3, ?4, ?4, ?5) "
            "ON CONFLICT(study_id) DO UPDATE SET calling_aet = excluded.calling_aet, "
            "called_aet = excluded.called_aet, last_at = excluded.last_at, instances = instances + excluded.instances")
      .Bind(study_id, calling_aet, called_aet, now, instances)
      .Run();
}

std::optional<Store::Arrival> Store::GetArrival(const std::string& study_id) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db,
              "SELECT study_id, calling_aet, called_aet, first_at, last_at, routed_at, instances FROM arrivals "
              "WHERE study_id = ?1");
  s.Bind(study_id);
  if (!s.Step()) return std::nullopt;
  Arrival a;
  a.study_id = s.Text(0);
  a.calling_aet = s.Text(1);
  a.called_aet = s.Text(2);
  a.first_at = s.Real(3);
  a.last_at = s.Real(4);
  a.routed_at = s.Real(5);
  a.instances = s.Int(6);
  return a;
}

std::vector<std::string> Store::UnroutedStudies(double quiet_before) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db,
              "SELECT study_id FROM arrivals WHERE last_at < ?1 AND (routed_at = 0 OR last_at > routed_at) "
              "ORDER BY last_at, study_id");
  s.Bind(quiet_before);
  std::vector<std::string> studies;
  while (s.Step()) studies.push_back(s.Text(0));
  return studies;
}

void Store::MarkRouted(const std::string& study_id, double at) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement(impl_->db, "UPDATE arrivals SET routed_at = ?2 WHERE study_id = ?1").Bind(study_id, at).Run();
}

// --- jobs ---

std::pair<int64_t, bool> Store::Enqueue(const NewJob& job, double now) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  sqlite::Database& db = impl_->db;
  Transaction tx(db);
  {
    Statement s(db, "SELECT id FROM jobs WHERE idempotency_key = ?1");
    s.Bind(job.idempotency_key);
    if (s.Step()) return {s.Int(0), false};
  }
  Statement(db,
            "INSERT INTO jobs(idempotency_key, study_id, study_uid, series_id, series_uid, rule, tasks, priority, "
            "outputs, destinations, instances, state, created_at, updated_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'queued', ?12, ?12)")
      .Bind(job.idempotency_key, job.study_id, job.study_uid, job.series_id, job.series_uid, job.rule,
            EncodeList(job.tasks), job.priority, EncodeList(job.outputs), EncodeList(job.destinations), job.instances,
            now)
      .Run();
  const int64_t id = db.LastInsertId();
  impl_->Audit(id, job.study_id, "queued",
               "rule " + job.rule + ", series " + job.series_uid + ", priority " + std::to_string(job.priority), now);
  JobRow row;
  static_cast<NewJob&>(row) = job;
  row.id = id;
  impl_->Supersede(row, {JobState::kQueued}, now);
  tx.Commit();
  return {id, true};
}

std::optional<JobRow> Store::Claim(double now, double lease_s) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  sqlite::Database& db = impl_->db;
  Transaction tx(db);
  int64_t id = 0;
  {
    Statement s(db, "SELECT id FROM jobs WHERE state = 'queued' ORDER BY priority, created_at, id LIMIT 1");
    if (!s.Step()) return std::nullopt;
    id = s.Int(0);
  }
  Statement(db,
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = ?2, lease_until = ?3, "
            "updated_at = ?2 WHERE id = ?1")
      .Bind(id, now, now + lease_s)
      .Run();
  JobRow job = impl_->RequireJob(id);
  impl_->Audit(id, job.study_id, "started", "attempt " + std::to_string(job.attempts), now);
  tx.Commit();
  return job;
}

bool Store::RenewLease(int64_t job_id, double until) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement(impl_->db, "UPDATE jobs SET lease_until = ?2 WHERE id = ?1 AND state = 'running'")
      .Bind(job_id, until)
      .Run();
  return impl_->db.Changes() > 0;
}

void Store::SetProgress(int64_t job_id, int64_t done, int64_t total) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement(impl_->db, "UPDATE jobs SET progress_done = ?2, progress_total = ?3 WHERE id = ?1 AND state = 'running'")
      .Bind(job_id, done, total)
      .Run();
}

bool Store::Complete(int64_t job_id, const std::string& findings_json, const std::string& timings_json,
                     const std::string& model_digest, const std::vector<NewOutput>& outputs, double now) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  sqlite::Database& db = impl_->db;
  Transaction tx(db);
  const std::optional<JobRow> job = impl_->GetJob(job_id);
  if (!job || job->state != JobState::kRunning) return false;

  int64_t exports = 0;
  for (const NewOutput& out : outputs) {
    Statement(db,
              "INSERT INTO outputs(job_id, kind, sop_class_uid, sop_instance_uid, series_uid, bytes) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .Bind(job_id, out.kind, out.sop_class_uid, out.sop_instance_uid, out.series_uid, Blob{out.bytes})
        .Run();
    const int64_t output_id = db.LastInsertId();
    for (const std::string& destination : job->destinations) {
      Statement(db,
                "INSERT INTO exports(job_id, output_id, destination, state, next_at) VALUES (?1, ?2, ?3, 'pending', ?4)")
          .Bind(job_id, output_id, destination, now)
          .Run();
      ++exports;
    }
  }
  const JobState state = exports > 0 ? JobState::kExporting : JobState::kDone;
  Statement(db,
            "UPDATE jobs SET state = ?2, findings_json = ?3, timings_json = ?4, model_digest = ?5, finished_at = ?6, "
            "updated_at = ?6, lease_until = 0, error = '', progress_done = progress_total WHERE id = ?1")
      .Bind(job_id, JobStateName(state), findings_json, timings_json, model_digest, now)
      .Run();
  std::string detail = Plural(static_cast<int64_t>(outputs.size()), "object") + ", ";
  detail += exports > 0 ? Plural(exports, "export") + " pending" : "nothing to export";
  impl_->Audit(job_id, job->study_id, "finished", detail, now);
  impl_->Supersede(*job, {JobState::kDone, JobState::kExporting}, now);
  tx.Commit();
  return true;
}

void Store::Fail(int64_t job_id, const std::string& error, bool retryable, int max_attempts, double now) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  sqlite::Database& db = impl_->db;
  Transaction tx(db);
  const JobRow job = impl_->RequireJob(job_id);
  if (job.state != JobState::kRunning) return;  // cancelled or superseded meanwhile: stays so
  const bool again = retryable && job.attempts < max_attempts;
  const JobState state = again ? JobState::kQueued : JobState::kFailed;
  Statement(db, "UPDATE jobs SET state = ?2, error = ?3, lease_until = 0, updated_at = ?4 WHERE id = ?1")
      .Bind(job_id, JobStateName(state), error, now)
      .Run();
  std::string detail = error + "; attempt " + std::to_string(job.attempts) + " of " + std::to_string(max_attempts);
  detail += again ? ", will be retried" : retryable ? ", out of attempts, not retried" : ", permanent, not retried";
  impl_->Audit(job_id, job.study_id, "failed", detail, now);
  tx.Commit();
}

bool Store::Cancel(int64_t job_id, double now) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  sqlite::Database& db = impl_->db;
  Transaction tx(db);
  const std::optional<JobRow> job = impl_->GetJob(job_id);
  if (!job) return false;
  switch (job->state) {
    case JobState::kQueued:
    case JobState::kRunning:
    case JobState::kExporting:
    case JobState::kDead:
      break;
    default:
      return false;
  }
  Statement(db, "UPDATE jobs SET state = 'cancelled', lease_until = 0, updated_at = ?2 WHERE id = ?1")
      .Bind(job_id, now)
      .Run();
  Statement(db, "UPDATE exports SET state = 'cancelled' WHERE job_id = ?1 AND state = 'pending'").Bind(job_id).Run();
  const int64_t cancelled = db.Changes();
  std::string detail = std::string("was ") + JobStateName(job->state);
  if (cancelled > 0) detail += "; " + Plural(cancelled, "pending export") + " cancelled";
  impl_->Audit(job_id, job->study_id, "cancelled", detail, now);
  tx.Commit();
  return true;
}

bool Store::Retry(int64_t job_id, double now) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  sqlite::Database& db = impl_->db;
  Transaction tx(db);
  const std::optional<JobRow> job = impl_->GetJob(job_id);
  if (!job) return false;
  if (job->state != JobState::kDead && job->state != JobState::kFailed && job->state != JobState::kCancelled) {
    return false;
  }
  // A job cancelled while exporting has its result: it goes back to exporting, like a dead one.
  const bool exportable = job->state == JobState::kDead || job->finished_at != 0;
  std::string detail;
  if (exportable) {
    // The result exists: send what was not delivered again.
    const int64_t revived = impl_->RevivedExports(job_id, now);
    const bool pending = impl_->CountExports(job_id, "pending") > 0;
    const JobState state = pending ? JobState::kExporting : JobState::kDone;
    Statement(db, "UPDATE jobs SET state = ?2, error = '', updated_at = ?3 WHERE id = ?1")
        .Bind(job_id, JobStateName(state), now)
        .Run();
    detail = std::string("was ") + JobStateName(job->state) + "; " + Plural(revived, "export") + " pending again";
  } else {
    Statement(db,
              "UPDATE jobs SET state = 'queued', attempts = 0, error = '', lease_until = 0, updated_at = ?2 "
              "WHERE id = ?1")
        .Bind(job_id, now)
        .Run();
    detail = std::string("was ") + JobStateName(job->state) + "; queued again";
  }
  impl_->Audit(job_id, job->study_id, "retried", detail, now);
  tx.Commit();
  return true;
}

int Store::RecoverExpiredLeases(double now, int max_attempts, bool every_running) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  sqlite::Database& db = impl_->db;
  Transaction tx(db);
  struct Expired {
    int64_t id;
    std::string study_id;
    int attempts;
    int interruptions;
  };
  std::vector<Expired> expired;
  {
    Statement s(db,
                "SELECT id, study_id, attempts, interruptions FROM jobs "
                "WHERE state = 'running' AND (lease_until < ?1 OR ?2) ORDER BY id");
    s.Bind(now, every_running ? 1 : 0);
    while (s.Step()) {
      expired.push_back({s.Int(0), s.Text(1), static_cast<int>(s.Int(2)), static_cast<int>(s.Int(3))});
    }
  }
  for (const Expired& e : expired) {
    std::string why;
    bool again = false;
    if (every_running) {
      // Orthanc stopped under the job: not the job's fault, so the attempt is given back.
      const int interruptions = e.interruptions + 1;
      again = interruptions < kMaxInterruptions;
      why = "interrupted by Orthanc stopping, " + std::to_string(interruptions) + " time" +
            (interruptions == 1 ? "" : "s") + " of " + std::to_string(kMaxInterruptions);
      Statement(db, "UPDATE jobs SET attempts = MAX(attempts - 1, 0), interruptions = ?2 WHERE id = ?1")
          .Bind(e.id, interruptions)
          .Run();
    } else {
      again = e.attempts < max_attempts;
      why = "lease expired, attempt " + std::to_string(e.attempts) + " of " + std::to_string(max_attempts);
    }
    if (again) {
      Statement(db, "UPDATE jobs SET state = 'queued', lease_until = 0, updated_at = ?2 WHERE id = ?1")
          .Bind(e.id, now)
          .Run();
      impl_->Audit(e.id, e.study_id, "recovered", "(" + why + "): queued again", now);
    } else {
      const std::string error = every_running ? "(" + why + "): Orthanc stopped each time this job ran; it may be "
                                                "what makes Orthanc stop (see Orthanc's log)"
                                              : "(" + why + "): the worker stopped or hung";
      Statement(db, "UPDATE jobs SET state = 'failed', error = ?2, lease_until = 0, updated_at = ?3 WHERE id = ?1")
          .Bind(e.id, error, now)
          .Run();
      impl_->Audit(e.id, e.study_id, "recovered",
                   "(" + why + "): failed, " + (every_running ? "interrupted too often" : "out of attempts"), now);
    }
  }
  tx.Commit();
  return static_cast<int>(expired.size());
}

// --- exports ---

std::optional<ExportTask> Store::NextExport(double now) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db,
              "SELECT " CURIA_EXPORT_COLUMNS ", o.sop_instance_uid, o.bytes FROM exports e "
              "JOIN jobs j ON j.id = e.job_id JOIN outputs o ON o.id = e.output_id "
              "WHERE e.state = 'pending' AND e.next_at <= ?1 AND j.state = 'exporting' "
              "ORDER BY e.next_at, e.id LIMIT 1");
  s.Bind(now);
  if (!s.Step()) return std::nullopt;
  ExportTask task;
  task.row = impl_->ReadExport(s);
  task.sop_instance_uid = s.Text(9);
  task.bytes = s.Text(10);
  return task;
}

std::optional<double> Store::NextExportDue() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db,
              "SELECT MIN(e.next_at) FROM exports e JOIN jobs j ON j.id = e.job_id "
              "WHERE e.state = 'pending' AND j.state = 'exporting'");
  if (!s.Step() || s.IsNull(0)) return std::nullopt;
  return s.Real(0);
}

void Store::ExportDelivered(int64_t export_id, double now) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  sqlite::Database& db = impl_->db;
  Transaction tx(db);
  Statement s(db,
              "SELECT " CURIA_EXPORT_COLUMNS ", o.sop_instance_uid, j.study_id, j.state FROM exports e "
              "JOIN jobs j ON j.id = e.job_id JOIN outputs o ON o.id = e.output_id WHERE e.id = ?1");
  s.Bind(export_id);
  if (!s.Step()) throw Error(ErrorCode::kNotFound, impl_->path() + ": no export " + std::to_string(export_id));
  const ExportRow row = impl_->ReadExport(s);
  const std::string sop_instance_uid = s.Text(9), study_id = s.Text(10), job_state = s.Text(11);
  if (row.state == ExportState::kDelivered) return;
  Statement(db, "UPDATE exports SET state = 'delivered', delivered_at = ?2 WHERE id = ?1").Bind(export_id, now).Run();
  impl_->Audit(row.job_id, study_id, "exported", row.destination + ": " + sop_instance_uid, now);
  impl_->SettleExports(row.job_id, job_state, now);
  tx.Commit();
}

void Store::ExportFailed(int64_t export_id, const std::string& error, const ExportPolicy& policy, double now) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  sqlite::Database& db = impl_->db;
  Transaction tx(db);
  Statement s(db,
              "SELECT " CURIA_EXPORT_COLUMNS ", j.study_id, j.state FROM exports e "
              "JOIN jobs j ON j.id = e.job_id WHERE e.id = ?1");
  s.Bind(export_id);
  if (!s.Step()) throw Error(ErrorCode::kNotFound, impl_->path() + ": no export " + std::to_string(export_id));
  const ExportRow row = impl_->ReadExport(s);
  const std::string study_id = s.Text(9), job_state = s.Text(10);
  Statement(db, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'export_failures'").Run();
  if (row.state != ExportState::kPending) {
    // Cancelled (or delivered by another attempt) meanwhile: only the failure is counted.
    tx.Commit();
    return;
  }
  const int attempts = row.attempts + 1;
  const std::string what = row.destination + ": " + error;
  if (attempts >= policy.max_attempts) {
    Statement(db, "UPDATE exports SET state = 'dead', attempts = ?2, last_error = ?3 WHERE id = ?1")
        .Bind(export_id, attempts, error)
        .Run();
    const bool others = impl_->CountExports(row.job_id, "pending") > 0;
    impl_->Audit(row.job_id, study_id, "dead",
                 what + "; out of attempts (" + std::to_string(attempts) + ")" +
                     (others ? "; the job's other exports go on" : ""),
                 now);
    impl_->SettleExports(row.job_id, job_state, now);
  } else {
    const double delay =
        std::min(policy.backoff_max_s, policy.backoff_min_s * std::pow(2.0, static_cast<double>(attempts - 1)));
    Statement(db, "UPDATE exports SET attempts = ?2, last_error = ?3, next_at = ?4 WHERE id = ?1")
        .Bind(export_id, attempts, error, now + delay)
        .Run();
    impl_->Audit(row.job_id, study_id, "export-failed",
                 what + "; attempt " + std::to_string(attempts) + " of " + std::to_string(policy.max_attempts) +
                     ", next in " + Seconds(delay),
                 now);
  }
  tx.Commit();
}

// --- reading ---

std::optional<JobRow> Store::GetJob(int64_t job_id) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->GetJob(job_id);
}

std::vector<JobRow> Store::Jobs(const JobFilter& filter) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const Impl::Where where = Impl::FilterWhere(filter);
  // LIMIT and OFFSET follow the filter's values.
  const int limit_index = static_cast<int>(where.values.size()) + 1;
  Statement s(impl_->db, "SELECT " CURIA_JOB_COLUMNS_LIST " FROM jobs" + where.sql + " ORDER BY id DESC LIMIT ?" +
                             std::to_string(limit_index) + " OFFSET ?" + std::to_string(limit_index + 1));
  Impl::BindWhere(s, where);
  s.BindAt(limit_index, filter.limit).BindAt(limit_index + 1, filter.offset);
  std::vector<JobRow> jobs;
  while (s.Step()) jobs.push_back(impl_->ReadJob(s));
  return jobs;
}

int64_t Store::CountJobs(const JobFilter& filter) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const Impl::Where where = Impl::FilterWhere(filter);
  Statement s(impl_->db, "SELECT COUNT(*) FROM jobs" + where.sql);
  Impl::BindWhere(s, where);
  return s.Step() ? s.Int(0) : 0;
}

std::vector<OutputRow> Store::Outputs(int64_t job_id) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db,
              "SELECT id, job_id, kind, sop_class_uid, sop_instance_uid, series_uid, length(bytes) FROM outputs "
              "WHERE job_id = ?1 ORDER BY id");
  s.Bind(job_id);
  std::vector<OutputRow> rows;
  while (s.Step()) {
    OutputRow o;
    o.id = s.Int(0);
    o.job_id = s.Int(1);
    o.kind = s.Text(2);
    o.sop_class_uid = s.Text(3);
    o.sop_instance_uid = s.Text(4);
    o.series_uid = s.Text(5);
    o.size = s.Int(6);
    rows.push_back(std::move(o));
  }
  return rows;
}

std::optional<std::string> Store::OutputBytes(int64_t output_id) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db, "SELECT bytes FROM outputs WHERE id = ?1");
  s.Bind(output_id);
  if (!s.Step()) return std::nullopt;
  return s.Text(0);
}

std::vector<ExportRow> Store::Exports(int64_t job_id) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db, "SELECT " CURIA_EXPORT_COLUMNS " FROM exports e WHERE e.job_id = ?1 ORDER BY e.id");
  s.Bind(job_id);
  std::vector<ExportRow> rows;
  while (s.Step()) rows.push_back(impl_->ReadExport(s));
  return rows;
}

namespace {
std::vector<AuditRow> ReadAudit(Statement& s) {
  std::vector<AuditRow> rows;
  while (s.Step()) {
    AuditRow a;
    a.id = s.Int(0);
    a.at = s.Real(1);
    a.job_id = s.Int(2);
    a.study_id = s.Text(3);
    a.event = s.Text(4);
    a.detail = s.Text(5);
    rows.push_back(std::move(a));
  }
  return rows;
}
}  // namespace

std::vector<AuditRow> Store::Audit(int64_t job_id) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db, "SELECT id, at, job_id, study_id, event, detail FROM audit WHERE job_id = ?1 ORDER BY id");
  s.Bind(job_id);
  return ReadAudit(s);
}

std::vector<AuditRow> Store::StudyAudit(const std::string& study_id) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db, "SELECT id, at, job_id, study_id, event, detail FROM audit WHERE study_id = ?1 ORDER BY id");
  s.Bind(study_id);
  return ReadAudit(s);
}

std::vector<QueueCount> Store::CountByPriorityAndState() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db, "SELECT priority, state, COUNT(*) FROM jobs GROUP BY priority, state ORDER BY priority, state");
  std::vector<QueueCount> rows;
  while (s.Step()) {
    QueueCount c;
    c.priority = static_cast<int>(s.Int(0));
    const std::optional<JobState> state = ParseJobState(s.Text(1));
    if (!state) impl_->Corrupt("a job has an unknown state '" + s.Text(1) + "'");
    c.state = *state;
    c.jobs = s.Int(2);
    rows.push_back(c);
  }
  return rows;
}

int64_t Store::CountExportFailures() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'export_failures'");
  return s.Step() ? s.Int(0) : 0;
}

void Store::AddAudit(int64_t job_id, const std::string& study_id, const std::string& event, const std::string& detail,
                     double now) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->Audit(job_id, study_id, event, detail, now);
}

}  // namespace curia::storage
