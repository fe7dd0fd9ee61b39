// SPDX-License-Identifier: GPL-3.0-or-later
// RTSTRUCT with dcmdata: ROIs (Structure Set ROI Sequence, RT ROI Observations), their contours
// (ROI Contour Sequence), each closed planar contour matched to a series slice and filled with the
// others of its ROI on that plane, even-odd.
//
// dcmdata rather than dcmrt's DRTStructureSetIOD: dcmrt reads every module of the IOD and fails a
// read on attributes that do not matter here (operators, dates, an RT ROI Observations item without
// an interpreter), which third-party writers such as plastimatch leave out; the geometry lives in
// four sequences, read here with the same checks as everything else.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "dataset.h"
#include "raster.h"
#include "readers.h"

namespace curia::region::internal {

namespace {

// A contour is planar when its points lie within this distance of its mean plane; contours whose
// planes are within it of each other are on one plane.
constexpr double kPlanarMm = 0.1;

struct Contour {
  std::vector<Vec3> points;
  double offset = 0;  // along the series normal
};

// Newell's normal of a closed polygon (unnormalised: its length is twice the area).
Vec3 NewellNormal(const std::vector<Vec3>& p) {
  Vec3 n{0, 0, 0};
  for (size_t i = 0; i < p.size(); ++i) {
    const Vec3& a = p[i];
    const Vec3& b = p[(i + 1) % p.size()];
    n[0] += (a[1] - b[1]) * (a[2] + b[2]);
    n[1] += (a[2] - b[2]) * (a[0] + b[0]);
    n[2] += (a[0] - b[0]) * (a[1] + b[1]);
  }
  return n;
}

struct RoiInfo {
  Region region;
  std::string frame_of_reference_uid;
};

}  // namespace

void ReadRtStruct(DcmDataset& ds, const SeriesGrid& grid, const std::string& name, RegionSet& out) {
  // ROIs by number, in the Structure Set ROI Sequence's order.
  std::vector<RoiInfo> rois;
  std::map<int, size_t> index;
  for (DcmItem* item : Items(ds, DCM_StructureSetROISequence)) {
    const std::optional<long> number = GetInt(*item, DCM_ROINumber);
    if (!number) {
      out.notes.push_back(name + ": a Structure Set ROI item without ROI Number: ignored");
      continue;
    }
    RoiInfo roi;
    roi.region.number = static_cast<int>(*number);
    roi.region.label = GetString(*item, DCM_ROIName);
    roi.frame_of_reference_uid = GetString(*item, DCM_ReferencedFrameOfReferenceUID);
    if (index.count(roi.region.number)) {
      out.notes.push_back(name + ": ROI number " + std::to_string(*number) + " is defined twice: the first is used");
      continue;
    }
    index[roi.region.number] = rois.size();
    rois.push_back(std::move(roi));
  }
  for (DcmItem* item : Items(ds, DCM_RTROIObservationsSequence)) {
    const std::optional<long> number = GetInt(*item, DCM_ReferencedROINumber);
    if (!number || !index.count(static_cast<int>(*number))) continue;
    Region& r = rois[index[static_cast<int>(*number)]].region;
    r.interpreted_type = GetString(*item, DCM_RTROIInterpretedType);
    r.type = GetCode(*item, DCM_RTROIIdentificationCodeSequence);
  }
  if (rois.empty()) {
    Refuse(out, Refusal::kUnreadable, name + ": no ROI (Structure Set ROI Sequence is empty or missing)");
    return;
  }

  // Contours by ROI.
  std::map<int, std::vector<DcmItem*>> contour_items;
  for (DcmItem* item : Items(ds, DCM_ROIContourSequence)) {
    const std::optional<long> number = GetInt(*item, DCM_ReferencedROINumber);
    if (!number || !index.count(static_cast<int>(*number))) {
      out.notes.push_back(name + ": ROI Contour item for an ROI the Structure Set does not define: ignored");
      continue;
    }
    for (DcmItem* c : Items(*item, DCM_ContourSequence)) contour_items[static_cast<int>(*number)].push_back(c);
  }

  const int64_t plane_size = grid.rows * grid.cols;
  for (RoiInfo& roi : rois) {
    Region& region = roi.region;
    const std::string what = RegionName(ObjectKind::kRtStruct, region);
    if (!roi.frame_of_reference_uid.empty() && !grid.frame_of_reference_uid.empty() &&
        roi.frame_of_reference_uid != grid.frame_of_reference_uid) {
      Refuse(region, Refusal::kFrameOfReferenceDiffers,
             name + ": " + what + " is in Frame of Reference " + roi.frame_of_reference_uid + ", the series in " +
                 grid.frame_of_reference_uid);
      out.regions.push_back(std::move(region));
      continue;
    }
    std::vector<Contour> closed;
    std::map<std::string, int> ignored;  // geometric type -> count
    std::string malformed, tilted;
    const std::vector<DcmItem*>& items = contour_items[region.number];
    for (size_t i = 0; i < items.size() && malformed.empty() && tilted.empty(); ++i) {
      DcmItem& item = *items[i];
      const std::string type = GetString(item, DCM_ContourGeometricType);
      const std::string where = "contour " + std::to_string(i + 1);
      if (type != "CLOSED_PLANAR" && type != "CLOSED_PLANAR_XOR") {
        ++ignored[type.empty() ? "without Contour Geometric Type" : type];
        continue;
      }
      const std::optional<std::vector<double>> data = GetNumbers(item, DCM_ContourData);
      if (!data) {
        malformed = where + ": Contour Data holds a value that is not a finite number";
        continue;
      }
      if (data->size() % 3 != 0) {
        malformed = where + ": Contour Data has " + std::to_string(data->size()) +
                    " values, not a multiple of 3 (x, y, z per point)";
        continue;
      }
      Contour contour;
      for (size_t k = 0; k + 2 < data->size(); k += 3) contour.points.push_back({(*data)[k], (*data)[k + 1], (*data)[k + 2]});
      // A closing point that repeats the first is tolerated (the standard says not to repeat it).
      if (contour.points.size() > 3 && contour.points.front() == contour.points.back()) contour.points.pop_back();
      if (contour.points.size() < 3) {
        malformed = where + ": a closed contour needs at least 3 points, it has " + std::to_string(contour.points.size());
        continue;
      }
      const std::optional<long> declared = GetInt(item, DCM_NumberOfContourPoints);
      if (declared && *declared * 3 != static_cast<long>(data->size())) {
        out.notes.push_back(name + ": " + what + ", " + where + ": Number of Contour Points says " +
                            std::to_string(*declared) + ", Contour Data holds " + std::to_string(data->size() / 3) +
                            " (the data is used)");
      }
      double lo = INFINITY, hi = -INFINITY, sum = 0;
      for (const Vec3& p : contour.points) {
        const double d = Dot(p, grid.normal);
        lo = std::min(lo, d);
        hi = std::max(hi, d);
        sum += d;
      }
      contour.offset = sum / static_cast<double>(contour.points.size());
      if (hi - lo > kPlanarMm) {
        // Not in one slice plane: either a planar contour on a tilted plane, or not planar at all.
        Vec3 n = NewellNormal(contour.points);
        const double length = Norm(n);
        double off_plane = INFINITY;
        if (length > 0) {
          for (double& v : n) v /= length;
          Vec3 mean{0, 0, 0};
          for (const Vec3& p : contour.points) {
            for (size_t a = 0; a < 3; ++a) mean[a] += p[a] / static_cast<double>(contour.points.size());
          }
          off_plane = 0;
          for (const Vec3& p : contour.points) off_plane = std::max(off_plane, std::fabs(Dot(Sub(p, mean), n)));
        }
        if (off_plane <= kPlanarMm) {
          tilted = where + " lies in a plane tilted to the series' slices (its points span " + Mm(hi - lo) +
                   " along the slice normal)";
        } else {
          malformed = where + " is not planar (its points span " + Mm(hi - lo) + " along the slice normal)";
        }
        continue;
      }
      closed.push_back(std::move(contour));
    }
    for (const auto& [type, count] : ignored) {
      out.notes.push_back(name + ": " + what + ": " + std::to_string(count) + " " + type +
                          " contour(s) ignored (only closed planar contours are regions)");
    }
    if (!malformed.empty()) {
      Refuse(region, Refusal::kMalformedContour, name + ": " + what + ": " + malformed);
      out.regions.push_back(std::move(region));
      continue;
    }
    if (!tilted.empty()) {
      Refuse(region, Refusal::kOrientationDiffers, name + ": " + what + ": " + tilted + " (an oblique grid)");
      out.regions.push_back(std::move(region));
      continue;
    }
    if (closed.empty()) {
      Refuse(region, Refusal::kEmpty, name + ": " + what + " has no closed planar contour");
      out.regions.push_back(std::move(region));
      continue;
    }

    // Planes: contours whose offsets are within kPlanarMm of each other.
    std::sort(closed.begin(), closed.end(), [](const Contour& a, const Contour& b) { return a.offset < b.offset; });
    std::vector<std::vector<const Contour*>> planes;
    for (const Contour& c : closed) {
      if (planes.empty() || c.offset - planes.back().front()->offset > kPlanarMm) planes.emplace_back();
      planes.back().push_back(&c);
    }
    // Each series slice takes the plane nearest to it within half the slice spacing.
    const double tolerance = grid.slice_spacing / 2 + 1e-3;
    std::vector<std::optional<size_t>> slice_plane(grid.offsets.size());
    std::vector<bool> plane_used(planes.size(), false);
    for (size_t s = 0; s < grid.offsets.size(); ++s) {
      double best = 0;
      for (size_t p = 0; p < planes.size(); ++p) {
        const double d = std::fabs(planes[p].front()->offset - grid.offsets[s]);
        if (d <= tolerance && (!slice_plane[s] || d < best)) {
          slice_plane[s] = p;
          best = d;
        }
      }
      if (slice_plane[s]) plane_used[*slice_plane[s]] = true;
    }
    std::vector<uint8_t> stored(static_cast<size_t>(plane_size) * grid.offsets.size(), 0);
    size_t off_slices = 0, off_image = 0, on_image = 0;
    for (size_t p = 0; p < planes.size(); ++p) {
      if (!plane_used[p]) off_slices += planes[p].size();
    }
    for (size_t s = 0; s < grid.offsets.size(); ++s) {
      if (!slice_plane[s]) continue;
      std::vector<std::vector<Point2>> polygons;
      for (const Contour* c : planes[*slice_plane[s]]) {
        std::vector<Point2> polygon;
        bool inside = false;
        for (const Vec3& p : c->points) {
          Point2 q;
          grid.ToPixel(static_cast<int64_t>(s), p, q.x, q.y);
          inside = inside || (q.x >= -0.5 && q.y >= -0.5 && q.x < grid.cols - 0.5 && q.y < grid.rows - 0.5);
          polygon.push_back(q);
        }
        ++(inside ? on_image : off_image);
        polygons.push_back(std::move(polygon));
      }
      FillEvenOdd(polygons, grid.rows, grid.cols, stored.data() + s * static_cast<size_t>(plane_size));
    }
    SetMask(grid, stored, region);
    if (region.pixels == 0) {
      const bool outside = on_image == 0;
      Refuse(region, outside ? Refusal::kOutsideImage : Refusal::kEmpty,
             name + ": " + what +
                 (outside ? " lies entirely outside the series (" + std::to_string(closed.size()) +
                                " contour(s), none on a slice within " + Mm(tolerance) + " or in its field of view)"
                          : " covers no pixel centre of the series (" + std::to_string(closed.size()) +
                                " contour(s), all smaller than a pixel or between pixel centres)"));
    } else if (off_slices + off_image > 0) {
      out.notes.push_back(name + ": " + what + ": " + std::to_string(off_slices + off_image) + " of " +
                          std::to_string(closed.size()) + " contour(s) lie outside the series and are left out");
    }
    out.regions.push_back(std::move(region));
  }
}

}  // namespace curia::region::internal
