// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The two readers behind ReadRegions, and what they share. Each fills RegionSet::regions (and
// notes), or refuses the whole object through RegionSet::refusal.
#include <cstdint>
#include <string>
#include <vector>

#include "curia/region/region.h"
#include "grid.h"

class DcmDataset;

namespace curia::region::internal {

void ReadSeg(DcmDataset& ds, const SeriesGrid& grid, const std::string& name, RegionSet& out);
void ReadRtStruct(DcmDataset& ds, const SeriesGrid& grid, const std::string& name, RegionSet& out);

void Refuse(Region& region, Refusal refusal, const std::string& why);
void Refuse(RegionSet& set, Refusal refusal, const std::string& why);
// "segment 2 'Liver'" / "ROI 3 'PTV'": how messages name a region.
std::string RegionName(ObjectKind kind, const Region& region);
// Sets region.mask (in the volume's orientation), its counts, from `stored`: slices x rows x cols
// in the series' stored pixel order.
void SetMask(const SeriesGrid& grid, const std::vector<uint8_t>& stored, Region& region);
// "2.5 mm", "12 %": numbers in messages.
std::string Mm(double v);

}  // namespace curia::region::internal
