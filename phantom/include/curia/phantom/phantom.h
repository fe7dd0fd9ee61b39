// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// An analytic head phantom in Hounsfield units with real geometry: scalp, skull, brain with grey and
// white matter, two ventricles and a small hyperdense lesion, plus deterministic noise. Used by the
// demo and by tests that need a realistic CT volume without patient data.
//
//   PhantomVolume v = MakeHeadPhantom({});            // 32 axial slices of 512x512, 0.5 mm pixels
//   const int16_t* slice = v.Slice(10);               // rows run toward posterior, columns toward left
#include <cstdint>
#include <vector>

namespace curia::phantom {

struct PhantomOptions {
  int64_t rows = 512;
  int64_t cols = 512;
  int64_t slices = 32;
  double pixel_mm = 0.5;   // in-plane spacing
  double slice_mm = 5.0;   // distance between slice centres
  double noise_hu = 4.0;   // standard deviation of the added Gaussian noise
  bool lesion = true;      // a 70 HU sphere in the right frontal lobe
  uint64_t seed = 0;
};

struct PhantomVolume {
  int64_t slices = 0, rows = 0, cols = 0;
  double pixel_mm = 0, slice_mm = 0;
  // (slices, rows, cols), axial slices in Curia's PL orientation; slice index increases toward
  // superior. Patient coordinates of voxel (k, r, c) in mm, origin at the centre of the volume:
  // x = (c - (cols-1)/2) * pixel_mm, y = (r - (rows-1)/2) * pixel_mm, z = (k - (slices-1)/2) * slice_mm.
  std::vector<int16_t> hu;

  const int16_t* Slice(int64_t k) const { return hu.data() + k * rows * cols; }
};

// Throws curia::Error(kInvalidArgument) for non-positive sizes or spacings.
PhantomVolume MakeHeadPhantom(const PhantomOptions& options);
// Slice k alone (rows x cols values into `out`), identical to MakeHeadPhantom(options).Slice(k):
// for volumes generated on demand.
void MakeHeadPhantomSlice(const PhantomOptions& options, int64_t k, int16_t* out);

}  // namespace curia::phantom
