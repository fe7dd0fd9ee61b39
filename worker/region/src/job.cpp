// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/region/job.h"

#include <utility>

namespace curia::region {

const char* ObjectSopClassUid(ObjectKind kind) {
  return kind == ObjectKind::kSeg ? "1.2.840.10008.5.1.4.1.1.66.4"     // Segmentation Storage
                                  : "1.2.840.10008.5.1.4.1.1.481.3";  // RT Structure Set Storage
}

namespace {

worker::RegionReference ObjectReference(const RegionSet& set) {
  worker::RegionReference ref;
  ref.kind = ObjectKindName(set.object.kind);
  ref.sop_class_uid = ObjectSopClassUid(set.object.kind);
  ref.sop_instance_uid = set.object.sop_instance_uid;
  ref.series_uid = set.object.series_uid;
  ref.source_series_uid = set.series_uid;
  return ref;
}

}  // namespace

worker::JobRegion ToJobRegion(const RegionSet& set, Region& r) {
  worker::JobRegion j;
  worker::RegionReference& ref = j.reference;
  ref = ObjectReference(set);
  ref.number = r.number;
  ref.label = r.label;
  ref.category = {r.category.value, r.category.scheme, r.category.meaning};
  ref.type = {r.type.value, r.type.scheme, r.type.meaning};
  ref.pixels = r.pixels;
  ref.slice_pixels = r.pixels_per_slice;
  if (r.refusal != Refusal::kNone) j.refusal = r.error.empty() ? RefusalName(r.refusal) : r.error;
  j.mask = std::move(r.mask);
  return j;
}

worker::JobRegion RefusedObject(const RegionSet& set, const std::string& series_uid) {
  worker::JobRegion j;
  j.reference = ObjectReference(set);
  j.reference.source_series_uid = series_uid;
  j.refusal = set.error.empty() ? RefusalName(set.refusal) : set.error;
  return j;
}

}  // namespace curia::region
