// SPDX-License-Identifier: GPL-3.0-or-later
// PgStore: changes made to a job from outside its worker: cancel, retry, and the recovery of jobs
// whose worker stopped (an expired lease: any node may recover it).
#include "pg_store_impl.h"

namespace curia::storage {

using pg::Int;
using pg::Real;
using pg::Text;
using store_text::Plural;

bool PgStore::Cancel(int64_t job_id, double now) {
  return impl_->Transaction([&](pg::Connection& c) {
    const std::optional<JobRow> job = impl_->LockJob(c, job_id);
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
    c.Exec("UPDATE jobs SET state = 'cancelled', lease_until = 0, owner = '', updated_at = $2 WHERE id = $1",
           {Int(job_id), Real(now)});
    const std::string detail = std::string("was ") + JobStateName(job->state) + impl_->CancelPendingExports(c, job_id);
    impl_->WriteAudit(c, job_id, job->study_id, "cancelled", detail, now);
    return true;
  });
}

bool PgStore::Retry(int64_t job_id, double now) {
  return impl_->Transaction([&](pg::Connection& c) {
    const std::optional<JobRow> job = impl_->LockJob(c, job_id);
    if (!job) return false;
    if (job->state != JobState::kDead && job->state != JobState::kFailed && job->state != JobState::kCancelled) {
      return false;
    }
    // A job cancelled while exporting has its result: it goes back to exporting, like a dead one.
    const bool exportable = job->state == JobState::kDead || job->finished_at != 0;
    std::string detail;
    if (exportable) {
      const int64_t revived = impl_->ReviveExports(c, job_id, now);
      const bool pending = impl_->CountExports(c, job_id, "pending") > 0;
      const JobState state = pending ? JobState::kExporting : JobState::kDone;
      c.Exec("UPDATE jobs SET state = $2, error = '', updated_at = $3 WHERE id = $1",
             {Int(job_id), Text(JobStateName(state)), Real(now)});
      detail = std::string("was ") + JobStateName(job->state) + "; " + Plural(revived, "export") + " pending again";
    } else {
      c.Exec("UPDATE jobs SET state = 'queued', attempts = 0, error = '', lease_until = 0, owner = '', "
             "updated_at = $2 WHERE id = $1",
             {Int(job_id), Real(now)});
      detail = std::string("was ") + JobStateName(job->state) + "; queued again";
    }
    impl_->WriteAudit(c, job_id, job->study_id, "retried", detail, now);
    Impl::NotifyWork(c);
    return true;
  });
}

int PgStore::RecoverExpiredLeases(double now, int max_attempts, bool every_running) {
  return impl_->Transaction([&](pg::Connection& c) {
    // SKIP LOCKED: a job whose claimant is writing to it right now (renewing, completing) is left
    // to that write; another node recovering at the same moment takes the others.
    const pg::Result r = c.Exec(
        "SELECT id, study_id, attempts, interruptions, owner FROM jobs "
        "WHERE state = 'running' AND (lease_until < $1 OR $2) ORDER BY id FOR UPDATE SKIP LOCKED",
        {Real(now), Text(every_running ? "true" : "false")});
    bool requeued = false;
    for (int i = 0; i < r.Rows(); ++i) {
      const int64_t id = r.Int(i, 0);
      const store_text::Recovery rec = store_text::Recover(every_running, static_cast<int>(r.Int(i, 2)),
                                                           static_cast<int>(r.Int(i, 3)), max_attempts);
      if (every_running) {
        c.Exec("UPDATE jobs SET attempts = GREATEST(attempts - 1, 0), interruptions = $2 WHERE id = $1",
               {Int(id), Int(rec.interruptions)});
      }
      if (rec.again) {
        c.Exec("UPDATE jobs SET state = 'queued', lease_until = 0, updated_at = $2 WHERE id = $1",
               {Int(id), Real(now)});
        requeued = true;
      } else {
        c.Exec("UPDATE jobs SET state = 'failed', error = $2, lease_until = 0, updated_at = $3 "
               "WHERE id = $1",
               {Int(id), Text(rec.error), Real(now)});
      }
      impl_->WriteAudit(c, id, r.Text(i, 1), "recovered", rec.detail, now);
      impl_->CountLeases(c, NodeOfOwner(r.Text(i, 4)), false, 1);
    }
    impl_->CountLeases(c, node_name(), true, r.Rows());
    if (every_running) c.Exec("UPDATE exports SET lease_until = 0, owner = '' WHERE lease_until > 0");
    if (requeued) Impl::NotifyWork(c);
    return r.Rows();
  });
}

}  // namespace curia::storage
