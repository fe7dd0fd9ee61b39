// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Regions for mask-prompted heads: DICOM Segmentation (SEG) and RT Structure Set (RTSTRUCT) objects
// read into binary masks on the grid of the image series they segment.
//
//   FileSource files;
//   RegionObjectInfo info = PeekRegionObject(files, "/data/seg.dcm");     // cheap: no pixel data
//   ScanResult scan = dicom::LoadSeries(files, image_paths, {});          // the study's images
//   RegionSet set = ReadRegions(files, "/data/seg.dcm", Volumes(scan));
//   if (set.refusal != Refusal::kNone) report(set.error);                 // the whole object
//   for (const Region& r : set.regions) {
//     if (r.refusal != Refusal::kNone) { report(r.error); continue; }     // this segment / ROI
//     use(r.mask.data(), set.slices, set.rows, set.cols);                 // uint8 0/1, S x H x W
//   }
//
// The grid. Masks are on the series' volume exactly as dicom::DicomVolume::ReadSlice gives its
// pixels: slices in the volume's order (sorted along the slice normal), rows x cols in Curia's
// orientation (axial PL, coronal IL, sagittal IP). Mask voxel (s, y, x) belongs to the region when
// the centre of pixel (y, x) of slice s lies in it.
//
// SEG (DCMTK dcmseg 3.6.7): BINARY and FRACTIONAL (PROBABILITY and OCCUPANCY; a pixel belongs to the
// segment when its value is at least half the Maximum Fractional Value), one or many segments,
// empty frames omitted. Frames are placed by their Image Position/Orientation (Patient) in the
// series' Frame of Reference, never by frame index: a SEG on another grid (other spacing, a subset
// of the slices, another in-plane size or origin, in-plane axes swapped or reversed) is resampled
// onto the series grid by nearest neighbour; each series slice takes the SEG plane nearest to it
// within half the SEG's plane spacing. BINARY frames are unpacked from the Pixel Data here (DCMTK
// 3.6.7 misplaces frames whose Rows x Columns is not a multiple of 8; src/seg.cpp).
// dcmseg decodes uncompressed, deflated and RLE pixel data;
// another transfer syntax is refused as kNeedsTranscoding unless ReadOptions::transcoder supplies
// the object in one of those.
//
// RTSTRUCT (dcmdata): each ROI's CLOSED_PLANAR (and CLOSED_PLANAR_XOR) contours, in patient mm, are
// matched to the series slice whose plane lies within half the slice spacing and rasterised
// together with even-odd filling at pixel centres, so that holes drawn as keyholes or as separate
// inner contours stay holes. POINT, OPEN_PLANAR and OPEN_NONPLANAR contours are ignored with a
// note.
//
// Refusals are values (Refusal plus a message that says what and why), for the whole object in
// RegionSet and per region in Region; reading never throws for bad or unsupported input. Third-party
// objects are often imperfect: what does not change the geometry is tolerated with a note (a
// missing top-level Frame of Reference UID when a referenced one is given, as in plastimatch's
// RTSTRUCTs); what does is refused.
//
// Every object passes the DICOM structure check (dicom/structure_check.h) before DCMTK parses it.
// Thread safety: the functions are reentrant; the volumes must not change while they run. Messages
// name instances by IInstanceSource::Name and regions by number and label, never patient data.
#include <cstdint>
#include <string>
#include <vector>

#include "curia/dicom/instance_source.h"
#include "curia/dicom/series.h"

namespace curia::region {

enum class ObjectKind { kSeg, kRtStruct };
const char* ObjectKindName(ObjectKind kind);  // "SEG", "RTSTRUCT"

// What the node needs to know about a region object before reading it: which series it belongs to.
struct RegionObjectInfo {
  ObjectKind kind = ObjectKind::kSeg;
  std::string sop_instance_uid;
  std::string series_uid;  // of the SEG / RTSTRUCT itself
  std::string study_uid;
  // The Frame of Reference of the regions: the SEG's Frame of Reference UID; for an RTSTRUCT the
  // Referenced Frame of Reference Sequence's (the first, when several). Empty when absent.
  std::string frame_of_reference_uid;
  // The image series the regions are drawn on: a SEG's Referenced Series Sequence (Common Instance
  // Reference), an RTSTRUCT's RT Referenced Series Sequence. Usually one.
  std::vector<std::string> referenced_series_uids;
  // SOP Instance UIDs of the referenced images (SEG: Referenced Instance Sequence and the frames'
  // Source Image Sequence; RTSTRUCT: Contour Image Sequence): to find the series when a writer gives
  // no series UID.
  std::vector<std::string> referenced_instance_uids;
  std::string segmentation_type;  // SEG: "BINARY", "FRACTIONAL", "LABELMAP" as written; else empty
  std::string transfer_syntax_uid;
  bool needs_transcoding = false;  // SEG pixel data in a transfer syntax dcmseg cannot decode
};

// Reads the header of `id` (no pixel data is decoded). Throws curia::Error(kInvalidArgument) naming
// the instance when it is not readable DICOM, or neither a SEG nor an RTSTRUCT.
RegionObjectInfo PeekRegionObject(const dicom::IInstanceSource& source, const std::string& id);

// A coded concept (Code Value or Long Code Value, Coding Scheme Designator, Code Meaning).
struct Code {
  std::string value, scheme, meaning;
  bool empty() const { return value.empty() && meaning.empty(); }
};

enum class Refusal {
  kNone,
  kUnreadable,                    // not DICOM, refused by the structure check, or missing essentials
  kSeriesNotPresent,              // the referenced series is not among those given
  kFrameOfReferenceDiffers,       // regions and series in different Frames of Reference
  kOrientationDiffers,            // region planes not parallel to the series' slices (oblique grid)
  kNeedsTranscoding,              // SEG pixel data in a transfer syntax dcmseg cannot decode
  kUnsupportedSegmentationType,   // LABELMAP SEG (needs DCMTK 3.7.0), or an unknown type
  kEmpty,                         // segment / ROI without a pixel on the series grid
  kOutsideImage,                  // segment / ROI entirely outside the series' volume
  kMalformedContour,              // RTSTRUCT contour data that cannot be a closed planar contour
};
const char* RefusalName(Refusal refusal);  // "series not present", ...

struct Region {
  // SEG: Segment Number and Segment Label; RTSTRUCT: ROI Number and ROI Name.
  int number = 0;
  std::string label;
  // SEG: Segmented Property Category and Type Codes; RTSTRUCT: RT ROI Identification Code Sequence
  // (as type; no category). Empty where the object has none.
  Code category, type;
  std::string interpreted_type;  // RTSTRUCT: RT ROI Interpreted Type (ORGAN, PTV, ...); SEG: empty
  Refusal refusal = Refusal::kNone;
  std::string error;  // why this region is refused; empty when it has a mask
  // RegionSet::slices x rows x cols, 1 inside, 0 outside; empty when refused.
  std::vector<uint8_t> mask;
  std::vector<int64_t> pixels_per_slice;  // RegionSet::slices counts; empty when refused
  int64_t pixels = 0;                     // total
};

struct RegionSet {
  RegionObjectInfo object;  // what PeekRegionObject says (filled whenever the header was readable)
  Refusal refusal = Refusal::kNone;
  std::string error;        // why the whole object is refused; empty otherwise (regions then listed)
  // The series the masks are on and its grid (the volume's Info()).
  std::string series_uid;
  int64_t slices = 0, rows = 0, cols = 0;
  std::vector<Region> regions;     // in the object's order of segments / ROIs
  std::vector<std::string> notes;  // tolerated imperfections, ignored contours, clipped regions
};

struct ReadOptions {
  // For a SEG whose transfer syntax dcmseg cannot decode: returns it re-encoded (the node asks
  // Orthanc to transcode to Explicit VR Little Endian), or nullopt. Without one, such a SEG is
  // refused as kNeedsTranscoding.
  dicom::Transcoder transcoder;
};

// Reads the SEG or RTSTRUCT `id` of `source` into masks on the grid of the series it references,
// found among `series` by Series Instance UID (or, for objects that name none, by the SOP Instance
// UIDs of the images they reference). Never throws for bad input: refusals are in the result.
RegionSet ReadRegions(const dicom::IInstanceSource& source, const std::string& id,
                      const std::vector<const dicom::DicomVolume*>& series, const ReadOptions& options = {});

// The volumes of a scan (series that are not volumes left out), for ReadRegions.
std::vector<const dicom::DicomVolume*> Volumes(const dicom::ScanResult& scan);

}  // namespace curia::region
