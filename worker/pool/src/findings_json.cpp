// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/pool/findings_json.h"

#include <utility>

namespace curia::pool {
namespace {

config::Json Concept(const config::CodedConcept& c) {
  config::Json j(::Json::objectValue);
  j["Code"] = c.value;
  j["Scheme"] = c.scheme;
  j["Meaning"] = c.meaning;
  return j;
}

config::Json Floats(const std::vector<float>& values) {
  config::Json a(::Json::arrayValue);
  for (float v : values) a.append(static_cast<double>(v));
  return a;
}

}  // namespace

config::Json FindingsToJson(const worker::StudyFindings& findings) {
  config::Json j(::Json::objectValue);
  j["Backbone"] = findings.backbone;
  j["BackboneDigest"] = findings.backbone_digest;
  j["Demo"] = findings.demo;
  j["Slices"] = findings.slices;
  config::Json tasks(::Json::arrayValue);
  for (const worker::TaskFinding& f : findings.findings) {
    config::Json t(::Json::objectValue);
    t["Task"] = f.task;
    t["Head"] = f.head;
    t["HeadDigest"] = f.head_digest;
    t["Finding"] = Concept(f.finding);
    if (f.has_finding_site) t["FindingSite"] = Concept(f.finding_site);
    if (f.regression) {
      t["Value"] = f.probability;
    } else {
      t["Probability"] = f.probability;
      t["Threshold"] = f.threshold;
      t["Present"] = f.present;
      t["PositiveLabel"] = f.positive_label;
      t["ClassProbabilities"] = Floats(f.class_probabilities);
    }
    t["KeySlice"] = f.key_slice;
    t["ThreeD"] = f.is3d;
    if (!f.pooled_slices.empty()) {
      config::Json pooled(::Json::arrayValue);  // a 3-D head's window, in window order
      for (int64_t n : f.pooled_slices) pooled.append(n);
      t["PooledSlices"] = std::move(pooled);
    }
    if (!f.region.kind.empty()) {
      // A region finding: which segment or ROI of which object.
      config::Json r(::Json::objectValue);
      r["Kind"] = f.region.kind;
      r["SOPInstanceUID"] = f.region.sop_instance_uid;
      r["SeriesInstanceUID"] = f.region.series_uid;
      r["Number"] = f.region.number;
      r["Label"] = f.region.label;
      r["Pixels"] = f.region.pixels;
      r["SlicesUsed"] = f.region.slices_used;
      config::Json per_slice(::Json::arrayValue);
      for (int64_t n : f.region.slice_pixels) per_slice.append(n);
      r["SlicePixels"] = std::move(per_slice);
      if (!f.region.predicted_class.empty()) r["PredictedClass"] = f.region.predicted_class;
      if (!f.region.agreement.empty()) r["Agreement"] = f.region.agreement;
      t["Region"] = std::move(r);
    }
    tasks.append(std::move(t));
  }
  j["Tasks"] = std::move(tasks);
  config::Json skipped(::Json::arrayValue);
  for (const worker::SkippedTask& s : findings.skipped) {
    config::Json k(::Json::objectValue);
    k["Task"] = s.task;
    k["Reason"] = s.reason;
    skipped.append(std::move(k));
  }
  j["Skipped"] = std::move(skipped);
  return j;
}

}  // namespace curia::pool
