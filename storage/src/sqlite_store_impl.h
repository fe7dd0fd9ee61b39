// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// SqliteStore's state and the helpers its files share, private to storage/. The public methods are
// spread by concern:
//   sqlite_schema.cpp       opening: checks, schema, migrations
//   sqlite_rows.cpp         rows <-> columns (jobs, exports), one job looked up or set to a state
//   sqlite_arrivals.cpp     arrivals
//   sqlite_queue.cpp        the worker's path: enqueue, claim, lease, progress, complete, fail; supersession
//   sqlite_job_control.cpp  changes made to jobs from outside: cancel, retry, lease recovery
//   sqlite_exports.cpp      exports: due, delivered, failed with backoff; a job settled by its exports
//   sqlite_reads.cpp        read-only views for the REST API: lists, counts, outputs
//   sqlite_audit.cpp        the audit trail (writes, reads, the wording of details)
//   sqlite_nodes.cpp        the nodes: heartbeats, leases lost and taken back
//
// Locking: every public method takes `mutex` first (Write does it for writes); Impl's helpers
// expect the caller to hold it, and a write's helpers run inside the caller's transaction.
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "curia/storage/sqlite_store.h"
#include "sqlite.h"
#include "store_text.h"

namespace curia::storage {

// Job columns in the order ReadJob expects; the list view leaves the result JSON out.
#define CURIA_JOB_COLUMNS_BASE                                                                             \
  "id, idempotency_key, study_id, study_uid, series_id, series_uid, rule, tasks, priority, outputs, "    \
  "destinations, instances, state, attempts, created_at, updated_at, started_at, finished_at, "          \
  "lease_until, error, progress_done, progress_total, superseded_by, model_digest, owner, region_instance, "   \
  "region_scope"
#define CURIA_JOB_COLUMNS CURIA_JOB_COLUMNS_BASE ", findings_json, timings_json"
#define CURIA_JOB_COLUMNS_LIST CURIA_JOB_COLUMNS_BASE ", '', ''"

// Export columns (table alias e) in the order ReadExport expects.
#define CURIA_EXPORT_COLUMNS \
  "e.id, e.job_id, e.output_id, e.destination, e.state, e.attempts, e.next_at, e.delivered_at, e.last_error"

struct SqliteStore::Impl {
  explicit Impl(const std::string& path) : db(path) {}

  sqlite::Database db;
  std::mutex mutex;

  // One write: takes the mutex, then BEGIN IMMEDIATE; rolled back (then unlocked) unless committed.
  class Write {
   public:
    explicit Write(Impl& impl) : lock_(impl.mutex), tx_(impl.db) {}
    void Commit() { tx_.Commit(); }

   private:
    std::lock_guard<std::mutex> lock_;  // declared first: released after the transaction ends
    sqlite::Transaction tx_;
  };

  const std::string& path() const { return db.path(); }
  [[noreturn]] void Corrupt(const std::string& what) const;  // kInvalidArgument "<path>: <what>"

  // --- sqlite_schema.cpp ---
  void Open();  // checks the file, then creates or migrates the schema
  int64_t CheckIdentity();
  int64_t PragmaInt(const char* name);
  bool HasCuriaMeta();

  // --- sqlite_rows.cpp ---
  JobRow ReadJob(const sqlite::Statement& s);                        // CURIA_JOB_COLUMNS(_LIST)
  ExportRow ReadExport(const sqlite::Statement& s, int first = 0);  // CURIA_EXPORT_COLUMNS from `first`
  std::optional<JobRow> FindJob(int64_t job_id);
  JobRow RequireJob(int64_t job_id);  // kNotFound "<path>: no job <id>"
  void SetJobState(int64_t job_id, JobState state, double now);

  // --- sqlite_queue.cpp ---
  // Older jobs of the rule and series in one of `states` -> superseded by `job`; their pending
  // exports cancelled.
  void Supersede(const JobRow& job, const std::vector<JobState>& states, double now);

  // --- sqlite_exports.cpp ---
  // Binds the id to ?1 of `s` (CURIA_EXPORT_COLUMNS first) and reads the export from its first row;
  // kNotFound "<path>: no export <id>" when there is none. `s` stays on that row for its other columns.
  ExportRow StepToExport(sqlite::Statement& s, int64_t export_id);
  // The job's pending exports -> cancelled. Returns "" or "; <n> pending export(s) cancelled",
  // for the audit detail.
  std::string CancelPendingExports(int64_t job_id);
  // Dead and cancelled exports of the job -> pending, attempts reset, due now. Returns how many.
  int64_t ReviveExports(int64_t job_id, double now);
  int64_t CountExports(int64_t job_id, const char* state);
  // An exporting job whose exports are all settled: done, or dead when one of them is (with the
  // first dead export's destination and error as the job's error).
  void SettleExports(int64_t job_id, const std::string& job_state, double now);

  // --- sqlite_nodes.cpp ---
  // Adds `n` to the node's leases_recovered (else leases_lost), making its row if needed; nothing
  // for an empty name.
  void CountLeases(const std::string& node, bool recovered, int64_t n);

  // --- sqlite_audit.cpp ---
  void WriteAudit(int64_t job_id, const std::string& study_id, const std::string& event, const std::string& detail,
                  double now);
};

}  // namespace curia::storage
