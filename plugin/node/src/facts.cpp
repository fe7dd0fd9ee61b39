// SPDX-License-Identifier: GPL-3.0-or-later
// A study as Orthanc holds it, read through its REST API into the facts the routing rules see.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <sstream>

#include "curia/config/error.h"
#include "curia/config/sha256.h"
#include "curia/dicomsr/outputs.h"
#include "curia/model/orientation.h"
#include "curia/pool/pool.h"
#include "facts.h"

namespace curia::node::internal {
namespace {

config::Json GetJson(IOrthanc& orthanc, const std::string& uri) {
  std::optional<std::string> text = orthanc.Get(uri);
  if (!text) throw Error(ErrorCode::kNotFound, uri + ": not in Orthanc");
  return ParseAnswer(*text, uri);
}

std::string MainTag(const config::Json& resource, const char* tag) {
  const config::Json* tags = config::Find(resource, "MainDicomTags");
  const config::Json* v = tags ? config::Find(*tags, tag) : nullptr;
  return v && v->isString() ? v->asString() : "";
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

// "axial", "coronal", "sagittal", or "" when Image Orientation (Patient) is missing or unusable.
std::string PlaneOf(const std::string& iop_text) {
  std::array<double, 6> iop{};
  std::istringstream in(iop_text);
  std::string part;
  size_t n = 0;
  while (std::getline(in, part, '\\') && n < 6) {
    char* end = nullptr;
    iop[n++] = std::strtod(part.c_str(), &end);
    if (end == part.c_str()) return "";
  }
  if (n != 6) return "";
  try {
    return model::PlaneName(model::ComputeSliceOrientation(iop).plane);
  } catch (const Error&) {
    return "";
  }
}

std::string Metadata(IOrthanc& orthanc, const std::string& instance, const char* name) {
  try {
    return Trim(orthanc.Get("/instances/" + instance + "/metadata/" + name).value_or(""));
  } catch (const Error&) {
    return "";
  }
}

}  // namespace

config::Json ParseAnswer(const std::string& text, const std::string& uri) {
  try {
    return config::ParseJson(text, "Orthanc " + uri);
  } catch (const Error& e) {
    throw Error(ErrorCode::kUnavailable, std::string("unexpected answer from Orthanc: ") + e.what());
  }
}

StudySnapshot ReadStudy(IOrthanc& orthanc, const std::string& study_id, const std::string& only_series) {
  const config::Json study = GetJson(orthanc, "/studies/" + study_id);
  StudySnapshot snap;
  snap.facts.id = study_id;
  snap.facts.uid = MainTag(study, "StudyInstanceUID");
  const config::Json* series_ids = config::Find(study, "Series");
  if (!series_ids || !series_ids->isArray()) return snap;
  bool aets_read = false;
  for (const config::Json& sid : *series_ids) {
    if (!sid.isString() || (!only_series.empty() && sid.asString() != only_series)) continue;
    SeriesListing listing;
    listing.id = sid.asString();
    const config::Json instances = GetJson(orthanc, "/series/" + listing.id + "/instances");
    if (!instances.isArray() || instances.empty()) continue;
    for (const config::Json& inst : instances) {
      const config::Json* id = config::Find(inst, "ID");
      if (!id || !id->isString()) continue;
      listing.instances.push_back(id->asString());
      listing.sop_uids.push_back(MainTag(inst, "SOPInstanceUID"));
    }
    std::sort(listing.sop_uids.begin(), listing.sop_uids.end());
    if (listing.instances.empty()) continue;
    // The first instance speaks for the series: study, series and image level tags.
    const std::string first = listing.instances.front();
    const config::Json tags = GetJson(orthanc, "/instances/" + first + "/simplified-tags");
    config::SeriesFacts facts;
    facts.id = listing.id;
    if (tags.isObject()) {
      for (auto it = tags.begin(); it != tags.end(); ++it) {
        if (it->isString()) facts.tags[it.name()] = it->asString();
      }
    }
    facts.uid = facts.tags["SeriesInstanceUID"];
    listing.uid = facts.uid;
    const int64_t frames = std::max<int64_t>(1, std::atoll(facts.tags["NumberOfFrames"].c_str()));
    facts.slices = static_cast<int64_t>(listing.instances.size()) * frames;
    facts.orientation = PlaneOf(facts.tags["ImageOrientationPatient"]);
    facts.own_output = Trim(facts.tags["ManufacturerModelName"]) == dicomsr::kOwnModelName ||
                       Trim(facts.tags["SecondaryCaptureDeviceManufacturerModelName"]) == dicomsr::kOwnModelName;
    if (!aets_read && !facts.own_output) {
      snap.facts.calling_aet = Metadata(orthanc, first, "RemoteAET");
      snap.facts.called_aet = Metadata(orthanc, first, "CalledAET");
      aets_read = true;
    }
    snap.facts.series.push_back(std::move(facts));
    snap.series[listing.id] = std::move(listing);
  }
  if (!only_series.empty() && snap.series.empty()) {
    throw Error(ErrorCode::kNotFound, "/series/" + only_series + ": not in study " + study_id);
  }
  return snap;
}

std::optional<std::vector<std::string>> SeriesInstances(IOrthanc& orthanc, const std::string& series_id) {
  const std::string uri = "/series/" + series_id + "/instances";
  const std::optional<std::string> listing = orthanc.Get(uri);
  if (!listing) return std::nullopt;
  std::vector<std::string> ids;
  const config::Json instances = ParseAnswer(*listing, uri);
  if (!instances.isArray()) return ids;
  for (const config::Json& i : instances) {
    if (const config::Json* id = config::Find(i, "ID"); id && id->isString()) ids.push_back(id->asString());
  }
  return ids;
}

std::string LookupStudy(IOrthanc& orthanc, const std::string& study_uid) {
  const std::string answer = orthanc.Post("/tools/lookup", study_uid);
  const config::Json found = ParseAnswer(answer, "/tools/lookup");
  if (!found.isArray()) return "";
  for (const config::Json& r : found) {
    const config::Json* type = config::Find(r, "Type");
    const config::Json* id = config::Find(r, "ID");
    if (type && type->isString() && type->asString() == "Study" && id && id->isString()) return id->asString();
  }
  return "";
}

std::string JobKey(const StudySnapshot& study, const config::RoutedJob& job, const worker::ModelInfo& model) {
  config::Sha256 h;
  h.Update("curia-job-v1|" + study.facts.uid + "|" + job.series_uid + "|" + job.rule + "|" + model.backbone_digest);
  auto it = study.series.find(job.series_id);
  if (it != study.series.end()) {
    for (const std::string& uid : it->second.sop_uids) h.Update("|" + uid);
  }
  for (const std::string& task : job.tasks) {
    const int t = model.FindTask(task);
    h.Update("|" + task + "=" + (t >= 0 ? model.tasks[static_cast<size_t>(t)].head_digest : std::string("?")));
  }
  return h.HexDigest();
}

storage::NewJob NewJobOf(const StudySnapshot& study, const config::RoutedJob& job, const worker::ModelInfo& model) {
  storage::NewJob j;
  j.idempotency_key = JobKey(study, job, model);
  j.study_id = study.facts.id;
  j.study_uid = study.facts.uid;
  j.series_id = job.series_id;
  j.series_uid = job.series_uid;
  j.rule = job.rule;
  j.tasks = job.tasks;
  j.priority = static_cast<int>(pool::ParsePriority(job.priority));
  j.outputs = job.outputs;
  j.destinations = job.destinations;
  auto it = study.series.find(job.series_id);
  j.instances = it == study.series.end() ? 0 : static_cast<int64_t>(it->second.instances.size());
  return j;
}

}  // namespace curia::node::internal
