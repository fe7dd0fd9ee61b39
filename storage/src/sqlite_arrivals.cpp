// SPDX-License-Identifier: GPL-3.0-or-later
// SqliteStore: arrivals, one row per study (what came, from whom, when, and when it was routed).
#include "sqlite_store_impl.h"

namespace curia::storage {

using sqlite::Statement;

void SqliteStore::RecordArrival(const std::string& study_id, const std::string& calling_aet,
                                const std::string& called_aet, double now, int64_t instances) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement(impl_->db,
            "INSERT INTO arrivals(study_id, calling_aet, called_aet, first_at, last_at, instances) "
            "VALUES (?1, ?2, ?3, ?4, ?4, ?5) "
            "ON CONFLICT(study_id) DO UPDATE SET calling_aet = excluded.calling_aet, "
            "called_aet = excluded.called_aet, last_at = excluded.last_at, instances = instances + excluded.instances")
      .Bind(study_id, calling_aet, called_aet, now, instances)
      .Run();
}

std::optional<Store::Arrival> SqliteStore::GetArrival(const std::string& study_id) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db,
              "SELECT study_id, calling_aet, called_aet, first_at, last_at, routed_at, instances FROM arrivals "
              "WHERE study_id = ?1");
  s.Bind(study_id);
  if (!s.Step()) return std::nullopt;
  Arrival a;
  a.study_id = s.Text(0);
  a.calling_aet = s.Text(1);
  a.called_aet = s.Text(2);
  a.first_at = s.Real(3);
  a.last_at = s.Real(4);
  a.routed_at = s.Real(5);
  a.instances = s.Int(6);
  return a;
}

std::vector<std::string> SqliteStore::UnroutedStudies(double quiet_before) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement s(impl_->db,
              "SELECT study_id FROM arrivals WHERE last_at < ?1 AND (routed_at = 0 OR last_at > routed_at) "
              "ORDER BY last_at, study_id");
  s.Bind(quiet_before);
  std::vector<std::string> studies;
  while (s.Step()) studies.push_back(s.Text(0));
  return studies;
}

void SqliteStore::MarkRouted(const std::string& study_id, double at) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement(impl_->db, "UPDATE arrivals SET routed_at = ?2 WHERE study_id = ?1").Bind(study_id, at).Run();
}

}  // namespace curia::storage
