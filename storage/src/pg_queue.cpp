// SPDX-License-Identifier: GPL-3.0-or-later
// PgStore: the worker's path through the queue (enqueue, claim, lease, progress, complete, fail)
// and the supersession of older jobs of the same rule and series.
#include <algorithm>

#include "curia/config/error.h"
#include "pg_store_impl.h"

namespace curia::storage {

using pg::Int;
using pg::Real;
using pg::Text;
using store_text::EncodeList;

void PgStore::Impl::Supersede(pg::Connection& c, const JobRow& job, const char* states, double now) {
  if (job.series_uid.empty()) return;  // nothing identifies "the same series"
  const pg::Result r = c.Exec(
      "UPDATE jobs SET state = 'superseded', superseded_by = $1, lease_until = 0, owner = '', updated_at = $2 "
      "WHERE id IN (SELECT id FROM jobs WHERE rule = $3 AND series_uid = $4 AND state = ANY($5::text[]) AND id < $1 "
      "AND region_scope = $6 ORDER BY id FOR UPDATE) RETURNING id, study_id",
      {Int(job.id), Real(now), Text(job.rule), Text(job.series_uid), Text(states), Text(job.region_scope)});
  std::vector<std::pair<int64_t, std::string>> older;
  for (int i = 0; i < r.Rows(); ++i) older.emplace_back(r.Int(i, 0), r.Text(i, 1));
  std::sort(older.begin(), older.end());
  for (const auto& [id, study_id] : older) {
    WriteAudit(c, id, study_id, "superseded", "by job " + std::to_string(job.id) + CancelPendingExports(c, id), now);
  }
}

std::pair<int64_t, bool> PgStore::Enqueue(const NewJob& job, double now) {
  return impl_->Transaction([&](pg::Connection& c) -> std::pair<int64_t, bool> {
    // Two nodes enqueueing one key at once: the second waits on the unique index, then does nothing.
    const pg::Result r = c.Exec(
        "INSERT INTO jobs(idempotency_key, study_id, study_uid, series_id, series_uid, rule, tasks, priority, "
        "outputs, destinations, instances, state, created_at, updated_at, region_instance, region_scope) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'queued', $12, $12, $13, $14) "
        "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        {Text(job.idempotency_key), Text(job.study_id), Text(job.study_uid), Text(job.series_id),
         Text(job.series_uid), Text(job.rule), Text(EncodeList(job.tasks)), Int(job.priority),
         Text(EncodeList(job.outputs)), Text(EncodeList(job.destinations)), Int(job.instances), Real(now),
         Text(job.region_instance), Text(job.region_scope)});
    if (r.Rows() == 0) {
      const pg::Result existing =
          c.Exec("SELECT id FROM jobs WHERE idempotency_key = $1", {Text(job.idempotency_key)});
      if (existing.Rows() == 0) {
        throw Error(ErrorCode::kInternal, impl_->name + ": job key neither inserted nor found");
      }
      return {existing.Int(0, 0), false};
    }
    const int64_t id = r.Int(0, 0);
    impl_->WriteAudit(c, id, job.study_id, "queued", store_text::EnqueueDetail(job.rule, job.series_uid, job.priority),
                      now);
    JobRow row;
    static_cast<NewJob&>(row) = job;
    row.id = id;
    impl_->Supersede(c, row, "{queued}", now);
    Impl::NotifyWork(c);
    return {id, true};
  });
}

std::optional<JobRow> PgStore::Claim(double now, double lease_s) {
  return impl_->Transaction([&](pg::Connection& c) -> std::optional<JobRow> {
    // SKIP LOCKED: a job another claimer is taking is passed over, not waited for.
    const pg::Result r = c.Exec(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = $1, lease_until = $2, "
        "updated_at = $1, owner = $3 WHERE id = (SELECT id FROM jobs WHERE state = 'queued' "
        "ORDER BY priority, created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING " CURIA_PG_JOB_COLUMNS,
        {Real(now), Real(now + lease_s), Text(NewClaimToken())});
    if (r.Rows() == 0) return std::nullopt;
    JobRow job = impl_->ReadJob(r, 0);
    impl_->WriteAudit(c, job.id, job.study_id, "started", "attempt " + std::to_string(job.attempts) + (node_name().empty() ? "" : " on " + node_name()), now);
    return job;
  });
}

bool PgStore::RenewLease(const JobClaim& claim, double until) {
  return impl_->Transaction([&](pg::Connection& c) {
    return c.Exec("UPDATE jobs SET lease_until = $2 WHERE id = $1 AND state = 'running' AND owner = $3",
                  {Int(claim.job_id), Real(until), Text(claim.owner)})
               .Affected() > 0;
  });
}

bool PgStore::SetProgress(const JobClaim& claim, int64_t done, int64_t total) {
  return impl_->Transaction([&](pg::Connection& c) {
    return c.Exec("UPDATE jobs SET progress_done = $2, progress_total = $3 "
                  "WHERE id = $1 AND state = 'running' AND owner = $4",
                  {Int(claim.job_id), Int(done), Int(total), Text(claim.owner)})
               .Affected() > 0;
  });
}

bool PgStore::Complete(const JobClaim& claim, const std::string& findings_json, const std::string& timings_json,
                       const std::string& model_digest, const std::vector<NewOutput>& outputs, double now) {
  return impl_->Transaction([&](pg::Connection& c) {
    const int64_t job_id = claim.job_id;
    const std::optional<JobRow> job = impl_->LockJob(c, job_id);
    if (!job || job->state != JobState::kRunning || job->owner != claim.owner) return false;
    int64_t exports = 0;
    for (const NewOutput& out : outputs) {
      const int64_t output_id =
          c.Exec("INSERT INTO outputs(job_id, kind, sop_class_uid, sop_instance_uid, series_uid, bytes) "
                 "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                 {Int(job_id), Text(out.kind), Text(out.sop_class_uid), Text(out.sop_instance_uid),
                  Text(out.series_uid), pg::Bytes(out.bytes)})
              .Int(0, 0);
      for (const std::string& destination : job->destinations) {
        c.Exec("INSERT INTO exports(job_id, output_id, destination, state, next_at) VALUES ($1, $2, $3, 'pending', $4)",
               {Int(job_id), Int(output_id), Text(destination), Real(now)});
        ++exports;
      }
    }
    const JobState state = exports > 0 ? JobState::kExporting : JobState::kDone;
    c.Exec("UPDATE jobs SET state = $2, findings_json = $3, timings_json = $4, model_digest = $5, finished_at = $6, "
           "updated_at = $6, lease_until = 0, error = '', progress_done = progress_total WHERE id = $1",
           {Int(job_id), Text(JobStateName(state)), Text(findings_json), Text(timings_json), Text(model_digest),
            Real(now)});
    impl_->WriteAudit(c, job_id, job->study_id, "finished",
                      store_text::CompleteDetail(static_cast<int64_t>(outputs.size()), exports), now);
    impl_->Supersede(c, *job, "{done,exporting}", now);
    if (exports > 0) Impl::NotifyWork(c);
    return true;
  });
}

bool PgStore::Fail(const JobClaim& claim, const std::string& error, bool retryable, int max_attempts, double now) {
  return impl_->Transaction([&](pg::Connection& c) {
    const int64_t job_id = claim.job_id;
    const std::optional<JobRow> job = impl_->LockJob(c, job_id);
    if (!job) throw Error(ErrorCode::kNotFound, impl_->name + ": no job " + std::to_string(job_id));
    // Cancelled, superseded or recovered meanwhile: stays so.
    if (job->state != JobState::kRunning || job->owner != claim.owner) return false;
    const bool again = retryable && job->attempts < max_attempts;
    const JobState state = again ? JobState::kQueued : JobState::kFailed;
    c.Exec("UPDATE jobs SET state = $2, error = $3, lease_until = 0, updated_at = $4 WHERE id = $1",
           {Int(job_id), Text(JobStateName(state)), Text(error), Real(now)});
    impl_->WriteAudit(c, job_id, job->study_id, "failed",
                      store_text::FailDetail(error, job->attempts, max_attempts, again, retryable), now);
    if (again) Impl::NotifyWork(c);
    return true;
  });
}

}  // namespace curia::storage
