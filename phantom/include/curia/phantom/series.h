// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A synthetic but well-formed DICOM series of the analytic head phantom (phantom::MakeHeadPhantom):
// one CT Image Storage or MR Image Storage instance per axial slice, with real geometry, so that
// the node, the loader and a PACS can be exercised without patient data. Pure: bytes out through a
// callback (or files into a folder), no printing. Slices are made one at a time, so memory stays
// flat whatever the slice count.
//
//   PhantomSeriesOptions o;
//   o.phantom.slices = 16;
//   o.seed = 7;                                // same seed and options: same UIDs and pixels
//   PhantomSeriesInfo info = WritePhantomSeries(o, "/tmp/phantom");   // slice-0001.dcm ...
//
// Geometry (LPS patient coordinates, as PhantomVolume's comment defines them): axial slices, rows
// toward posterior and columns toward the patient's left, so Image Orientation (Patient) is
// 1\0\0\0\1\0; slice k's Image Position (Patient) is the centre of its first pixel,
// (-(cols-1)/2 * pixel, -(rows-1)/2 * pixel, (k - (slices-1)/2) * slice spacing); slice index and
// Instance Number increase toward superior.
//
// Pixels: stored value = HU + 1024 (0..4095: Bits Stored 12, unsigned), as many scanners write CT;
// CT declares Rescale Slope 1 and Rescale Intercept -1024 (so the loader reads HU back), MR has no
// rescale (its stored values are the phantom's HU + 1024, clipped at 0).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "curia/phantom/phantom.h"

namespace curia::phantom {

struct PhantomSeriesOptions {
  // Volume size, spacing and noise. phantom.seed is ignored: `seed` below drives the noise too.
  PhantomOptions phantom;
  std::string modality = "CT";  // "CT" | "MR"
  std::string patient_name = "PHANTOM^HEAD";
  std::string patient_id = "CURIA-PHANTOM";
  // UIDs are derived from the seed and the options under this root: the same seed and options give
  // the same Study, Series, Frame of Reference and SOP Instance UIDs (and the same pixels).
  uint64_t seed = 0;
  std::string uid_root = "2.25";
  std::string software_version;  // Software Versions, when not empty
  // Study Date and Time (DICOM DA "YYYYMMDD", TM "HHMMSS"); empty: now. Give them to write the
  // series and its region objects (regions.h) with the same study date.
  std::string study_date, study_time;
};

struct PhantomSeriesInfo {
  std::string study_uid, series_uid, frame_of_reference_uid;
  std::string accession_number;
  std::string sop_class_uid;
  int64_t slices = 0;
  std::vector<std::string> files;  // WritePhantomSeries only: the files written, in slice order
};

struct PhantomInstance {
  int64_t index = 0;  // slice index (0 = most inferior); Instance Number is index + 1
  std::string sop_instance_uid;
  std::string bytes;  // a complete DICOM file (meta header, explicit VR little endian)
};

// Checks the options (throws curia::Error(kInvalidArgument) naming the problem) and returns the
// series' identity without making any pixels.
PhantomSeriesInfo DescribePhantomSeries(const PhantomSeriesOptions& options);

// Slice k's SOP Instance UID (what MakePhantomSeries gives it), for objects that reference slices.
std::string PhantomSopInstanceUid(const PhantomSeriesOptions& options, int64_t k);
// A UID for something else derived from the series (`what` names it: "seg/series", ...).
std::string PhantomDerivedUid(const PhantomSeriesOptions& options, const std::string& what);
// The study date and time the options give (now, when they are empty).
void PhantomStudyDateTime(const PhantomSeriesOptions& options, std::string& date, std::string& time);

// Makes the series slice by slice; `sink` receives each instance in slice order.
PhantomSeriesInfo MakePhantomSeries(const PhantomSeriesOptions& options,
                                    const std::function<void(const PhantomInstance&)>& sink);

// Writes `dir`/slice-0001.dcm, ... (the folder is created; files of the same names are replaced).
PhantomSeriesInfo WritePhantomSeries(const PhantomSeriesOptions& options, const std::string& dir);

}  // namespace curia::phantom
