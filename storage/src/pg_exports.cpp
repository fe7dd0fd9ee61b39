// SPDX-License-Identifier: GPL-3.0-or-later
// PgStore: exports of a job's objects to its destinations: claimed (leased) by one sender of one
// node, delivered, failed with backoff or dead, and the job settled (done or dead) once none is
// pending. A delivery or failure locks the job's row too, so that two nodes settling the last two
// exports of one job see each other's work.
#include "curia/config/error.h"
#include "pg_store_impl.h"

namespace curia::storage {

using pg::Int;
using pg::Real;
using pg::Text;
using store_text::Plural;

std::string PgStore::Impl::CancelPendingExports(pg::Connection& c, int64_t job_id) {
  const int64_t cancelled =
      c.Exec("UPDATE exports SET state = 'cancelled', lease_until = 0, owner = '' WHERE job_id = $1 AND state = 'pending'",
             {Int(job_id)})
          .Affected();
  return cancelled > 0 ? "; " + Plural(cancelled, "pending export") + " cancelled" : "";
}

int64_t PgStore::Impl::ReviveExports(pg::Connection& c, int64_t job_id, double now) {
  return c
      .Exec("UPDATE exports SET state = 'pending', attempts = 0, next_at = $2, lease_until = 0, owner = '' "
            "WHERE job_id = $1 AND state IN ('dead', 'cancelled')",
            {Int(job_id), Real(now)})
      .Affected();
}

int64_t PgStore::Impl::CountExports(pg::Connection& c, int64_t job_id, const char* state) {
  return c.Exec("SELECT COUNT(*) FROM exports WHERE job_id = $1 AND state = $2", {Int(job_id), Text(state)}).Int(0, 0);
}

void PgStore::Impl::SettleExports(pg::Connection& c, int64_t job_id, const std::string& job_state, double now) {
  if (job_state != JobStateName(JobState::kExporting) || CountExports(c, job_id, "pending") > 0) return;
  const pg::Result dead = c.Exec(
      "SELECT destination, last_error FROM exports WHERE job_id = $1 AND state = 'dead' ORDER BY id LIMIT 1",
      {Int(job_id)});
  if (dead.Rows() == 0) {
    c.Exec("UPDATE jobs SET state = 'done', updated_at = $2 WHERE id = $1", {Int(job_id), Real(now)});
    return;
  }
  c.Exec("UPDATE jobs SET state = 'dead', error = $2, updated_at = $3 WHERE id = $1",
         {Int(job_id), Text(dead.Text(0, 0) + ": " + dead.Text(0, 1)), Real(now)});
}

std::optional<ExportTask> PgStore::NextExport(double now, double lease_s) {
  return impl_->Transaction([&](pg::Connection& c) -> std::optional<ExportTask> {
    const std::string owner = store_text::NewOwnerToken();
    const pg::Result claimed = c.Exec(
        "UPDATE exports SET lease_until = $2, owner = $3 WHERE id = (SELECT e.id FROM exports e "
        "JOIN jobs j ON j.id = e.job_id WHERE e.state = 'pending' AND e.next_at <= $1 AND e.lease_until <= $1 "
        "AND j.state = 'exporting' ORDER BY e.next_at, e.id LIMIT 1 FOR UPDATE OF e SKIP LOCKED) RETURNING id",
        {Real(now), Real(now + lease_s), Text(owner)});
    if (claimed.Rows() == 0) return std::nullopt;
    const pg::Result r = c.Exec("SELECT " CURIA_PG_EXPORT_COLUMNS ", o.sop_instance_uid, o.bytes FROM exports e "
                                "JOIN outputs o ON o.id = e.output_id WHERE e.id = $1",
                                {Int(claimed.Int(0, 0))});
    ExportTask task;
    task.row = impl_->ReadExport(r, 0);
    task.sop_instance_uid = r.Text(0, 9);
    task.bytes = r.Bytes(0, 10);
    task.owner = owner;
    return task;
  });
}

std::optional<double> PgStore::NextExportDue() {
  return impl_->Transaction([&](pg::Connection& c) -> std::optional<double> {
    const pg::Result r = c.Exec(
        "SELECT MIN(GREATEST(e.next_at, e.lease_until)) FROM exports e JOIN jobs j ON j.id = e.job_id "
        "WHERE e.state = 'pending' AND j.state = 'exporting'");
    if (r.IsNull(0, 0)) return std::nullopt;
    return r.Real(0, 0);
  });
}

void PgStore::ExportDelivered(int64_t export_id, double now) {
  impl_->Transaction([&](pg::Connection& c) {
    const pg::Result r = c.Exec("SELECT " CURIA_PG_EXPORT_COLUMNS ", o.sop_instance_uid, j.study_id, j.state "
                                "FROM exports e JOIN jobs j ON j.id = e.job_id JOIN outputs o ON o.id = e.output_id "
                                "WHERE e.id = $1 FOR UPDATE OF e, j",
                                {Int(export_id)});
    if (r.Rows() == 0) throw Error(ErrorCode::kNotFound, impl_->name + ": no export " + std::to_string(export_id));
    const ExportRow row = impl_->ReadExport(r, 0);
    if (row.state == ExportState::kDelivered) return;
    c.Exec("UPDATE exports SET state = 'delivered', delivered_at = $2, lease_until = 0, owner = '' WHERE id = $1",
           {Int(export_id), Real(now)});
    impl_->WriteAudit(c, row.job_id, r.Text(0, 10), "exported", row.destination + ": " + r.Text(0, 9), now);
    impl_->SettleExports(c, row.job_id, r.Text(0, 11), now);
  });
}

bool PgStore::ExportFailed(const ExportClaim& claim, const std::string& error, const ExportPolicy& policy,
                           double now) {
  return impl_->Transaction([&](pg::Connection& c) {
    const int64_t export_id = claim.export_id;
    const pg::Result r = c.Exec("SELECT " CURIA_PG_EXPORT_COLUMNS ", j.study_id, j.state, e.owner FROM exports e "
                                "JOIN jobs j ON j.id = e.job_id WHERE e.id = $1 FOR UPDATE OF e, j",
                                {Int(export_id)});
    if (r.Rows() == 0) throw Error(ErrorCode::kNotFound, impl_->name + ": no export " + std::to_string(export_id));
    const ExportRow row = impl_->ReadExport(r, 0);
    const std::string study_id = r.Text(0, 9), job_state = r.Text(0, 10), owner = r.Text(0, 11);
    c.Exec("UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'export_failures'");
    if (row.state != ExportState::kPending || owner.empty() || owner != claim.owner) {
      // Cancelled, delivered by another attempt, or claimed by another sender meanwhile: only the
      // failure is counted.
      return false;
    }
    const int attempts = row.attempts + 1;
    const std::string what = row.destination + ": " + error;
    if (attempts >= policy.max_attempts) {
      c.Exec("UPDATE exports SET state = 'dead', attempts = $2, last_error = $3, lease_until = 0, owner = '' "
             "WHERE id = $1",
             {Int(export_id), Int(attempts), Text(error)});
      const bool others = impl_->CountExports(c, row.job_id, "pending") > 0;
      impl_->WriteAudit(c, row.job_id, study_id, "dead", store_text::ExportDeadDetail(what, attempts, others), now);
      impl_->SettleExports(c, row.job_id, job_state, now);
    } else {
      const double delay = store_text::ExportDelay(attempts, policy.backoff_min_s, policy.backoff_max_s);
      c.Exec("UPDATE exports SET attempts = $2, last_error = $3, next_at = $4, lease_until = 0, owner = '' "
             "WHERE id = $1",
             {Int(export_id), Int(attempts), Text(error), Real(now + delay)});
      impl_->WriteAudit(c, row.job_id, study_id, "export-failed",
                        store_text::ExportRetryDetail(what, attempts, policy.max_attempts, delay), now);
    }
    return true;
  });
}

}  // namespace curia::storage
