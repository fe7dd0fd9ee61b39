// SPDX-License-Identifier: GPL-3.0-or-later
// SqliteStore: read-only views for the REST API and the metrics: jobs (one, or a filtered page),
// counts, outputs and their bytes, exports.
#include "sqlite_store_impl.h"

namespace curia::storage {

using sqlite::Statement;

namespace {

// WHERE clause of a filter from constant fragments; the values are bound in this order.
struct Where {
  std::string sql;
  std::vector<std::string> values;
};
Where FilterWhere(const JobFilter& f) {
  Where w;
  auto add = [&](const char* fragment, const std::string& value) {
    w.sql += w.sql.empty() ? " WHERE " : " AND ";
    w.sql += fragment;
    w.sql += std::to_string(w.values.size() + 1);
    w.values.push_back(value);
  };
  if (f.state) add("state = ?", JobStateName(*f.state));
  if (!f.study_id.empty()) add("study_id = ?", f.study_id);
  if (!f.rule.empty()) add("rule = ?", f.rule);
  return w;
}

void BindWhere(Statement& s, const Where& w) {
  for (size_t i = 0; i < w.values.size(); ++i) s.BindAt(static_cast<int>(i + 1), w.values[i]);
}

}  // namespace

std::optional<JobRow> SqliteStore::GetJob(int64_t job_id) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->FindJob(job_id);
}

std::vector<JobRow> SqliteStore::Jobs(const JobFilter& filter) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const Where where = FilterWhere(filter);
  // LIMIT and OFFSET follow the filter's values.
  const int limit_index = static_cast<int>(where.values.size()) + 1;
  Statement s(impl_->db, "SELECT " CURIA_JOB_COLUMNS_LIST " FROM jobs" + where.sql + " ORDER BY id DESC LIMIT ?" +
                             std::to_string(limit_index) + " OFFSET ?" + std::to_string(limit_index + 1));
  BindWhere(s, where);
  s.BindAt(limit_index, filter.limit).BindAt(limit_index + 1, filter.offset);
  std::vector<JobRow> jobs;
  while (s.Step()) jobs.push_back(impl_->ReadJob(s));
  return jobs;
}

int64_t SqliteStore::CountJobs(const JobFilter& filter) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const Where where = FilterWhere(filter);
  Statement s(impl_->db, "SELECT COUNT(*) FROM jobs" + where.sql);
  BindWhere(s, where);
  return s.Step() ? s.Int(0) : 0;
}

std::vector<OutputRow> SqliteStore::Outputs(int64_t job_id) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db,
              "SELECT id, job_id, kind, sop_class_uid, sop_instance_uid, series_uid, length(bytes) FROM outputs "
              "WHERE job_id = ?1 ORDER BY id");
  s.Bind(job_id);
  std::vector<OutputRow> rows;
  while (s.Step()) {
    OutputRow o;
    o.id = s.Int(0);
    o.job_id = s.Int(1);
    o.kind = s.Text(2);
    o.sop_class_uid = s.Text(3);
    o.sop_instance_uid = s.Text(4);
    o.series_uid = s.Text(5);
    o.size = s.Int(6);
    rows.push_back(std::move(o));
  }
  return rows;
}

std::optional<std::string> SqliteStore::OutputBytes(int64_t output_id) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db, "SELECT bytes FROM outputs WHERE id = ?1");
  s.Bind(output_id);
  if (!s.Step()) return std::nullopt;
  return s.Text(0);
}

std::vector<ExportRow> SqliteStore::Exports(int64_t job_id) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db, "SELECT " CURIA_EXPORT_COLUMNS " FROM exports e WHERE e.job_id = ?1 ORDER BY e.id");
  s.Bind(job_id);
  std::vector<ExportRow> rows;
  while (s.Step()) rows.push_back(impl_->ReadExport(s));
  return rows;
}

std::vector<QueueCount> SqliteStore::CountByPriorityAndState() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db, "SELECT priority, state, COUNT(*) FROM jobs GROUP BY priority, state ORDER BY priority, state");
  std::vector<QueueCount> rows;
  while (s.Step()) {
    QueueCount c;
    c.priority = static_cast<int>(s.Int(0));
    const std::optional<JobState> state = ParseJobState(s.Text(1));
    if (!state) impl_->Corrupt("a job has an unknown state '" + s.Text(1) + "'");
    c.state = *state;
    c.jobs = s.Int(2);
    rows.push_back(c);
  }
  return rows;
}

int64_t SqliteStore::CountExportFailures() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'export_failures'");
  return s.Step() ? s.Int(0) : 0;
}

}  // namespace curia::storage
