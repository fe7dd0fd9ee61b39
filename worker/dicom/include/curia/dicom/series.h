// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// DICOM instances -> series -> volumes the worker pool can read slice by slice.
//
//   ScanResult scan = LoadSeries(source, ids, LoadOptions{});
//   for (const SeriesResult& s : scan.series) {
//     if (!s.error.empty()) { report(s.series_uid, s.error); continue; }   // a specific reason
//     s.volume->Verify();          // decodes every slice once: truncated or blank pixel data
//     pool.Submit({id, priority, s.volume, tasks}, ...);
//   }
//
// A volume is one series: single- or multi-frame images of one size and orientation, sorted along
// the slice normal by Image Position (Patient), Rescale Slope/Intercept applied for CT (Hounsfield
// units), MONOCHROME1 inverted, any Bits Stored, signed or not, and oriented the Curia way (axial
// PL, coronal IL, sagittal IP). JPEG baseline/extended/lossless, JPEG-LS, RLE and deflate are
// decoded by DCMTK, JPEG 2000 (lossless and lossy, single and multi-frame) by OpenJPEG. For any
// other transfer syntax LoadOptions::transcoder may supply the instance in one of these, otherwise
// reading it fails with "unsupported transfer syntax". Every refusal is a specific message;
// nothing here crashes on bad input.
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "curia/dicom/instance_source.h"
#include "curia/model/orientation.h"
#include "curia/worker/volume.h"

class DcmDataset;  // DCMTK

namespace curia::dicom {

// Returns the instance re-encoded in a transfer syntax DCMTK decodes, or nullopt.
using Transcoder = std::function<std::optional<std::string>(const std::string& id)>;

struct LoadOptions {
  Transcoder transcoder;
  double max_obliquity_deg = 36.87;  // see model::ComputeSliceOrientation
};

// One slice of a volume, in volume order.
struct SliceRef {
  std::string instance;   // id in the IInstanceSource
  int32_t frame = 0;      // 0-based frame within the instance
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::array<double, 3> position{};  // Image Position (Patient), mm
  double slope = 1, intercept = 0;   // applied for CT only
};

class DicomVolume : public worker::IVolumeSource {
 public:
  worker::VolumeInfo Info() const override { return info_; }
  // Decodes slice `index` (one frame of one instance) into rows x cols values: Hounsfield units for
  // CT, stored values otherwise, MONOCHROME1 inverted, in Curia's orientation. Thread-safe.
  void ReadSlice(int64_t index, float* out) const override;

  // Decodes every slice once: throws curia::Error(kInvalidArgument) naming the instance for pixel
  // data that is truncated or corrupt, and for a volume whose pixels are all equal (blank).
  void Verify() const;

  // The first slice's instance without its pixel data: patient, study and series attributes, in
  // the source character set.
  const DcmDataset& header() const { return *header_; }
  const std::vector<SliceRef>& slices() const { return slices_; }
  const model::SliceOrientation& orientation() const { return orientation_; }
  std::string series_uid, study_uid, frame_of_reference_uid;

  struct Pixels {
    int64_t rows = 0, cols = 0;
    int bits_allocated = 16, bits_stored = 16, high_bit = 15;
    bool is_signed = false, monochrome1 = false, rescale = false;
  };

 private:
  friend class VolumeBuilder;
  DicomVolume() = default;

  const IInstanceSource* source_ = nullptr;
  LoadOptions options_;
  worker::VolumeInfo info_;
  Pixels pixels_;
  model::SliceOrientation orientation_;
  std::vector<SliceRef> slices_;
  std::shared_ptr<DcmDataset> header_;
};

struct SeriesResult {
  std::string series_uid;
  std::string study_uid;
  std::string modality;
  std::string description;  // Series Description
  std::vector<std::string> instances;
  std::string error;        // why the series is not a volume; empty when `volume` is set
  std::shared_ptr<DicomVolume> volume;
};

struct InstanceError {
  std::string instance;
  std::string error;
};

struct ScanResult {
  std::vector<SeriesResult> series;       // in order of first appearance
  std::vector<InstanceError> unreadable;  // instances that are not readable DICOM at all
};

// Reads the instances' headers (pixel data is read later, slice by slice, through `source`, which
// must outlive the volumes), groups them by Series Instance UID and builds each series' volume or
// the reason it cannot be one.
ScanResult LoadSeries(const IInstanceSource& source, const std::vector<std::string>& ids, const LoadOptions& options);

// DCMTK's decoders for JPEG, JPEG-LS and RLE, registered once per process. LoadSeries calls it.
void RegisterCodecs();
// True when `keyword` names an attribute of DCMTK's data dictionary ("SeriesDescription"): for
// checking routing rules, whose tags Orthanc reports by the same keywords.
bool IsDicomKeyword(const std::string& keyword);
// Keeps DCMTK's own log quiet (errors only): for the command-line tool; the plugin leaves
// Orthanc's DCMTK settings alone.
void QuietDcmtkLogging();

}  // namespace curia::dicom
