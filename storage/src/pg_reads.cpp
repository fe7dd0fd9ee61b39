// SPDX-License-Identifier: GPL-3.0-or-later
// PgStore: arrivals, rows read from their columns, read-only views for the REST API and the
// metrics, and the audit trail.
#include "curia/config/error.h"
#include "pg_store_impl.h"

namespace curia::storage {

using pg::Int;
using pg::Real;
using pg::Text;
using store_text::DecodeList;

namespace {

// WHERE clause of a filter from constant fragments; the values are bound in this order.
struct Where {
  std::string sql;
  std::vector<pg::Value> values;
};
Where FilterWhere(const JobFilter& f) {
  Where w;
  auto add = [&](const char* fragment, const std::string& value) {
    w.sql += w.sql.empty() ? " WHERE " : " AND ";
    w.sql += fragment;
    w.sql += std::to_string(w.values.size() + 1);
    w.values.push_back(Text(value));
  };
  if (f.state) add("state = $", JobStateName(*f.state));
  if (!f.study_id.empty()) add("study_id = $", f.study_id);
  if (!f.rule.empty()) add("rule = $", f.rule);
  return w;
}

std::vector<AuditRow> ReadAudit(const pg::Result& r) {
  std::vector<AuditRow> rows;
  for (int i = 0; i < r.Rows(); ++i) {
    AuditRow a;
    a.id = r.Int(i, 0);
    a.at = r.Real(i, 1);
    a.job_id = r.Int(i, 2);
    a.study_id = r.Text(i, 3);
    a.event = r.Text(i, 4);
    a.detail = r.Text(i, 5);
    rows.push_back(std::move(a));
  }
  return rows;
}

}  // namespace

JobRow PgStore::Impl::ReadJob(const pg::Result& r, int i) {
  JobRow j;
  j.id = r.Int(i, 0);
  const std::string where = name + ": job " + std::to_string(j.id);
  j.idempotency_key = r.Text(i, 1);
  j.study_id = r.Text(i, 2);
  j.study_uid = r.Text(i, 3);
  j.series_id = r.Text(i, 4);
  j.series_uid = r.Text(i, 5);
  j.rule = r.Text(i, 6);
  j.tasks = DecodeList(r.Text(i, 7), where + " tasks");
  j.priority = static_cast<int>(r.Int(i, 8));
  j.outputs = DecodeList(r.Text(i, 9), where + " outputs");
  j.destinations = DecodeList(r.Text(i, 10), where + " destinations");
  j.instances = r.Int(i, 11);
  const std::optional<JobState> state = ParseJobState(r.Text(i, 12));
  if (!state) Corrupt("job " + std::to_string(j.id) + " has an unknown state '" + r.Text(i, 12) + "'");
  j.state = *state;
  j.attempts = static_cast<int>(r.Int(i, 13));
  j.created_at = r.Real(i, 14);
  j.updated_at = r.Real(i, 15);
  j.started_at = r.Real(i, 16);
  j.finished_at = r.Real(i, 17);
  j.lease_until = r.Real(i, 18);
  j.error = r.Text(i, 19);
  j.progress_done = r.Int(i, 20);
  j.progress_total = r.Int(i, 21);
  j.superseded_by = r.Int(i, 22);
  j.model_digest = r.Text(i, 23);
  j.owner = r.Text(i, 24);
  j.region_instance = r.Text(i, 25);
  j.region_scope = r.Text(i, 26);
  j.findings_json = r.Text(i, 27);
  j.timings_json = r.Text(i, 28);
  return j;
}

ExportRow PgStore::Impl::ReadExport(const pg::Result& r, int i, int first) {
  ExportRow e;
  e.id = r.Int(i, first + 0);
  e.job_id = r.Int(i, first + 1);
  e.output_id = r.Int(i, first + 2);
  e.destination = r.Text(i, first + 3);
  const std::optional<ExportState> state = ParseExportState(r.Text(i, first + 4));
  if (!state) Corrupt("export " + std::to_string(e.id) + " has an unknown state '" + r.Text(i, first + 4) + "'");
  e.state = *state;
  e.attempts = static_cast<int>(r.Int(i, first + 5));
  e.next_at = r.Real(i, first + 6);
  e.delivered_at = r.Real(i, first + 7);
  e.last_error = r.Text(i, first + 8);
  return e;
}

std::optional<JobRow> PgStore::Impl::LockJob(pg::Connection& c, int64_t job_id) {
  const pg::Result r = c.Exec("SELECT " CURIA_PG_JOB_COLUMNS " FROM jobs WHERE id = $1 FOR UPDATE", {Int(job_id)});
  if (r.Rows() == 0) return std::nullopt;
  return ReadJob(r, 0);
}

void PgStore::Impl::WriteAudit(pg::Connection& c, int64_t job_id, const std::string& study_id,
                               const std::string& event, const std::string& detail, double now) {
  c.Exec("INSERT INTO audit(at, job_id, study_id, event, detail) VALUES ($1, $2, $3, $4, $5)",
         {Real(now), Int(job_id), Text(study_id), Text(event), Text(detail)});
}

void PgStore::Impl::NotifyWork(pg::Connection& c) { c.Exec("NOTIFY curia_work"); }

// --- arrivals ---

void PgStore::RecordArrival(const std::string& study_id, const std::string& calling_aet,
                            const std::string& called_aet, double now, int64_t instances) {
  impl_->Transaction([&](pg::Connection& c) {
    c.Exec("INSERT INTO arrivals(study_id, calling_aet, called_aet, first_at, last_at, instances) "
           "VALUES ($1, $2, $3, $4, $4, $5) "
           "ON CONFLICT (study_id) DO UPDATE SET calling_aet = excluded.calling_aet, "
           "called_aet = excluded.called_aet, last_at = excluded.last_at, "
           "instances = arrivals.instances + excluded.instances",
           {Text(study_id), Text(calling_aet), Text(called_aet), Real(now), Int(instances)});
  });
}

std::optional<Store::Arrival> PgStore::GetArrival(const std::string& study_id) {
  return impl_->Transaction([&](pg::Connection& c) -> std::optional<Arrival> {
    const pg::Result r =
        c.Exec("SELECT study_id, calling_aet, called_aet, first_at, last_at, routed_at, instances FROM arrivals "
               "WHERE study_id = $1",
               {Text(study_id)});
    if (r.Rows() == 0) return std::nullopt;
    Arrival a;
    a.study_id = r.Text(0, 0);
    a.calling_aet = r.Text(0, 1);
    a.called_aet = r.Text(0, 2);
    a.first_at = r.Real(0, 3);
    a.last_at = r.Real(0, 4);
    a.routed_at = r.Real(0, 5);
    a.instances = r.Int(0, 6);
    return a;
  });
}

std::vector<std::string> PgStore::UnroutedStudies(double quiet_before) {
  return impl_->Transaction([&](pg::Connection& c) {
    const pg::Result r = c.Exec(
        "SELECT study_id FROM arrivals WHERE last_at < $1 AND (routed_at = 0 OR last_at > routed_at) "
        "ORDER BY last_at, study_id",
        {Real(quiet_before)});
    std::vector<std::string> studies;
    for (int i = 0; i < r.Rows(); ++i) studies.push_back(r.Text(i, 0));
    return studies;
  });
}

void PgStore::MarkRouted(const std::string& study_id, double at) {
  impl_->Transaction([&](pg::Connection& c) {
    c.Exec("UPDATE arrivals SET routed_at = $2 WHERE study_id = $1", {Text(study_id), Real(at)});
  });
}

// --- reading ---

std::optional<JobRow> PgStore::GetJob(int64_t job_id) {
  return impl_->Transaction([&](pg::Connection& c) -> std::optional<JobRow> {
    const pg::Result r = c.Exec("SELECT " CURIA_PG_JOB_COLUMNS " FROM jobs WHERE id = $1", {Int(job_id)});
    if (r.Rows() == 0) return std::nullopt;
    return impl_->ReadJob(r, 0);
  });
}

std::vector<JobRow> PgStore::Jobs(const JobFilter& filter) {
  return impl_->Transaction([&](pg::Connection& c) {
    Where where = FilterWhere(filter);
    const size_t limit_index = where.values.size() + 1;
    where.values.push_back(Int(filter.limit));
    where.values.push_back(Int(filter.offset));
    const pg::Result r = c.Exec("SELECT " CURIA_PG_JOB_COLUMNS_LIST " FROM jobs" + where.sql + " ORDER BY id DESC LIMIT $" +
                                    std::to_string(limit_index) + " OFFSET $" + std::to_string(limit_index + 1),
                                where.values);
    std::vector<JobRow> jobs;
    for (int i = 0; i < r.Rows(); ++i) jobs.push_back(impl_->ReadJob(r, i));
    return jobs;
  });
}

int64_t PgStore::CountJobs(const JobFilter& filter) {
  return impl_->Transaction([&](pg::Connection& c) {
    const Where where = FilterWhere(filter);
    return c.Exec("SELECT COUNT(*) FROM jobs" + where.sql, where.values).Int(0, 0);
  });
}

std::vector<OutputRow> PgStore::Outputs(int64_t job_id) {
  return impl_->Transaction([&](pg::Connection& c) {
    const pg::Result r = c.Exec(
        "SELECT id, job_id, kind, sop_class_uid, sop_instance_uid, series_uid, octet_length(bytes) FROM outputs "
        "WHERE job_id = $1 ORDER BY id",
        {Int(job_id)});
    std::vector<OutputRow> rows;
    for (int i = 0; i < r.Rows(); ++i) {
      OutputRow o;
      o.id = r.Int(i, 0);
      o.job_id = r.Int(i, 1);
      o.kind = r.Text(i, 2);
      o.sop_class_uid = r.Text(i, 3);
      o.sop_instance_uid = r.Text(i, 4);
      o.series_uid = r.Text(i, 5);
      o.size = r.Int(i, 6);
      rows.push_back(std::move(o));
    }
    return rows;
  });
}

std::optional<std::string> PgStore::OutputBytes(int64_t output_id) {
  return impl_->Transaction([&](pg::Connection& c) -> std::optional<std::string> {
    const pg::Result r = c.Exec("SELECT bytes FROM outputs WHERE id = $1", {Int(output_id)});
    if (r.Rows() == 0) return std::nullopt;
    return r.Bytes(0, 0);
  });
}

std::vector<ExportRow> PgStore::Exports(int64_t job_id) {
  return impl_->Transaction([&](pg::Connection& c) {
    const pg::Result r =
        c.Exec("SELECT " CURIA_PG_EXPORT_COLUMNS " FROM exports e WHERE e.job_id = $1 ORDER BY e.id", {Int(job_id)});
    std::vector<ExportRow> rows;
    for (int i = 0; i < r.Rows(); ++i) rows.push_back(impl_->ReadExport(r, i));
    return rows;
  });
}

std::vector<QueueCount> PgStore::CountByPriorityAndState() {
  return impl_->Transaction([&](pg::Connection& c) {
    const pg::Result r =
        c.Exec("SELECT priority, state, COUNT(*) FROM jobs GROUP BY priority, state ORDER BY priority, state");
    std::vector<QueueCount> rows;
    for (int i = 0; i < r.Rows(); ++i) {
      QueueCount q;
      q.priority = static_cast<int>(r.Int(i, 0));
      const std::optional<JobState> state = ParseJobState(r.Text(i, 1));
      if (!state) impl_->Corrupt("a job has an unknown state '" + r.Text(i, 1) + "'");
      q.state = *state;
      q.jobs = r.Int(i, 2);
      rows.push_back(q);
    }
    return rows;
  });
}

int64_t PgStore::CountExportFailures() {
  return impl_->Transaction([&](pg::Connection& c) -> int64_t {
    const pg::Result r = c.Exec("SELECT value::bigint FROM meta WHERE key = 'export_failures'");
    return r.Rows() ? r.Int(0, 0) : 0;
  });
}

// --- audit ---

void PgStore::AddAudit(int64_t job_id, const std::string& study_id, const std::string& event,
                       const std::string& detail, double now) {
  impl_->Transaction([&](pg::Connection& c) { impl_->WriteAudit(c, job_id, study_id, event, detail, now); });
}

std::vector<AuditRow> PgStore::Audit(int64_t job_id) {
  return impl_->Transaction([&](pg::Connection& c) {
    return ReadAudit(
        c.Exec("SELECT id, at, job_id, study_id, event, detail FROM audit WHERE job_id = $1 ORDER BY id", {Int(job_id)}));
  });
}

std::vector<AuditRow> PgStore::StudyAudit(const std::string& study_id) {
  return impl_->Transaction([&](pg::Connection& c) {
    return ReadAudit(c.Exec("SELECT id, at, job_id, study_id, event, detail FROM audit WHERE study_id = $1 ORDER BY id",
                            {Text(study_id)}));
  });
}

}  // namespace curia::storage
