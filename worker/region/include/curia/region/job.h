// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// What the readers give (RegionSet, Region) as the pool takes it (worker::JobRegion): the one
// conversion that `curia run` and the node share.
//
//   RegionSet set = ReadRegions(source, id, volumes);
//   if (set.refusal != Refusal::kNone) request.regions.push_back(RefusedObject(set, series_uid));
//   else for (Region& r : set.regions) request.regions.push_back(ToJobRegion(set, r));  // moves r.mask
#include <string>

#include "curia/region/region.h"
#include "curia/worker/job_region.h"

namespace curia::region {

// SOP Class UID of a SEG or RTSTRUCT.
const char* ObjectSopClassUid(ObjectKind kind);

// The region `r` of `set` for the pool: identity, codes, pixel counts, and its mask (moved out of
// `r`); a refused region carries its reason instead.
worker::JobRegion ToJobRegion(const RegionSet& set, Region& r);

// The whole object `set`, refused for the image series `series_uid` (number 0: every region task of
// that series reports the reason).
worker::JobRegion RefusedObject(const RegionSet& set, const std::string& series_uid);

}  // namespace curia::region
