// SPDX-License-Identifier: GPL-3.0-or-later
// SqliteStore's rows: jobs and exports read from their columns (lists stored as JSON text), and the
// lookup of one job.
#include "curia/config/error.h"
#include "sqlite_store_impl.h"

namespace curia::storage {

using sqlite::Statement;

JobRow SqliteStore::Impl::ReadJob(const Statement& s) {
  JobRow j;
  const std::string where = path() + ": job " + std::to_string(s.Int(0));
  j.id = s.Int(0);
  j.idempotency_key = s.Text(1);
  j.study_id = s.Text(2);
  j.study_uid = s.Text(3);
  j.series_id = s.Text(4);
  j.series_uid = s.Text(5);
  j.rule = s.Text(6);
  j.tasks = store_text::DecodeList(s.Text(7), where + " tasks");
  j.priority = static_cast<int>(s.Int(8));
  j.outputs = store_text::DecodeList(s.Text(9), where + " outputs");
  j.destinations = store_text::DecodeList(s.Text(10), where + " destinations");
  j.instances = s.Int(11);
  const std::optional<JobState> state = ParseJobState(s.Text(12));
  if (!state) Corrupt("job " + std::to_string(j.id) + " has an unknown state '" + s.Text(12) + "'");
  j.state = *state;
  j.attempts = static_cast<int>(s.Int(13));
  j.created_at = s.Real(14);
  j.updated_at = s.Real(15);
  j.started_at = s.Real(16);
  j.finished_at = s.Real(17);
  j.lease_until = s.Real(18);
  j.error = s.Text(19);
  j.progress_done = s.Int(20);
  j.progress_total = s.Int(21);
  j.superseded_by = s.Int(22);
  j.model_digest = s.Text(23);
  j.owner = s.Text(24);
  j.region_instance = s.Text(25);
  j.region_scope = s.Text(26);
  j.findings_json = s.Text(27);
  j.timings_json = s.Text(28);
  return j;
}

// Reads the columns of CURIA_EXPORT_COLUMNS starting at `first`.
ExportRow SqliteStore::Impl::ReadExport(const Statement& s, int first) {
  ExportRow e;
  e.id = s.Int(first + 0);
  e.job_id = s.Int(first + 1);
  e.output_id = s.Int(first + 2);
  e.destination = s.Text(first + 3);
  const std::optional<ExportState> state = ParseExportState(s.Text(first + 4));
  if (!state) Corrupt("export " + std::to_string(e.id) + " has an unknown state '" + s.Text(first + 4) + "'");
  e.state = *state;
  e.attempts = static_cast<int>(s.Int(first + 5));
  e.next_at = s.Real(first + 6);
  e.delivered_at = s.Real(first + 7);
  e.last_error = s.Text(first + 8);
  return e;
}

std::optional<JobRow> SqliteStore::Impl::FindJob(int64_t job_id) {
  Statement s(db, "SELECT " CURIA_JOB_COLUMNS " FROM jobs WHERE id = ?1");
  s.Bind(job_id);
  if (!s.Step()) return std::nullopt;
  return ReadJob(s);
}

JobRow SqliteStore::Impl::RequireJob(int64_t job_id) {
  std::optional<JobRow> job = FindJob(job_id);
  if (!job) throw Error(ErrorCode::kNotFound, path() + ": no job " + std::to_string(job_id));
  return *job;
}

void SqliteStore::Impl::SetJobState(int64_t job_id, JobState state, double now) {
  Statement(db, "UPDATE jobs SET state = ?2, updated_at = ?3 WHERE id = ?1")
      .Bind(job_id, JobStateName(state), now)
      .Run();
}

}  // namespace curia::storage
