// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/model/orientation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "curia/config/error.h"

namespace curia::model {
namespace {

using Vec = std::array<double, 3>;

TEST(Orientation, StandardPlanesNeedNoChange) {
  const SliceOrientation axial = ComputeSliceOrientation({1, 0, 0, 0, 1, 0});
  EXPECT_EQ(axial.plane, Plane::kAxial);
  EXPECT_TRUE(axial.IsIdentity());
  const SliceOrientation coronal = ComputeSliceOrientation({1, 0, 0, 0, 0, -1});
  EXPECT_EQ(coronal.plane, Plane::kCoronal);
  EXPECT_TRUE(coronal.IsIdentity());
  const SliceOrientation sagittal = ComputeSliceOrientation({0, 1, 0, 0, 0, -1});
  EXPECT_EQ(sagittal.plane, Plane::kSagittal);
  EXPECT_TRUE(sagittal.IsIdentity());
}

TEST(Orientation, FlipsAndTransposes) {
  const SliceOrientation prone = ComputeSliceOrientation({-1, 0, 0, 0, -1, 0});
  EXPECT_EQ(prone.plane, Plane::kAxial);
  EXPECT_TRUE(prone.flip_rows && prone.flip_cols && !prone.transpose);
  const SliceOrientation swapped = ComputeSliceOrientation({0, 1, 0, 1, 0, 0});
  EXPECT_TRUE(swapped.transpose && !swapped.flip_rows && !swapped.flip_cols);
  const SliceOrientation coronal_up = ComputeSliceOrientation({1, 0, 0, 0, 0, 1});
  EXPECT_EQ(coronal_up.plane, Plane::kCoronal);
  EXPECT_TRUE(coronal_up.flip_rows && !coronal_up.flip_cols);
}

TEST(Orientation, ApplyMovesPixelsAsDescribed) {
  // 2 x 3 image 0 1 2 / 3 4 5.
  const std::vector<int> in = {0, 1, 2, 3, 4, 5};
  auto apply = [&](bool t, bool fr, bool fc) {
    SliceOrientation o;
    o.transpose = t;
    o.flip_rows = fr;
    o.flip_cols = fc;
    std::vector<int> out(6);
    ApplyOrientation(o, in.data(), 2, 3, out.data());
    return out;
  };
  EXPECT_EQ(apply(false, false, false), (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(apply(false, true, false), (std::vector<int>{3, 4, 5, 0, 1, 2}));
  EXPECT_EQ(apply(false, false, true), (std::vector<int>{2, 1, 0, 5, 4, 3}));
  EXPECT_EQ(apply(true, false, false), (std::vector<int>{0, 3, 1, 4, 2, 5}));   // 3 x 2
  EXPECT_EQ(apply(true, true, true), (std::vector<int>{5, 2, 4, 1, 3, 0}));
}

// For every acquisition with the rows and columns along patient axes (24 of them), the
// normalised slice must advance along Curia's directions: axial P then L, coronal I then L,
// sagittal I then P. Checked from first principles: follow where output pixels come from.
TEST(Orientation, EveryAxisAlignedAcquisitionEndsInCuriaOrientation) {
  const std::vector<Vec> axes = {{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}};
  int checked = 0;
  for (const Vec& r : axes) {
    for (const Vec& c : axes) {
      if (std::fabs(r[0] * c[0] + r[1] * c[1] + r[2] * c[2]) > 0.5) continue;
      const SliceOrientation o = ComputeSliceOrientation({r[0], r[1], r[2], c[0], c[1], c[2]});
      const int64_t rows = 3, cols = 4;
      std::vector<int> in(rows * cols), out(rows * cols);
      for (int i = 0; i < rows * cols; ++i) in[i] = i;
      ApplyOrientation(o, in.data(), rows, cols, out.data());
      const int64_t ocols = OrientedCols(o, rows, cols);
      // Patient position (relative) of the source of output pixel (y, x).
      auto position = [&](int64_t y, int64_t x) {
        const int src = out[y * ocols + x];
        const double sr = src / cols, sc = src % cols;
        return Vec{sr * c[0] + sc * r[0], sr * c[1] + sc * r[1], sr * c[2] + sc * r[2]};
      };
      const Vec p00 = position(0, 0), p10 = position(1, 0), p01 = position(0, 1);
      const Vec down = {p10[0] - p00[0], p10[1] - p00[1], p10[2] - p00[2]};
      const Vec right = {p01[0] - p00[0], p01[1] - p00[1], p01[2] - p00[2]};
      Vec want_down, want_right;
      switch (o.plane) {
        case Plane::kAxial: want_down = {0, 1, 0}; want_right = {1, 0, 0}; break;
        case Plane::kCoronal: want_down = {0, 0, -1}; want_right = {1, 0, 0}; break;
        case Plane::kSagittal: want_down = {0, 0, -1}; want_right = {0, 1, 0}; break;
      }
      EXPECT_EQ(down, want_down) << PlaneName(o.plane);
      EXPECT_EQ(right, want_right) << PlaneName(o.plane);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 24);
}

TEST(Orientation, ObliqueSlices) {
  const double a = 20 * M_PI / 180;  // 20 degrees about the x axis: still axial
  const SliceOrientation tilted = ComputeSliceOrientation({1, 0, 0, 0, std::cos(a), std::sin(a)});
  EXPECT_EQ(tilted.plane, Plane::kAxial);
  EXPECT_NEAR(tilted.obliquity_deg, 20.0, 1e-9);
  const double b = 45 * M_PI / 180;
  try {
    ComputeSliceOrientation({1, 0, 0, 0, std::cos(b), std::sin(b)});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is 45.0 degrees oblique"), std::string::npos) << e.what();
  }
}

TEST(Orientation, InvalidVectorsAreRefused) {
  EXPECT_THROW(ComputeSliceOrientation({1, 0, 0, 0, 0.5, 0}), Error);  // not unit
  EXPECT_THROW(ComputeSliceOrientation({1, 0, 0, 1, 0, 0}), Error);    // not orthogonal
  EXPECT_THROW(ComputeSliceOrientation({NAN, 0, 0, 0, 1, 0}), Error);
  try {
    ComputeSliceOrientation({0, 0, 0, 0, 0, 0});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "Image Orientation (Patient) 0\\0\\0\\0\\0\\0 is not two orthogonal unit vectors");
  }
}

}  // namespace
}  // namespace curia::model
