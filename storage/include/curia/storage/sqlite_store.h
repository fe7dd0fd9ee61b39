// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The Store in one SQLite file: WAL mode, schema versioned with migrations (PRAGMA user_version,
// PRAGMA application_id "CURI"), every write in a BEGIN IMMEDIATE transaction.
//
//   SqliteStore store("/var/lib/orthanc/db-v6/curia.sqlite");   // or OpenStore(path)
//   auto [id, inserted] = store.Enqueue(job, Now());
//
// Thread-safe: one connection behind a mutex. Several processes may open the same file; SQLite's
// locks and busy timeout (5 s) serialise their writes, so a job is claimed once across processes,
// and the claim's owner token keeps a claimant that lost its lease from writing over the next one.
// The implementation is split by concern over storage/src/sqlite_*.cpp; SQLite types stay there.
#include <memory>
#include <string>

#include "curia/storage/store.h"

namespace curia::storage {

class SqliteStore final : public Store {
 public:
  // Opens (creating it and its folder if needed) and migrates the database. Throws
  // curia::Error(kUnavailable or kInvalidArgument) naming the file: not a Curia database, corrupt
  // (SQLite's integrity check fails), written by a newer schema version, not writable.
  explicit SqliteStore(const std::string& path);
  ~SqliteStore() override;

  static constexpr int kSchemaVersion = 5;
  const std::string& path() const override;
  bool SharedByNodes() const override;     // false: one node (processes on one host share the file)
  bool WaitForWork(double timeout_s) override;  // sleeps, false: the node wakes its own threads

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

  struct Impl;  // storage/src/sqlite_store_impl.h

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace curia::storage
