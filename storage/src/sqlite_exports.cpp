// SPDX-License-Identifier: GPL-3.0-or-later
// SqliteStore: exports of a job's objects to its destinations: what is due, delivered, failed with
// backoff or dead, and the job settled (done or dead) once none is pending.
#include "curia/config/error.h"
#include "sqlite_store_impl.h"

namespace curia::storage {

using sqlite::Statement;
using store_text::Plural;

std::string SqliteStore::Impl::CancelPendingExports(int64_t job_id) {
  Statement(db, "UPDATE exports SET state = 'cancelled' WHERE job_id = ?1 AND state = 'pending'").Bind(job_id).Run();
  const int64_t cancelled = db.Changes();
  return cancelled > 0 ? "; " + Plural(cancelled, "pending export") + " cancelled" : "";
}

ExportRow SqliteStore::Impl::StepToExport(Statement& s, int64_t export_id) {
  s.Bind(export_id);
  if (!s.Step()) throw Error(ErrorCode::kNotFound, path() + ": no export " + std::to_string(export_id));
  return ReadExport(s);
}

int64_t SqliteStore::Impl::ReviveExports(int64_t job_id, double now) {
  Statement(db,
            "UPDATE exports SET state = 'pending', attempts = 0, next_at = ?2, lease_until = 0, owner = '' "
            "WHERE job_id = ?1 AND state IN ('dead', 'cancelled')")
      .Bind(job_id, now)
      .Run();
  return db.Changes();
}

int64_t SqliteStore::Impl::CountExports(int64_t job_id, const char* state) {
  Statement s(db, "SELECT COUNT(*) FROM exports WHERE job_id = ?1 AND state = ?2");
  s.Bind(job_id, state);
  return s.Step() ? s.Int(0) : 0;
}

void SqliteStore::Impl::SettleExports(int64_t job_id, const std::string& job_state, double now) {
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

std::optional<ExportTask> SqliteStore::NextExport(double now, double lease_s) {
  Impl::Write write(*impl_);
  ExportTask task;
  {
    Statement s(impl_->db,
                "SELECT " CURIA_EXPORT_COLUMNS ", o.sop_instance_uid, o.bytes FROM exports e "
                "JOIN jobs j ON j.id = e.job_id JOIN outputs o ON o.id = e.output_id "
                "WHERE e.state = 'pending' AND e.next_at <= ?1 AND e.lease_until <= ?1 AND j.state = 'exporting' "
                "ORDER BY e.next_at, e.id LIMIT 1");
    s.Bind(now);
    if (!s.Step()) return std::nullopt;
    task.row = impl_->ReadExport(s);
    task.sop_instance_uid = s.Text(9);
    task.bytes = s.Text(10);
  }
  task.owner = store_text::NewOwnerToken();
  Statement(impl_->db, "UPDATE exports SET lease_until = ?2, owner = ?3 WHERE id = ?1")
      .Bind(task.row.id, now + lease_s, task.owner)
      .Run();
  write.Commit();
  return task;
}

std::optional<double> SqliteStore::NextExportDue() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db,
              "SELECT MIN(MAX(e.next_at, e.lease_until)) FROM exports e JOIN jobs j ON j.id = e.job_id "
              "WHERE e.state = 'pending' AND j.state = 'exporting'");
  if (!s.Step() || s.IsNull(0)) return std::nullopt;
  return s.Real(0);
}

void SqliteStore::ExportDelivered(int64_t export_id, double now) {
  Impl::Write write(*impl_);
  sqlite::Database& db = impl_->db;
  Statement s(db,
              "SELECT " CURIA_EXPORT_COLUMNS ", o.sop_instance_uid, j.study_id, j.state FROM exports e "
              "JOIN jobs j ON j.id = e.job_id JOIN outputs o ON o.id = e.output_id WHERE e.id = ?1");
  const ExportRow row = impl_->StepToExport(s, export_id);
  const std::string sop_instance_uid = s.Text(9), study_id = s.Text(10), job_state = s.Text(11);
  if (row.state == ExportState::kDelivered) return;
  Statement(db, "UPDATE exports SET state = 'delivered', delivered_at = ?2, lease_until = 0, owner = '' WHERE id = ?1")
      .Bind(export_id, now)
      .Run();
  impl_->WriteAudit(row.job_id, study_id, "exported", row.destination + ": " + sop_instance_uid, now);
  impl_->SettleExports(row.job_id, job_state, now);
  write.Commit();
}

bool SqliteStore::ExportFailed(const ExportClaim& claim, const std::string& error, const ExportPolicy& policy,
                               double now) {
  Impl::Write write(*impl_);
  sqlite::Database& db = impl_->db;
  const int64_t export_id = claim.export_id;
  Statement s(db,
              "SELECT " CURIA_EXPORT_COLUMNS ", j.study_id, j.state, e.owner FROM exports e "
              "JOIN jobs j ON j.id = e.job_id WHERE e.id = ?1");
  const ExportRow row = impl_->StepToExport(s, export_id);
  const std::string study_id = s.Text(9), job_state = s.Text(10), owner = s.Text(11);
  Statement(db, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'export_failures'").Run();
  if (row.state != ExportState::kPending || owner.empty() || owner != claim.owner) {
    // Cancelled, delivered by another attempt, or claimed by another sender meanwhile: only the
    // failure is counted.
    write.Commit();
    return false;
  }
  const int attempts = row.attempts + 1;
  const std::string what = row.destination + ": " + error;
  if (attempts >= policy.max_attempts) {
    Statement(db,
              "UPDATE exports SET state = 'dead', attempts = ?2, last_error = ?3, lease_until = 0, owner = '' "
              "WHERE id = ?1")
        .Bind(export_id, attempts, error)
        .Run();
    const bool others = impl_->CountExports(row.job_id, "pending") > 0;
    impl_->WriteAudit(row.job_id, study_id, "dead", store_text::ExportDeadDetail(what, attempts, others), now);
    impl_->SettleExports(row.job_id, job_state, now);
  } else {
    const double delay = store_text::ExportDelay(attempts, policy.backoff_min_s, policy.backoff_max_s);
    Statement(db,
              "UPDATE exports SET attempts = ?2, last_error = ?3, next_at = ?4, lease_until = 0, owner = '' "
              "WHERE id = ?1")
        .Bind(export_id, attempts, error, now + delay)
        .Run();
    impl_->WriteAudit(row.job_id, study_id, "export-failed",
                      store_text::ExportRetryDetail(what, attempts, policy.max_attempts, delay), now);
  }
  write.Commit();
  return true;
}

}  // namespace curia::storage
