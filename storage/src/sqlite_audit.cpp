// SPDX-License-Identifier: GPL-3.0-or-later
// SqliteStore: the audit trail (one row per event, no patient data).
#include "sqlite_store_impl.h"

namespace curia::storage {

using sqlite::Statement;

namespace {

// The audit rows that `sql` selects (id, at, job_id, study_id, event, detail) for the key bound to ?1.
template <typename Key>
std::vector<AuditRow> ReadAudit(sqlite::Database& db, const char* sql, const Key& key) {
  Statement s(db, sql);
  s.Bind(key);
  std::vector<AuditRow> rows;
  while (s.Step()) {
    AuditRow a;
    a.id = s.Int(0);
    a.at = s.Real(1);
    a.job_id = s.Int(2);
    a.study_id = s.Text(3);
    a.event = s.Text(4);
    a.detail = s.Text(5);
    rows.push_back(std::move(a));
  }
  return rows;
}

}  // namespace

void SqliteStore::Impl::WriteAudit(int64_t job_id, const std::string& study_id, const std::string& event,
                                   const std::string& detail, double now) {
  Statement(db, "INSERT INTO audit(at, job_id, study_id, event, detail) VALUES (?1, ?2, ?3, ?4, ?5)")
      .Bind(now, job_id, study_id, event, detail)
      .Run();
}

void SqliteStore::AddAudit(int64_t job_id, const std::string& study_id, const std::string& event,
                           const std::string& detail, double now) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->WriteAudit(job_id, study_id, event, detail, now);
}

std::vector<AuditRow> SqliteStore::Audit(int64_t job_id) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return ReadAudit(impl_->db, "SELECT id, at, job_id, study_id, event, detail FROM audit WHERE job_id = ?1 ORDER BY id",
                   job_id);
}

std::vector<AuditRow> SqliteStore::StudyAudit(const std::string& study_id) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return ReadAudit(impl_->db,
                   "SELECT id, at, job_id, study_id, event, detail FROM audit WHERE study_id = ?1 ORDER BY id",
                   study_id);
}

}  // namespace curia::storage
