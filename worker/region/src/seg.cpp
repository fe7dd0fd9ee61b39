// SPDX-License-Identifier: GPL-3.0-or-later
// SEG with DCMTK's dcmseg: segments, frames (decoded by dcmseg; BINARY ones unpacked here) and the functional
// groups that place each frame; the resampling onto the series grid is ours (nearest neighbour).
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmfg/fgpixmsr.h>
#include <dcmtk/dcmfg/fgplanor.h>
#include <dcmtk/dcmfg/fgplanpo.h>
#include <dcmtk/dcmfg/fgseg.h>
#include <dcmtk/dcmseg/segdoc.h>
#include <dcmtk/dcmseg/segment.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>

#include "curia/config/error.h"
#include "dataset.h"
#include "readers.h"

namespace curia::region::internal {

namespace {

// Two SEG frames are on one plane when their offsets along the series normal differ by less.
constexpr double kSamePlaneMm = 0.01;

// One frame as placed in patient space.
struct SegFrame {
  size_t index = 0;  // 0-based frame number
  int segment = 0;   // Referenced Segment Number
  Vec3 position{}, row_dir{}, col_dir{};
  double row_spacing = 0, col_spacing = 0;
  double offset = 0;  // position . series normal
};

std::string Num(size_t i) { return std::to_string(i); }

template <typename T>
T* Group(FGInterface& groups, size_t frame, DcmFGTypes::E_FGType type) {
  return static_cast<T*>(groups.get(static_cast<Uint32>(frame), type));
}

// The frame's geometry, or why it has none.
std::optional<std::string> PlaceFrame(FGInterface& groups, size_t f, const SeriesGrid& grid, SegFrame& out) {
  auto* position = Group<FGPlanePosPatient>(groups, f, DcmFGTypes::EFG_PLANEPOSPATIENT);
  auto* orientation = Group<FGPlaneOrientationPatient>(groups, f, DcmFGTypes::EFG_PLANEORIENTPATIENT);
  auto* measures = Group<FGPixelMeasures>(groups, f, DcmFGTypes::EFG_PIXELMEASURES);
  auto* segmentation = Group<FGSegmentation>(groups, f, DcmFGTypes::EFG_SEGMENTATION);
  const std::string frame = "frame " + Num(f + 1);
  Uint16 segment = 0;
  if (!segmentation || segmentation->getReferencedSegmentNumber(segment).bad()) {
    return frame + " has no Referenced Segment Number";
  }
  out.index = f;
  out.segment = segment;
  Float64 x = 0, y = 0, z = 0;
  if (!position || position->getImagePositionPatient(x, y, z).bad()) {
    return frame + " has no Image Position (Patient) (Plane Position functional group)";
  }
  out.position = {x, y, z};
  Float64 rx = 0, ry = 0, rz = 0, cx = 0, cy = 0, cz = 0;
  if (!orientation || orientation->getImageOrientationPatient(rx, ry, rz, cx, cy, cz).bad()) {
    return frame + " has no Image Orientation (Patient) (Plane Orientation functional group)";
  }
  out.row_dir = {rx, ry, rz};
  out.col_dir = {cx, cy, cz};
  Float64 sr = 0, sc = 0;
  if (!measures || measures->getPixelSpacing(sr, 0).bad() || measures->getPixelSpacing(sc, 1).bad() || !(sr > 0) ||
      !(sc > 0)) {
    return frame + " has no valid Pixel Spacing (Pixel Measures functional group)";
  }
  out.row_spacing = sr;
  out.col_spacing = sc;
  for (double v : {x, y, z, rx, ry, rz, cx, cy, cz}) {
    if (!std::isfinite(v)) return frame + ": a position or orientation value is not a number";
  }
  if (std::fabs(Norm(out.row_dir) - 1) > 1e-3 || std::fabs(Norm(out.col_dir) - 1) > 1e-3 ||
      std::fabs(Dot(out.row_dir, out.col_dir)) > 1e-3) {
    return frame + ": Image Orientation (Patient) is not two orthogonal unit vectors";
  }
  out.offset = Dot(out.position, grid.normal);
  return std::nullopt;
}

std::string Text(const OFString& s) { return s.c_str(); }

Code SegCode(CodeSequenceMacro& macro) {
  Code c;
  OFString v;
  if (macro.getCodeValue(v).good()) c.value = Text(v);
  if (c.value.empty() && macro.getLongCodeValue(v).good()) c.value = Text(v);
  if (c.value.empty() && macro.getURNCodeValue(v).good()) c.value = Text(v);
  if (macro.getCodingSchemeDesignator(v).good()) c.scheme = Text(v);
  if (macro.getCodeMeaning(v).good()) c.meaning = Text(v);
  return c;
}

}  // namespace

void ReadSeg(DcmDataset& ds, const SeriesGrid& grid, const std::string& name, RegionSet& out) {
  // Segment numbers as written (dcmseg numbers segments by their order in the Segment Sequence).
  std::vector<int> numbers;
  for (DcmItem* item : Items(ds, DCM_SegmentSequence)) numbers.push_back(static_cast<int>(GetInt(*item, DCM_SegmentNumber).value_or(0)));
  const std::optional<long> max_fractional = GetInt(ds, DCM_MaximumFractionalValue);
  const long rows = GetInt(ds, DCM_Rows).value_or(0), cols = GetInt(ds, DCM_Columns).value_or(0);

  DcmSegmentation* loaded = nullptr;
  const OFCondition cond = DcmSegmentation::loadDataset(ds, loaded);
  std::unique_ptr<DcmSegmentation> seg(loaded);
  if (cond.bad() || !seg) {
    Refuse(out, Refusal::kUnreadable, name + ": DCMTK's dcmseg cannot read it: " + cond.text());
    return;
  }
  const DcmSegTypes::E_SegmentationType type = seg->getSegmentationType();
  if (type != DcmSegTypes::ST_BINARY && type != DcmSegTypes::ST_FRACTIONAL) {
    Refuse(out, Refusal::kUnsupportedSegmentationType, name + ": Segmentation Type is neither BINARY nor FRACTIONAL");
    return;
  }
  if (type == DcmSegTypes::ST_FRACTIONAL) {
    const DcmSegTypes::E_SegmentationFractionalType ft = seg->getSegmentationFractionalType();
    if (ft != DcmSegTypes::SFT_PROBABILITY && ft != DcmSegTypes::SFT_OCCUPANCY) {
      Refuse(out, Refusal::kUnreadable, name + ": FRACTIONAL SEG without a valid Segmentation Fractional Type");
      return;
    }
    if (!max_fractional || *max_fractional < 1 || *max_fractional > 255) {
      // The threshold depends on it: no guess.
      Refuse(out, Refusal::kUnreadable, name + ": FRACTIONAL SEG without a valid Maximum Fractional Value (1-255)");
      return;
    }
  }
  if (rows < 1 || cols < 1 || rows > 65535 || cols > 65535) {
    Refuse(out, Refusal::kUnreadable, name + ": invalid Rows/Columns");
    return;
  }
  const size_t segments = seg->getNumberOfSegments();
  if (segments == 0 || numbers.size() != segments) {
    Refuse(out, Refusal::kUnreadable, name + ": no segments (Segment Sequence)");
    return;
  }
  const size_t frames = seg->getNumberOfFrames();
  const size_t pixels = static_cast<size_t>(rows) * static_cast<size_t>(cols);

  // Every frame placed (a frame that cannot be placed refuses the object: its pixels would land
  // nowhere or by guess).
  FGInterface& groups = seg->getFunctionalGroups();
  std::vector<SegFrame> placed(frames);
  for (size_t f = 0; f < frames; ++f) {
    if (std::optional<std::string> why = PlaceFrame(groups, f, grid, placed[f])) {
      Refuse(out, Refusal::kUnreadable, name + ": " + *why);
      return;
    }
    const Vec3 n = Cross(placed[f].row_dir, placed[f].col_dir);
    const double sine = Norm(Cross(n, grid.normal));
    if (sine > kParallelSine) {
      char deg[32];
      std::snprintf(deg, sizeof deg, "%.2f", std::asin(std::min(1.0, sine)) * 180 / M_PI);
      Refuse(out, Refusal::kOrientationDiffers,
             name + ": frame " + Num(f + 1) + " is tilted by " + deg +
                 " degrees to the series' slices (an oblique grid): regions are read on parallel planes only");
      return;
    }
  }
  // The SEG's planes (over all segments) and their spacing: an explicit Spacing Between Slices,
  // else the smallest gap between planes, else the slice thickness, else the series'.
  std::vector<double> planes;
  for (const SegFrame& f : placed) planes.push_back(f.offset);
  std::sort(planes.begin(), planes.end());
  planes.erase(std::unique(planes.begin(), planes.end(), [](double a, double b) { return b - a < kSamePlaneMm; }),
               planes.end());
  double spacing = 0;
  if (auto* m = static_cast<FGPixelMeasures*>(groups.get(0, DcmFGTypes::EFG_PIXELMEASURES))) {
    Float64 v = 0;
    if (m->getSpacingBetweenSlices(v).good() && v > 0) spacing = v;
  }
  if (!(spacing > 0)) {
    for (size_t i = 1; i < planes.size(); ++i) {
      const double gap = planes[i] - planes[i - 1];
      if (!(spacing > 0) || gap < spacing) spacing = gap;
    }
  }
  if (!(spacing > 0) && frames > 0) {
    if (auto* m = static_cast<FGPixelMeasures*>(groups.get(0, DcmFGTypes::EFG_PIXELMEASURES))) {
      Float64 v = 0;
      if (m->getSliceThickness(v).good() && v > 0) spacing = v;
    }
  }
  if (!(spacing > 0)) spacing = grid.slice_spacing;
  // Each series slice takes the SEG plane nearest to it, within half the SEG's spacing.
  std::vector<std::optional<double>> slice_plane(grid.offsets.size());
  for (size_t s = 0; s < grid.offsets.size(); ++s) {
    double best = 0;
    for (double p : planes) {
      const double d = std::fabs(p - grid.offsets[s]);
      if (d <= spacing / 2 + 1e-3 && (!slice_plane[s] || d < best)) {
        slice_plane[s] = p;
        best = d;
      }
    }
  }

  std::map<int, std::vector<const SegFrame*>> by_segment;
  for (const SegFrame& f : placed) by_segment[f.segment].push_back(&f);
  for (const auto& [number, list] : by_segment) {
    if (std::find(numbers.begin(), numbers.end(), number) == numbers.end()) {
      out.notes.push_back(name + ": " + Num(list.size()) + " frame(s) reference segment " + std::to_string(number) +
                          ", which the Segment Sequence does not define: ignored");
    }
  }

  // BINARY pixel data, as stored (dcmseg has decompressed an RLE one in `ds`).
  const Uint8* binary_bits = nullptr;
  unsigned long binary_bytes = 0;
  if (type == DcmSegTypes::ST_BINARY &&
      (ds.findAndGetUint8Array(DCM_PixelData, binary_bits, &binary_bytes).bad() || !binary_bits)) {
    Refuse(out, Refusal::kUnreadable, name + ": no readable Pixel Data");
    return;
  }

  const int64_t plane_size = grid.rows * grid.cols;
  for (size_t k = 0; k < segments; ++k) {
    Region region;
    region.number = numbers[k];
    if (DcmSegment* s = seg->getSegment(k + 1)) {
      OFString label;
      if (s->getSegmentLabel(label).good()) region.label = Text(label);
      region.category = SegCode(s->getSegmentedPropertyCategoryCode());
      region.type = SegCode(s->getSegmentedPropertyTypeCode());
    }
    const std::string what = RegionName(ObjectKind::kSeg, region);
    const std::vector<const SegFrame*>& list = by_segment[region.number];
    if (list.empty()) {
      Refuse(region, Refusal::kEmpty, name + ": " + what + " has no frame (nothing segmented)");
      out.regions.push_back(std::move(region));
      continue;
    }
    std::vector<uint8_t> stored(static_cast<size_t>(plane_size) * grid.offsets.size(), 0);
    int64_t foreground = 0, outside = 0;
    long largest = 0;
    std::string problem;
    for (const SegFrame* f : list) {
      const DcmIODTypes::Frame* frame = type == DcmSegTypes::ST_FRACTIONAL ? seg->getFrame(f->index) : nullptr;
      if (type == DcmSegTypes::ST_FRACTIONAL && (!frame || !frame->pixData)) {
        problem = "frame " + Num(f->index + 1) + " has no pixel data";
        break;
      }
      // 0/1 (BINARY) or 0..max (FRACTIONAL) per pixel.
      std::vector<uint8_t> unpacked;
      const Uint8* values = frame ? frame->pixData : nullptr;
      if (type == DcmSegTypes::ST_BINARY) {
        // Unpacked here from the Pixel Data, not with dcmseg's frames: DCMTK 3.6.7 cuts the bit
        // stream into frames wrongly when Rows x Columns is not a multiple of 8 (frames start at
        // arbitrary bits): measured on an 81 x 99 SEG (tests/unit/region, seg_finer), its 4th and
        // later frames came out shifted by 8 and 16 bits. DICOM packs 1-bit pixels without gaps
        // between frames, least significant bit first (PS3.5 8.1.1, D.2).
        const size_t first_bit = f->index * pixels;
        if (first_bit + pixels > static_cast<size_t>(binary_bytes) * 8) {
          problem = "frame " + Num(f->index + 1) + ": the Pixel Data is shorter than its frames";
          break;
        }
        unpacked.resize(pixels);
        for (size_t i = 0; i < pixels; ++i) {
          const size_t bit = first_bit + i;
          unpacked[i] = (binary_bits[bit / 8] >> (bit % 8)) & 1u;
        }
        values = unpacked.data();
      } else if (frame->length < pixels) {
        problem = "frame " + Num(f->index + 1) + " is shorter than Rows x Columns";
        break;
      }
      for (size_t i = 0; i < pixels; ++i) largest = std::max<long>(largest, values[i]);
      const long threshold = type == DcmSegTypes::ST_BINARY ? 1 : *max_fractional;
      // A pixel is in the segment when 2 * value >= threshold: BINARY 1, FRACTIONAL at least half
      // the Maximum Fractional Value.
      auto in = [&](size_t i) { return 2L * values[i] >= threshold && values[i] > 0; };

      // What falls outside the series: each foreground pixel's centre mapped into the volume.
      const std::optional<int64_t> own_slice = grid.NearestSlice(f->offset, grid.slice_spacing / 2 + 1e-3);
      for (long r = 0; r < rows; ++r) {
        for (long c = 0; c < cols; ++c) {
          if (!in(static_cast<size_t>(r * cols + c))) continue;
          ++foreground;
          if (!own_slice) {
            ++outside;
            continue;
          }
          Vec3 p;
          for (size_t a = 0; a < 3; ++a) {
            p[a] = f->position[a] + c * f->col_spacing * f->row_dir[a] + r * f->row_spacing * f->col_dir[a];
          }
          double u = 0, v = 0;
          grid.ToPixel(*own_slice, p, u, v);
          if (u < -0.5 || v < -0.5 || u >= grid.cols - 0.5 || v >= grid.rows - 0.5) ++outside;
        }
      }
      // Nearest neighbour: every series pixel on a slice that takes this frame's plane looks up
      // the frame pixel whose centre is nearest to its own.
      for (size_t s = 0; s < grid.offsets.size(); ++s) {
        if (!slice_plane[s] || std::fabs(*slice_plane[s] - f->offset) >= kSamePlaneMm) continue;
        uint8_t* dst = stored.data() + s * static_cast<size_t>(plane_size);
        for (int64_t r = 0; r < grid.rows; ++r) {
          for (int64_t c = 0; c < grid.cols; ++c) {
            const Vec3 d = Sub(grid.PixelCentre(static_cast<int64_t>(s), static_cast<double>(r), static_cast<double>(c)),
                               f->position);
            const double fu = std::floor(Dot(d, f->row_dir) / f->col_spacing + 0.5);
            const double fv = std::floor(Dot(d, f->col_dir) / f->row_spacing + 0.5);
            if (fu < 0 || fv < 0 || fu >= cols || fv >= rows) continue;
            if (in(static_cast<size_t>(fv) * static_cast<size_t>(cols) + static_cast<size_t>(fu))) dst[r * grid.cols + c] = 1;
          }
        }
      }
    }
    if (!problem.empty()) {
      Refuse(out, Refusal::kUnreadable, name + ": " + what + ": " + problem);
      return;
    }
    if (foreground == 0) {
      Refuse(region, Refusal::kEmpty,
             name + ": " + what + " is empty: its " + Num(list.size()) + " frame(s) have no pixel " +
                 (type == DcmSegTypes::ST_BINARY
                      ? std::string("set")
                      : "at or above half the Maximum Fractional Value (their largest value is " +
                            std::to_string(largest) + " of " + std::to_string(*max_fractional) + ")"));
    } else if (outside == foreground) {
      Refuse(region, Refusal::kOutsideImage,
             name + ": " + what + " lies entirely outside the series (" + Num(static_cast<size_t>(foreground)) +
                 " pixels, none within its slices and field of view)");
    } else {
      SetMask(grid, stored, region);
      if (region.pixels == 0) {
        Refuse(region, Refusal::kEmpty,
               name + ": " + what + " covers no pixel centre of the series grid (" +
                   Num(static_cast<size_t>(foreground)) + " pixels on its own grid)");
      } else if (outside > 0) {
        out.notes.push_back(name + ": " + what + ": " + Num(static_cast<size_t>(outside)) + " of " +
                            Num(static_cast<size_t>(foreground)) + " pixels lie outside the series and are left out");
      }
    }
    out.regions.push_back(std::move(region));
  }
}

}  // namespace curia::region::internal
