// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A study as Orthanc holds it, read through its REST API into the facts the routing rules see, and
// the idempotency key of a job routed from it.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "curia/config/json.h"
#include "curia/config/rules.h"
#include "curia/node/orthanc.h"
#include "curia/storage/store.h"
#include "curia/worker/model.h"

namespace curia::node::internal {

struct SeriesListing {
  std::string id, uid;
  std::vector<std::string> instances;  // Orthanc IDs
  std::vector<std::string> sop_uids;   // sorted
};

struct StudySnapshot {
  config::StudyFacts facts;
  std::map<std::string, SeriesListing> series;  // by Orthanc ID
};

// Orthanc's answer as JSON; curia::Error(kUnavailable) when it is not JSON.
config::Json ParseAnswer(const std::string& text, const std::string& uri);
// The study as the rules see it (every series, or only `only_series`). Throws curia::Error
// (kNotFound) when Orthanc does not hold it.
StudySnapshot ReadStudy(IOrthanc& orthanc, const std::string& study_id, const std::string& only_series);
// Orthanc ID of the study with this Study Instance UID, "" when Orthanc has none.
std::string LookupStudy(IOrthanc& orthanc, const std::string& study_uid);
// Orthanc IDs of a series' instances; nullopt when Orthanc does not hold the series.
std::optional<std::vector<std::string>> SeriesInstances(IOrthanc& orthanc, const std::string& series_id);
// Idempotency key of a routed job: the same images, rule, tasks and weights give the same key (and
// so the same result UIDs); one more instance gives another.
std::string JobKey(const StudySnapshot& study, const config::RoutedJob& job, const worker::ModelInfo& model);
// The job to queue for `job` of `study`: its key (JobKey), study, series, rule, tasks, priority,
// outputs, destinations and instance count. A region job starts from it (regions.h).
storage::NewJob NewJobOf(const StudySnapshot& study, const config::RoutedJob& job, const worker::ModelInfo& model);

}  // namespace curia::node::internal
