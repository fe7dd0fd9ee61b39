// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Orientation normalisation to Curia's convention (model cards): an axial slice is shown PL (rows
// run toward Posterior, columns toward Left), a coronal slice IL, a sagittal slice IP. Derived from
// Image Orientation (Patient): row cosine r = IOP[0:3] (direction of increasing column index),
// column cosine c = IOP[3:6] (direction of increasing row index), in LPS patient coordinates.
//
//   SliceOrientation o = ComputeSliceOrientation({1, 0, 0, 0, 1, 0});   // axial, no change
//   std::vector<float> out(rows * cols);
//   ApplyOrientation(o, in.data(), rows, cols, out.data());   // out is OutRows(o,..) x OutCols(o,..)
#include <array>
#include <cstdint>
#include <string>

namespace curia::model {

enum class Plane { kAxial, kCoronal, kSagittal };
const char* PlaneName(Plane plane);

struct SliceOrientation {
  Plane plane = Plane::kAxial;
  bool transpose = false;  // applied first: swap rows and columns
  bool flip_rows = false;  // then reverse the row order (top <-> bottom)
  bool flip_cols = false;  // and the column order (left <-> right)
  std::array<double, 3> normal{};  // r x c, unit length
  double obliquity_deg = 0.0;      // angle between the normal and the nearest patient axis

  bool IsIdentity() const { return !transpose && !flip_rows && !flip_cols; }
};

// Throws curia::Error(kInvalidArgument) when IOP is not two orthogonal unit vectors (tolerance
// 1e-3), or when the slice is more oblique than max_obliquity_deg (default ~37 degrees: the normal's
// dominant component below 0.8), since no Curia orientation then fits.
SliceOrientation ComputeSliceOrientation(const std::array<double, 6>& iop,
                                         double max_obliquity_deg = 36.87);

// Output size after the transform.
inline int64_t OrientedRows(const SliceOrientation& o, int64_t rows, int64_t cols) {
  return o.transpose ? cols : rows;
}
inline int64_t OrientedCols(const SliceOrientation& o, int64_t rows, int64_t cols) {
  return o.transpose ? rows : cols;
}

// Applies the transform to one rows x cols row-major slice. `in` and `out` must not overlap.
template <typename T>
void ApplyOrientation(const SliceOrientation& o, const T* in, int64_t rows, int64_t cols, T* out) {
  const int64_t out_rows = OrientedRows(o, rows, cols), out_cols = OrientedCols(o, rows, cols);
  for (int64_t y = 0; y < out_rows; ++y) {
    const int64_t sy = o.flip_rows ? out_rows - 1 - y : y;
    for (int64_t x = 0; x < out_cols; ++x) {
      const int64_t sx = o.flip_cols ? out_cols - 1 - x : x;
      out[y * out_cols + x] = o.transpose ? in[sx * cols + sy] : in[sy * cols + sx];
    }
  }
}

}  // namespace curia::model
