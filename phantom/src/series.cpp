// SPDX-License-Identifier: GPL-3.0-or-later
// The head phantom as a DICOM series: CT or MR Image Storage, one instance per slice.
#include "curia/phantom/series.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>

#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/config/sha256.h"
#include "curia/dicomsr/outputs.h"
#include "curia/dicomsr/dataset.h"
#include "decimal_string.h"

namespace curia::phantom {
namespace {

using dicomsr::Check;
using dicomsr::Put;

constexpr int kStoredOffset = 1024;  // stored value = HU + 1024
constexpr int kMaxStored = 4095;     // Bits Stored 12

std::string Number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// A lesion other than the default one (the key of a default phantom stays what it was).
std::string LesionKey(const phantom::PhantomOptions& p) {
  const phantom::PhantomOptions d;
  if (!p.lesion || (p.lesion_x_mm == d.lesion_x_mm && p.lesion_y_mm == d.lesion_y_mm && p.lesion_z_mm == d.lesion_z_mm &&
                    p.lesion_radius_mm == d.lesion_radius_mm && p.lesion_hu == d.lesion_hu)) {
    return "";
  }
  return "|lesion@" + Number(p.lesion_x_mm) + "," + Number(p.lesion_y_mm) + "," + Number(p.lesion_z_mm) + "," +
         Number(p.lesion_radius_mm) + "," + Number(p.lesion_hu);
}

// Everything that makes the series what it is: the same key, the same UIDs.
std::string SeriesKey(const PhantomSeriesOptions& o) {
  const phantom::PhantomOptions& p = o.phantom;
  return "curia-phantom|" + std::to_string(o.seed) + "|" + o.modality + "|" + std::to_string(p.rows) + "x" +
         std::to_string(p.cols) + "x" + std::to_string(p.slices) + "|" + Number(p.pixel_mm) + "|" +
         Number(p.slice_mm) + "|" + Number(p.noise_hu) + "|" + (p.lesion ? "lesion" : "no-lesion") + "|" +
         o.patient_name + "|" + o.patient_id + LesionKey(p);
}

bool ValidUidRoot(const std::string& root) {
  if (root.empty() || root.size() > 40 || root.front() == '.' || root.back() == '.') return false;
  for (size_t i = 0; i < root.size(); ++i) {
    const char c = root[i];
    if (c == '.') {
      if (root[i - 1] == '.') return false;
    } else if (c < '0' || c > '9') {
      return false;
    } else if (c == '0' && (i == 0 || root[i - 1] == '.') && i + 1 < root.size() && root[i + 1] != '.') {
      return false;  // a component with a leading zero
    }
  }
  return true;
}

void CheckText(const std::string& value, const std::string& what, size_t max) {
  if (value.size() > max) {
    throw Error(ErrorCode::kInvalidArgument, what + " is longer than " + std::to_string(max) + " characters");
  }
  for (char c : value) {
    if (c == '\\' || (static_cast<unsigned char>(c) < 0x20)) {
      throw Error(ErrorCode::kInvalidArgument, what + " may not hold a backslash or a control character");
    }
  }
}

void CheckOptions(const PhantomSeriesOptions& o) {
  if (o.modality != "CT" && o.modality != "MR") {
    throw Error(ErrorCode::kInvalidArgument, "phantom series: modality must be CT or MR, got '" + o.modality + "'");
  }
  const phantom::PhantomOptions& p = o.phantom;
  if (p.rows < 1 || p.cols < 1 || p.rows > 4096 || p.cols > 4096 || p.slices < 1 || p.slices > 100000 ||
      !(p.pixel_mm > 0) || !(p.slice_mm > 0) || !(p.noise_hu >= 0)) {
    throw Error(ErrorCode::kInvalidArgument,
                "phantom series: 1 to 4096 rows and columns, 1 to 100000 slices, positive spacings");
  }
  CheckText(o.patient_name, "patient name", 64);
  CheckText(o.patient_id, "patient ID", 64);
  if (o.patient_id.empty()) throw Error(ErrorCode::kInvalidArgument, "patient ID is empty");
  if (!ValidUidRoot(o.uid_root)) throw Error(ErrorCode::kInvalidArgument, "UID root '" + o.uid_root + "' is not a valid UID prefix");
  auto digits = [](const std::string& v, size_t n) {
    return v.empty() || (v.size() == n && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }));
  };
  if (!digits(o.study_date, 8) || !digits(o.study_time, 6)) {
    throw Error(ErrorCode::kInvalidArgument, "phantom series: study date is YYYYMMDD and study time HHMMSS");
  }
}

std::string SopUid(const PhantomSeriesOptions& o, const std::string& key, int64_t k) {
  return dicomsr::DeriveUid(o.uid_root, key + "/sop/" + std::to_string(k));
}

}  // namespace

std::string PhantomSopInstanceUid(const PhantomSeriesOptions& options, int64_t k) {
  return SopUid(options, SeriesKey(options), k);
}

std::string PhantomDerivedUid(const PhantomSeriesOptions& options, const std::string& what) {
  return dicomsr::DeriveUid(options.uid_root, SeriesKey(options) + "/" + what);
}

void PhantomStudyDateTime(const PhantomSeriesOptions& options, std::string& date, std::string& time) {
  dicomsr::Now(date, time);
  if (!options.study_date.empty()) date = options.study_date;
  if (!options.study_time.empty()) time = options.study_time;
}

PhantomSeriesInfo DescribePhantomSeries(const PhantomSeriesOptions& o) {
  CheckOptions(o);
  const std::string key = SeriesKey(o);
  PhantomSeriesInfo info;
  info.study_uid = dicomsr::DeriveUid(o.uid_root, key + "/study");
  info.series_uid = dicomsr::DeriveUid(o.uid_root, key + "/series");
  info.frame_of_reference_uid = dicomsr::DeriveUid(o.uid_root, key + "/frame-of-reference");
  std::string hex = config::Sha256Hex(key + "/accession").substr(0, 12);
  std::transform(hex.begin(), hex.end(), hex.begin(), [](char c) { return static_cast<char>(std::toupper(c)); });
  info.accession_number = "PH" + hex;  // SH: 14 characters
  info.sop_class_uid = o.modality == "CT" ? UID_CTImageStorage : UID_MRImageStorage;
  info.slices = o.phantom.slices;
  return info;
}

PhantomSeriesInfo MakePhantomSeries(const PhantomSeriesOptions& options,
                                    const std::function<void(const PhantomInstance&)>& sink) {
  const PhantomSeriesInfo info = DescribePhantomSeries(options);
  const std::string key = SeriesKey(options);
  phantom::PhantomOptions p = options.phantom;
  p.seed = options.seed;
  const bool ct = options.modality == "CT";
  std::string date, time;
  PhantomStudyDateTime(options, date, time);
  const double x0 = -(static_cast<double>(p.cols) - 1) / 2.0 * p.pixel_mm;
  const double y0 = -(static_cast<double>(p.rows) - 1) / 2.0 * p.pixel_mm;
  const size_t pixels = static_cast<size_t>(p.rows * p.cols);
  std::vector<int16_t> hu(pixels);
  std::vector<Uint16> stored(pixels);

  for (int64_t k = 0; k < p.slices; ++k) {
    phantom::MakeHeadPhantomSlice(p, k, hu.data());
    for (size_t i = 0; i < pixels; ++i) stored[i] = static_cast<Uint16>(std::clamp(hu[i] + kStoredOffset, 0, kMaxStored));
    const double z = (static_cast<double>(k) - (static_cast<double>(p.slices) - 1) / 2.0) * p.slice_mm;

    DcmFileFormat file;
    DcmDataset& ds = *file.getDataset();
    PhantomInstance instance;
    instance.index = k;
    instance.sop_instance_uid = SopUid(options, key, k);
    // SOP Common.
    Put(ds, DCM_SpecificCharacterSet, "ISO_IR 192");
    Put(ds, DCM_SOPClassUID, info.sop_class_uid);
    Put(ds, DCM_SOPInstanceUID, instance.sop_instance_uid);
    Put(ds, DCM_InstanceCreationDate, date);
    Put(ds, DCM_InstanceCreationTime, time);
    // Patient.
    Put(ds, DCM_PatientName, options.patient_name);
    Put(ds, DCM_PatientID, options.patient_id);
    Put(ds, DCM_PatientBirthDate, "");
    Put(ds, DCM_PatientSex, "O");
    // General Study.
    Put(ds, DCM_StudyInstanceUID, info.study_uid);
    Put(ds, DCM_StudyDate, date);
    Put(ds, DCM_StudyTime, time);
    Put(ds, DCM_ReferringPhysicianName, "");
    Put(ds, DCM_StudyID, "1");
    Put(ds, DCM_AccessionNumber, info.accession_number);
    Put(ds, DCM_StudyDescription, "Curia Node phantom");
    // General Series.
    Put(ds, DCM_Modality, options.modality);
    Put(ds, DCM_SeriesInstanceUID, info.series_uid);
    Put(ds, DCM_SeriesNumber, "1");
    Put(ds, DCM_SeriesDate, date);
    Put(ds, DCM_SeriesTime, time);
    Put(ds, DCM_SeriesDescription, "Head phantom (synthetic)");
    Put(ds, DCM_BodyPartExamined, "HEAD");
    Put(ds, DCM_PatientPosition, "HFS");
    // Frame of Reference.
    Put(ds, DCM_FrameOfReferenceUID, info.frame_of_reference_uid);
    Put(ds, DCM_PositionReferenceIndicator, "");
    // General Equipment.
    Put(ds, DCM_Manufacturer, "Curia Node phantom");
    Put(ds, DCM_ManufacturerModelName, "Analytic head phantom");
    if (!options.software_version.empty()) Put(ds, DCM_SoftwareVersions, options.software_version);
    // General Image and Acquisition.
    Put(ds, DCM_InstanceNumber, std::to_string(k + 1));
    Put(ds, DCM_AcquisitionNumber, "1");
    Put(ds, DCM_ContentDate, date);
    Put(ds, DCM_ContentTime, time);
    Put(ds, DCM_AcquisitionDate, date);
    Put(ds, DCM_AcquisitionTime, time);
    Put(ds, DCM_ImageType, ct ? "ORIGINAL\\PRIMARY\\AXIAL" : "ORIGINAL\\PRIMARY\\OTHER");
    Put(ds, DCM_BurnedInAnnotation, "NO");
    Put(ds, DCM_ImageComments, "Synthetic analytic head phantom made by Curia Node: no patient data");
    // Image Plane.
    Put(ds, DCM_ImagePositionPatient, Ds(x0) + "\\" + Ds(y0) + "\\" + Ds(z));
    Put(ds, DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
    Put(ds, DCM_PixelSpacing, Ds(p.pixel_mm) + "\\" + Ds(p.pixel_mm));
    Put(ds, DCM_SliceThickness, Ds(p.slice_mm));
    Put(ds, DCM_SliceLocation, Ds(z));
    // Modality-specific image module.
    if (ct) {
      Put(ds, DCM_KVP, "120");
      Put(ds, DCM_ReconstructionDiameter, Ds(p.pixel_mm * static_cast<double>(std::max(p.rows, p.cols))));
      Put(ds, DCM_ConvolutionKernel, "STANDARD");
      Put(ds, DCM_RescaleIntercept, std::to_string(-kStoredOffset));
      Put(ds, DCM_RescaleSlope, "1");
      Put(ds, DCM_RescaleType, "HU");
      // Brain and bone windows, in HU.
      Put(ds, DCM_WindowCenter, "40\\600");
      Put(ds, DCM_WindowWidth, "80\\2800");
      Put(ds, DCM_WindowCenterWidthExplanation, "BRAIN\\BONE");
    } else {
      Put(ds, DCM_ScanningSequence, "SE");
      Put(ds, DCM_SequenceVariant, "NONE");
      Put(ds, DCM_ScanOptions, "");
      Put(ds, DCM_MRAcquisitionType, "2D");
      Put(ds, DCM_RepetitionTime, "500");
      Put(ds, DCM_EchoTime, "15");
      Put(ds, DCM_EchoTrainLength, "1");
      Put(ds, DCM_ImagedNucleus, "1H");
      Put(ds, DCM_MagneticFieldStrength, "1.5");
      Put(ds, DCM_SpacingBetweenSlices, Ds(p.slice_mm));
      // Stored values (no rescale): brain around 1050-1070.
      Put(ds, DCM_WindowCenter, "1060");
      Put(ds, DCM_WindowWidth, "200");
    }
    // Image Pixel: 12 bits stored in 16, unsigned.
    Check(ds.putAndInsertUint16(DCM_SamplesPerPixel, 1), "phantom samples");
    Put(ds, DCM_PhotometricInterpretation, "MONOCHROME2");
    Check(ds.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(p.rows)), "phantom rows");
    Check(ds.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(p.cols)), "phantom columns");
    Check(ds.putAndInsertUint16(DCM_BitsAllocated, 16), "phantom bits");
    Check(ds.putAndInsertUint16(DCM_BitsStored, 12), "phantom bits");
    Check(ds.putAndInsertUint16(DCM_HighBit, 11), "phantom bits");
    Check(ds.putAndInsertUint16(DCM_PixelRepresentation, 0), "phantom pixel representation");
    Check(ds.putAndInsertUint16Array(DCM_PixelData, stored.data(), static_cast<unsigned long>(stored.size())),
          "phantom pixels");
    instance.bytes = dicomsr::ToBytes(file);
    sink(instance);
  }
  return info;
}

PhantomSeriesInfo WritePhantomSeries(const PhantomSeriesOptions& options, const std::string& dir) {
  DescribePhantomSeries(options);  // checks before touching the disk
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(ErrorCode::kInvalidArgument, dir + ": cannot create folder (" + ec.message() + ")");
  const int digits = std::max<int>(4, static_cast<int>(std::to_string(options.phantom.slices).size()));
  std::vector<std::string> files;
  PhantomSeriesInfo info = MakePhantomSeries(options, [&](const PhantomInstance& instance) {
    char name[64];
    std::snprintf(name, sizeof name, "slice-%0*lld.dcm", digits, static_cast<long long>(instance.index + 1));
    const std::string path = dir + "/" + name;
    config::WriteFileAtomic(path, {instance.bytes});
    files.push_back(path);
  });
  info.files = std::move(files);
  return info;
}

}  // namespace curia::phantom
