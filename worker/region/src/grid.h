// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The series grid the masks are on, in the series' own DICOM pixel coordinates: what the region
// readers need of a dicom::DicomVolume (its slices' positions, its Image Orientation (Patient), its
// pixel spacing as stored), and the turn into the volume's Curia orientation at the end.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "curia/dicom/series.h"

namespace curia::region::internal {

using Vec3 = std::array<double, 3>;

inline double Dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
inline Vec3 Cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
inline Vec3 Sub(const Vec3& a, const Vec3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
double Norm(const Vec3& a);

// Planes are parallel when the sine of the angle between their normals is at most this: the
// loader's tolerance on Image Orientation (Patient) components (1e-3, about 0.06 degrees).
inline constexpr double kParallelSine = 1e-3;

struct SeriesGrid {
  const dicom::DicomVolume* volume = nullptr;
  std::string series_uid, frame_of_reference_uid;
  // Stored (not oriented) geometry: row_dir = IOP[0:3] points along a row (increasing column),
  // col_dir = IOP[3:6] down a column (increasing row); normal = row_dir x col_dir.
  Vec3 row_dir{}, col_dir{}, normal{};
  double row_spacing = 0, col_spacing = 0;  // mm between rows, between columns (Pixel Spacing 0, 1)
  int64_t rows = 0, cols = 0;               // stored
  std::vector<Vec3> positions;              // Image Position (Patient) of each slice, volume order
  std::vector<double> offsets;              // position . normal
  double slice_spacing = 0;                 // mm; for matching planes to slices
  int64_t out_rows = 0, out_cols = 0;       // the volume's (oriented) slice size

  // The slice whose plane is nearest to `offset` (along `normal`) within `tolerance` mm.
  std::optional<int64_t> NearestSlice(double offset, double tolerance) const;
  // Stored pixel coordinates (column u, row v; pixel centres at integers) of point p in slice s.
  void ToPixel(int64_t s, const Vec3& p, double& u, double& v) const {
    const Vec3 d = Sub(p, positions[static_cast<size_t>(s)]);
    u = Dot(d, row_dir) / col_spacing;
    v = Dot(d, col_dir) / row_spacing;
  }
  // The centre of stored pixel (row, col) of slice s in patient mm.
  Vec3 PixelCentre(int64_t s, double row, double col) const {
    const Vec3& o = positions[static_cast<size_t>(s)];
    Vec3 p;
    for (size_t k = 0; k < 3; ++k) p[k] = o[k] + col * col_spacing * row_dir[k] + row * row_spacing * col_dir[k];
    return p;
  }
  // Turns stored slice masks (slices x rows x cols) into the volume's orientation.
  std::vector<uint8_t> Orient(const std::vector<uint8_t>& stored) const;
};

// Throws curia::Error(kInvalidArgument) when the volume's header lacks what the grid needs.
SeriesGrid MakeGrid(const dicom::DicomVolume& volume);

}  // namespace curia::region::internal
