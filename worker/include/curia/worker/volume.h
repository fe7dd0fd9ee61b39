// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A volume the worker pool can read slice by slice, so that memory does not grow with the size of
// the study: the DICOM loader implements it over a series, tests over generated phantoms.
//
//   class MySeries : public curia::worker::IVolumeSource {
//     VolumeInfo Info() const override { ... }
//     void ReadSlice(int64_t index, float* out) const override { ... }   // rows * cols values
//   };
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace curia::worker {

// Where a slice of a volume came from, for references in the results.
struct SliceReference {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  int32_t frame = 0;  // 1-based frame of a multi-frame instance; 0 for a single-frame image
  std::array<double, 3> position{};  // Image Position (Patient), mm
};

struct VolumeInfo {
  int64_t slices = 0;
  int64_t rows = 0;  // of every slice, after orientation normalisation
  int64_t cols = 0;
  std::string modality;  // "CT", "MR", ...
  std::string plane;     // "axial", "coronal", "sagittal"
  double pixel_spacing_mm[2] = {0, 0};  // row spacing, column spacing
  double slice_spacing_mm = 0;
  // Per slice, in the volume's order (sorted along the slice normal); empty for generated volumes.
  std::vector<SliceReference> references;
};

class IVolumeSource {
 public:
  virtual ~IVolumeSource() = default;
  // Cheap; may be called from any thread.
  virtual VolumeInfo Info() const = 0;
  // Slice `index` in [0, slices): rows x cols row-major values, Hounsfield units for CT (rescale
  // applied), stored values otherwise, in Curia's orientation (axial PL, coronal IL, sagittal IP).
  // Called from the pool's preprocessing threads, possibly concurrently for different slices: must
  // be thread-safe. Throws curia::Error with a message naming the slice when it cannot be read.
  virtual void ReadSlice(int64_t index, float* out) const = 0;
};

}  // namespace curia::worker
