// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/phantom/phantom.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "curia/config/error.h"
#include "curia/model/demo_model.h"

namespace curia::phantom {
namespace {

struct Ellipsoid {
  double cx, cy, cz;  // centre, mm (x = left, y = posterior, z = superior)
  double ax, ay, az;  // semi-axes, mm
  double hu;          // value inside (painted in order: later ones win)
  bool Contains(double x, double y, double z) const {
    const double dx = (x - cx) / ax, dy = (y - cy) / ay, dz = (z - cz) / az;
    return dx * dx + dy * dy + dz * dz <= 1.0;
  }
};

void CheckPhantomOptions(const PhantomOptions& o) {
  if (o.rows < 1 || o.cols < 1 || o.slices < 1 || o.rows > 4096 || o.cols > 4096 || o.slices > 100000 ||
      !(o.pixel_mm > 0) || !(o.slice_mm > 0) || !(o.noise_hu >= 0)) {
    throw Error(ErrorCode::kInvalidArgument, "phantom: sizes and spacings must be positive (and at most 4096 pixels a side)");
  }
}

constexpr Ellipsoid kWhiteMatter = {0, 2, 5, 55, 74, 64, 28};

// The structures in painting order: part i has label i + 1 (PhantomStructures()).
std::vector<Ellipsoid> Parts(const PhantomOptions& o) {
  std::vector<Ellipsoid> parts = {
      {0, 0, 0, 78, 98, 92, 40},      // scalp and soft tissue
      {0, 0, 0, 73, 93, 87, 1200},    // skull
      {0, 0, 0, 67, 87, 81, 38},      // grey matter
      kWhiteMatter,
      {-9, 0, 10, 7, 24, 14, 5},      // right lateral ventricle (patient right = -x)
      {9, 0, 10, 7, 24, 14, 5},       // left lateral ventricle
  };
  if (o.lesion) {
    parts.push_back({o.lesion_x_mm, o.lesion_y_mm, o.lesion_z_mm, o.lesion_radius_mm, o.lesion_radius_mm,
                     o.lesion_radius_mm, o.lesion_hu});
  }
  return parts;
}

void CheckSlice(const PhantomOptions& o, int64_t k) {
  CheckPhantomOptions(o);
  if (k < 0 || k >= o.slices) throw Error(ErrorCode::kInvalidArgument, "phantom: no slice " + std::to_string(k));
}

}  // namespace

void PlaceLesion(PhantomOptions& o, uint64_t seed) {
  CheckPhantomOptions(o);
  const double r = o.lesion_radius_mm;
  const double ax = kWhiteMatter.ax - r, ay = kWhiteMatter.ay - r, az = kWhiteMatter.az - r;
  const double half_z = static_cast<double>(o.slices - 1) / 2.0 * o.slice_mm;  // the slices' z range
  const double z_low = std::max(kWhiteMatter.cz - az, -half_z), z_high = std::min(kWhiteMatter.cz + az, half_z);
  if (!(r > 0) || !(o.lesion_hu >= -1024 && o.lesion_hu <= 3071) || ax <= 0 || ay <= 0 || z_low > z_high) {
    throw Error(ErrorCode::kInvalidArgument, "phantom: a lesion of radius " + std::to_string(r) +
                                                 " mm and " + std::to_string(o.lesion_hu) + " HU does not fit in the white matter of these slices");
  }
  // Rejection sampling in the bounding box (z clipped to the slices): the white matter shrunk by the
  // radius holds every centre whose sphere stays inside (it is an ellipsoid, so this is conservative).
  std::mt19937_64 rng(seed ^ 0x6c6573696f6eULL);
  std::uniform_real_distribution<double> ux(-ax, ax), uy(-ay, ay), uz(z_low, z_high);
  for (int attempt = 0; attempt < 100000; ++attempt) {
    const double x = ux(rng), y = uy(rng), z = uz(rng);
    const double dz = (z - kWhiteMatter.cz) / az;
    if ((x / ax) * (x / ax) + (y / ay) * (y / ay) + dz * dz <= 1.0) {
      o.lesion = true;
      o.lesion_x_mm = kWhiteMatter.cx + x;
      o.lesion_y_mm = kWhiteMatter.cy + y;
      o.lesion_z_mm = z;
      return;
    }
  }
  throw Error(ErrorCode::kInvalidArgument, "phantom: no place found for the lesion in these slices");
}

const std::vector<PhantomStructure>& PhantomStructures() {
  // SNOMED CT codes: categories from CID 7150, types from CID 7153 (CNS) and CID 4030 (anatomy),
  // the lesion from CID 7159; the ventricles' laterality as a type modifier (CID 244).
  static const std::vector<PhantomStructure> kStructures = {
      {1, "Scalp", {"91723000", "SCT", "Anatomical Structure"}, {"41695006", "SCT", "Scalp"}, {}, {230, 190, 150}},
      {2, "Skull", {"91723000", "SCT", "Anatomical Structure"}, {"89546000", "SCT", "Skull"}, {}, {241, 214, 145}},
      {3, "Grey matter", {"85756007", "SCT", "Tissue"}, {"389081007", "SCT", "Gray matter"}, {}, {160, 160, 160}},
      {4, "White matter", {"85756007", "SCT", "Tissue"}, {"389080008", "SCT", "White matter"}, {}, {245, 245, 245}},
      {5, "Right lateral ventricle", {"91723000", "SCT", "Anatomical Structure"}, {"66720007", "SCT", "Lateral ventricle"},
       {"24028007", "SCT", "Right"}, {88, 106, 215}},
      {6, "Left lateral ventricle", {"91723000", "SCT", "Anatomical Structure"}, {"66720007", "SCT", "Lateral ventricle"},
       {"7771000", "SCT", "Left"}, {40, 170, 230}},
      {7, "Lesion", {"49755003", "SCT", "Morphologically Abnormal Structure"}, {"52988006", "SCT", "Lesion"}, {},
       {220, 40, 40}},
  };
  return kStructures;
}

namespace {

// Calls f(i, label) for every pixel of slice k in row-major order: the label of the last part that
// contains the pixel's centre (Parts() index + 1), 0 for air.
template <typename F>
void ForEachLabel(const PhantomOptions& o, const std::vector<Ellipsoid>& parts, int64_t k, F f) {
  const double z = (static_cast<double>(k) - (o.slices - 1) / 2.0) * o.slice_mm;
  size_t i = 0;
  for (int64_t r = 0; r < o.rows; ++r) {
    const double y = (static_cast<double>(r) - (o.rows - 1) / 2.0) * o.pixel_mm;
    for (int64_t c = 0; c < o.cols; ++c, ++i) {
      const double x = (static_cast<double>(c) - (o.cols - 1) / 2.0) * o.pixel_mm;
      size_t label = 0;
      for (size_t p = 0; p < parts.size(); ++p) {
        if (parts[p].Contains(x, y, z)) label = p + 1;
      }
      f(i, label);
    }
  }
}

}  // namespace

void MakeHeadPhantomLabels(const PhantomOptions& o, int64_t k, uint8_t* out) {
  CheckSlice(o, k);
  ForEachLabel(o, Parts(o), k, [&](size_t i, size_t label) { out[i] = static_cast<uint8_t>(label); });
}

void MakeHeadPhantomSlice(const PhantomOptions& o, int64_t k, int16_t* out) {
  CheckSlice(o, k);
  const std::vector<Ellipsoid> parts = Parts(o);
  // Noise from a stream per slice, so that any slice can be made alone.
  model::DemoRandom rng(o.seed ^ 0x5048414E544F4DULL ^ (static_cast<uint64_t>(k) * 0x9E3779B97F4A7C15ULL));
  ForEachLabel(o, parts, k, [&](size_t i, size_t label) {
    double hu = label == 0 ? -1000.0 : parts[label - 1].hu;
    if (o.noise_hu > 0) hu += o.noise_hu * rng.Normal();
    out[i] = static_cast<int16_t>(std::lround(std::clamp(hu, -1024.0, 3071.0)));
  });
}

PhantomVolume MakeHeadPhantom(const PhantomOptions& o) {
  CheckPhantomOptions(o);
  PhantomVolume v;
  v.slices = o.slices;
  v.rows = o.rows;
  v.cols = o.cols;
  v.pixel_mm = o.pixel_mm;
  v.slice_mm = o.slice_mm;
  v.hu.resize(static_cast<size_t>(o.slices * o.rows * o.cols));
  for (int64_t k = 0; k < o.slices; ++k) MakeHeadPhantomSlice(o, k, v.hu.data() + k * o.rows * o.cols);
  return v;
}

}  // namespace curia::phantom
