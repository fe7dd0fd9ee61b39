// SPDX-License-Identifier: GPL-3.0-or-later
// SqliteStore: changes made to a job from outside its worker: cancel, retry, and the recovery of
// jobs whose worker stopped (an expired lease, or Orthanc stopping under them).
#include "sqlite_store_impl.h"

namespace curia::storage {

using sqlite::Statement;
using store_text::Plural;

bool SqliteStore::Cancel(int64_t job_id, double now) {
  Impl::Write write(*impl_);
  sqlite::Database& db = impl_->db;
  const std::optional<JobRow> job = impl_->FindJob(job_id);
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
  Statement(db, "UPDATE jobs SET state = 'cancelled', lease_until = 0, owner = '', updated_at = ?2 WHERE id = ?1")
      .Bind(job_id, now)
      .Run();
  const std::string detail = std::string("was ") + JobStateName(job->state) + impl_->CancelPendingExports(job_id);
  impl_->WriteAudit(job_id, job->study_id, "cancelled", detail, now);
  write.Commit();
  return true;
}

bool SqliteStore::Retry(int64_t job_id, double now) {
  Impl::Write write(*impl_);
  sqlite::Database& db = impl_->db;
  const std::optional<JobRow> job = impl_->FindJob(job_id);
  if (!job) return false;
  if (job->state != JobState::kDead && job->state != JobState::kFailed && job->state != JobState::kCancelled) {
    return false;
  }
  // A job cancelled while exporting has its result: it goes back to exporting, like a dead one.
  const bool exportable = job->state == JobState::kDead || job->finished_at != 0;
  std::string detail;
  if (exportable) {
    // The result exists: send what was not delivered again.
    const int64_t revived = impl_->ReviveExports(job_id, now);
    const bool pending = impl_->CountExports(job_id, "pending") > 0;
    const JobState state = pending ? JobState::kExporting : JobState::kDone;
    Statement(db, "UPDATE jobs SET state = ?2, error = '', updated_at = ?3 WHERE id = ?1")
        .Bind(job_id, JobStateName(state), now)
        .Run();
    detail = std::string("was ") + JobStateName(job->state) + "; " + Plural(revived, "export") + " pending again";
  } else {
    Statement(db,
              "UPDATE jobs SET state = 'queued', attempts = 0, error = '', lease_until = 0, owner = '', updated_at = ?2 "
              "WHERE id = ?1")
        .Bind(job_id, now)
        .Run();
    detail = std::string("was ") + JobStateName(job->state) + "; queued again";
  }
  impl_->WriteAudit(job_id, job->study_id, "retried", detail, now);
  write.Commit();
  return true;
}

int SqliteStore::RecoverExpiredLeases(double now, int max_attempts, bool every_running) {
  Impl::Write write(*impl_);
  sqlite::Database& db = impl_->db;
  struct Expired {
    int64_t id;
    std::string study_id;
    int attempts;
    int interruptions;
    std::string owner;
  };
  std::vector<Expired> expired;
  {
    Statement s(db,
                "SELECT id, study_id, attempts, interruptions, owner FROM jobs "
                "WHERE state = 'running' AND (lease_until < ?1 OR ?2) ORDER BY id");
    s.Bind(now, every_running ? 1 : 0);
    while (s.Step()) {
      expired.push_back({s.Int(0), s.Text(1), static_cast<int>(s.Int(2)), static_cast<int>(s.Int(3)), s.Text(4)});
    }
  }
  for (const Expired& e : expired) {
    const store_text::Recovery r = store_text::Recover(every_running, e.attempts, e.interruptions, max_attempts);
    if (every_running) {
      Statement(db, "UPDATE jobs SET attempts = MAX(attempts - 1, 0), interruptions = ?2 WHERE id = ?1")
          .Bind(e.id, r.interruptions)
          .Run();
    }
    if (r.again) {
      Statement(db, "UPDATE jobs SET state = 'queued', lease_until = 0, updated_at = ?2 WHERE id = ?1")
          .Bind(e.id, now)
          .Run();
    } else {
      Statement(db,
                "UPDATE jobs SET state = 'failed', error = ?2, lease_until = 0, updated_at = ?3 WHERE id = ?1")
          .Bind(e.id, r.error, now)
          .Run();
    }
    impl_->WriteAudit(e.id, e.study_id, "recovered", r.detail, now);
    impl_->CountLeases(NodeOfOwner(e.owner), false, 1);
  }
  impl_->CountLeases(node_name(), true, static_cast<int64_t>(expired.size()));
  if (every_running) {
    // Whatever was being sent when Orthanc stopped is sent again at once.
    Statement(db, "UPDATE exports SET lease_until = 0, owner = '' WHERE lease_until > 0").Run();
  }
  write.Commit();
  return static_cast<int>(expired.size());
}

}  // namespace curia::storage
