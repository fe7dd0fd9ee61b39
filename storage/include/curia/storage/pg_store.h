// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The Store in a PostgreSQL database that several nodes share (design.md section 7): the tables in
// their own schema "curia", versioned with migrations (curia.schema_version), created or migrated
// once under an advisory lock when several nodes start at once.
//
//   PgStore store("postgresql://curia@db.example:5432/curia");   // or OpenStore(url)
//   auto job = store.Claim(Now(), 60);                           // FOR UPDATE SKIP LOCKED
//   store.Complete(ClaimOf(*job), ...);                          // refused if the claim lost the job
//
// The password comes from libpq's own mechanisms: PGPASSWORD, a password file (PGPASSFILE,
// ~/.pgpass, or "?passfile=/path" in the URL); one written in the URL works too but is
// discouraged. It is never logged: path() is the URL without its user information and query.
//
// Claims take the most urgent queued job with FOR UPDATE SKIP LOCKED, so concurrent claimers (any
// node) never wait on each other nor get one job twice; each claim gets a random owner token, and
// every later write of the claimant is conditional on job id + token. Enqueueing (and anything that
// makes work: a job queued again, exports made) sends NOTIFY curia_work at commit; WaitForWork
// LISTENs on its own connection, polling being the fallback (a notification is lost while the
// listener reconnects).
//
// Thread-safe: a small pool of connections (up to kMaxConnections, opened as needed); each method
// is one transaction on one of them, retried when PostgreSQL reports a serialisation failure or a
// deadlock, and on a fresh connection when a pooled one was lost (a server restart).
#include <memory>
#include <string>

#include "curia/storage/store.h"

namespace curia::storage {

class PgStore final : public Store {
 public:
  // Connects, then creates or migrates the schema. Throws curia::Error naming the URL without its
  // secrets: kInvalidArgument for a URL libpq cannot parse, a schema "curia" that is not Curia
  // Node's or is newer than this version; kUnavailable when the server cannot be reached or
  // refuses the connection.
  explicit PgStore(const std::string& url);
  ~PgStore() override;

  static constexpr int kSchemaVersion = 3;
  static constexpr int kMaxConnections = 8;
  const std::string& path() const override;
  bool SharedByNodes() const override;  // true
  bool WaitForWork(double timeout_s) override;

  void RecordArrival(const std::string& study_id, const std::string& calling_aet, const std::string& called_aet,
                     double now, int64_t instances = 1) override;
  std::optional<Arrival> GetArrival(const std::string& study_id) override;
  std::vector<std::string> UnroutedStudies(double quiet_before) override;
  void MarkRouted(const std::string& study_id, double at) override;

  std::pair<int64_t, bool> Enqueue(const NewJob& job, double now) override;
  std::optional<JobRow> Claim(double now, double lease_s) override;
  bool RenewLease(const JobClaim& claim, double until) override;
  bool SetProgress(const JobClaim& claim, int64_t done, int64_t total) override;
  bool Complete(const JobClaim& claim, const std::string& findings_json, const std::string& timings_json,
                const std::string& model_digest, const std::vector<NewOutput>& outputs, double now) override;
  bool Fail(const JobClaim& claim, const std::string& error, bool retryable, int max_attempts, double now) override;
  bool Cancel(int64_t job_id, double now) override;
  bool Retry(int64_t job_id, double now) override;
  int RecoverExpiredLeases(double now, int max_attempts, bool every_running = false) override;

  std::optional<ExportTask> NextExport(double now, double lease_s) override;
  std::optional<double> NextExportDue() override;
  void ExportDelivered(int64_t export_id, double now) override;
  bool ExportFailed(const ExportClaim& claim, const std::string& error, const ExportPolicy& policy,
                    double now) override;

  std::optional<JobRow> GetJob(int64_t job_id) override;
  std::vector<JobRow> Jobs(const JobFilter& filter) override;
  int64_t CountJobs(const JobFilter& filter) override;
  std::vector<OutputRow> Outputs(int64_t job_id) override;
  std::optional<std::string> OutputBytes(int64_t output_id) override;
  std::vector<ExportRow> Exports(int64_t job_id) override;
  std::vector<AuditRow> Audit(int64_t job_id) override;
  std::vector<AuditRow> StudyAudit(const std::string& study_id) override;
  std::vector<QueueCount> CountByPriorityAndState() override;
  int64_t CountExportFailures() override;

  void Heartbeat(const NodeBeat& beat, double now) override;
  std::vector<NodeRow> ListNodes() override;

  void AddAudit(int64_t job_id, const std::string& study_id, const std::string& event, const std::string& detail,
                double now) override;

  struct Impl;  // storage/src/pg_store_impl.h

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace curia::storage
