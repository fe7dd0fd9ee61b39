// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Region objects in a study (issue 17): the DICOM SEG and RTSTRUCT series of a snapshot, kept apart
// from the image series the rules route, and the region jobs they start. A region job runs the
// mask-prompted tasks of a rule (those whose Region.From takes the object's kind) on the image
// series the object references, once that series is in Orthanc and stable; until then the object
// waits (nothing is queued; the next stable event of its study or series plans it again).
//
//   StudySnapshot snap = ReadStudy(orthanc, id, "");
//   std::vector<RegionSeries> objects = SplitRegionObjects(snap);   // snap keeps the image series
//   for (const RegionPlan& p : PlanRegionJobs(orthanc, model, snap, objects, Route(settings, snap.facts), false))
//     if (p.waiting.empty()) store.Enqueue(p.job, now);
//
// The key of a region job is the key of the whole-volume job its rule gives the series (JobKey)
// with the object's SOP Instance UID: the same images and object give the same job (a SEG sent
// twice starts nothing new); its region scope "regions-only:<kind>:<object's series UID>" makes a
// newer object of that kind and series supersede the older one's results (and nothing else).
#include <string>
#include <vector>

#include "curia/config/json.h"
#include "curia/config/rules.h"
#include "curia/config/settings.h"
#include "curia/node/orthanc.h"
#include "curia/storage/store.h"
#include "curia/worker/model.h"
#include "facts.h"

namespace curia::node::internal {

// A SEG or RTSTRUCT series of a study (by its first instance's SOP Class UID, or its Modality).
struct RegionSeries {
  SeriesListing listing;
  std::string kind;  // "SEG" | "RTSTRUCT"
};

// Takes the region object series out of `snap` (facts and listings): the rules never route them as
// images. Our own outputs are never region objects.
std::vector<RegionSeries> SplitRegionObjects(StudySnapshot& snap);

// One region object of the study and what it starts.
struct RegionPlan {
  std::string instance_id;  // Orthanc ID of the SEG / RTSTRUCT
  std::string kind;         // "SEG" | "RTSTRUCT"
  std::string sop_instance_uid;
  std::string referenced_series_uid;  // first referenced series (or the one found by its instances)
  // Why nothing is queued for it now: its series is not in Orthanc (or not stable) yet, the object
  // is unreadable, no rule chose its series, or no task of the rule takes its regions. Empty when
  // `job` is to be queued.
  std::string waiting;
  bool waits = false;  // `waiting` says why it waits for its images (planned again later)
  storage::NewJob job;  // when `waiting` is empty
};

// The region jobs of the study's region objects: one per (object, routed job of its image series
// whose rule has mask-prompted tasks taking the object's kind). `images` holds the study's image
// series (SplitRegionObjects), `routing` their routing. `check_stable`: ask Orthanc whether the
// image series is stable (series trigger; a stable study is stable throughout). Reads each object's
// header from Orthanc. Throws curia::Error(kUnavailable) when Orthanc fails.
std::vector<RegionPlan> PlanRegionJobs(IOrthanc& orthanc, const worker::ModelInfo& model, const StudySnapshot& images,
                                       const std::vector<RegionSeries>& objects, const config::Routing& routing,
                                       bool check_stable);

// The plans as the dry-run explanation lists them ("RegionJobs").
config::Json RegionPlansToJson(const std::vector<RegionPlan>& plans);

// The body of POST /instances/{id}/modify that asks Orthanc for a SEG in Explicit VR Little Endian,
// same SOP Instance UID (dcmseg cannot decode JPEG 2000, JPEG-LS, ...).
inline constexpr const char* kTranscodeBody =
    R"({"Transcode":"1.2.840.10008.1.2.1","Keep":["SOPInstanceUID"],"Force":true})";

}  // namespace curia::node::internal
