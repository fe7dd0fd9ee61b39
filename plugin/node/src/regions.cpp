// SPDX-License-Identifier: GPL-3.0-or-later
// Region objects in a study and the region jobs they start (regions.h).
#include "regions.h"

#include <algorithm>
#include <exception>
#include <optional>
#include <utility>

#include "curia/config/error.h"
#include "curia/config/sha256.h"
#include "curia/dicom/instance_source.h"
#include "curia/pool/pool.h"
#include "curia/region/job.h"
#include "curia/region/region.h"
#include "orthanc_instances.h"

namespace curia::node::internal {
namespace {

std::string Tag(const config::SeriesFacts& s, const char* key) {
  auto it = s.tags.find(key);
  std::string v = it == s.tags.end() ? "" : it->second;
  while (!v.empty() && (v.back() == ' ' || v.back() == '\0')) v.pop_back();
  return v;
}

// "SEG", "RTSTRUCT", or "" for a series of images (or anything else).
std::string RegionKindOf(const config::SeriesFacts& s) {
  const std::string sop_class = Tag(s, "SOPClassUID");
  if (sop_class == region::ObjectSopClassUid(region::ObjectKind::kSeg)) return "SEG";
  if (sop_class == region::ObjectSopClassUid(region::ObjectKind::kRtStruct)) return "RTSTRUCT";
  if (sop_class.empty()) {
    const std::string modality = Tag(s, "Modality");
    if (modality == "SEG" || modality == "RTSTRUCT") return modality;
  }
  return "";
}

bool SeriesStable(IOrthanc& orthanc, const std::string& series_id) {
  const std::optional<std::string> text = orthanc.Get("/series/" + series_id);
  if (!text) return false;
  const config::Json s = ParseAnswer(*text, "/series/" + series_id);
  const config::Json* stable = config::Find(s, "IsStable");
  return !stable || !stable->isBool() || stable->asBool();
}

// The image series of `images` that the object's regions are drawn on: by Series Instance UID,
// else by the SOP Instance UIDs it references. Null when the study has none of them.
const SeriesListing* FindReferencedSeries(const StudySnapshot& images, const region::RegionObjectInfo& info) {
  for (const std::string& uid : info.referenced_series_uids) {
    for (const auto& [id, listing] : images.series) {
      if (listing.uid == uid) return &listing;
    }
  }
  for (const std::string& sop : info.referenced_instance_uids) {
    for (const auto& [id, listing] : images.series) {
      if (std::binary_search(listing.sop_uids.begin(), listing.sop_uids.end(), sop)) return &listing;
    }
  }
  return nullptr;
}

// The tasks of `tasks` that are mask-prompted and take regions of `kind`.
std::vector<std::string> RegionTasks(const worker::ModelInfo& model, const std::vector<std::string>& tasks,
                                     const std::string& kind) {
  std::vector<std::string> out;
  for (const std::string& name : tasks) {
    const int t = model.FindTask(name);
    if (t < 0) continue;
    const worker::TaskInfo& task = model.tasks[static_cast<size_t>(t)];
    if (!task.mask_prompted) continue;
    const config::RegionSelection selection = task.settings.region.value_or(config::RegionSelection{});
    if (kind == "SEG" ? selection.from_seg : selection.from_rtstruct) out.push_back(name);
  }
  return out;
}

}  // namespace

std::vector<RegionSeries> SplitRegionObjects(StudySnapshot& snap) {
  std::vector<RegionSeries> objects;
  std::vector<config::SeriesFacts> images;
  for (config::SeriesFacts& s : snap.facts.series) {
    const std::string kind = s.own_output ? "" : RegionKindOf(s);
    if (kind.empty()) {
      images.push_back(std::move(s));
      continue;
    }
    auto it = snap.series.find(s.id);
    if (it == snap.series.end()) continue;
    objects.push_back({std::move(it->second), kind});
    snap.series.erase(it);
  }
  snap.facts.series = std::move(images);
  return objects;
}

std::vector<RegionPlan> PlanRegionJobs(IOrthanc& orthanc, const worker::ModelInfo& model, const StudySnapshot& images,
                                       const std::vector<RegionSeries>& objects, const config::Routing& routing,
                                       bool check_stable) {
  std::vector<RegionPlan> plans;
  const OrthancInstances files(orthanc);
  for (const RegionSeries& object : objects) {
    for (const std::string& instance : object.listing.instances) {
      RegionPlan plan;
      plan.instance_id = instance;
      plan.kind = object.kind;
      region::RegionObjectInfo info;
      try {
        info = region::PeekRegionObject(files, instance);
      } catch (const std::exception& e) {
        // Orthanc unavailable: the routing is retried. Whatever else a hostile object provokes stays
        // with it: the study's images still route.
        const auto* error = dynamic_cast<const Error*>(&e);
        if (error && error->code() == ErrorCode::kUnavailable) throw;
        plan.waiting = std::string("not readable: ") + e.what();
        plans.push_back(std::move(plan));
        continue;
      }
      plan.kind = region::ObjectKindName(info.kind);
      plan.sop_instance_uid = info.sop_instance_uid;
      if (!info.referenced_series_uids.empty()) plan.referenced_series_uid = info.referenced_series_uids.front();
      const SeriesListing* series = FindReferencedSeries(images, info);
      if (!series) {
        plan.waits = true;
        plan.waiting = "its image series " + (plan.referenced_series_uid.empty() ? std::string("(not named)") : plan.referenced_series_uid) +
                       " is not in the study yet: it is planned again when the study or series is stable";
        plans.push_back(std::move(plan));
        continue;
      }
      plan.referenced_series_uid = series->uid;
      if (check_stable && !SeriesStable(orthanc, series->id)) {
        plan.waits = true;
        plan.waiting = "its image series " + series->uid + " is not stable yet: it is planned again when it is";
        plans.push_back(std::move(plan));
        continue;
      }
      bool planned = false;
      std::string why;
      for (const config::RoutedJob& r : routing.jobs) {
        if (r.series_id != series->id) continue;
        const std::vector<std::string> tasks = RegionTasks(model, r.tasks, plan.kind);
        if (tasks.empty()) {
          why = "rule " + r.rule + " has no mask-prompted task that takes " + plan.kind + " regions";
          continue;
        }
        RegionPlan p = plan;
        storage::NewJob& job = p.job;
        job = NewJobOf(images, r, model);
        config::Sha256 h;
        h.Update("curia-region-job-v1|" + job.idempotency_key + "|" + info.sop_instance_uid);
        job.idempotency_key = h.HexDigest();
        job.tasks = tasks;
        job.region_instance = instance;
        job.region_scope = "regions-only:" + plan.kind + ":" + info.series_uid;
        plans.push_back(std::move(p));
        planned = true;
      }
      if (!planned) {
        plan.waiting = why.empty() ? "no rule chose its image series " + series->uid : why;
        plans.push_back(std::move(plan));
      }
    }
  }
  return plans;
}

config::Json RegionPlansToJson(const std::vector<RegionPlan>& plans) {
  config::Json out(::Json::arrayValue);
  for (const RegionPlan& p : plans) {
    config::Json j(::Json::objectValue);
    j["Instance"] = p.instance_id;
    j["Kind"] = p.kind;
    j["SOPInstanceUID"] = p.sop_instance_uid;
    j["SeriesInstanceUID"] = p.referenced_series_uid;
    if (p.waiting.empty()) {
      j["Rule"] = p.job.rule;
      j["Series"] = p.job.series_id;
      config::Json tasks(::Json::arrayValue);
      for (const std::string& t : p.job.tasks) tasks.append(t);
      j["Tasks"] = std::move(tasks);
      j["Scope"] = p.job.region_scope;
    } else {
      j[p.waits ? "Waiting" : "NotRouted"] = p.waiting;
    }
    out.append(std::move(j));
  }
  return out;
}

}  // namespace curia::node::internal
