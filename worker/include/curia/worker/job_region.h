// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A region of a job's series for its mask-prompted tasks (issue 17): a segment of a DICOM SEG or an
// ROI of an RTSTRUCT, as its reader (region::ReadRegions) put it on the series' grid, or the reason
// it was refused. The caller (the node, `curia run`) converts what the reader gives; the pool
// selects regions per task (config::RegionSelects), runs each selected region on its slices and
// gives one finding per (task, region).
//
//   JobRegion r;
//   r.reference = {"SEG", seg_class, seg_uid, seg_series, series_uid, 3, "Liver", ...};
//   r.reference.slice_pixels = ...;                 // per slice of the volume
//   r.mask = ...;                                   // slices x rows x cols, 0/1
//   request.regions.push_back(std::move(r));
#include <cstdint>
#include <string>
#include <vector>

#include "curia/worker/findings.h"

namespace curia::worker {

struct JobRegion {
  // Identity (kind, object UIDs, number, label, codes, tracking) and, for a region with a mask,
  // pixels and slice_pixels (one count per slice of the job's volume). number 0: the whole object
  // (a refusal that concerns every region of it).
  RegionReference reference;
  // Why the reader refused this region (or the whole object); empty when it has a mask.
  std::string refusal;
  // VolumeInfo slices x rows x cols of the job's volume, row-major, 1 inside and 0 outside, in the
  // orientation of IVolumeSource::ReadSlice (the image's orientation). Empty when refused.
  std::vector<uint8_t> mask;
};

}  // namespace curia::worker
