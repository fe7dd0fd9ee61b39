// SPDX-License-Identifier: GPL-3.0-or-later
// SqliteStore: the worker's path through the queue (enqueue, claim, lease, progress, complete, fail)
// and the supersession of older jobs of the same rule and series.
#include "curia/config/error.h"
#include "sqlite_store_impl.h"

namespace curia::storage {

using sqlite::Blob;
using sqlite::Statement;
using store_text::EncodeList;

void SqliteStore::Impl::Supersede(const JobRow& job, const std::vector<JobState>& states, double now) {
  if (job.series_uid.empty()) return;  // nothing identifies "the same series"
  std::vector<std::pair<int64_t, std::string>> older;  // id, study
  for (JobState state : states) {
    Statement s(db,
                "SELECT id, study_id FROM jobs WHERE rule = ?1 AND series_uid = ?2 AND state = ?3 AND id < ?4 "
                "AND region_scope = ?5 ORDER BY id");
    s.Bind(job.rule, job.series_uid, JobStateName(state), job.id, job.region_scope);
    while (s.Step()) older.emplace_back(s.Int(0), s.Text(1));
  }
  for (const auto& [id, study_id] : older) {
    Statement(db,
              "UPDATE jobs SET state = 'superseded', superseded_by = ?2, lease_until = 0, owner = '', updated_at = ?3 "
              "WHERE id = ?1")
        .Bind(id, job.id, now)
        .Run();
    WriteAudit(id, study_id, "superseded", "by job " + std::to_string(job.id) + CancelPendingExports(id), now);
  }
}

std::pair<int64_t, bool> SqliteStore::Enqueue(const NewJob& job, double now) {
  Impl::Write write(*impl_);
  sqlite::Database& db = impl_->db;
  {
    Statement s(db, "SELECT id FROM jobs WHERE idempotency_key = ?1");
    s.Bind(job.idempotency_key);
    if (s.Step()) return {s.Int(0), false};
  }
  Statement(db,
            "INSERT INTO jobs(idempotency_key, study_id, study_uid, series_id, series_uid, rule, tasks, priority, "
            "outputs, destinations, instances, state, created_at, updated_at, region_instance, region_scope) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'queued', ?12, ?12, ?13, ?14)")
      .Bind(job.idempotency_key, job.study_id, job.study_uid, job.series_id, job.series_uid, job.rule,
            EncodeList(job.tasks), job.priority, EncodeList(job.outputs), EncodeList(job.destinations), job.instances,
            now, job.region_instance, job.region_scope)
      .Run();
  const int64_t id = db.LastInsertId();
  impl_->WriteAudit(id, job.study_id, "queued", store_text::EnqueueDetail(job.rule, job.series_uid, job.priority), now);
  JobRow row;
  static_cast<NewJob&>(row) = job;
  row.id = id;
  impl_->Supersede(row, {JobState::kQueued}, now);
  write.Commit();
  return {id, true};
}

std::optional<JobRow> SqliteStore::Claim(double now, double lease_s) {
  Impl::Write write(*impl_);
  sqlite::Database& db = impl_->db;
  int64_t id = 0;
  {
    Statement s(db, "SELECT id FROM jobs WHERE state = 'queued' ORDER BY priority, created_at, id LIMIT 1");
    if (!s.Step()) return std::nullopt;
    id = s.Int(0);
  }
  Statement(db,
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = ?2, lease_until = ?3, "
            "updated_at = ?2, owner = ?4 WHERE id = ?1")
      .Bind(id, now, now + lease_s, NewClaimToken())
      .Run();
  JobRow job = impl_->RequireJob(id);
  impl_->WriteAudit(id, job.study_id, "started", "attempt " + std::to_string(job.attempts) + (node_name().empty() ? "" : " on " + node_name()), now);
  write.Commit();
  return job;
}

bool SqliteStore::RenewLease(const JobClaim& claim, double until) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement(impl_->db, "UPDATE jobs SET lease_until = ?2 WHERE id = ?1 AND state = 'running' AND owner = ?3")
      .Bind(claim.job_id, until, claim.owner)
      .Run();
  return impl_->db.Changes() > 0;
}

bool SqliteStore::SetProgress(const JobClaim& claim, int64_t done, int64_t total) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement(impl_->db,
            "UPDATE jobs SET progress_done = ?2, progress_total = ?3 WHERE id = ?1 AND state = 'running' AND owner = ?4")
      .Bind(claim.job_id, done, total, claim.owner)
      .Run();
  return impl_->db.Changes() > 0;
}

bool SqliteStore::Complete(const JobClaim& claim, const std::string& findings_json, const std::string& timings_json,
                           const std::string& model_digest, const std::vector<NewOutput>& outputs, double now) {
  Impl::Write write(*impl_);
  sqlite::Database& db = impl_->db;
  const int64_t job_id = claim.job_id;
  const std::optional<JobRow> job = impl_->FindJob(job_id);
  if (!job || job->state != JobState::kRunning || job->owner != claim.owner) return false;

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
  impl_->WriteAudit(job_id, job->study_id, "finished",
                    store_text::CompleteDetail(static_cast<int64_t>(outputs.size()), exports), now);
  impl_->Supersede(*job, {JobState::kDone, JobState::kExporting}, now);
  write.Commit();
  return true;
}

bool SqliteStore::Fail(const JobClaim& claim, const std::string& error, bool retryable, int max_attempts, double now) {
  Impl::Write write(*impl_);
  sqlite::Database& db = impl_->db;
  const int64_t job_id = claim.job_id;
  const JobRow job = impl_->RequireJob(job_id);
  // Cancelled, superseded or recovered meanwhile: stays so.
  if (job.state != JobState::kRunning || job.owner != claim.owner) return false;
  const bool again = retryable && job.attempts < max_attempts;
  const JobState state = again ? JobState::kQueued : JobState::kFailed;
  Statement(db, "UPDATE jobs SET state = ?2, error = ?3, lease_until = 0, updated_at = ?4 WHERE id = ?1")
      .Bind(job_id, JobStateName(state), error, now)
      .Run();
  impl_->WriteAudit(job_id, job.study_id, "failed",
                    store_text::FailDetail(error, job.attempts, max_attempts, again, retryable), now);
  write.Commit();
  return true;
}

}  // namespace curia::storage
