// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// An analytic head phantom in Hounsfield units with real geometry: scalp, skull, brain with grey and
// white matter, two ventricles and a small hyperdense lesion, plus deterministic noise. Used by the
// demo and by tests that need a realistic CT volume without patient data.
//
//   PhantomVolume v = MakeHeadPhantom({});            // 32 axial slices of 512x512, 0.5 mm pixels
//   const int16_t* slice = v.Slice(10);               // rows run toward posterior, columns toward left
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace curia::phantom {

struct PhantomOptions {
  int64_t rows = 512;
  int64_t cols = 512;
  int64_t slices = 32;
  double pixel_mm = 0.5;   // in-plane spacing
  double slice_mm = 5.0;   // distance between slice centres
  double noise_hu = 4.0;   // standard deviation of the added Gaussian noise
  bool lesion = true;      // a sphere of lesion_hu, by default 9 mm in the right frontal lobe
  // The lesion: centre in mm (the volume's coordinates below), radius and value. PlaceLesion moves it.
  double lesion_x_mm = -30, lesion_y_mm = -35, lesion_z_mm = 22;
  double lesion_radius_mm = 9, lesion_hu = 70;
  uint64_t seed = 0;
};

// Puts the lesion (and turns it on) at a position drawn from `seed`: uniform among the points whose
// whole sphere lies inside the white matter, with its centre within the volume's slices (so it is
// seen). For labelled phantom studies with and without a lesion at random places (`curia phantom
// --lesion random`, the training end-to-end test). Throws curia::Error(kInvalidArgument) when the
// radius leaves no such point.
void PlaceLesion(PhantomOptions& options, uint64_t seed);

struct PhantomVolume {
  int64_t slices = 0, rows = 0, cols = 0;
  double pixel_mm = 0, slice_mm = 0;
  // (slices, rows, cols), axial slices in Curia's PL orientation; slice index increases toward
  // superior. Patient coordinates of voxel (k, r, c) in mm, origin at the centre of the volume:
  // x = (c - (cols-1)/2) * pixel_mm, y = (r - (rows-1)/2) * pixel_mm, z = (k - (slices-1)/2) * slice_mm.
  std::vector<int16_t> hu;

  const int16_t* Slice(int64_t k) const { return hu.data() + k * rows * cols; }
};

// A coded concept (Code Value, Coding Scheme Designator, Code Meaning), as DICOM writes it.
struct PhantomCode {
  std::string value, scheme, meaning;
};

// The phantom's structures, for its regions (SEG segments, RTSTRUCT ROIs). Labels are 1.. in
// painting order: a pixel's label is the last structure that contains its centre (0 = air), so
// the labels of a slice are disjoint (the skull is a shell, the white matter has the ventricles as
// holes). Label 7 (the lesion) exists only when PhantomOptions::lesion is set.
struct PhantomStructure {
  int label;
  std::string name;
  PhantomCode category;  // Segmented Property Category (CID 7150)
  PhantomCode type;      // Segmented Property Type
  PhantomCode modifier;  // Segmented Property Type Modifier (laterality); empty value when none
  std::array<uint8_t, 3> rgb;
};
const std::vector<PhantomStructure>& PhantomStructures();

// Slice k's labels (rows x cols values into `out`), on the grid of MakeHeadPhantomSlice.
void MakeHeadPhantomLabels(const PhantomOptions& options, int64_t k, uint8_t* out);

// Throws curia::Error(kInvalidArgument) for non-positive sizes or spacings.
PhantomVolume MakeHeadPhantom(const PhantomOptions& options);
// Slice k alone (rows x cols values into `out`), identical to MakeHeadPhantom(options).Slice(k):
// for volumes generated on demand.
void MakeHeadPhantomSlice(const PhantomOptions& options, int64_t k, int16_t* out);

}  // namespace curia::phantom
