// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// PgStore's state and the helpers its files share, private to storage/. The public methods are
// spread by concern, like SqliteStore's:
//   pg_schema.cpp       connections (the pool, the listener), schema and migrations
//   pg_queue.cpp        the worker's path: enqueue, claim, lease, progress, complete, fail; supersession
//   pg_job_control.cpp  changes made to jobs from outside: cancel, retry, lease recovery
//   pg_exports.cpp      exports: claimed, delivered, failed with backoff; a job settled by its exports
//   pg_reads.cpp        arrivals, read-only views, the audit trail
//   pg_nodes.cpp        the nodes: heartbeats, leases lost and taken back
//
// Locking: rows, not the store: a write locks the rows it changes (SELECT ... FOR UPDATE) before
// deciding, so that two nodes' transactions on one job are serialised by PostgreSQL.
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "curia/storage/pg_store.h"
#include "pg.h"
#include "store_text.h"

namespace curia::storage {

// Job columns in the order ReadJob expects (the same as SQLite's); the list view leaves the result
// JSON out.
#define CURIA_PG_JOB_COLUMNS_BASE                                                                          \
  "id, idempotency_key, study_id, study_uid, series_id, series_uid, rule, tasks, priority, outputs, "    \
  "destinations, instances, state, attempts, created_at, updated_at, started_at, finished_at, "          \
  "lease_until, error, progress_done, progress_total, superseded_by, model_digest, owner, region_instance, "   \
  "region_scope"
#define CURIA_PG_JOB_COLUMNS CURIA_PG_JOB_COLUMNS_BASE ", findings_json, timings_json"
#define CURIA_PG_JOB_COLUMNS_LIST CURIA_PG_JOB_COLUMNS_BASE ", '', ''"
#define CURIA_PG_EXPORT_COLUMNS \
  "e.id, e.job_id, e.output_id, e.destination, e.state, e.attempts, e.next_at, e.delivered_at, e.last_error"

struct PgStore::Impl {
  Impl(const std::string& url, const std::string& name) : url(url), name(name) {}

  const std::string url;   // with its secrets: only given to libpq
  const std::string name;  // without: for messages (path())

  // --- the pool (pg_schema.cpp) ---
  std::mutex pool_mutex;
  std::condition_variable pool_cv;
  std::vector<std::unique_ptr<pg::Connection>> idle;
  int open = 0;  // connections in use or idle
  std::unique_ptr<pg::Connection> Acquire();
  void Release(std::unique_ptr<pg::Connection> c);
  std::unique_ptr<pg::Connection> Connect();  // a new connection, search_path set to the schema

  // --- the listener (pg_schema.cpp) ---
  std::mutex listen_mutex;
  std::unique_ptr<pg::Connection> listener;

  // Runs `f(connection)` in one transaction (BEGIN ... COMMIT) and returns what it returns. Retried
  // (up to 5 times) when PostgreSQL aborts it for a serialisation failure or a deadlock, and once on
  // a fresh connection when the pooled one turns out lost before anything was sent.
  template <typename F>
  auto Transaction(F&& f) -> decltype(f(std::declval<pg::Connection&>()));

  void Open();  // schema, under an advisory lock

  [[noreturn]] void Corrupt(const std::string& what) const;  // kInvalidArgument "<name>: <what>"

  // --- rows (pg_reads.cpp) ---
  JobRow ReadJob(const pg::Result& r, int row);                      // CURIA_PG_JOB_COLUMNS(_LIST)
  ExportRow ReadExport(const pg::Result& r, int row, int first = 0);  // CURIA_PG_EXPORT_COLUMNS from `first`
  // The job, its row locked until the transaction ends (FOR UPDATE); nullopt when there is none.
  std::optional<JobRow> LockJob(pg::Connection& c, int64_t job_id);
  void WriteAudit(pg::Connection& c, int64_t job_id, const std::string& study_id, const std::string& event,
                  const std::string& detail, double now);
  static void NotifyWork(pg::Connection& c);  // NOTIFY curia_work, delivered at commit

  // --- pg_queue.cpp ---
  void Supersede(pg::Connection& c, const JobRow& job, const char* states, double now);  // states: "{done,exporting}"

  // --- pg_nodes.cpp ---
  // Adds `n` to the node's leases_recovered (else leases_lost), making its row if needed; nothing
  // for an empty name.
  void CountLeases(pg::Connection& c, const std::string& node, bool recovered, int64_t n);

  // --- pg_exports.cpp ---
  std::string CancelPendingExports(pg::Connection& c, int64_t job_id);
  int64_t ReviveExports(pg::Connection& c, int64_t job_id, double now);
  int64_t CountExports(pg::Connection& c, int64_t job_id, const char* state);
  void SettleExports(pg::Connection& c, int64_t job_id, const std::string& job_state, double now);
};

template <typename F>
auto PgStore::Impl::Transaction(F&& f) -> decltype(f(std::declval<pg::Connection&>())) {
  constexpr int kAttempts = 5;
  for (int attempt = 1;; ++attempt) {
    std::unique_ptr<pg::Connection> c = Acquire();
    bool begun = false;
    try {
      c->Exec("BEGIN");
      begun = true;
      if constexpr (std::is_void_v<decltype(f(*c))>) {
        f(*c);
        c->Exec("COMMIT");
        Release(std::move(c));
        return;
      } else {
        auto result = f(*c);
        c->Exec("COMMIT");
        Release(std::move(c));
        return result;
      }
    } catch (const std::exception&) {
      const std::string state = c->last_sqlstate();
      const bool lost = !c->ok();
      if (!lost) {
        try {
          c->Exec("ROLLBACK");
        } catch (const std::exception&) {
        }
      }
      Release(std::move(c));  // dropped when lost
      const bool conflict = state == "40001" || state == "40P01";
      if ((conflict && attempt < kAttempts) || (lost && !begun && attempt == 1)) continue;
      throw;
    }
  }
}

}  // namespace curia::storage
