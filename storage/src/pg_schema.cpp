// SPDX-License-Identifier: GPL-3.0-or-later
// Opening a PgStore: its connections (a pool for the methods, one for LISTEN), the checks that
// refuse a schema that is not ours (or is newer), and the schema with its migrations, made once
// under an advisory lock however many nodes start at the same time.
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "curia/config/error.h"
#include "pg_store_impl.h"

namespace curia::storage {
namespace {

// The key of the advisory lock held while the schema is created or migrated ("CURI").
constexpr int64_t kSchemaLockKey = 0x43555249;

// Schema version n is made by kMigrations[n - 1] from version n - 1 (0: no schema "curia"). The
// same tables and meanings as SqliteStore's (version 5 there), in PostgreSQL's types: times are
// double precision seconds, ids are identity columns, objects are bytea.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE schema_version(
  version INTEGER NOT NULL);
INSERT INTO schema_version(version) VALUES (0);

CREATE TABLE meta(
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL);
INSERT INTO meta(key, value) VALUES ('application', 'curia-node'), ('export_failures', '0');

CREATE TABLE arrivals(
  study_id TEXT PRIMARY KEY,
  calling_aet TEXT NOT NULL,
  called_aet TEXT NOT NULL,
  first_at DOUBLE PRECISION NOT NULL,
  last_at DOUBLE PRECISION NOT NULL,
  routed_at DOUBLE PRECISION NOT NULL DEFAULT 0,
  instances BIGINT NOT NULL DEFAULT 0);
CREATE INDEX arrivals_last_at ON arrivals(last_at);

CREATE TABLE jobs(
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
  instances BIGINT NOT NULL,
  state TEXT NOT NULL CHECK (state IN
    ('queued', 'running', 'exporting', 'done', 'failed', 'dead', 'cancelled', 'superseded')),
  attempts INTEGER NOT NULL DEFAULT 0,
  interruptions INTEGER NOT NULL DEFAULT 0,
  created_at DOUBLE PRECISION NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL,
  started_at DOUBLE PRECISION NOT NULL DEFAULT 0,
  finished_at DOUBLE PRECISION NOT NULL DEFAULT 0,
  lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
  owner TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  progress_done BIGINT NOT NULL DEFAULT 0,
  progress_total BIGINT NOT NULL DEFAULT 0,
  superseded_by BIGINT NOT NULL DEFAULT 0,
  model_digest TEXT NOT NULL DEFAULT '',
  findings_json TEXT NOT NULL DEFAULT '',
  timings_json TEXT NOT NULL DEFAULT '');
CREATE INDEX jobs_queued ON jobs(priority, created_at, id) WHERE state = 'queued';
CREATE INDEX jobs_running ON jobs(lease_until) WHERE state = 'running';
CREATE INDEX jobs_state ON jobs(state);
CREATE INDEX jobs_series ON jobs(rule, series_uid, state);
CREATE INDEX jobs_study ON jobs(study_id);

CREATE TABLE outputs(
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id BIGINT NOT NULL REFERENCES jobs(id),
  kind TEXT NOT NULL,
  sop_class_uid TEXT NOT NULL,
  sop_instance_uid TEXT NOT NULL,
  series_uid TEXT NOT NULL,
  bytes BYTEA NOT NULL);
CREATE INDEX outputs_job ON outputs(job_id);

CREATE TABLE exports(
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id BIGINT NOT NULL REFERENCES jobs(id),
  output_id BIGINT NOT NULL REFERENCES outputs(id),
  destination TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'cancelled')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at DOUBLE PRECISION NOT NULL,
  lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
  owner TEXT NOT NULL DEFAULT '',
  delivered_at DOUBLE PRECISION NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '');
CREATE INDEX exports_due ON exports(next_at, id) WHERE state = 'pending';
CREATE INDEX exports_job ON exports(job_id);

CREATE TABLE audit(
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at DOUBLE PRECISION NOT NULL,
  job_id BIGINT NOT NULL DEFAULT 0,
  study_id TEXT NOT NULL DEFAULT '',
  event TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '');
CREATE INDEX audit_job ON audit(job_id);
CREATE INDEX audit_study ON audit(study_id);
)sql",
    // 2: region jobs (issue 17): the SEG or RTSTRUCT instance they read, and the scope that
    // supersession compares besides rule and series.
    R"sql(
ALTER TABLE jobs ADD COLUMN region_instance TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN region_scope TEXT NOT NULL DEFAULT '';
)sql",
    // 3: the nodes using the database (issue 20): their heartbeats, and the leases each lost and
    // took back.
    R"sql(
CREATE TABLE nodes(
  name TEXT PRIMARY KEY,
  first_seen DOUBLE PRECISION NOT NULL DEFAULT 0,
  last_seen DOUBLE PRECISION NOT NULL DEFAULT 0,
  version TEXT NOT NULL DEFAULT '',
  role TEXT NOT NULL DEFAULT '',
  workers BIGINT NOT NULL DEFAULT 0,
  pid BIGINT NOT NULL DEFAULT 0,
  host TEXT NOT NULL DEFAULT '',
  leases_lost BIGINT NOT NULL DEFAULT 0,
  leases_recovered BIGINT NOT NULL DEFAULT 0);
)sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == PgStore::kSchemaVersion,
              "one migration per schema version");

}  // namespace

PgStore::PgStore(const std::string& url) : impl_(std::make_unique<Impl>(url, RedactUrl(url))) { impl_->Open(); }

PgStore::~PgStore() = default;

const std::string& PgStore::path() const { return impl_->name; }

bool PgStore::SharedByNodes() const { return true; }

void PgStore::Impl::Corrupt(const std::string& what) const {
  throw Error(ErrorCode::kInvalidArgument, name + ": " + what);
}

std::unique_ptr<pg::Connection> PgStore::Impl::Connect() {
  auto c = std::make_unique<pg::Connection>(url, name);
  // Our tables live in their own schema, apart from Orthanc's index in the same database.
  c->Exec("SET search_path TO curia");
  return c;
}

std::unique_ptr<pg::Connection> PgStore::Impl::Acquire() {
  std::unique_lock<std::mutex> lock(pool_mutex);
  pool_cv.wait(lock, [&] { return !idle.empty() || open < kMaxConnections; });
  if (!idle.empty()) {
    std::unique_ptr<pg::Connection> c = std::move(idle.back());
    idle.pop_back();
    return c;
  }
  ++open;  // counted before connecting (outside the lock), given back if that fails
  lock.unlock();
  try {
    return Connect();
  } catch (...) {
    lock.lock();
    --open;
    pool_cv.notify_one();
    throw;
  }
}

void PgStore::Impl::Release(std::unique_ptr<pg::Connection> c) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (c && c->ok()) {
    idle.push_back(std::move(c));
  } else {
    --open;  // lost (a server restart): a fresh one is opened when needed
  }
  pool_cv.notify_one();
}

// Creates or migrates the schema. Two nodes starting at once on an empty database: the advisory
// lock makes the second wait for the first's commit, then it finds the schema made.
void PgStore::Impl::Open() {
  Transaction([&](pg::Connection& c) {
    c.Exec("SELECT pg_advisory_xact_lock($1)", {pg::Int(kSchemaLockKey)});
    const bool schema = c.Exec("SELECT 1 FROM pg_namespace WHERE nspname = 'curia'").Rows() > 0;
    int64_t version = 0;
    if (schema) {
      const bool missing = !c.Exec("SELECT to_regclass('curia.meta') IS NOT NULL AND "
                                "to_regclass('curia.schema_version') IS NOT NULL")
                             .Bool(0, 0);
      if (missing) Corrupt("schema \"curia\" exists but is not Curia Node's (no meta or schema_version table)");
      const pg::Result app = c.Exec("SELECT value FROM meta WHERE key = 'application'");
      if (app.Rows() != 1 || app.Text(0, 0) != "curia-node") {
        Corrupt("schema \"curia\" exists but is not Curia Node's (meta says another application)");
      }
      const pg::Result v = c.Exec("SELECT version FROM schema_version");
      if (v.Rows() != 1) Corrupt("schema \"curia\": schema_version does not hold one row");
      version = v.Int(0, 0);
      if (version > kSchemaVersion) {
        Corrupt("written by a newer Curia Node (schema " + std::to_string(version) + ", this version reads up to " +
                std::to_string(kSchemaVersion) + ")");
      }
    } else {
      c.Exec("CREATE SCHEMA curia");
    }
    for (int64_t v = version; v < kSchemaVersion; ++v) {
      c.Exec(kMigrations[v]);
      c.Exec("UPDATE schema_version SET version = $1", {pg::Int(v + 1)});
    }
  });
}

// LISTEN on a connection of its own; poll() on its socket for notifications. One caller at a time
// (the node has one thread for this); others wait their turn.
bool PgStore::WaitForWork(double timeout_s) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                        std::chrono::duration<double>(std::max(0.0, timeout_s)));
  std::lock_guard<std::mutex> lock(impl_->listen_mutex);
  std::unique_ptr<pg::Connection>& l = impl_->listener;
  if (!l || !l->ok()) {
    l.reset();
    try {
      auto c = std::make_unique<pg::Connection>(impl_->url, impl_->name);
      c->Exec("LISTEN curia_work");
      l = std::move(c);
    } catch (const std::exception&) {
      // The server is away: poll as without notifications, try again next time.
      std::this_thread::sleep_until(deadline);
      return false;
    }
  }
  for (;;) {
    bool woken = false;
    while (PGnotify* n = PQnotifies(l->handle())) {
      woken = true;
      PQfreemem(n);
    }
    if (woken) return true;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd fd{PQsocket(l->handle()), POLLIN, 0};
    if (fd.fd < 0) {
      l.reset();
      return false;
    }
    const int ready = poll(&fd, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (ready > 0 && PQconsumeInput(l->handle()) == 0) {
      l.reset();  // lost: reconnected (and LISTENing again) at the next call
      return false;
    }
  }
}

}  // namespace curia::storage
