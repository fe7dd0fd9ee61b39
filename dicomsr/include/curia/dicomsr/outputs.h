// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The node's DICOM results, built from a study's findings: a TID 1500 Measurement Report
// (Comprehensive 3D SR by default) and one Secondary Capture key image per finding, both in the
// source study, research use marked everywhere. Pure builders: no network, no Orthanc.
//
//   SourceSeries src{&volume->header(), images, "CT"};
//   DicomObject sr = WriteStructuredReport(src, findings, settings.dicom, identity);
//   DicomObject sc = WriteKeyImage(src, findings.findings[0], key_image, settings.dicom, identity);
//   std::string html = RenderHtml(sr.bytes);
//
// UIDs are derived from `identity.job_key`: writing the same job again gives the same objects.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "curia/config/settings.h"
#include "curia/worker/findings.h"
#include "curia/worker/volume.h"

class DcmDataset;  // DCMTK

namespace curia::dicomsr {

using ImageRef = worker::SliceReference;

struct SourceSeries {
  const DcmDataset* header = nullptr;  // an instance of the analysed series, pixel data not needed
  std::vector<ImageRef> images;        // the analysed slices, in volume order (index = slice)
  std::string modality;
};

struct Identity {
  std::string job_key;           // stable for a job: the same key gives the same UIDs
  std::string software_version;  // Curia Node's version
  std::string content_date;      // YYYYMMDD and HHMMSS when the analysis started (empty: now)
  std::string content_time;
  // Empty for a job's main SR; a region object's SOP Instance UID for the SR of that object's
  // region findings (its own SOP Instance UID, in the job's SR series).
  std::string document = {};

  // With the content date and time set to now, so that every object of a job shares them.
  static Identity Now(std::string job_key, std::string software_version);
};

struct DicomObject {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string series_instance_uid;
  std::string bytes;  // a complete DICOM file, explicit little endian
};

// The key slice to show: values in Hounsfield units (CT) or stored values, rows x cols, in
// Curia's orientation (as the model saw it).
struct KeyImage {
  int64_t rows = 0, cols = 0;
  std::vector<float> values;
  // CT: the task's display window in HU; other modalities use the 1st-99th percentiles.
  double window_center = 40, window_width = 400;
  // The slice's pixel spacing in mm (between rows, between columns; 0: unknown): rows further apart
  // than columns (or closer) are stretched so that the key image's pixels are square.
  double row_spacing_mm = 0, col_spacing_mm = 0;
};

// Throws curia::Error(kInvalidArgument) when the source header lacks what the objects need
// (Study Instance UID) or a DCMTK call fails, with the reason.
DicomObject WriteStructuredReport(const SourceSeries& source, const worker::StudyFindings& findings,
                                  const config::DicomSettings& settings, const Identity& identity);
// The key image of findings.findings[finding]: `image` is its key slice.
DicomObject WriteKeyImage(const SourceSeries& source, const worker::StudyFindings& findings, size_t finding,
                          const KeyImage& image, const config::DicomSettings& settings, const Identity& identity);

// Every object of a job: the SRs (when `sr`), then the key images (when `sc`) of the present
// findings, or of every finding with Dicom.KeyImages "all". `volume` supplies the key slices; the
// task's display window comes from `settings`.
// One SR for the whole-volume findings, and one per region object (SEG or RTSTRUCT) for the
// findings about its regions: a report mixing TID 1501 and TID 1411 groups is valid TID 1500 (and
// passes dciodvfy and dsrdump), but PixelMed's validator applies one template to every group of a
// report, and a region object's results are a unit of their own (they arrive, and are superseded,
// with the object). The whole-volume SR is written when it has findings or when there is no region
// finding at all.
struct ResultObject {
  std::string kind;           // "SR" | "SC"
  std::string task;           // SC: the finding's task
  std::string region_object;  // SR of a region object, and SC of a region finding: its SOP Instance UID
  DicomObject object;
};
std::vector<ResultObject> WriteResults(const SourceSeries& source, const worker::IVolumeSource& volume,
                                       const worker::StudyFindings& findings, const config::CuriaSettings& settings,
                                       const Identity& identity, bool sr = true, bool sc = true);

// Manufacturer's Model Name of every object the node writes: how the node recognises its own outputs.
inline constexpr const char* kOwnModelName = "Curia Node";

// A readable rendering of an SR (DCMTK's HTML, every string escaped).
std::string RenderHtml(const std::string& sr_bytes);

// A UID under `root` derived from `key`: "2.25.<128-bit decimal>" for root "2.25", otherwise the
// root followed by as many decimal digits of the key's SHA-256 as fit in 64 characters.
std::string DeriveUid(const std::string& root, const std::string& key);

}  // namespace curia::dicomsr
