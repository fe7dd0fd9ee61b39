// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/phantom/phantom.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "curia/config/error.h"
#include "curia/config/sha256.h"

namespace curia::phantom {
namespace {

// HU at patient position (x, y) mm on slice k of a noise-free phantom.
int16_t At(const PhantomVolume& v, int64_t k, double x_mm, double y_mm) {
  const int64_t c = static_cast<int64_t>(std::lround(x_mm / v.pixel_mm + (v.cols - 1) / 2.0));
  const int64_t r = static_cast<int64_t>(std::lround(y_mm / v.pixel_mm + (v.rows - 1) / 2.0));
  return v.Slice(k)[r * v.cols + c];
}

TEST(Phantom, AnatomyIsWhereTheGeometrySaysAndOriented) {
  PhantomOptions o;
  o.slices = 9;
  o.noise_hu = 0;
  const PhantomVolume v = MakeHeadPhantom(o);
  ASSERT_EQ(v.hu.size(), static_cast<size_t>(9 * 512 * 512));
  const int64_t mid = 4;                  // slices are 5 mm apart: z = 0 mm
  EXPECT_EQ(At(v, mid, 0, 0), 28);        // white matter at the centre
  EXPECT_EQ(At(v, mid, 70, 0), 1200);     // skull 70 mm to the patient's left (+x)
  EXPECT_EQ(At(v, mid, 0, -95), 40);      // scalp at the front (anterior = -y)
  EXPECT_EQ(At(v, mid, 0, 120), -1000);   // air behind the head
  EXPECT_EQ(At(v, 6, -9, 0), 5);          // z = +10 mm: both lateral ventricles
  EXPECT_EQ(At(v, 6, 9, 0), 5);
  EXPECT_EQ(v.Slice(8)[0], -1000);        // corner: air
  // The lesion (radius 9 mm, centre z = +22 mm) is right (-x), anterior (-y) and superior.
  EXPECT_EQ(At(v, 7, -30, -35), 70);      // z = +15 mm
  EXPECT_EQ(At(v, mid, -30, -35), 28);    // z = 0: white matter only
}

TEST(Phantom, DeterministicNoiseAndBadSizes) {
  PhantomOptions o;
  o.slices = 2;
  o.rows = o.cols = 64;
  const std::vector<int16_t> hu = MakeHeadPhantom(o).hu;
  // The same noise on any machine: pinned.
  EXPECT_EQ(config::Sha256Hex({reinterpret_cast<const char*>(hu.data()), hu.size() * sizeof(int16_t)}), "60a4b39c813c2d3e8491b9fe5765e5b2c7cca623f950b44122403b0e5aa0bbe1");
  // Any slice can be made alone, with the same noise.
  std::vector<int16_t> second(64 * 64);
  MakeHeadPhantomSlice(o, 1, second.data());
  EXPECT_TRUE(std::equal(second.begin(), second.end(), hu.begin() + 64 * 64));
  PhantomOptions p = o;
  p.seed = 1;
  EXPECT_NE(MakeHeadPhantom(o).hu, MakeHeadPhantom(p).hu);
  o.slices = 0;
  EXPECT_THROW(MakeHeadPhantom(o), Error);
}

TEST(Phantom, LesionsAtRandomPlacesStayInTheWhiteMatterAndTheSlices) {
  PhantomOptions o;
  o.slices = 4;
  o.rows = o.cols = 128;
  o.pixel_mm = 2;
  o.noise_hu = 0;
  o.lesion = false;
  o.lesion_radius_mm = 12;
  o.lesion_hu = 400;
  const double half_z = 1.5 * o.slice_mm;
  double first_x = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    PhantomOptions p = o;
    PlaceLesion(p, seed);
    ASSERT_TRUE(p.lesion);
    if (seed == 0) first_x = p.lesion_x_mm;
    // The whole sphere inside the white matter ellipsoid (centre (0, 2, 5), semi-axes 55, 74, 64)
    // shrunk by the radius, the centre within the slices' z range.
    const double dx = p.lesion_x_mm / 43, dy = (p.lesion_y_mm - 2) / 62, dz = (p.lesion_z_mm - 5) / 52;
    EXPECT_LE(dx * dx + dy * dy + dz * dz, 1.0) << seed;
    EXPECT_LE(std::abs(p.lesion_z_mm), half_z) << seed;
    // Painted there: the nearest slice's pixel at the centre has the lesion's value.
    const PhantomVolume v = MakeHeadPhantom(p);
    const int64_t k = std::lround(p.lesion_z_mm / p.slice_mm + 1.5);
    EXPECT_EQ(At(v, k, p.lesion_x_mm, p.lesion_y_mm), 400) << seed;
    PhantomOptions again = o;
    PlaceLesion(again, seed);
    EXPECT_EQ(again.lesion_x_mm, p.lesion_x_mm);  // the seed decides
  }
  PhantomOptions other = o;
  PlaceLesion(other, 1);
  EXPECT_NE(other.lesion_x_mm, first_x);
  o.lesion_radius_mm = 60;  // wider than the white matter
  EXPECT_THROW(PlaceLesion(o, 0), Error);
}

}  // namespace
}  // namespace curia::phantom
