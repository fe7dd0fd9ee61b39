// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/phantom/volume_source.h"

#include <vector>

namespace curia::phantom {

worker::VolumeInfo PhantomSource::Info() const {
  worker::VolumeInfo v;
  v.slices = options_.slices;
  v.rows = options_.rows;
  v.cols = options_.cols;
  v.modality = "CT";
  v.plane = "axial";
  v.pixel_spacing_mm[0] = v.pixel_spacing_mm[1] = options_.pixel_mm;
  v.slice_spacing_mm = options_.slice_mm;
  return v;
}

void PhantomSource::ReadSlice(int64_t index, float* out) const {
  std::vector<int16_t> hu(static_cast<size_t>(options_.rows * options_.cols));
  phantom::MakeHeadPhantomSlice(options_, index, hu.data());
  for (size_t i = 0; i < hu.size(); ++i) out[i] = hu[i];
}

}  // namespace curia::phantom
