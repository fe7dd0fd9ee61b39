// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The phantom's structures (PhantomStructures()) as DICOM region objects for its series
// (WritePhantomSeries with the same options and seed): a binary Segmentation (SEG, DCMTK dcmseg)
// and an RT Structure Set (RTSTRUCT, DCMTK dcmrt), in the series' study and Frame of Reference, so
// that the demo and the tests have regions for mask-prompted heads.
//
//   PhantomSeriesOptions o = ...;                       // as for WritePhantomSeries
//   PhantomRegionInfo seg = WritePhantomSegmentation(o, "/tmp/phantom/seg.dcm");
//   PhantomRegionInfo rt = WritePhantomStructureSet(o, "/tmp/phantom/rtstruct.dcm");
//
// SEG: one segment per structure present in the series (label, SCT category/type codes,
// laterality modifier, algorithm AUTOMATIC "Curia phantom"), one bit-packed frame per (segment,
// slice where it has pixels) — empty frames omitted, as highdicom and dcmqi write them — with
// Plane Position, Frame Content (dimensions: segment number, image position) and Derivation Image
// (Source Image = the slice) per frame, Pixel Measures and Plane Orientation shared, and the
// series in the Referenced Series Sequence. RTSTRUCT: one ROI per structure present (name,
// ORGAN/LESION interpreted type, the same codes), CLOSED_PLANAR contours traced along pixel edges
// (TraceContours) so that even-odd filling at pixel centres gives the phantom's labels back, each
// with its Contour Image Sequence; Referenced Frame of Reference → RT Referenced Study/Series →
// Contour Image Sequence of every slice. Slices are made one at a time. Pure: bytes out, no printing.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "curia/phantom/phantom.h"
#include "curia/phantom/series.h"

namespace curia::phantom {

struct PhantomRegionInfo {
  std::string sop_class_uid, sop_instance_uid, series_uid;
  std::vector<int> labels;  // the structures written, in segment / ROI order (numbers 1..)
  int64_t frames = 0;       // SEG: frames written; RTSTRUCT: contours written
  std::string bytes;        // the complete DICOM file (meta header, explicit VR little endian)
};

PhantomRegionInfo MakePhantomSegmentation(const PhantomSeriesOptions& options);
PhantomRegionInfo MakePhantomStructureSet(const PhantomSeriesOptions& options);

// Fills slice k's labels (rows x cols values, row-major, 0 = no segment) on the series' grid.
using PhantomLabelPainter = std::function<void(int64_t k, uint8_t* labels)>;
// A SEG of other segments than the phantom's structures (benchmarks, tests), written the same way:
// `structures` name and code the segments (label 1..255 each), `paint` gives their pixels (disjoint,
// one label a pixel). Segments are those with pixels, numbered 1.. in the order of `structures`.
PhantomRegionInfo MakePhantomSegmentation(const PhantomSeriesOptions& options, const std::vector<PhantomStructure>& structures,
                                          const PhantomLabelPainter& paint);
// The same into `path` (replaced atomically); bytes are not kept in the result.
PhantomRegionInfo WritePhantomSegmentation(const PhantomSeriesOptions& options, const std::string& path);
PhantomRegionInfo WritePhantomStructureSet(const PhantomSeriesOptions& options, const std::string& path);
PhantomRegionInfo WritePhantomSegmentation(const PhantomSeriesOptions& options, const std::vector<PhantomStructure>& structures,
                                           const PhantomLabelPainter& paint, const std::string& path);

}  // namespace curia::phantom
