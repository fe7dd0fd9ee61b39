// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Instances received, by study. The first instance of a study is written to the database at once
// (the study's arrival is durable before Orthanc acknowledges it); later ones are counted in
// memory and written by Flush, which the router thread calls about once a second (one row update
// instead of one per instance: ingest must not wait on us), or later when the database refuses
// them (its disk full): nothing is lost, the study is in Orthanc and its stable event still comes.
//
//   Arrivals arrivals(store, health, clock);
//   arrivals.OnInstanceStored(study_uid, "CT1", "CURIA");   // Orthanc's storing threads
//   arrivals.Flush(now);                                     // the router thread
//
// Thread-safe.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "curia/storage/store.h"
#include "health.h"
#include "notifier.h"

namespace curia::node {

class Arrivals {
 public:
  static constexpr double kForgetSeconds = 60;  // a quiet study's next instance is written at once again

  Arrivals(storage::Store& store, Health& health, Clock clock);

  void OnInstanceStored(const std::string& study_uid, const std::string& calling_aet, const std::string& called_aet);
  // Writes the counts of later instances (and arrivals the database refused before).
  void Flush(double now);
  // "N received studies not yet recorded in the database", when some are not.
  std::vector<std::string> Problems() const;

 private:
  struct Pending {
    std::string calling_aet, called_aet;
    double at = 0;              // the last instance
    int64_t instances = 0;      // not yet written
    bool durable = false;       // the study's arrival row exists
    bool reported = false;      // its failure is logged
  };

  storage::Store& store_;
  Health& health_;
  Clock clock_;
  mutable std::mutex mu_;
  std::map<std::string, Pending> pending_;  // by Study Instance UID
};

}  // namespace curia::node
