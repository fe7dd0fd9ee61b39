// SPDX-License-Identifier: GPL-3.0-or-later
// Findings about regions (issue 17) in the SR and on the key image, from real region objects: the
// phantom's SEG and RTSTRUCT (DCMTK's writers), read back by region::ReadRegions into the
// RegionReference the worker fills. The SR's groups are read back with DCMTK; every SR passes
// dciodvfy, strict dsrdump and PixelMed; the key image's outline is counted pixel by pixel.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmsr/dsrdoc.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "curia/config/error.h"
#include "curia/dicom/series.h"
#include "curia/dicomsr/outputs.h"
#include "curia/phantom/regions.h"
#include "curia/region/job.h"
#include "curia/region/region.h"
#include "test_support.h"
#include "validators.h"

namespace curia::dicomsr {
namespace {

// The phantom series and its two region objects, written and read once for the binary.
struct Phantom {
  test::TempDir dir;
  dicom::FileSource files;
  dicom::ScanResult scan;
  region::RegionSet seg, rt;
  std::string first_file;  // a slice of the series, for the SC's source

  Phantom() {
    dicom::QuietDcmtkLogging();
    phantom::PhantomSeriesOptions o;
    o.seed = 17;
    o.phantom.slices = 5;
    o.phantom.rows = 96;
    o.phantom.cols = 80;
    o.phantom.pixel_mm = 2.5;
    o.phantom.slice_mm = 8.0;
    o.study_date = "20261201";
    o.study_time = "101500";
    const phantom::PhantomSeriesInfo series = phantom::WritePhantomSeries(o, dir.File("series"));
    phantom::WritePhantomSegmentation(o, dir.File("seg.dcm"));
    phantom::WritePhantomStructureSet(o, dir.File("rtstruct.dcm"));
    first_file = series.files.at(0);
    scan = dicom::LoadSeries(files, dicom::FindDicomFiles(dir.File("series")), {});
    seg = region::ReadRegions(files, dir.File("seg.dcm"), region::Volumes(scan));
    rt = region::ReadRegions(files, dir.File("rtstruct.dcm"), region::Volumes(scan));
  }
  const dicom::DicomVolume& volume() const { return *scan.series.at(0).volume; }
};

const Phantom& GetPhantom() {
  static const Phantom p;  // its folder is removed at exit
  return p;
}

// What the worker fills for a region, from what ReadRegions gives: the key slice is the one where
// the region is largest, unless `*key_slice` names one.
worker::RegionReference Reference(const region::RegionSet& set, const region::Region& r, int64_t* key_slice) {
  region::Region copy = r;  // ToJobRegion moves the mask out
  worker::RegionReference ref = region::ToJobRegion(set, copy).reference;
  if (*key_slice < 0) {
    *key_slice = std::max_element(r.pixels_per_slice.begin(), r.pixels_per_slice.end()) - r.pixels_per_slice.begin();
  }
  ref.slices_used = std::count_if(r.pixels_per_slice.begin(), r.pixels_per_slice.end(), [](int64_t n) { return n > 0; });
  ref.mask_rows = set.rows;
  ref.mask_cols = set.cols;
  const size_t plane = static_cast<size_t>(set.rows * set.cols);
  ref.key_slice_mask.assign(r.mask.begin() + static_cast<std::ptrdiff_t>(plane * static_cast<size_t>(*key_slice)),
                            r.mask.begin() + static_cast<std::ptrdiff_t>(plane * static_cast<size_t>(*key_slice + 1)));
  return ref;
}

// An organ-recognition finding for each region of `set`: the head predicts the region's own
// structure, except for the skull (predicted "brain": disagrees); codes where the labels map to one.
void AddOrganFindings(const region::RegionSet& set, worker::StudyFindings& out) {
  for (const region::Region& r : set.regions) {
    EXPECT_EQ(r.refusal, region::Refusal::kNone) << r.error;
    worker::TaskFinding f;
    f.task = "organ";
    f.head = "demo-mask";
    f.head_digest = std::string(64, 'c');
    f.labels = {"brain", "skull", "scalp", "ventricle", "lesion"};
    f.positive_class = 4;
    f.positive_label = "lesion";
    f.probability = 0.05 + 0.1 * r.number;
    f.present = f.probability >= 0.5;
    f.finding = {"DEMOORGAN", "99CURIA", "Demo organ finding"};
    f.region = Reference(set, r, &f.key_slice);
    f.class_probabilities = {0.1f, 0.2f, 0.3f, 0.2f, 0.2f};
    if (r.label == "Skull") {
      f.region.predicted_class = "brain";
      f.region.agreement = "disagrees";
    } else if (r.label == "Scalp") {
      f.region.predicted_class = "scalp";
      f.region.predicted_code = {"41695006", "SCT", "Scalp"};
      f.region.agreement = "agrees";
    } else {
      f.region.predicted_class = "lesion";  // no code, no agreement stated
    }
    out.findings.push_back(f);
  }
}

worker::StudyFindings Base() {
  worker::StudyFindings f;
  f.backbone = "demo-model";
  f.backbone_digest = std::string(64, 'a');
  f.demo = true;
  f.slices = GetPhantom().volume().Info().slices;
  return f;
}

worker::TaskFinding WholeVolumeFinding() {
  worker::TaskFinding a;
  a.task = "demo-2d";
  a.head_digest = std::string(64, 'b');
  a.labels = {"no finding", "finding"};
  a.positive_class = 1;
  a.probability = 0.873;
  a.present = true;
  a.key_slice = 2;
  a.finding = {"DEMO2D", "99CURIA", "Demo finding"};
  return a;
}

SourceSeries Source() {
  const dicom::DicomVolume& v = GetPhantom().volume();
  return SourceSeries{&v.header(), v.Info().references, v.Info().modality};
}

// One measurement group of an SR as read back: its items by concept code value.
struct Group {
  std::string tracking_id, tracking_uid, algorithm;
  std::string segment_sop_class, segment_sop_instance;  // Referenced Segment (121191)
  std::vector<Uint16> segments;
  std::string source_series;                    // Source series for segmentation (121232)
  std::string region_sop_class, region_sop_instance, roi_identifier;  // Region in Space (130488), 130489
  std::string predicted_code, predicted_text;   // CLASS
  std::string agreement;                        // AGREE: the code meaning
  std::string finding;                          // 121071
};

std::vector<Group> ReadGroups(const std::string& bytes) {
  DcmFileFormat file;
  const std::string path = GetPhantom().dir.File("readback.dcm");
  test::WriteFile(path, bytes);
  EXPECT_TRUE(file.loadFile(path.c_str()).good());
  DSRDocument doc;
  EXPECT_TRUE(doc.read(*file.getDataset()).good());
  DSRDocumentTree& tree = doc.getTree();
  std::vector<Group> groups;
  for (size_t node = tree.gotoNamedNode(DSRCodedEntryValue("125007", "DCM", "Measurement Group")); node > 0;) {
    const size_t group_node = tree.getNodeID();
    Group g;
    if (tree.goDown() > 0) {
      do {
        const DSRContentItem& item = tree.getCurrentContentItem();
        const std::string code = item.getConceptName().getCodeValue().c_str();
        const std::string text = item.getStringValue().c_str();
        if (code == "112039") g.tracking_id = text;
        if (code == "112040") g.tracking_uid = text;
        if (code == "111001") g.algorithm = text;
        if (code == "121071") g.finding = item.getCodeValue().getCodeValue().c_str();
        if (code == "121232") g.source_series = text;
        if (code == "CLASS") (item.getValueType() == DSRTypes::VT_Code ? g.predicted_code : g.predicted_text) =
            item.getValueType() == DSRTypes::VT_Code ? item.getCodeValue().getCodeValue().c_str() : text;
        if (code == "AGREE") g.agreement = item.getCodeValue().getCodeMeaning().c_str();
        if (code == "121191") {
          const DSRImageReferenceValue& ref = item.getImageReference();
          g.segment_sop_class = ref.getSOPClassUID().c_str();
          g.segment_sop_instance = ref.getSOPInstanceUID().c_str();
          for (size_t i = 1; i <= ref.getSegmentList().getNumberOfItems(); ++i) {
            g.segments.push_back(ref.getSegmentList().getItem(i));
          }
        }
        if (code == "130488") {
          const DSRCompositeReferenceValue& ref = item.getCompositeReference();
          g.region_sop_class = ref.getSOPClassUID().c_str();
          g.region_sop_instance = ref.getSOPInstanceUID().c_str();
        }
        if (code == "130489") g.roi_identifier = text;
      } while (tree.gotoNext() > 0);
    }
    groups.push_back(g);
    tree.gotoNode(group_node);
    node = tree.gotoNextNamedNode(DSRCodedEntryValue("125007", "DCM", "Measurement Group"));
  }
  return groups;
}

enum class Validate { kAll, kDciodvfyAndDsrdump, kNone };

// The SR of `findings` written, checked by the validators asked for, and read back. (PixelMed
// takes 5-15 s a run: the tests run it once per kind of report.)
std::vector<Group> WriteValidateRead(const worker::StudyFindings& findings, const std::string& name, Validate validate,
                                     std::string* html = nullptr) {
  const Identity identity{"job/regions/" + name, "0.1.0-test", "20261201", "120000"};
  const DicomObject sr = WriteStructuredReport(Source(), findings, config::DicomSettings{}, identity);
  const std::string path = GetPhantom().dir.File(name + "_sr.dcm");
  test::WriteFile(path, sr.bytes);
  if (validate == Validate::kAll) {
    test_validators::ExpectDciodvfyClean(path);
    test_validators::ExpectValidSr(path);
  } else if (validate == Validate::kDciodvfyAndDsrdump) {
    test_validators::ExpectDciodvfyClean(path);
    const test::ShellResult dump = test::RunShell("dsrdump " + path);
    EXPECT_EQ(dump.status, 0) << dump.output;
  }
  if (html) *html = RenderHtml(sr.bytes);
  return ReadGroups(sr.bytes);
}

TEST(RegionSr, OneGroupPerSegmentReferencingTheSeg) {
  const Phantom& p = GetPhantom();
  ASSERT_EQ(p.seg.refusal, region::Refusal::kNone) << p.seg.error;
  ASSERT_EQ(p.seg.regions.size(), 7u);
  worker::StudyFindings findings = Base();
  AddOrganFindings(p.seg, findings);
  std::string html;
  const std::vector<Group> groups = WriteValidateRead(findings, "seg", Validate::kAll, &html);
  ASSERT_EQ(groups.size(), 7u);
  std::map<std::string, int> agreement;
  for (size_t i = 0; i < groups.size(); ++i) {
    const Group& g = groups[i];
    const region::Region& r = p.seg.regions[i];
    EXPECT_EQ(g.segment_sop_class, UID_SegmentationStorage);
    EXPECT_EQ(g.segment_sop_instance, p.seg.object.sop_instance_uid);
    EXPECT_EQ(g.segments, std::vector<Uint16>{static_cast<Uint16>(r.number)});
    EXPECT_EQ(g.source_series, p.volume().series_uid);
    EXPECT_EQ(g.tracking_id, "segment " + std::to_string(r.number) + " " + r.label);  // the phantom writes none
    EXPECT_EQ(g.tracking_uid, DeriveUid("2.25", "tracking/" + p.seg.object.sop_instance_uid + "/" +
                                                    std::to_string(r.number)));
    EXPECT_EQ(g.algorithm, "Curia Node organ");
    EXPECT_EQ(g.finding, "DEMOORGAN");
    EXPECT_EQ(g.region_sop_instance, "");  // the RTSTRUCT's item, not a SEG's
    agreement[g.agreement]++;
    if (r.label == "Scalp") {
      EXPECT_EQ(g.predicted_code, "41695006");
      EXPECT_EQ(g.agreement, "Yes");
    } else if (r.label == "Skull") {
      EXPECT_EQ(g.predicted_text, "brain");
      EXPECT_EQ(g.agreement, "No");
    } else {
      EXPECT_EQ(g.predicted_text, "lesion");
    }
  }
  EXPECT_EQ(agreement, (std::map<std::string, int>{{"", 5}, {"No", 1}, {"Yes", 1}}));
  // The rendering names the reference and the evaluations.
  for (const char* text : {"Referenced Segment", "Source series for segmentation", "Predicted class",
                           "Prediction agrees with region label", "segment 2 Skull"}) {
    EXPECT_NE(html.find(text), std::string::npos) << text;
  }

  // A segment's own Tracking ID and UID are kept.
  findings.findings.resize(1);
  findings.findings[0].region.tracking_id = "Scalp of the radiologist";
  findings.findings[0].region.tracking_uid = "1.2.826.0.1.3680043.10.999.42";
  const std::vector<Group> tracked = WriteValidateRead(findings, "seg_tracked", Validate::kNone);
  ASSERT_EQ(tracked.size(), 1u);
  EXPECT_EQ(tracked[0].tracking_id, "Scalp of the radiologist");
  EXPECT_EQ(tracked[0].tracking_uid, "1.2.826.0.1.3680043.10.999.42");
}

TEST(RegionSr, OneGroupPerRoiWithItsRegionInSpace) {
  const Phantom& p = GetPhantom();
  ASSERT_EQ(p.rt.refusal, region::Refusal::kNone) << p.rt.error;
  ASSERT_EQ(p.rt.regions.size(), 7u);
  worker::StudyFindings findings = Base();
  AddOrganFindings(p.rt, findings);
  std::string html;
  const std::vector<Group> groups = WriteValidateRead(findings, "rt", Validate::kAll, &html);
  ASSERT_EQ(groups.size(), 7u);
  for (size_t i = 0; i < groups.size(); ++i) {
    const Group& g = groups[i];
    const region::Region& r = p.rt.regions[i];
    EXPECT_EQ(g.region_sop_class, UID_RTStructureSetStorage);
    EXPECT_EQ(g.region_sop_instance, p.rt.object.sop_instance_uid);
    EXPECT_EQ(g.roi_identifier, std::to_string(r.number));
    EXPECT_EQ(g.tracking_id, "ROI " + std::to_string(r.number) + " " + r.label);
    EXPECT_EQ(g.segment_sop_instance, "");
    EXPECT_EQ(g.algorithm, "Curia Node organ");
  }
  for (const char* text : {"Region in Space", "Referenced Region of Interest Identifier", "ROI 7 Lesion"}) {
    EXPECT_NE(html.find(text), std::string::npos) << text;
  }
}

// Whole-volume and region findings in one report, interleaved, two tasks on one region: each group
// keeps its own finding, algorithm and reference, whatever order DCMTK lists TID 1411 and TID 1501
// groups in. With RTSTRUCT regions the report passes the three validators. With SEG regions too, it
// passes dciodvfy and strict dsrdump; PixelMed 2022 is not run on it: it validates every group of
// the Imaging Measurements container as TID 1411 as soon as one has a Referenced Segment, and then
// misses rows 5/7/10 in the others (docs/plugin.md, "Regions in the SR").
TEST(RegionSr, MixedReportKeepsEveryGroupWithItsFinding) {
  const Phantom& p = GetPhantom();
  worker::StudyFindings seg = Base(), rt = Base();
  AddOrganFindings(p.seg, seg);
  AddOrganFindings(p.rt, rt);
  worker::StudyFindings findings = Base();
  findings.findings = {WholeVolumeFinding(), rt.findings[2], rt.findings[6], rt.findings[2]};
  findings.findings[3].task = "organ-bis";  // a second task on the same ROI
  findings.findings.push_back(WholeVolumeFinding());
  findings.findings.back().task = "demo-2d-bis";
  auto check = [](const std::vector<Group>& groups, const std::string& third) {
    ASSERT_EQ(groups.size(), 5u);
    std::map<std::string, std::vector<std::string>> algorithms;  // tracking ID -> algorithm names
    for (const Group& g : groups) algorithms[g.tracking_id].push_back(g.algorithm);
    EXPECT_EQ(algorithms["demo-2d result"], std::vector<std::string>{"Curia Node demo-2d"});
    EXPECT_EQ(algorithms["demo-2d-bis result"], std::vector<std::string>{"Curia Node demo-2d-bis"});
    EXPECT_EQ(algorithms["ROI 7 Lesion"], std::vector<std::string>{"Curia Node organ"});
    EXPECT_EQ(algorithms[third], (std::vector<std::string>{"Curia Node organ", "Curia Node organ-bis"}));
    for (const Group& g : groups) {
      if (g.tracking_id == "ROI 7 Lesion") {
        EXPECT_EQ(g.roi_identifier, "7");
      } else if (g.tracking_id == "segment 3 Grey matter") {
        EXPECT_EQ(g.segments, std::vector<Uint16>{3});
        EXPECT_EQ(g.roi_identifier, "");
      } else if (g.tracking_id == "ROI 3 Grey matter") {
        EXPECT_EQ(g.roi_identifier, "3");
      } else {
        EXPECT_EQ(g.finding, "DEMO2D");
        EXPECT_EQ(g.segment_sop_instance + g.region_sop_instance + g.roi_identifier, "");
      }
    }
  };
  check(WriteValidateRead(findings, "mixed", Validate::kAll), "ROI 3 Grey matter");
  findings.findings[1] = findings.findings[3] = seg.findings[2];
  findings.findings[3].task = "organ-bis";
  check(WriteValidateRead(findings, "mixed_seg", Validate::kDciodvfyAndDsrdump), "segment 3 Grey matter");

  // A region the writer cannot reference is refused with the task's name.
  worker::StudyFindings bad = Base();
  bad.findings = {seg.findings[0]};
  bad.findings[0].region.kind = "MASK";
  const Identity identity{"job/bad", "0.1.0", "20261201", "120000"};
  EXPECT_EQ(test::ErrorMessage([&] { WriteStructuredReport(Source(), bad, config::DicomSettings{}, identity); }),
            "region of organ: kind 'MASK' is neither SEG nor RTSTRUCT");
  bad.findings[0].region.kind = "SEG";
  bad.findings[0].region.agreement = "maybe";
  EXPECT_EQ(test::ErrorMessage([&] { WriteStructuredReport(Source(), bad, config::DicomSettings{}, identity); }),
            "region of organ: agreement 'maybe' is neither agrees nor disagrees");
}

// What a job writes (WriteResults): whole-volume findings in one SR, each region object's findings
// in an SR of its own, all in the job's SR series. The SR of SEG
// regions, which PixelMed refuses when mixed with whole-volume groups (above), passes all three
// validators on its own.
TEST(RegionSr, JobWritesOneSrPerRegionObject) {
  const Phantom& p = GetPhantom();
  worker::StudyFindings seg = Base(), rt = Base();
  AddOrganFindings(p.seg, seg);
  AddOrganFindings(p.rt, rt);
  worker::StudyFindings findings = Base();
  findings.findings = {seg.findings[2], WholeVolumeFinding(), rt.findings[6], seg.findings[0], rt.findings[2]};
  config::CuriaSettings settings;
  const Identity identity{"job/regions/split", "0.1.0-test", "20261201", "120000"};
  const std::vector<ResultObject> objects = WriteResults(Source(), p.volume(), findings, settings, identity, true, false);
  ASSERT_EQ(objects.size(), 3u);
  EXPECT_EQ(objects[0].region_object, "");
  EXPECT_EQ(objects[1].region_object, p.seg.object.sop_instance_uid);
  EXPECT_EQ(objects[2].region_object, p.rt.object.sop_instance_uid);
  std::set<std::string> uids;
  for (const ResultObject& o : objects) {
    EXPECT_EQ(o.kind, "SR");
    EXPECT_EQ(o.object.series_instance_uid, objects[0].object.series_instance_uid);
    uids.insert(o.object.sop_instance_uid);
  }
  EXPECT_EQ(uids.size(), 3u);
  // The job's main SR keeps the UID it had before regions existed.
  EXPECT_EQ(objects[0].object.sop_instance_uid, DeriveUid("2.25", "job/regions/split/sr"));
  const std::vector<Group> whole = ReadGroups(objects[0].object.bytes);
  ASSERT_EQ(whole.size(), 1u);
  EXPECT_EQ(whole[0].finding, "DEMO2D");
  const std::string path = GetPhantom().dir.File("split_seg_sr.dcm");
  test::WriteFile(path, objects[1].object.bytes);
  test_validators::ExpectDciodvfyClean(path);
  test_validators::ExpectValidSr(path);
  const std::vector<Group> segments = ReadGroups(objects[1].object.bytes);
  ASSERT_EQ(segments.size(), 2u);
  EXPECT_EQ(segments[0].tracking_id, "segment 3 Grey matter");
  EXPECT_EQ(segments[1].tracking_id, "segment 1 Scalp");
  const std::vector<Group> rois = ReadGroups(objects[2].object.bytes);
  ASSERT_EQ(rois.size(), 2u);
  for (const Group& g : rois) EXPECT_EQ(g.region_sop_instance, p.rt.object.sop_instance_uid);

  // Region findings only: no whole-volume SR.
  findings.findings = {rt.findings[6]};
  const std::vector<ResultObject> only = WriteResults(Source(), p.volume(), findings, settings, identity, true, false);
  ASSERT_EQ(only.size(), 1u);
  EXPECT_EQ(only[0].region_object, p.rt.object.sop_instance_uid);
}

// The key image of a region finding: the slice as without a region, plus the region's boundary
// (mask pixels with a 4-neighbour outside) in cyan, each boundary pixel as the block the slice's
// pixel becomes; nothing else in the slice changes. White matter: an outline with holes (the
// ventricles).
TEST(RegionKeyImage, OutlineIsDrawnOnTheRegionBoundary) {
  const Phantom& p = GetPhantom();
  worker::StudyFindings findings = Base();
  AddOrganFindings(p.seg, findings);
  const auto white = std::find_if(findings.findings.begin(), findings.findings.end(),
                                  [](const worker::TaskFinding& f) { return f.region.label == "White matter"; });
  ASSERT_NE(white, findings.findings.end());
  const size_t index = static_cast<size_t>(white - findings.findings.begin());
  // On the slice where the right ventricle is largest, a hole in the white matter.
  const auto ventricle = std::find_if(p.seg.regions.begin(), p.seg.regions.end(),
                                      [](const region::Region& r) { return r.label == "Right lateral ventricle"; });
  ASSERT_NE(ventricle, p.seg.regions.end());
  int64_t slice = -1;
  Reference(p.seg, *ventricle, &slice);
  findings.findings[index].key_slice = slice;
  findings.findings[index].region = Reference(p.seg, p.seg.regions[index], &findings.findings[index].key_slice);
  const worker::TaskFinding& f = findings.findings[index];
  const worker::VolumeInfo info = p.volume().Info();
  KeyImage key;
  key.rows = info.rows;
  key.cols = info.cols;
  key.values.resize(static_cast<size_t>(key.rows * key.cols));
  key.row_spacing_mm = info.pixel_spacing_mm[0];
  key.col_spacing_mm = info.pixel_spacing_mm[1];
  p.volume().ReadSlice(f.key_slice, key.values.data());
  ASSERT_EQ(f.region.mask_rows, key.rows);
  ASSERT_EQ(f.region.mask_cols, key.cols);
  const Identity identity{"job/regions/sc", "0.1.0-test", "20261201", "120000"};
  struct Rgb {
    int64_t width = 0, height = 0;
    std::vector<uint8_t> pixels;
    const uint8_t* at(int64_t y, int64_t x) const { return &pixels[static_cast<size_t>((y * width + x) * 3)]; }
  };
  auto render = [&](const worker::StudyFindings& fs, const std::string& name) {
    const DicomObject sc = WriteKeyImage(Source(), fs, index, key, config::DicomSettings{}, identity);
    const std::string path = p.dir.File(name);
    test::WriteFile(path, sc.bytes);
    test_validators::ExpectDciodvfyClean(path);
    DcmFileFormat file;
    EXPECT_TRUE(file.loadFile(path.c_str()).good());
    Uint16 rows = 0, cols = 0;
    const Uint8* data = nullptr;
    unsigned long n = 0;
    file.getDataset()->findAndGetUint16(DCM_Rows, rows);
    file.getDataset()->findAndGetUint16(DCM_Columns, cols);
    file.getDataset()->findAndGetUint8Array(DCM_PixelData, data, &n);
    EXPECT_EQ(n, static_cast<unsigned long>(rows) * cols * 3);
    return std::make_pair(sc.sop_instance_uid, Rgb{cols, rows, std::vector<uint8_t>(data, data + n)});
  };
  // The reference: the same finding and caption with an empty mask on the key slice (nothing to outline).
  worker::StudyFindings plain_findings = findings;
  std::fill(plain_findings.findings[index].region.key_slice_mask.begin(),
            plain_findings.findings[index].region.key_slice_mask.end(), 0);
  const auto [outlined_uid, outlined] = render(findings, "outlined.dcm");
  const auto [plain_uid, plain] = render(plain_findings, "plain.dcm");
  ASSERT_EQ(outlined.width, plain.width);
  ASSERT_EQ(outlined.height, plain.height);
  const int64_t zoom = plain.width / key.cols;
  ASSERT_EQ(zoom * key.cols, plain.width);  // 80 columns shown 7x: square pixels, no resampling
  // Without a region: no region caption, and another key image (one per finding, thus per region).
  worker::StudyFindings no_region = findings;
  no_region.findings[index].region = worker::RegionReference{};
  const auto [no_region_uid, no_region_image] = render(no_region, "no_region.dcm");
  EXPECT_NE(outlined_uid, no_region_uid);
  EXPECT_LT(no_region_image.height, plain.height);  // the region's caption lines

  // Boundary pixels of the key slice's mask, as the test sees them.
  const worker::RegionReference& r = f.region;
  auto inside = [&](int64_t y, int64_t x) {
    return y >= 0 && x >= 0 && y < r.mask_rows && x < r.mask_cols && r.key_slice_mask[static_cast<size_t>(y * r.mask_cols + x)] == 1;
  };
  // Outside pixels reachable from the slice's border (4-connected); the others are holes.
  std::vector<uint8_t> open(r.key_slice_mask.size(), 0);
  std::vector<std::pair<int64_t, int64_t>> todo;
  for (int64_t y = 0; y < r.mask_rows; ++y) {
    for (int64_t x = 0; x < r.mask_cols; ++x) {
      if (y == 0 || x == 0 || y + 1 == r.mask_rows || x + 1 == r.mask_cols) todo.push_back({y, x});
    }
  }
  while (!todo.empty()) {
    const auto [y, x] = todo.back();
    todo.pop_back();
    if (y < 0 || x < 0 || y >= r.mask_rows || x >= r.mask_cols || inside(y, x)) continue;
    uint8_t& o = open[static_cast<size_t>(y * r.mask_cols + x)];
    if (o) continue;
    o = 1;
    todo.insert(todo.end(), {{y - 1, x}, {y + 1, x}, {y, x - 1}, {y, x + 1}});
  }
  auto hole = [&](int64_t y, int64_t x) {
    return y >= 0 && x >= 0 && y < r.mask_rows && x < r.mask_cols && !inside(y, x) &&
           !open[static_cast<size_t>(y * r.mask_cols + x)];
  };
  int64_t boundary = 0, holes_edge = 0;
  std::vector<uint8_t> edge(r.key_slice_mask.size(), 0);
  for (int64_t y = 0; y < r.mask_rows; ++y) {
    for (int64_t x = 0; x < r.mask_cols; ++x) {
      const bool e = inside(y, x) && (!inside(y - 1, x) || !inside(y + 1, x) || !inside(y, x - 1) || !inside(y, x + 1));
      edge[static_cast<size_t>(y * r.mask_cols + x)] = e;
      boundary += e;
      holes_edge += e && (hole(y - 1, x) || hole(y + 1, x) || hole(y, x - 1) || hole(y, x + 1));
    }
  }
  ASSERT_GT(boundary, 50);
  EXPECT_GT(holes_edge, 0);  // the ventricles' edges are outlined too

  // Bottom-aligned (the footers are the same): the pixels that differ, as (rows from the bottom, column).
  std::vector<std::pair<int64_t, int64_t>> changed;
  int64_t cyan = 0;
  for (int64_t from_bottom = 1; from_bottom <= plain.height; ++from_bottom) {
    for (int64_t x = 0; x < plain.width; ++x) {
      const uint8_t* a = outlined.at(outlined.height - from_bottom, x);
      const uint8_t* b = plain.at(plain.height - from_bottom, x);
      if (std::equal(a, a + 3, b)) continue;
      changed.push_back({from_bottom, x});
      cyan += a[0] == 0 && a[1] == 255 && a[2] == 255;
    }
  }
  // Every changed pixel is cyan, they number the boundary pixels' zoomed blocks, and each lies in the
  // block of a boundary pixel (placed by the lowest boundary row, whose block ends lowest).
  EXPECT_EQ(cyan, static_cast<int64_t>(changed.size()));
  ASSERT_EQ(static_cast<int64_t>(changed.size()), boundary * zoom * zoom);
  int64_t lowest_row = 0;
  for (int64_t y = 0; y < r.mask_rows; ++y) {
    for (int64_t x = 0; x < r.mask_cols; ++x) {
      if (edge[static_cast<size_t>(y * r.mask_cols + x)]) lowest_row = y;
    }
  }
  int64_t min_from_bottom = changed.front().first;
  for (const auto& c : changed) min_from_bottom = std::min(min_from_bottom, c.first);
  // With `footer` rows below the slice's band of `band` rows, band row b (0 = its top) is `footer +
  // band - b` rows from the bottom; the lowest boundary row's block ends at band row (lowest + 1) * zoom - 1.
  const int64_t band = key.rows * zoom;
  const int64_t footer = min_from_bottom - band + (lowest_row + 1) * zoom - 1;
  int64_t misplaced = 0;
  for (const auto& [from_bottom, x] : changed) {
    const int64_t band_row = footer + band - from_bottom;
    const int64_t y = band_row / zoom;
    misplaced += band_row < 0 || y >= r.mask_rows || !edge[static_cast<size_t>(y * r.mask_cols + x / zoom)];
  }
  EXPECT_EQ(misplaced, 0);

  // A mask that does not fit its size is refused with the task's name.
  worker::StudyFindings bad = findings;
  bad.findings[index].region.key_slice_mask.pop_back();
  EXPECT_EQ(test::ErrorMessage([&] { WriteKeyImage(Source(), bad, index, key, config::DicomSettings{}, identity); }),
            "region mask of organ: " + std::to_string(key.rows * key.cols - 1) + " values for a " +
                std::to_string(key.rows) + "x" + std::to_string(key.cols) + " slice");
}

}  // namespace
}  // namespace curia::dicomsr
