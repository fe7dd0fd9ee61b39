// SPDX-License-Identifier: GPL-3.0-or-later
#include "grid.h"

#include <cmath>

#include "curia/config/error.h"
#include "curia/model/orientation.h"
#include "dataset.h"

namespace curia::region::internal {

double Norm(const Vec3& a) { return std::sqrt(Dot(a, a)); }

namespace {

// Image Orientation (Patient) of the volume's first slice: at the top level of a classic image,
// in the Plane Orientation functional group (shared, else the first frame's) of an enhanced one.
std::vector<double> VolumeIop(DcmDataset& header) {
  std::optional<std::vector<double>> iop = GetNumbers(header, DCM_ImageOrientationPatient);
  if (iop && iop->size() == 6) return *iop;
  for (const DcmTagKey& groups : {DCM_SharedFunctionalGroupsSequence, DCM_PerFrameFunctionalGroupsSequence}) {
    std::vector<DcmItem*> items = Items(header, groups);
    if (items.empty()) continue;
    for (DcmItem* plane : Items(*items.front(), DCM_PlaneOrientationSequence)) {
      iop = GetNumbers(*plane, DCM_ImageOrientationPatient);
      if (iop && iop->size() == 6) return *iop;
    }
  }
  return {};
}

std::vector<double> VolumeSliceThickness(DcmDataset& header) {
  std::optional<std::vector<double>> t = GetNumbers(header, DCM_SliceThickness);
  if (t && !t->empty()) return *t;
  for (const DcmTagKey& groups : {DCM_SharedFunctionalGroupsSequence, DCM_PerFrameFunctionalGroupsSequence}) {
    std::vector<DcmItem*> items = Items(header, groups);
    if (items.empty()) continue;
    for (DcmItem* m : Items(*items.front(), DCM_PixelMeasuresSequence)) {
      t = GetNumbers(*m, DCM_SliceThickness);
      if (t && !t->empty()) return *t;
    }
  }
  return {};
}

}  // namespace

std::optional<int64_t> SeriesGrid::NearestSlice(double offset, double tolerance) const {
  std::optional<int64_t> best;
  double best_distance = 0;
  for (size_t s = 0; s < offsets.size(); ++s) {
    const double d = std::fabs(offsets[s] - offset);
    if (d <= tolerance && (!best || d < best_distance)) {
      best = static_cast<int64_t>(s);
      best_distance = d;
    }
  }
  return best;
}

std::vector<uint8_t> SeriesGrid::Orient(const std::vector<uint8_t>& stored) const {
  const model::SliceOrientation& o = volume->orientation();
  if (o.IsIdentity()) return stored;
  std::vector<uint8_t> out(stored.size());
  const size_t plane = static_cast<size_t>(rows * cols);
  for (size_t s = 0; s < positions.size(); ++s) {
    model::ApplyOrientation(o, stored.data() + s * plane, rows, cols, out.data() + s * plane);
  }
  return out;
}

SeriesGrid MakeGrid(const dicom::DicomVolume& volume) {
  SeriesGrid g;
  g.volume = &volume;
  g.series_uid = volume.series_uid;
  g.frame_of_reference_uid = volume.frame_of_reference_uid;
  const worker::VolumeInfo info = volume.Info();
  const model::SliceOrientation& o = volume.orientation();
  g.out_rows = info.rows;
  g.out_cols = info.cols;
  g.rows = o.transpose ? info.cols : info.rows;
  g.cols = o.transpose ? info.rows : info.cols;
  g.row_spacing = o.transpose ? info.pixel_spacing_mm[1] : info.pixel_spacing_mm[0];
  g.col_spacing = o.transpose ? info.pixel_spacing_mm[0] : info.pixel_spacing_mm[1];
  if (!(g.row_spacing > 0) || !(g.col_spacing > 0)) {
    throw Error(ErrorCode::kInvalidArgument,
                "series " + g.series_uid + " has no Pixel Spacing: regions cannot be placed on it");
  }
  DcmDataset& header = const_cast<DcmDataset&>(volume.header());  // DCMTK's finders are not const
  const std::vector<double> iop = VolumeIop(header);
  if (iop.size() != 6) {
    throw Error(ErrorCode::kInvalidArgument, "series " + g.series_uid + " has no Image Orientation (Patient)");
  }
  g.row_dir = {iop[0], iop[1], iop[2]};
  g.col_dir = {iop[3], iop[4], iop[5]};
  g.normal = Cross(g.row_dir, g.col_dir);
  const double n = Norm(g.normal);
  for (double& v : g.normal) v /= n;
  for (const dicom::SliceRef& s : volume.slices()) {
    g.positions.push_back(s.position);
    g.offsets.push_back(Dot(s.position, g.normal));
  }
  g.slice_spacing = info.slice_spacing_mm;
  if (!(g.slice_spacing > 0)) {
    // A single slice: its thickness, else one millimetre.
    const std::vector<double> t = VolumeSliceThickness(header);
    g.slice_spacing = !t.empty() && t.front() > 0 ? t.front() : 1.0;
  }
  return g;
}

}  // namespace curia::region::internal
