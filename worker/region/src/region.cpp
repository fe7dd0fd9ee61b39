// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/region/region.h"

#include <algorithm>
#include <cstdio>
#include <new>

#include "curia/config/error.h"
#include "dataset.h"
#include "readers.h"

namespace curia::region {

const char* ObjectKindName(ObjectKind kind) { return kind == ObjectKind::kSeg ? "SEG" : "RTSTRUCT"; }

const char* RefusalName(Refusal refusal) {
  switch (refusal) {
    case Refusal::kNone: return "none";
    case Refusal::kUnreadable: return "unreadable";
    case Refusal::kSeriesNotPresent: return "referenced series not present";
    case Refusal::kFrameOfReferenceDiffers: return "Frame of Reference differs";
    case Refusal::kOrientationDiffers: return "orientation differs";
    case Refusal::kNeedsTranscoding: return "needs transcoding";
    case Refusal::kUnsupportedSegmentationType: return "unsupported Segmentation Type";
    case Refusal::kEmpty: return "empty";
    case Refusal::kOutsideImage: return "outside the image";
    case Refusal::kMalformedContour: return "malformed contour";
  }
  return "?";
}

RegionObjectInfo PeekRegionObject(const dicom::IInstanceSource& source, const std::string& id) {
  std::unique_ptr<DcmFileFormat> ff = internal::ReadObject(source, id);
  return internal::Describe(*ff->getDataset(), source.Name(id));
}

std::vector<const dicom::DicomVolume*> Volumes(const dicom::ScanResult& scan) {
  std::vector<const dicom::DicomVolume*> out;
  for (const dicom::SeriesResult& s : scan.series) {
    if (s.volume) out.push_back(s.volume.get());
  }
  return out;
}

namespace internal {

void Refuse(Region& region, Refusal refusal, const std::string& why) {
  region.refusal = refusal;
  region.error = why;
  region.mask.clear();
  region.pixels_per_slice.clear();
  region.pixels = 0;
}

void Refuse(RegionSet& set, Refusal refusal, const std::string& why) {
  set.refusal = refusal;
  set.error = why;
  set.regions.clear();
}

std::string RegionName(ObjectKind kind, const Region& region) {
  return std::string(kind == ObjectKind::kSeg ? "segment " : "ROI ") + std::to_string(region.number) + " '" +
         region.label + "'";
}

std::string Mm(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g mm", v);
  return buf;
}

void SetMask(const SeriesGrid& grid, const std::vector<uint8_t>& stored, Region& region) {
  region.mask = grid.Orient(stored);
  const size_t plane = static_cast<size_t>(grid.out_rows * grid.out_cols);
  region.pixels_per_slice.assign(grid.offsets.size(), 0);
  region.pixels = 0;
  for (size_t s = 0; s < grid.offsets.size(); ++s) {
    const int64_t n = std::count(region.mask.begin() + static_cast<std::ptrdiff_t>(s * plane),
                                 region.mask.begin() + static_cast<std::ptrdiff_t>((s + 1) * plane), uint8_t{1});
    region.pixels_per_slice[s] = n;
    region.pixels += n;
  }
}

}  // namespace internal

namespace {

using internal::Refuse;

// The series the object's regions are drawn on, or nullptr.
const dicom::DicomVolume* FindSeries(const RegionObjectInfo& info, const std::vector<const dicom::DicomVolume*>& series) {
  for (const std::string& uid : info.referenced_series_uids) {
    for (const dicom::DicomVolume* v : series) {
      if (v && v->series_uid == uid) return v;
    }
  }
  if (!info.referenced_series_uids.empty()) return nullptr;
  // No series named: the series holding the referenced images.
  for (const dicom::DicomVolume* v : series) {
    if (!v) continue;
    for (const dicom::SliceRef& s : v->slices()) {
      if (std::find(info.referenced_instance_uids.begin(), info.referenced_instance_uids.end(), s.sop_instance_uid) !=
          info.referenced_instance_uids.end()) {
        return v;
      }
    }
  }
  return nullptr;
}

void Read(const dicom::IInstanceSource& source, const std::string& id,
          const std::vector<const dicom::DicomVolume*>& series, const ReadOptions& options, RegionSet& set) {
  const std::string name = source.Name(id);
  std::unique_ptr<DcmFileFormat> ff;
  try {
    ff = internal::ReadObject(source, id);
    set.object = internal::Describe(*ff->getDataset(), name);
  } catch (const Error& e) {
    Refuse(set, Refusal::kUnreadable, e.what());
    return;
  }
  const RegionObjectInfo& info = set.object;
  const char* kind = ObjectKindName(info.kind);
  if (info.kind == ObjectKind::kSeg && info.segmentation_type != "BINARY" && info.segmentation_type != "FRACTIONAL") {
    Refuse(set, Refusal::kUnsupportedSegmentationType,
           name + ": " +
               (info.segmentation_type == "LABELMAP"
                    ? std::string("LABELMAP SEG (DICOM Supplement 243) is not supported: DCMTK 3.6.7's dcmseg reads "
                                  "BINARY and FRACTIONAL segmentations only (LABELMAP needs DCMTK 3.7.0)")
                    : "Segmentation Type '" + info.segmentation_type + "' is neither BINARY nor FRACTIONAL"));
    return;
  }

  const dicom::DicomVolume* volume = FindSeries(info, series);
  if (!volume) {
    std::string refs;
    for (const std::string& uid : info.referenced_series_uids) refs += (refs.empty() ? "" : ", ") + uid;
    Refuse(set, Refusal::kSeriesNotPresent,
           name + ": the " + kind + "'s referenced series " +
               (refs.empty() ? "(named by " + std::to_string(info.referenced_instance_uids.size()) +
                                   " image reference(s), no series UID)"
                             : refs) +
               " is not present among the " + std::to_string(series.size()) + " series given");
    return;
  }
  internal::SeriesGrid grid;
  try {
    grid = internal::MakeGrid(*volume);
  } catch (const Error& e) {
    Refuse(set, Refusal::kUnreadable, name + ": " + e.what());
    return;
  }
  set.series_uid = grid.series_uid;
  set.slices = static_cast<int64_t>(grid.offsets.size());
  set.rows = grid.out_rows;
  set.cols = grid.out_cols;

  if (!info.frame_of_reference_uid.empty() && !grid.frame_of_reference_uid.empty() &&
      info.frame_of_reference_uid != grid.frame_of_reference_uid) {
    Refuse(set, Refusal::kFrameOfReferenceDiffers,
           name + ": the " + kind + " is in Frame of Reference " + info.frame_of_reference_uid +
               ", its referenced series " + grid.series_uid + " in " + grid.frame_of_reference_uid +
               ": positions cannot be compared");
    return;
  }
  if (info.frame_of_reference_uid.empty()) {
    set.notes.push_back(name + ": the " + std::string(kind) +
                        " names no Frame of Reference UID: placed in its referenced series' (tolerated)");
  } else if (grid.frame_of_reference_uid.empty()) {
    set.notes.push_back(name + ": series " + grid.series_uid +
                        " has no Frame of Reference UID: the regions are placed in it as referenced (tolerated)");
  }

  if (info.kind == ObjectKind::kSeg) {
    if (info.needs_transcoding) {
      const std::string syntax = info.transfer_syntax_uid;
      std::optional<std::string> bytes = options.transcoder ? options.transcoder(id) : std::nullopt;
      if (!bytes) {
        Refuse(set, Refusal::kNeedsTranscoding,
               name + ": transfer syntax " + syntax +
                   ": DCMTK's dcmseg decodes uncompressed, deflated and RLE pixel data only; transcode it first");
        return;
      }
      try {
        ff = internal::ReadObjectBytes(*bytes, name + " (transcoded)");
      } catch (const Error& e) {
        Refuse(set, Refusal::kUnreadable, e.what());
        return;
      }
      if (!internal::SegDecodable(ff->getDataset()->getOriginalXfer())) {
        Refuse(set, Refusal::kNeedsTranscoding,
               name + ": transcoded to " + DcmXfer(ff->getDataset()->getOriginalXfer()).getXferID() +
                   ", which dcmseg cannot decode either");
        return;
      }
    }
    internal::ReadSeg(*ff->getDataset(), grid, name, set);
  } else {
    internal::ReadRtStruct(*ff->getDataset(), grid, name, set);
  }
}

}  // namespace

RegionSet ReadRegions(const dicom::IInstanceSource& source, const std::string& id,
                      const std::vector<const dicom::DicomVolume*>& series, const ReadOptions& options) {
  RegionSet set;
  try {
    Read(source, id, series, options, set);
  } catch (const std::bad_alloc&) {
    Refuse(set, Refusal::kUnreadable, source.Name(id) + ": out of memory while reading its regions");
  } catch (const std::exception& e) {
    // A bug or an unexpected DCMTK failure: still a refusal, never a crash of the node.
    Refuse(set, Refusal::kUnreadable, source.Name(id) + ": " + e.what());
  }
  return set;
}

}  // namespace curia::region
