// SPDX-License-Identifier: GPL-3.0-or-later
// Secondary Capture key image: the key slice windowed for reading, with the finding, its
// probability and the research-use statement burned in above and below it, and for a finding about
// a region (issue 17) the region's outline on the slice.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmiod/modhelp.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "codes.h"
#include "common.h"
#include "curia/config/error.h"
#include "curia/dicomsr/dataset.h"
#include "font.h"

namespace curia::dicomsr {
namespace {

using internal::Get;
using internal::Put;

constexpr std::array<uint8_t, 3> kWhite = {255, 255, 255};
constexpr std::array<uint8_t, 3> kRed = {255, 90, 80};
constexpr std::array<uint8_t, 3> kGreen = {120, 230, 120};
constexpr std::array<uint8_t, 3> kYellow = {255, 215, 0};
constexpr std::array<uint8_t, 3> kOrange = {255, 150, 40};
// The region's outline: a colour neither the grey slice (R = G = B) nor the heat map (yellow to
// red, B at most the grey) can produce.
constexpr std::array<uint8_t, 3> kCyan = {0, 255, 255};

// Values -> 0..255: CT through the task's window, otherwise between the 1st and 99th percentiles.
std::vector<uint8_t> Window(const KeyImage& image, bool ct) {
  double lo, hi;
  if (ct) {
    lo = image.window_center - image.window_width / 2;
    hi = image.window_center + image.window_width / 2;
  } else {
    std::vector<float> sorted = image.values;
    const size_t n = sorted.size();
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(n / 100), sorted.end());
    lo = sorted[n / 100];
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(n - 1 - n / 100), sorted.end());
    hi = sorted[n - 1 - n / 100];
  }
  if (!(hi > lo)) hi = lo + 1;
  std::vector<uint8_t> grey(image.values.size());
  for (size_t i = 0; i < grey.size(); ++i) {
    const double v = (image.values[i] - lo) / (hi - lo);
    grey[i] = static_cast<uint8_t>(std::lround(255.0 * std::clamp(v, 0.0, 1.0)));
  }
  return grey;
}

// The heat map's value at display pixel (y, x) of a rows x cols image: bilinear over the patch grid,
// which covers the whole slice (preprocessing resizes the slice to the model's size, no cropping).
class HeatSampler {
 public:
  HeatSampler(const worker::HeatMap& map, int64_t rows, int64_t cols)
      : m_(map), sy_(static_cast<double>(map.rows) / rows), sx_(static_cast<double>(map.cols) / cols) {}
  double operator()(double y, double x) const {
    const double gy = std::clamp((y + 0.5) * sy_ - 0.5, 0.0, static_cast<double>(m_.rows - 1));
    const double gx = std::clamp((x + 0.5) * sx_ - 0.5, 0.0, static_cast<double>(m_.cols - 1));
    const int64_t y0 = static_cast<int64_t>(gy), x0 = static_cast<int64_t>(gx);
    const int64_t y1 = std::min(y0 + 1, m_.rows - 1), x1 = std::min(x0 + 1, m_.cols - 1);
    const double wy = gy - static_cast<double>(y0), wx = gx - static_cast<double>(x0);
    auto at = [&](int64_t r, int64_t c) { return static_cast<double>(m_.values[static_cast<size_t>(r * m_.cols + c)]); };
    return (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x1)) + wy * ((1 - wx) * at(y1, x0) + wx * at(y1, x1));
  }

 private:
  const worker::HeatMap& m_;
  double sy_, sx_;
};

// Grey pixel + heat value in [0, 1] -> blended RGB: yellow (low) to red (high), more opaque as the
// value rises, so that the anatomy stays readable where the head does not respond.
void Blend(uint8_t grey, double v, uint8_t* p) {
  const double a = 0.6 * v;
  const double colour[3] = {255.0, 255.0 * (1 - v), 0.0};
  for (int c = 0; c < 3; ++c) p[c] = static_cast<uint8_t>(std::lround((1 - a) * grey + a * colour[c]));
}

void CheckHeatMap(const worker::TaskFinding& f) {
  const std::string what = "heat map of " + f.task + ": ";
  const worker::HeatMap& m = f.heat_map;
  if (m.rows < 1 || m.cols < 1 || m.values.size() != static_cast<size_t>(m.rows * m.cols)) {
    throw Error(ErrorCode::kInvalidArgument, what + std::to_string(m.values.size()) + " values for a " +
                                                 std::to_string(m.rows) + "x" + std::to_string(m.cols) + " grid");
  }
  for (float v : m.values) {
    if (!(v >= 0 && v <= 1)) throw Error(ErrorCode::kInvalidArgument, what + "a value outside [0, 1]");
  }
}

// The region's boundary on the key slice: mask pixels inside whose 4-neighbourhood leaves the
// region (or the slice), 1 there; a one-pixel-wide outline on the mask's grid.
std::vector<uint8_t> Boundary(const worker::RegionReference& r) {
  std::vector<uint8_t> edge(r.key_slice_mask.size(), 0);
  auto inside = [&](int64_t y, int64_t x) {
    return y >= 0 && x >= 0 && y < r.mask_rows && x < r.mask_cols && r.key_slice_mask[static_cast<size_t>(y * r.mask_cols + x)];
  };
  for (int64_t y = 0; y < r.mask_rows; ++y) {
    for (int64_t x = 0; x < r.mask_cols; ++x) {
      edge[static_cast<size_t>(y * r.mask_cols + x)] =
          inside(y, x) && !(inside(y - 1, x) && inside(y + 1, x) && inside(y, x - 1) && inside(y, x + 1));
    }
  }
  return edge;
}

void CheckRegionMask(const worker::TaskFinding& f) {
  const worker::RegionReference& r = f.region;
  if (r.mask_rows < 0 || r.mask_cols < 0 || r.key_slice_mask.size() != static_cast<size_t>(r.mask_rows * r.mask_cols)) {
    throw Error(ErrorCode::kInvalidArgument, "region mask of " + f.task + ": " + std::to_string(r.key_slice_mask.size()) +
                                                 " values for a " + std::to_string(r.mask_rows) + "x" +
                                                 std::to_string(r.mask_cols) + " slice");
  }
}

std::string Upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::string Percent(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * p);
  return buf;
}

}  // namespace

DicomObject WriteKeyImage(const SourceSeries& source, const worker::StudyFindings& findings, size_t index,
                          const KeyImage& image, const config::DicomSettings& settings, const Identity& identity) {
  if (index >= findings.findings.size()) throw Error(ErrorCode::kInvalidArgument, "no such finding");
  const worker::TaskFinding& f = findings.findings[index];
  if (image.rows < 1 || image.cols < 1 || image.values.size() != static_cast<size_t>(image.rows * image.cols)) {
    throw Error(ErrorCode::kInvalidArgument, "key image of " + f.task + ": no pixels");
  }
  const bool heat = settings.heat_map && !f.regression && !f.heat_map.values.empty();
  if (heat) CheckHeatMap(f);
  const worker::RegionReference& region = f.region;
  CheckRegionMask(f);
  const bool outline = !region.kind.empty() && !region.key_slice_mask.empty();
  std::unique_ptr<DcmDataset> src = internal::Utf8Source(source);
  DicomObject out;
  out.sop_class_uid = settings.multiframe_sc ? UID_MultiframeTrueColorSecondaryCaptureImageStorage
                                             : UID_SecondaryCaptureImageStorage;
  out.series_instance_uid = DeriveUid(settings.uid_root, identity.job_key + "/sc/series");
  // One key image per finding: a region's names its region (a task runs on many).
  out.sop_instance_uid = DeriveUid(settings.uid_root, identity.job_key + "/sc/" + f.task +
                                                          (region.kind.empty() ? std::string()
                                                                               : "/" + region.sop_instance_uid + "/" +
                                                                                     std::to_string(region.number)));

  // Layout: the slice enlarged to at least 512 columns, a caption above, the statement below.
  const int64_t zoom = std::max<int64_t>(1, std::min<int64_t>(64, (512 + image.cols - 1) / image.cols));
  const int64_t width = image.cols * zoom;
  std::vector<std::pair<std::string, std::array<uint8_t, 3>>> caption = {
      {"CURIA NODE - " + f.task, kWhite},
  };
  if (f.regression) {
    char value[64];
    std::snprintf(value, sizeof value, "%.4g", f.probability);
    caption.push_back({f.finding.meaning + ": " + value, kWhite});
  } else {
    caption.push_back({f.finding.meaning + ": " + (f.present ? "PRESENT" : "ABSENT"), f.present ? kRed : kGreen});
    caption.push_back({"PROBABILITY " + Percent(f.probability) + " (THRESHOLD " + Percent(f.threshold) + ")", kWhite});
  }
  const int64_t slices = static_cast<int64_t>(source.images.size());
  caption.push_back({"KEY SLICE " + std::to_string(f.key_slice + 1) + " OF " + std::to_string(slices), kWhite});
  if (!region.kind.empty()) {
    const std::string name = std::string(region.kind == "SEG" ? "SEGMENT " : "ROI ") + std::to_string(region.number) +
                             (region.label.empty() ? "" : " " + Upper(region.label)) + " (" + region.kind + ")";
    caption.push_back({(outline ? "OUTLINE: " : "REGION: ") + name, kCyan});
    if (!region.predicted_class.empty()) {
      caption.push_back({"PREDICTED: " + Upper(region.predicted_class) +
                             (region.agreement == "agrees"      ? " - AGREES WITH THE REGION'S LABEL"
                              : region.agreement == "disagrees" ? " - DISAGREES WITH THE REGION'S LABEL"
                                                                : ""),
                         region.agreement == "disagrees" ? kOrange : kWhite});
    }
  }
  if (heat) caption.push_back({"HEAT MAP OF PATCH PROBABILITY: YELLOW-RED", kYellow});
  if (findings.demo) caption.push_back({"DEMO MODEL - MEANINGLESS OUTPUT", kOrange});
  const std::string statement = "RESEARCH USE ONLY \xE2\x80\x93 NOT FOR CLINICAL USE";
  // Text at 2x on a 512-pixel image (3x above 768), lines wrapped at spaces to fit the width.
  const int scale = static_cast<int>(std::clamp<int64_t>(width / 256, 1, 3));
  const size_t columns = static_cast<size_t>(
      std::max<int64_t>(8, (width - 8 * scale) / (internal::kAdvance * scale)));
  using Lines = std::vector<std::pair<std::string, std::array<uint8_t, 3>>>;
  auto wrap = [&](const Lines& lines) {
    Lines wrapped;
    for (const auto& [text, colour] : lines) {
      std::string rest = internal::Printable(text);
      while (rest.size() > columns) {
        size_t cut = rest.rfind(' ', columns);
        if (cut == std::string::npos || cut == 0) cut = columns;
        wrapped.push_back({rest.substr(0, cut), colour});
        rest = rest.substr(cut + (rest[cut] == ' ' ? 1 : 0));
      }
      wrapped.push_back({rest, colour});
    }
    return wrapped;
  };
  caption = wrap(caption);
  const Lines footer = wrap({{statement, kYellow}});
  const int64_t line = internal::kLineHeight * scale, margin = 4 * scale;
  const int64_t top = static_cast<int64_t>(caption.size()) * line + 2 * margin;
  const int64_t bottom = static_cast<int64_t>(footer.size()) * line + 2 * margin;
  // Square pixels: rows further apart than columns (or closer) are repeated (or skipped) in proportion,
  // so that the image needs no Pixel Aspect Ratio (Type 1C when pixels are not square).
  double aspect = 1;
  if (image.row_spacing_mm > 0 && image.col_spacing_mm > 0) aspect = std::clamp(image.row_spacing_mm / image.col_spacing_mm, 0.125, 8.0);
  const int64_t shown_rows = std::max<int64_t>(1, std::llround(static_cast<double>(image.rows * zoom) * aspect));
  const int64_t height = top + shown_rows + bottom;

  const std::vector<uint8_t> grey = Window(image, source.modality == "CT");
  std::vector<uint8_t> rgb(static_cast<size_t>(width * height * 3), 0);
  const HeatSampler sample(f.heat_map, shown_rows, width);
  for (int64_t y = 0; y < shown_rows; ++y) {
    const int64_t row = std::min(image.rows - 1, y * image.rows / shown_rows);
    for (int64_t x = 0; x < width; ++x) {
      const uint8_t g = grey[static_cast<size_t>(row * image.cols + x / zoom)];
      uint8_t* p = &rgb[static_cast<size_t>(((top + y) * width + x) * 3)];
      if (heat) {
        Blend(g, sample(static_cast<double>(y), static_cast<double>(x)), p);
      } else {
        p[0] = p[1] = p[2] = g;
      }
    }
  }
  if (outline) {
    // The mask is on the slice's grid as the volume gives it, like `image`; it is sampled the way the
    // slice is (rows repeated or skipped for square pixels, columns zoomed), so that each boundary
    // pixel becomes the block its slice pixel becomes.
    const std::vector<uint8_t> edge = Boundary(region);
    for (int64_t y = 0; y < shown_rows; ++y) {
      const int64_t row = std::min(image.rows - 1, y * image.rows / shown_rows);
      const int64_t mask_row = row * region.mask_rows / image.rows;
      for (int64_t x = 0; x < width; ++x) {
        const int64_t mask_col = (x / zoom) * region.mask_cols / image.cols;
        if (!edge[static_cast<size_t>(mask_row * region.mask_cols + mask_col)]) continue;
        uint8_t* p = &rgb[static_cast<size_t>(((top + y) * width + x) * 3)];
        std::copy(kCyan.begin(), kCyan.end(), p);
      }
    }
  }
  for (size_t i = 0; i < caption.size(); ++i) {
    internal::DrawText(rgb, width, height, margin, margin + static_cast<int64_t>(i) * line, caption[i].first, scale,
                       caption[i].second);
  }
  for (size_t i = 0; i < footer.size(); ++i) {
    internal::DrawText(rgb, width, height, margin, height - bottom + margin + static_cast<int64_t>(i) * line,
                       footer[i].first, scale, footer[i].second);
  }

  DcmFileFormat file;
  DcmDataset& ds = *file.getDataset();
  Put(ds, DCM_SpecificCharacterSet, "ISO_IR 192");
  DcmModuleHelpers::copyPatientModule(*src, ds);
  DcmModuleHelpers::copyPatientStudyModule(*src, ds);
  DcmModuleHelpers::copyGeneralStudyModule(*src, ds);
  internal::CompleteAnimalPatient(ds);
  // Type 2 attributes of the Patient and General Study modules are present, empty when unknown.
  for (const DcmTagKey& tag : {DCM_PatientName, DCM_PatientID, DCM_PatientBirthDate, DCM_PatientSex, DCM_StudyDate,
                               DCM_StudyTime, DCM_ReferringPhysicianName, DCM_StudyID, DCM_AccessionNumber}) {
    if (!ds.tagExists(tag)) Put(ds, tag, "");
  }
  Put(ds, DCM_SOPClassUID, out.sop_class_uid);
  Put(ds, DCM_SOPInstanceUID, out.sop_instance_uid);
  std::string date = identity.content_date, time = identity.content_time;
  if (date.empty()) internal::Now(date, time);
  Put(ds, DCM_InstanceCreationDate, date);
  Put(ds, DCM_InstanceCreationTime, time);
  // Series.
  Put(ds, DCM_Modality, "OT");
  Put(ds, DCM_SeriesInstanceUID, out.series_instance_uid);
  Put(ds, DCM_SeriesNumber, std::to_string(settings.series_number + 1));
  Put(ds, DCM_SeriesDescription, "Curia Node key images - RESEARCH USE ONLY");
  Put(ds, DCM_SeriesDate, date);
  Put(ds, DCM_SeriesTime, time);
  internal::AddLaterality(*src, ds);
  // Equipment.
  Put(ds, DCM_Manufacturer, settings.manufacturer);
  if (!settings.institution.empty()) Put(ds, DCM_InstitutionName, settings.institution);
  Put(ds, DCM_ConversionType, "WSD");
  Put(ds, DCM_SecondaryCaptureDeviceManufacturer, settings.manufacturer);
  Put(ds, DCM_SecondaryCaptureDeviceManufacturerModelName, internal::kModelName);
  Put(ds, DCM_SecondaryCaptureDeviceSoftwareVersions, identity.software_version);
  // Image.
  Put(ds, DCM_InstanceNumber, std::to_string(index + 1));
  Put(ds, DCM_PatientOrientation, "");
  Put(ds, DCM_ContentDate, date);
  Put(ds, DCM_ContentTime, time);
  Put(ds, DCM_ImageType, "DERIVED\\SECONDARY");
  Put(ds, DCM_DerivationDescription, std::string("Key slice of a Curia Node finding, windowed, with burned-in text") +
                                         (heat ? ", a patch-probability heat map" : "") +
                                         (outline ? ", the outline of the region classified" : ""));
  Put(ds, DCM_BurnedInAnnotation, "YES");
  Put(ds, DCM_ImageComments, std::string("For research use only. Not for clinical use.") +
                                 (findings.demo ? " DEMO model: meaningless output." : ""));
  if (f.key_slice >= 0 && f.key_slice < slices) {
    const ImageRef& ref = source.images[static_cast<size_t>(f.key_slice)];
    DcmItem* item = nullptr;
    Check(ds.findOrCreateSequenceItem(DCM_SourceImageSequence, item, -2), "SC source image");
    Put(*item, DCM_ReferencedSOPClassUID, ref.sop_class_uid);
    Put(*item, DCM_ReferencedSOPInstanceUID, ref.sop_instance_uid);
    if (ref.frame > 0) Put(*item, DCM_ReferencedFrameNumber, std::to_string(ref.frame));
    DcmItem* purpose = nullptr;
    Check(item->findOrCreateSequenceItem(DCM_PurposeOfReferenceCodeSequence, purpose, -2), "SC purpose");
    Put(*purpose, DCM_CodeValue, codes::kSourceImage.value);
    Put(*purpose, DCM_CodingSchemeDesignator, codes::kSourceImage.scheme);
    Put(*purpose, DCM_CodeMeaning, codes::kSourceImage.meaning);
  }
  // Pixels: interleaved RGB, 8 bits.
  Check(ds.putAndInsertUint16(DCM_SamplesPerPixel, 3), "SC samples");
  Put(ds, DCM_PhotometricInterpretation, "RGB");
  Check(ds.putAndInsertUint16(DCM_PlanarConfiguration, 0), "SC planar configuration");
  Check(ds.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(height)), "SC rows");
  Check(ds.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(width)), "SC columns");
  Check(ds.putAndInsertUint16(DCM_BitsAllocated, 8), "SC bits");
  Check(ds.putAndInsertUint16(DCM_BitsStored, 8), "SC bits");
  Check(ds.putAndInsertUint16(DCM_HighBit, 7), "SC bits");
  Check(ds.putAndInsertUint16(DCM_PixelRepresentation, 0), "SC pixel representation");
  if (settings.multiframe_sc) Put(ds, DCM_NumberOfFrames, "1");
  Check(ds.putAndInsertUint8Array(DCM_PixelData, rgb.data(), static_cast<unsigned long>(rgb.size())), "SC pixels");
  internal::AddContributingEquipment(ds, settings, identity, findings);
  out.bytes = internal::ToBytes(file);
  return out;
}

}  // namespace curia::dicomsr
