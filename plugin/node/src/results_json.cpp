// SPDX-License-Identifier: GPL-3.0-or-later
// Jobs and their results as the JSON the store keeps and the REST API serves.
#include "results_json.h"

#include <algorithm>

#include "http.h"

namespace curia::node::internal {
namespace {

// An embedded JSON text from the store ("" -> null).
config::Json Embedded(const std::string& text) {
  if (text.empty()) return config::Json();
  return config::ParseJson(text, "stored result");
}

}  // namespace

config::Json TimingsToJson(const worker::JobTimings& t) {
  config::Json j(::Json::objectValue);
  j["QueuedSeconds"] = t.queued_seconds;
  j["PreprocessSeconds"] = t.preprocess_seconds;
  j["DeviceSeconds"] = t.device_seconds;
  j["TotalSeconds"] = t.total_seconds;
  return j;
}

config::Json JobJson(storage::Store& store, const storage::JobRow& job, bool detail) {
  config::Json j(::Json::objectValue);
  j["ID"] = job.id;
  j["State"] = storage::JobStateName(job.state);
  j["Study"] = job.study_id;
  j["StudyInstanceUID"] = job.study_uid;
  j["Series"] = job.series_id;
  j["SeriesInstanceUID"] = job.series_uid;
  j["Rule"] = job.rule;
  j["Tasks"] = Strings(job.tasks);
  j["Priority"] = PriorityText(job.priority);
  j["Outputs"] = Strings(job.outputs);
  j["Destinations"] = Strings(job.destinations);
  j["Instances"] = job.instances;
  if (!job.region_instance.empty()) {
    // A region job: the SEG or RTSTRUCT instance (Orthanc ID) its mask-prompted tasks read.
    j["RegionInstance"] = job.region_instance;
    j["RegionScope"] = job.region_scope;
  }
  j["Attempts"] = job.attempts;
  // The node that runs it or ran it last (its claim's token starts with the node's name); empty
  // before the first claim and once cancelled, superseded or retried.
  j["Node"] = storage::NodeOfOwner(job.owner);
  config::Json progress(::Json::objectValue);
  progress["Done"] = job.progress_done;
  progress["Total"] = job.progress_total;
  j["Progress"] = std::move(progress);
  j["Error"] = job.error;
  j["CreatedAt"] = job.created_at;
  j["StartedAt"] = job.started_at;
  j["FinishedAt"] = job.finished_at;
  j["SupersededBy"] = job.superseded_by;
  if (!detail) return j;
  j["ModelDigest"] = job.model_digest;
  j["Findings"] = Embedded(job.findings_json);
  j["Timings"] = Embedded(job.timings_json);
  config::Json outputs(::Json::arrayValue);
  for (const storage::OutputRow& o : store.Outputs(job.id)) {
    config::Json x(::Json::objectValue);
    x["ID"] = o.id;
    x["Kind"] = o.kind;
    x["SOPClassUID"] = o.sop_class_uid;
    x["SOPInstanceUID"] = o.sop_instance_uid;
    x["SeriesInstanceUID"] = o.series_uid;
    x["Size"] = o.size;
    outputs.append(std::move(x));
  }
  j["Outputs"] = std::move(outputs);
  config::Json exports(::Json::arrayValue);
  for (const storage::ExportRow& e : store.Exports(job.id)) {
    config::Json x(::Json::objectValue);
    x["ID"] = e.id;
    x["Output"] = e.output_id;
    x["Destination"] = e.destination;
    x["State"] = storage::ExportStateName(e.state);
    x["Attempts"] = e.attempts;
    x["LastError"] = e.last_error;
    x["NextAt"] = e.next_at;
    x["DeliveredAt"] = e.delivered_at;
    exports.append(std::move(x));
  }
  j["Exports"] = std::move(exports);
  // The study's own events (received, not routed) with the job's, in time order.
  std::vector<storage::AuditRow> rows = store.Audit(job.id);
  for (storage::AuditRow& a : store.StudyAudit(job.study_id)) {
    if (a.job_id == 0) rows.push_back(std::move(a));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const storage::AuditRow& a, const storage::AuditRow& b) { return a.at < b.at; });
  config::Json audit(::Json::arrayValue);
  for (const storage::AuditRow& a : rows) {
    config::Json x(::Json::objectValue);
    x["At"] = a.at;
    x["Event"] = a.event;
    x["Detail"] = a.detail;
    audit.append(std::move(x));
  }
  j["Audit"] = std::move(audit);
  return j;
}

}  // namespace curia::node::internal
