// SPDX-License-Identifier: GPL-3.0-or-later
// The region reader on objects nobody here wrote (pydicom's SEG and RTSTRUCT, plastimatch's
// RTSTRUCTs and dcmjs's SEGs of a real series) and on geometry objects that
// make_region_objects.py writes with pydicom, each with its expected masks computed there
// independently. CURIA_REGION_DATA is that script's output folder (the region_objects fixture).
#include "curia/region/region.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "curia/config/error.h"

namespace curia::region {
namespace {

const std::string kData = CURIA_REGION_DATA;
const std::string kPydicom = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

std::string G(const std::string& name) { return kData + "/g/" + name; }

std::vector<uint8_t> ReadU8(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A series folder loaded once per process (the volumes keep pointers into the source).
const dicom::ScanResult& Scan(const std::string& folder) {
  static dicom::FileSource files;
  static std::map<std::string, dicom::ScanResult> scans;
  auto it = scans.find(folder);
  if (it == scans.end()) {
    dicom::QuietDcmtkLogging();
    it = scans.emplace(folder, dicom::LoadSeries(files, dicom::FindDicomFiles(folder), {})).first;
    EXPECT_EQ(it->second.series.size(), 1u) << folder;
    EXPECT_TRUE(it->second.series.at(0).volume) << it->second.series.at(0).error;
  }
  return it->second;
}
const dicom::ScanResult& Geo() { return Scan(kData + "/geo"); }
const dicom::ScanResult& Brainix() { return Scan(std::string(CURIA_SHARED_DIR) + "/dicom/Brainix/Flair"); }

RegionSet Read(const std::string& path, const dicom::ScanResult& scan, const ReadOptions& options = {}) {
  static dicom::FileSource files;
  return ReadRegions(files, path, Volumes(scan), options);
}

const Region& Find(const RegionSet& set, int number) {
  for (const Region& r : set.regions) {
    if (r.number == number) return r;
  }
  ADD_FAILURE() << "no region " << number;
  static const Region none;
  return none;
}

double Dice(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  EXPECT_EQ(a.size(), b.size());
  int64_t both = 0, sa = 0, sb = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    both += a[i] && b[i];
    sa += a[i] != 0;
    sb += b[i] != 0;
  }
  return sa + sb == 0 ? 1.0 : 2.0 * static_cast<double>(both) / static_cast<double>(sa + sb);
}

// Masks equal, or the first differing voxel (slice, row, column).
::testing::AssertionResult SameMask(const RegionSet& set, const Region& region, const std::vector<uint8_t>& expected) {
  if (region.mask.size() != expected.size()) {
    return ::testing::AssertionFailure() << "mask of " << region.mask.size() << " voxels, expected " << expected.size()
                                         << " (" << region.error << ")";
  }
  int64_t differ = 0;
  size_t first = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    if ((region.mask[i] != 0) != (expected[i] != 0) && differ++ == 0) first = i;
  }
  if (differ == 0) return ::testing::AssertionSuccess();
  const size_t plane = static_cast<size_t>(set.rows * set.cols);
  return ::testing::AssertionFailure() << differ << " voxels differ, the first at slice " << first / plane << " row "
                                       << (first % plane) / static_cast<size_t>(set.cols) << " column "
                                       << first % static_cast<size_t>(set.cols) << " (read " << int(region.mask[first])
                                       << ")";
}

bool Contains(const std::vector<std::string>& notes, const std::string& text) {
  return std::any_of(notes.begin(), notes.end(), [&](const std::string& n) { return n.find(text) != std::string::npos; });
}

// ---- objects nobody here wrote -------------------------------------------------------------

TEST(Pydicom, SegPeekAndReferencedSeriesNotPresent) {
  dicom::FileSource files;
  const RegionObjectInfo info = PeekRegionObject(files, kPydicom + "/liver_1frame.dcm");
  EXPECT_EQ(info.kind, ObjectKind::kSeg);
  EXPECT_EQ(info.segmentation_type, "BINARY");
  EXPECT_FALSE(info.needs_transcoding);
  EXPECT_FALSE(info.frame_of_reference_uid.empty());
  ASSERT_EQ(info.referenced_series_uids.size(), 1u);
  EXPECT_FALSE(info.referenced_series_uids[0].empty());

  const RegionSet set = Read(kPydicom + "/liver_1frame.dcm", Geo());
  EXPECT_EQ(set.refusal, Refusal::kSeriesNotPresent) << set.error;
  EXPECT_NE(set.error.find("referenced series " + info.referenced_series_uids[0] + " is not present"), std::string::npos)
      << set.error;
  EXPECT_TRUE(set.regions.empty());
  EXPECT_EQ(set.object.sop_instance_uid, info.sop_instance_uid);
}

TEST(Pydicom, RtStructPeekAndReferencedSeriesNotPresent) {
  dicom::FileSource files;
  const RegionObjectInfo info = PeekRegionObject(files, kPydicom + "/rtstruct.dcm");
  EXPECT_EQ(info.kind, ObjectKind::kRtStruct);
  EXPECT_FALSE(info.frame_of_reference_uid.empty());
  // A bare dataset (no meta header), no Contour Image Sequence: the series is named once.
  EXPECT_EQ(info.frame_of_reference_uid, "1.2.826.0.1.3680043.8.498.2010020400001.2");
  ASSERT_EQ(info.referenced_series_uids.size(), 1u);
  EXPECT_EQ(info.referenced_series_uids[0], "1.2.826.0.1.3680043.8.498.2010020400001.2.1.1");
  EXPECT_TRUE(info.referenced_instance_uids.empty());
  const RegionSet set = Read(kPydicom + "/rtstruct.dcm", Geo());
  EXPECT_EQ(set.refusal, Refusal::kSeriesNotPresent) << set.error;
  EXPECT_NE(set.error.find("RTSTRUCT's referenced series " + info.referenced_series_uids[0] + " is not present"),
            std::string::npos)
      << set.error;
}

TEST(Pydicom, PeekRefusesOtherObjects) {
  dicom::FileSource files;
  try {
    PeekRegionObject(files, kPydicom + "/CT_small.dcm");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a region object: SOP Class UID 1.2.840.10008.5.1.4.1.1.2 (Modality CT)"),
              std::string::npos)
        << e.what();
  }
  const RegionSet set = Read(kPydicom + "/CT_small.dcm", Geo());
  EXPECT_EQ(set.refusal, Refusal::kUnreadable);
  EXPECT_NE(set.error.find("not a region object"), std::string::npos) << set.error;
}

// plastimatch 1.9.4 wrote an RTSTRUCT from label images of Brainix/Flair (a disc, an annulus with
// its hole, a box); read back, each ROI agrees with its label image (Dice >= 0.97), holes included.
TEST(Plastimatch, RtStructAgreesWithTheLabelImages) {
  const RegionSet set = Read(kData + "/brainix_plastimatch_rtss.dcm", Brainix());
  ASSERT_EQ(set.refusal, Refusal::kNone) << set.error;
  EXPECT_EQ(set.object.kind, ObjectKind::kRtStruct);
  EXPECT_EQ(set.series_uid, Brainix().series.at(0).series_uid);
  EXPECT_EQ(set.slices, 22);
  EXPECT_EQ(set.rows, 288);
  EXPECT_EQ(set.cols, 288);
  ASSERT_EQ(set.regions.size(), 3u);
  std::map<std::string, double> dice;
  for (const Region& r : set.regions) {
    ASSERT_EQ(r.refusal, Refusal::kNone) << r.error;
    EXPECT_EQ(r.interpreted_type.empty(), r.interpreted_type.empty());  // plastimatch may leave it empty
    const std::vector<uint8_t> label = ReadU8(kData + "/brainix_" + r.label + ".u8");
    dice[r.label] = Dice(r.mask, label);
    EXPECT_GE(dice[r.label], 0.97) << r.label;
    int64_t sum = 0;
    for (int64_t n : r.pixels_per_slice) sum += n;
    EXPECT_EQ(sum, r.pixels);
    // On ROIs without holes, also against plastimatch's own rasteriser of the same file.
    if (r.label != "annulus") {
      EXPECT_GE(Dice(r.mask, ReadU8(kData + "/brainix_plastimatch_" + r.label + ".u8")), 0.97) << r.label;
    }
  }
  ASSERT_EQ(dice.size(), 3u);
  // The annulus keeps its hole: plastimatch's rasteriser fills it (Dice 0.86 against the label).
  const Region* annulus = nullptr;
  for (const Region& r : set.regions) annulus = r.label == "annulus" ? &r : annulus;
  ASSERT_NE(annulus, nullptr);
  EXPECT_LT(Dice(ReadU8(kData + "/brainix_plastimatch_annulus.u8"), ReadU8(kData + "/brainix_annulus.u8")), 0.9);
  const size_t plane = 288 * 288;
  EXPECT_EQ(annulus->mask[10 * plane + 150 * 288 + 70], 0) << "the hole's centre";
  EXPECT_EQ(annulus->mask[10 * plane + 150 * 288 + 70 + 30], 1) << "the ring";
  std::printf("plastimatch RTSTRUCT, Dice against the label images: disc %.4f annulus %.4f box %.4f\n", dice["disc"],
              dice["annulus"], dice["box"]);
  // plastimatch gives no top-level Frame of Reference: the referenced one serves, without a note.
  EXPECT_FALSE(set.object.frame_of_reference_uid.empty());
  for (const std::string& note : set.notes) ADD_FAILURE() << "note: " << note;
}

// dcmjs (OHIF's Cornerstone adapter) wrote a BINARY SEG from the same labels as one label map,
// empty frames omitted: exactly the label images.
TEST(Dcmjs, BinarySegEqualsTheLabelImages) {
  const RegionSet set = Read(kData + "/brainix_dcmjs_binary.dcm", Brainix());
  ASSERT_EQ(set.refusal, Refusal::kNone) << set.error;
  EXPECT_EQ(set.object.segmentation_type, "BINARY");
  EXPECT_EQ(set.object.transfer_syntax_uid, "1.2.840.10008.1.2.1");
  ASSERT_EQ(set.regions.size(), 3u);
  const std::vector<std::string> labels = {"disc", "annulus", "box"};
  for (size_t k = 0; k < 3; ++k) {
    const Region& r = set.regions[k];
    EXPECT_EQ(r.number, static_cast<int>(k + 1));
    EXPECT_EQ(r.label, labels[k]);
    ASSERT_EQ(r.refusal, Refusal::kNone) << r.error;
    EXPECT_TRUE(SameMask(set, r, ReadU8(kData + "/brainix_" + labels[k] + ".u8"))) << r.label;
  }
  EXPECT_EQ(set.regions[0].category.value, "91723000");
  EXPECT_EQ(set.regions[0].type.value, "12738006");
  EXPECT_EQ(set.regions[0].type.scheme, "SCT");
  EXPECT_EQ(set.regions[0].type.meaning, "Brain");
  EXPECT_EQ(set.regions[1].type.meaning, "Neoplasm");
  for (const std::string& note : set.notes) ADD_FAILURE() << "note: " << note;
}

// dcmjs's default output (rleEncode): RLE Lossless, which dcmseg decodes, but FRACTIONAL with
// Maximum Fractional Value 255 and every segmented pixel 1 (the adapter fills the frames while the
// object is still BINARY, then relabels it): a probability of 1/255, below the threshold. Refused
// as empty with the values that say why, never read as the labels by a guess.
TEST(Dcmjs, RleFractionalSegWithOnesOf255IsEmpty) {
  const RegionSet set = Read(kData + "/brainix_dcmjs_rle.dcm", Brainix());
  ASSERT_EQ(set.refusal, Refusal::kNone) << set.error;
  EXPECT_EQ(set.object.segmentation_type, "FRACTIONAL");
  EXPECT_EQ(set.object.transfer_syntax_uid, "1.2.840.10008.1.2.5");
  EXPECT_FALSE(set.object.needs_transcoding);
  ASSERT_EQ(set.regions.size(), 3u);
  for (const Region& r : set.regions) {
    EXPECT_EQ(r.refusal, Refusal::kEmpty);
    EXPECT_NE(r.error.find("no pixel at or above half the Maximum Fractional Value (their largest value is 1 of 255)"),
              std::string::npos)
        << r.error;
  }
}

// ---- SEG geometry -----------------------------------------------------------------------

void ExpectMasks(const std::string& name, const std::vector<int>& numbers,
                 const dicom::ScanResult& scan = Geo()) {
  const RegionSet set = Read(G(name + ".dcm"), scan);
  ASSERT_EQ(set.refusal, Refusal::kNone) << set.error;
  ASSERT_EQ(set.regions.size(), numbers.size()) << name;
  for (int n : numbers) {
    const Region& r = Find(set, n);
    ASSERT_EQ(r.refusal, Refusal::kNone) << name << ": " << r.error;
    const std::vector<uint8_t> expected = ReadU8(G(name + "." + std::to_string(n) + ".u8"));
    EXPECT_TRUE(SameMask(set, r, expected)) << name << " segment " << n;
    EXPECT_GT(r.pixels, 0);
  }
}

TEST(SegGeometry, SubsetOfSlicesManySegmentsEmptyFramesOmitted) {
  ExpectMasks("seg_subset", {1, 2, 3});
  const RegionSet set = Read(G("seg_subset.dcm"), Geo());
  const Region& lesion = Find(set, 2);
  EXPECT_EQ(lesion.label, "lesion");
  EXPECT_EQ(lesion.category.meaning, "Anatomical Structure");
  EXPECT_EQ(lesion.type.meaning, "Liver");
  ASSERT_EQ(lesion.pixels_per_slice.size(), 10u);
  for (size_t s = 0; s < 10; ++s) EXPECT_EQ(lesion.pixels_per_slice[s] > 0, s == 5) << s;
  EXPECT_EQ(set.object.referenced_series_uids.at(0), set.series_uid);
  EXPECT_EQ(Find(set, 3).type.meaning, "Mass");
}

TEST(SegGeometry, FinerGridResampledByNearestNeighbour) { ExpectMasks("seg_finer", {1}); }
TEST(SegGeometry, CoarserSmallerGridResampledByNearestNeighbour) { ExpectMasks("seg_coarser", {1}); }
TEST(SegGeometry, FractionalProbabilityThresholdAtHalfTheMaximum) { ExpectMasks("seg_fractional_probability", {1}); }
TEST(SegGeometry, FractionalOccupancyThresholdAtHalfTheMaximum) { ExpectMasks("seg_fractional_occupancy", {1}); }
TEST(SegGeometry, FlippedSeriesMaskInTheVolumesOrientation) {
  ExpectMasks("seg_flip", {1}, Scan(kData + "/geo_flip"));
}

// ---- SEG refusals -----------------------------------------------------------------------

void ExpectRefusal(const std::string& name, Refusal refusal, const std::string& text,
                   const ReadOptions& options = {}) {
  const RegionSet set = Read(G(name + ".dcm"), Geo(), options);
  EXPECT_EQ(set.refusal, refusal) << name << ": " << RefusalName(set.refusal) << ": " << set.error;
  EXPECT_NE(set.error.find(text), std::string::npos) << name << ": " << set.error;
  EXPECT_NE(set.error.find(G(name + ".dcm")), std::string::npos) << "names the object: " << set.error;
  EXPECT_TRUE(set.regions.empty());
}

TEST(SegRefusals, EachWithItsReason) {
  ExpectRefusal("seg_not_present", Refusal::kSeriesNotPresent, "is not present among the 1 series given");
  ExpectRefusal("seg_other_for", Refusal::kFrameOfReferenceDiffers, "positions cannot be compared");
  ExpectRefusal("seg_oblique", Refusal::kOrientationDiffers, "frame 1 is tilted by 10.00 degrees");
  ExpectRefusal("seg_labelmap", Refusal::kUnsupportedSegmentationType, "LABELMAP SEG (DICOM Supplement 243)");
  ExpectRefusal("seg_jpeg2000", Refusal::kNeedsTranscoding,
                "transfer syntax 1.2.840.10008.1.2.4.90: DCMTK's dcmseg decodes uncompressed, deflated and RLE");
}

TEST(SegRefusals, NeedsTranscodingUntilATranscoderGivesADecodableSyntax) {
  dicom::FileSource files;
  EXPECT_TRUE(PeekRegionObject(files, G("seg_jpeg2000.dcm")).needs_transcoding);
  // A transcoder that cannot: still refused.
  ReadOptions none;
  none.transcoder = [](const std::string&) { return std::nullopt; };
  ExpectRefusal("seg_jpeg2000", Refusal::kNeedsTranscoding, "transcode it first", none);
  // One that hands back the object in a syntax dcmseg reads (here: the same segments uncompressed).
  ReadOptions options;
  std::string asked;
  options.transcoder = [&](const std::string& id) -> std::optional<std::string> {
    asked = id;
    return files.Bytes(G("seg_subset.dcm"));
  };
  const RegionSet set = Read(G("seg_jpeg2000.dcm"), Geo(), options);
  EXPECT_EQ(asked, G("seg_jpeg2000.dcm"));
  ASSERT_EQ(set.refusal, Refusal::kNone) << set.error;
  EXPECT_EQ(set.regions.size(), 3u);
}

TEST(SegRefusals, EmptyAndOutsideSegmentsBesideAGoodOne) {
  const RegionSet set = Read(G("seg_empty_outside.dcm"), Geo());
  ASSERT_EQ(set.refusal, Refusal::kNone) << set.error;
  ASSERT_EQ(set.regions.size(), 6u);
  EXPECT_TRUE(SameMask(set, Find(set, 1), ReadU8(G("seg_empty_outside.1.u8"))));
  // Partly outside: the part inside is read, the rest noted.
  EXPECT_TRUE(SameMask(set, Find(set, 6), ReadU8(G("seg_empty_outside.6.u8"))));
  EXPECT_TRUE(Contains(set.notes, "segment 6 'partly': 17 of 81 pixels lie outside the series and are left out"))
      << (set.notes.empty() ? "no note" : set.notes[0]);
  EXPECT_EQ(Find(set, 2).refusal, Refusal::kEmpty);
  EXPECT_NE(Find(set, 2).error.find("segment 2 'empty' is empty: its 1 frame(s) have no pixel set"), std::string::npos)
      << Find(set, 2).error;
  EXPECT_EQ(Find(set, 3).refusal, Refusal::kEmpty);
  EXPECT_NE(Find(set, 3).error.find("segment 3 'frameless' has no frame"), std::string::npos) << Find(set, 3).error;
  for (int n : {4, 5}) {
    EXPECT_EQ(Find(set, n).refusal, Refusal::kOutsideImage) << Find(set, n).error;
    EXPECT_NE(Find(set, n).error.find("lies entirely outside the series"), std::string::npos);
    EXPECT_TRUE(Find(set, n).mask.empty());
  }
}

// ---- RTSTRUCT ---------------------------------------------------------------------------

TEST(RtStruct, HolesStayHolesXorAndKeyhole) {
  ExpectMasks("rt_holes", {1, 2, 3});
  const RegionSet set = Read(G("rt_holes.dcm"), Geo());
  EXPECT_EQ(Find(set, 1).label, "ring");
  EXPECT_EQ(Find(set, 1).interpreted_type, "ORGAN");
  // The ring's centre (x 2.3, y -10.4 mm: column 22, row 20 of slice 4) is not in it.
  EXPECT_EQ(Find(set, 1).mask[static_cast<size_t>(4 * 40 * 48 + 20 * 48 + 22)], 0);
  EXPECT_TRUE(Contains(set.notes, "ROI 3 'square': 1 OPEN_PLANAR contour(s) ignored")) << set.notes.size();
  EXPECT_TRUE(Contains(set.notes, "ROI 3 'square': 1 POINT contour(s) ignored"));
}

TEST(RtStruct, EachRefusalOnItsOwnRoi) {
  const RegionSet set = Read(G("rt_refusals.dcm"), Geo());
  ASSERT_EQ(set.refusal, Refusal::kNone) << set.error;
  EXPECT_TRUE(SameMask(set, Find(set, 1), ReadU8(G("rt_refusals.1.u8"))));
  const std::vector<std::tuple<int, Refusal, std::string>> cases = {
      {2, Refusal::kMalformedContour, "ROI 2 'odd': contour 1: Contour Data has 10 values, not a multiple of 3"},
      {3, Refusal::kMalformedContour, "ROI 3 'two points': contour 1: a closed contour needs at least 3 points, it has 2"},
      {4, Refusal::kMalformedContour, "ROI 4 'non-planar': contour 1 is not planar"},
      {5, Refusal::kMalformedContour, "ROI 5 'nan': contour 1: Contour Data holds a value that is not a finite number"},
      {6, Refusal::kOrientationDiffers, "ROI 6 'tilted': contour 1 lies in a plane tilted to the series' slices"},
      {7, Refusal::kEmpty, "ROI 7 'tiny' covers no pixel centre of the series"},
      {8, Refusal::kOutsideImage, "ROI 8 'above' lies entirely outside the series"},
      {9, Refusal::kOutsideImage, "ROI 9 'beside' lies entirely outside the series"},
      {10, Refusal::kEmpty, "ROI 10 'points only' has no closed planar contour"},
      {11, Refusal::kFrameOfReferenceDiffers, "ROI 11 'other frame' is in Frame of Reference"},
  };
  ASSERT_EQ(set.regions.size(), cases.size() + 1);
  for (const auto& [number, refusal, text] : cases) {
    const Region& r = Find(set, number);
    EXPECT_EQ(r.refusal, refusal) << number << ": " << RefusalName(r.refusal) << ": " << r.error;
    EXPECT_NE(r.error.find(text), std::string::npos) << r.error;
    EXPECT_TRUE(r.mask.empty());
  }
}

TEST(RtStruct, OtherFrameOfReferenceRefusesTheObject) {
  const RegionSet set = Read(G("rt_other_for.dcm"), Geo());
  EXPECT_EQ(set.refusal, Refusal::kFrameOfReferenceDiffers) << set.error;
  EXPECT_NE(set.error.find("the RTSTRUCT is in Frame of Reference"), std::string::npos) << set.error;
}

// ---- never a crash -----------------------------------------------------------------------

TEST(Robustness, BadBytesAreRefusalsNotCrashes) {
  dicom::MemorySource memory;
  memory.Add("empty", "");
  memory.Add("text", "not DICOM at all");
  dicom::FileSource files;
  std::string seg = files.Bytes(G("seg_subset.dcm"));
  memory.Add("truncated", seg.substr(0, seg.size() / 2));
  for (const std::string id : {"empty", "text", "truncated"}) {
    const RegionSet set = ReadRegions(memory, id, Volumes(Geo()));
    EXPECT_EQ(set.refusal, Refusal::kUnreadable) << id << ": " << set.error;
    EXPECT_NE(set.error.find(id), std::string::npos) << set.error;
  }
}

}  // namespace
}  // namespace curia::region
