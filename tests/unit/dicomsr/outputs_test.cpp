// SPDX-License-Identifier: GPL-3.0-or-later
// For every loadable CT and MR series of the shared corpus and of pydicom's test files: an SR and a
// key image from demo findings, checked by dciodvfy, strict dsrdump, PixelMed's SR validator,
// pydicom (read back against the source) and DCMTK's renderer (burned-in text visible).
#include "curia/dicomsr/outputs.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

#include "curia/config/error.h"
#include "curia/dicom/series.h"
#include "dicom_synthetic.h"
#include "hostile_dicom.h"
#include "test_support.h"
#include "validators.h"

namespace curia::dicomsr {
namespace {

using test::LinesStartingWith;
using test::RunShell;

// Every CT and MR series of the corpora that loads, as "folder" or "file" paths.
std::vector<std::string> LoadableSeries() {
  dicom::QuietDcmtkLogging();
  std::vector<std::string> candidates;
  const std::string shared = std::string(CURIA_SHARED_DIR) + "/dicom";
  for (const char* folder : {"Brainix/Flair", "Brainix/Epi", "Knix/Loc", "Comunix/Ct"}) candidates.push_back(shared + "/" + folder);
  for (const char* folder : {"single", "transfer-syntaxes", "encodings", "edge"}) {
    for (const auto& e : std::filesystem::directory_iterator(shared + "/" + folder)) candidates.push_back(e.path().string());
  }
  for (const auto& e : std::filesystem::directory_iterator("/usr/lib/python3/dist-packages/pydicom/data/test_files")) {
    if (e.path().extension() == ".dcm") candidates.push_back(e.path().string());
  }
  std::sort(candidates.begin(), candidates.end());
  std::vector<std::string> loadable;
  static dicom::FileSource files;
  for (const std::string& path : candidates) {
    const std::vector<std::string> ids =
        std::filesystem::is_directory(path) ? dicom::FindDicomFiles(path) : std::vector<std::string>{path};
    const dicom::ScanResult scan = dicom::LoadSeries(files, ids, {});
    for (const auto& s : scan.series) {
      if (s.volume && (s.modality == "CT" || s.modality == "MR")) {
        loadable.push_back(path);
        break;
      }
    }
  }
  return loadable;
}

// Demo findings for a volume: a 2-D task present on the middle slice, a 3-D task absent.
worker::StudyFindings DemoFindings(int64_t slices) {
  worker::StudyFindings f;
  f.backbone = "demo-model";
  f.backbone_digest = std::string(64, 'a');
  f.demo = true;
  f.slices = slices;
  worker::TaskFinding a;
  a.task = "demo-2d";
  a.head_digest = std::string(64, 'b');
  a.labels = {"no finding", "finding"};
  a.positive_class = 1;
  a.probability = 0.873;
  a.present = true;
  a.key_slice = slices / 2;
  a.finding = {"DEMO2D", "99CURIA", "Demo finding"};
  worker::TaskFinding b = a;
  a.heat_map = {2, 2, {0, 0, 0, 1}};  // drawn only when the settings ask for it
  b.task = "demo-3d";
  b.is3d = true;
  b.probability = 0.21;
  b.present = false;
  b.finding = {"DEMO3D", "99CURIA", "Demo 3-D finding"};
  b.has_finding_site = true;
  b.finding_site = {"12738006", "SCT", "Brain"};
  f.findings = {a, b};
  return f;
}

SourceSeries Source(const dicom::DicomVolume& v) {
  return SourceSeries{&v.header(), v.Info().references, v.Info().modality};
}

// Writes both objects for `volume` into `dir` and runs every validator; returns the SR path.
std::string WriteAndValidate(const dicom::DicomVolume& volume, const std::string& source_file, const std::string& dir,
                             const config::DicomSettings& settings) {
  const SourceSeries source = Source(volume);
  const worker::StudyFindings findings = DemoFindings(volume.Info().slices);
  const Identity identity{"job/" + volume.series_uid, "0.1.0-test", "", ""};
  const DicomObject sr = WriteStructuredReport(source, findings, settings, identity);
  KeyImage key;
  key.rows = volume.Info().rows;
  key.cols = volume.Info().cols;
  key.values.resize(static_cast<size_t>(key.rows * key.cols));
  key.row_spacing_mm = volume.Info().pixel_spacing_mm[0];
  key.col_spacing_mm = volume.Info().pixel_spacing_mm[1];
  volume.ReadSlice(findings.findings[0].key_slice, key.values.data());
  const DicomObject sc = WriteKeyImage(source, findings, 0, key, settings, identity);
  const std::string sr_path = dir + "/sr.dcm", sc_path = dir + "/sc.dcm";
  test::WriteFile(sr_path, sr.bytes);
  test::WriteFile(sc_path, sc.bytes);

  for (const std::string& path : {sr_path, sc_path}) test_validators::ExpectDciodvfyClean(path);
  test_validators::ExpectValidSr(sr_path);
  const std::string expect =
      "{\"uid_root\": \"" + settings.uid_root + "\", \"findings\": [" +
      "{\"code\": \"DEMO2D\", \"scheme\": \"99CURIA\", \"probability\": 0.873, \"present\": true, \"key_sop\": \"" +
      source.images[static_cast<size_t>(findings.findings[0].key_slice)].sop_instance_uid + "\"}, " +
      "{\"code\": \"DEMO3D\", \"scheme\": \"99CURIA\", \"probability\": 0.21, \"present\": false, \"key_sop\": \"" +
      source.images[static_cast<size_t>(findings.findings[1].key_slice)].sop_instance_uid + "\"}]}";
  const test::ShellResult py = RunShell("/usr/bin/python3 " + test::TestDataPath("unit/dicomsr/check_outputs.py") + " " + sr_path + " " +
                         sc_path + " " + source_file + " '" + expect + "'");
  EXPECT_EQ(py.status, 0) << py.output;
  // DCMTK renders the key image; the statement's yellow text is in its bottom band.
  const test::ShellResult render = RunShell("dcmj2pnm --write-raw-pnm " + sc_path + " " + dir + "/sc.ppm");
  EXPECT_EQ(render.status, 0) << render.output;
  const std::string ppm = test::ReadFile(dir + "/sc.ppm");
  int width = 0, height = 0, max = 0, header = 0;
  EXPECT_EQ(std::sscanf(ppm.c_str(), "P6 %d %d %d%n", &width, &height, &max, &header), 3);
  if (width < 1 || height < 1 || ppm.size() < static_cast<size_t>(header + 1 + width * height * 3)) {
    ADD_FAILURE() << "dcmj2pnm wrote no image";
    return sr_path;
  }
  const unsigned char* pixels = reinterpret_cast<const unsigned char*>(ppm.data()) + header + 1;
  int yellow = 0;
  for (int y = height - height / 10; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const unsigned char* p = pixels + (static_cast<size_t>(y) * width + x) * 3;
      yellow += p[0] == 255 && p[1] == 215 && p[2] == 0;
    }
  }
  EXPECT_GT(yellow, 100) << "no burned-in statement in the rendered key image";
  return sr_path;
}

class Outputs : public ::testing::TestWithParam<std::string> {};

// The series of a folder (or of one file) of the corpus.
dicom::ScanResult LoadPath(const std::string& path) {
  static dicom::FileSource files;
  const std::vector<std::string> ids =
      std::filesystem::is_directory(path) ? dicom::FindDicomFiles(path) : std::vector<std::string>{path};
  return dicom::LoadSeries(files, ids, {});
}

TEST_P(Outputs, ValidateEverywhere) {
  const dicom::ScanResult scan = LoadPath(GetParam());
  for (const auto& s : scan.series) {
    if (!s.volume || (s.modality != "CT" && s.modality != "MR")) continue;
    ASSERT_NO_THROW(s.volume->Verify());
    test::TempDir dir;
    WriteAndValidate(*s.volume, s.volume->slices().front().instance, dir.path(), config::DicomSettings{});
  }
}

// dciodvfy's Error lines for both objects written from `header` (the volume's, possibly changed).
struct Checked {
  std::string errors;     // "Error" lines of both, each prefixed with SR or SC
  std::string sc_header;  // dcmdump of the SC
};
Checked WriteAndCheck(const dicom::DicomVolume& volume, const DcmDataset& header, const std::string& dir) {
  SourceSeries source = Source(volume);
  source.header = &header;
  const worker::StudyFindings findings = DemoFindings(volume.Info().slices);
  const Identity identity{"job/" + volume.series_uid, "0.1.0-test", "20261128", "120000"};
  KeyImage key;
  key.rows = volume.Info().rows;
  key.cols = volume.Info().cols;
  key.values.assign(static_cast<size_t>(key.rows * key.cols), 0.0f);
  key.values[0] = 100;
  test::WriteFile(dir + "/sr.dcm", WriteStructuredReport(source, findings, config::DicomSettings{}, identity).bytes);
  test::WriteFile(dir + "/sc.dcm", WriteKeyImage(source, findings, 0, key, config::DicomSettings{}, identity).bytes);
  Checked c;
  for (const char* kind : {"sr", "sc"}) {
    const std::string errors = LinesStartingWith(RunShell(std::string("dciodvfy ") + dir + "/" + kind + ".dcm").output, "Error");
    if (!errors.empty()) c.errors += std::string(kind) + ": " + errors;
  }
  c.sc_header = RunShell("dcmdump -q +P 0008,0060 +P 0018,0015 +P 0020,0060 +P 0020,0062 " + dir + "/sc.dcm").output;
  return c;
}

// A paired body part needs Laterality (Type 2C): the source's when it has one, else present and
// empty, even when the source lacks it (the issue's knee MR). An unpaired part has none, even when
// the source contradicts itself with one.
TEST_P(Outputs, PairedBodyPartsGetLateralityEvenWhenTheSourceLacksIt) {
  const dicom::ScanResult scan = LoadPath(GetParam());
  for (const auto& s : scan.series) {
    if (!s.volume || (s.modality != "CT" && s.modality != "MR")) continue;
    test::TempDir dir;
    for (const char* part : {"KNEE", "HAND", "BREAST", "HEAD"}) {
      for (const char* laterality : {"", "R"}) {
        DcmDataset header(s.volume->header());
        header.putAndInsertString(DCM_BodyPartExamined, part);
        delete header.remove(DCM_Laterality);
        delete header.remove(DCM_ImageLaterality);
        if (*laterality) header.putAndInsertString(DCM_Laterality, laterality);
        const Checked c = WriteAndCheck(*s.volume, header, dir.path());
        const std::string label = std::string(part) + " laterality '" + laterality + "'";
        EXPECT_EQ(c.errors, "") << label;
        EXPECT_NE(c.sc_header.find(std::string("(0018,0015) CS [") + part + "]"), std::string::npos) << c.sc_header;
        const bool unpaired = std::string(part) == "HEAD";
        const std::string expected = *laterality ? std::string("(0020,0060) CS [R]") : "(0020,0060) CS (no value available)";
        if (unpaired) {  // absent, even when the source names one
          EXPECT_EQ(c.sc_header.find("(0020,0060)"), std::string::npos) << label << "\n" << c.sc_header;
        } else {
          EXPECT_NE(c.sc_header.find(expected), std::string::npos) << label << "\n" << c.sc_header;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, Outputs, ::testing::ValuesIn(LoadableSeries()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = std::filesystem::path(info.param).filename().string();
                           if (std::filesystem::is_directory(info.param)) {
                             name = std::filesystem::path(info.param).parent_path().filename().string() + "_" + name;
                           }
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(Outputs, Latin1NamesBecomeUtf8AndTheOtherClassesValidateToo) {
  test::TempDir dir;
  test::SyntheticImage im;
  im.character_set = "ISO_IR 100";
  im.patient_name = "M\xFC" "ller^J\xFC" "rgen";  // Latin-1
  im.rows = 32;
  im.cols = 32;
  for (int i = 0; i < 32 * 32; ++i) im.pixels.push_back(static_cast<uint16_t>(i % 500));
  const std::string source_file = dir.File("latin1.dcm");
  test::WriteFile(source_file, test::MakeInstance(im));
  dicom::FileSource files;
  const dicom::ScanResult scan = dicom::LoadSeries(files, {source_file}, {});
  ASSERT_TRUE(scan.series.at(0).volume) << scan.series[0].error;
  config::DicomSettings settings;
  settings.uid_root = "1.2.826.0.1.3680043.10.999";
  settings.comprehensive_3d = false;  // Comprehensive SR
  settings.multiframe_sc = true;      // Multi-frame True Color SC
  settings.heat_map = true;           // with the 2-D finding's heat map
  const std::string sr = WriteAndValidate(*scan.series[0].volume, source_file, dir.path(), settings);
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(sr.c_str()).good());
  OFString name, charset, sop;
  file.getDataset()->findAndGetOFString(DCM_PatientName, name);
  file.getDataset()->findAndGetOFString(DCM_SpecificCharacterSet, charset);
  file.getDataset()->findAndGetOFString(DCM_SOPClassUID, sop);
  EXPECT_EQ(std::string(name.c_str()), "M\xC3\xBC" "ller^J\xC3\xBC" "rgen");
  EXPECT_EQ(std::string(charset.c_str()), "ISO_IR 192");
  EXPECT_EQ(std::string(sop.c_str()), UID_ComprehensiveSRStorage);
}

TEST(Outputs, UidsAreDerivedFromTheJobAndHtmlIsEscaped) {
  EXPECT_EQ(DeriveUid("2.25", "job-1"), DeriveUid("2.25", "job-1"));
  EXPECT_NE(DeriveUid("2.25", "job-1"), DeriveUid("2.25", "job-2"));
  const std::string uid = DeriveUid("2.25", "job-1");
  EXPECT_TRUE(std::regex_match(uid, std::regex("2\\.25\\.[1-9][0-9]{0,38}"))) << uid;
  EXPECT_LE(DeriveUid("1.2.826.0.1.3680043.10.99999", "x").size(), 64u);

  test::TempDir dir;
  test::SyntheticImage im;
  im.patient_name = "<script>alert(1)</script>&Co";
  im.pixels.assign(12, 100);
  im.pixels[0] = 7;
  test::WriteFile(dir.File("x.dcm"), test::MakeInstance(im));
  dicom::FileSource files;
  const dicom::ScanResult scan = dicom::LoadSeries(files, {dir.File("x.dcm")}, {});
  ASSERT_TRUE(scan.series.at(0).volume);
  const SourceSeries source = Source(*scan.series[0].volume);
  const Identity identity{"job-1", "0.1.0", "20261128", "120000"};
  const DicomObject a = WriteStructuredReport(source, DemoFindings(1), config::DicomSettings{}, identity);
  const DicomObject b = WriteStructuredReport(source, DemoFindings(1), config::DicomSettings{}, identity);
  EXPECT_EQ(a.sop_instance_uid, b.sop_instance_uid);  // a re-sent SR is the same object
  EXPECT_EQ(a.sop_instance_uid, DeriveUid("2.25", "job-1/sr"));
  const std::string html = RenderHtml(a.bytes);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
  EXPECT_NE(html.find("Probability of finding"), std::string::npos);
  // Bytes nested deeper than DCMTK 3.6.7 parses safely are refused before it sees them.
  EXPECT_EQ(test::ErrorMessage([] { RenderHtml(test::NestedSequenceFile(100000, {})); })
                .rfind("the SR: refused before parsing: sequence nesting deeper than", 0),
            0u);
}

// The heat map blends over the key slice where the patch probability is high, and only there.
TEST(Outputs, HeatMapIsBlendedWhereTheHeadResponds) {
  test::TempDir dir;
  test::SyntheticImage im;
  im.rows = im.cols = 32;
  im.pixels.assign(32 * 32, 7);
  test::WriteFile(dir.File("x.dcm"), test::MakeInstance(im));
  dicom::FileSource files;
  const dicom::ScanResult scan = dicom::LoadSeries(files, {dir.File("x.dcm")}, {});
  ASSERT_TRUE(scan.series.at(0).volume);
  SourceSeries source = Source(*scan.series[0].volume);
  source.modality = "CT";
  KeyImage key;
  key.rows = key.cols = 32;
  key.values.assign(32 * 32, 40.0f);  // the window's centre: grey 128
  const worker::StudyFindings findings = DemoFindings(1);
  const Identity identity{"job-h", "0.1.0", "20261128", "120000"};
  struct Rgb {
    int64_t width = 0, height = 0;
    std::vector<uint8_t> pixels;
    const uint8_t* at(int64_t y, int64_t x) const { return &pixels[static_cast<size_t>((y * width + x) * 3)]; }
  };
  auto render = [&](bool heat) {
    config::DicomSettings settings;
    settings.heat_map = heat;
    const DicomObject sc = WriteKeyImage(source, findings, 0, key, settings, identity);
    test::WriteFile(dir.File("sc.dcm"), sc.bytes);
    const test::ShellResult v = RunShell("dciodvfy " + dir.File("sc.dcm"));
    EXPECT_EQ(v.status, 0) << v.output;
    EXPECT_EQ(LinesStartingWith(v.output, "Error"), "") << v.output;
    DcmFileFormat file;
    EXPECT_TRUE(file.loadFile(dir.File("sc.dcm").c_str()).good());
    Uint16 rows = 0, cols = 0;
    const Uint8* data = nullptr;
    unsigned long n = 0;
    file.getDataset()->findAndGetUint16(DCM_Rows, rows);
    file.getDataset()->findAndGetUint16(DCM_Columns, cols);
    file.getDataset()->findAndGetUint8Array(DCM_PixelData, data, &n);
    Rgb out{cols, rows, std::vector<uint8_t>(data, data + n)};
    EXPECT_EQ(n, static_cast<unsigned long>(rows) * cols * 3);
    return out;
  };
  const Rgb plain = render(false), heat = render(true);
  ASSERT_EQ(plain.width, heat.width);
  // Without the map: the slice's rows are grey 128 (found from the bottom: the caption above differs).
  int64_t first = -1, last = -1;
  for (int64_t y = 0; y < plain.height; ++y) {
    const uint8_t* p = plain.at(y, plain.width / 2);
    if (p[0] == 128 && p[1] == 128 && p[2] == 128) {
      if (first < 0) first = y;
      last = y;
    }
  }
  ASSERT_EQ(last - first + 1, 32 * (plain.width / 32));  // the slice, enlarged
  const int64_t shift = heat.height - plain.height;      // the legend line
  EXPECT_GT(shift, 0);
  const int64_t top = first + shift, bottom = last + shift, w = heat.width;
  const uint8_t* cold = heat.at(top + 5, 5);  // map value 0: untouched
  EXPECT_EQ(std::vector<int>(cold, cold + 3), (std::vector<int>{128, 128, 128}));
  const uint8_t* hot = heat.at(bottom - 5, w - 5);  // map value 1: red over grey
  EXPECT_EQ(std::vector<int>(hot, hot + 3), (std::vector<int>{204, 51, 51}));
  const uint8_t* warm = heat.at(top + (bottom - top) * 5 / 8, w * 5 / 8);  // bilinear: about 0.57
  EXPECT_GT(warm[0], 128);
  EXPECT_LT(warm[2], 128);
  EXPECT_GT(warm[1], warm[2]);  // yellower than the hot corner

  // A malformed map is refused with the task's name.
  worker::StudyFindings bad = findings;
  bad.findings[0].heat_map.values.pop_back();
  config::DicomSettings settings;
  settings.heat_map = true;
  EXPECT_EQ(test::ErrorMessage([&] { WriteKeyImage(source, bad, 0, key, settings, identity); }),
            "heat map of demo-2d: 3 values for a 2x2 grid");
}

// Conditions a source can trigger beyond laterality: an animal patient (breed, responsible person and
// organisation, sex neutered: Type 2C), a quadruped's anatomical orientation (Type 1C), laterality
// from Image Laterality, and pixels that are not square (shown square: no Pixel Aspect Ratio needed).
TEST(Outputs, AnimalSourceQuadrupedAndNonSquarePixelsStillValidate) {
  test::TempDir dir;
  test::SyntheticImage im;
  im.rows = 32;
  im.cols = 32;
  for (int i = 0; i < 32 * 32; ++i) im.pixels.push_back(static_cast<uint16_t>(i % 300));
  test::WriteFile(dir.File("x.dcm"), test::MakeInstance(im));
  dicom::FileSource files;
  const dicom::ScanResult scan = dicom::LoadSeries(files, {dir.File("x.dcm")}, {});
  ASSERT_TRUE(scan.series.at(0).volume) << scan.series[0].error;
  const dicom::DicomVolume& volume = *scan.series[0].volume;
  DcmDataset header(volume.header());
  header.putAndInsertString(DCM_PatientSpeciesDescription, "Canis lupus familiaris");
  header.putAndInsertString(DCM_AnatomicalOrientationType, "QUADRUPED");
  header.putAndInsertString(DCM_BodyPartExamined, "STIFLE");
  header.putAndInsertString(DCM_ImageLaterality, "L");
  const Checked c = WriteAndCheck(volume, header, dir.path());
  EXPECT_EQ(c.errors, "");
  EXPECT_NE(c.sc_header.find("(0020,0060) CS [L]"), std::string::npos) << c.sc_header;  // from Image Laterality
  EXPECT_EQ(c.sc_header.find("(0020,0062)"), std::string::npos) << c.sc_header;  // not in the SC IOD
  const std::string sc = RunShell("dcmdump -q +P 0010,2292 +P 0010,2293 +P 0010,2294 +P 0010,2297 +P 0010,2299 "
                                  "+P 0010,2203 +P 0010,2210 " + dir.File("sc.dcm")).output;
  for (const char* tag : {"(0010,2292)", "(0010,2293)", "(0010,2294)", "(0010,2297)", "(0010,2299)", "(0010,2203)"}) {
    EXPECT_NE(sc.find(tag), std::string::npos) << tag << "\n" << sc;
  }
  EXPECT_NE(sc.find("(0010,2210) CS [QUADRUPED]"), std::string::npos) << sc;

  // Pixel Spacing 0.5 (rows) \ 0.75 (columns): rows closer than columns, shown at 2/3 of the height.
  SourceSeries source = Source(volume);
  KeyImage key;
  key.rows = key.cols = 32;
  key.values.assign(32 * 32, 40.0f);
  key.row_spacing_mm = volume.Info().pixel_spacing_mm[0];
  key.col_spacing_mm = volume.Info().pixel_spacing_mm[1];
  ASSERT_EQ(key.row_spacing_mm, 0.5);
  ASSERT_EQ(key.col_spacing_mm, 0.75);
  const Identity identity{"job-a", "0.1.0", "20261128", "120000"};
  auto height = [&](const KeyImage& k) {
    test::WriteFile(dir.File("k.dcm"), WriteKeyImage(source, DemoFindings(1), 0, k, config::DicomSettings{}, identity).bytes);
    EXPECT_EQ(LinesStartingWith(RunShell("dciodvfy " + dir.File("k.dcm")).output, "Error"), "");
    DcmFileFormat file;
    EXPECT_TRUE(file.loadFile(dir.File("k.dcm").c_str()).good());
    Uint16 rows = 0;
    file.getDataset()->findAndGetUint16(DCM_Rows, rows);
    EXPECT_FALSE(file.getDataset()->tagExists(DCM_PixelAspectRatio));
    return static_cast<int>(rows);
  };
  KeyImage square = key;
  square.row_spacing_mm = square.col_spacing_mm = 0;
  EXPECT_EQ(height(square) - height(key), 512 - 341);  // 32 rows zoomed 16x, times 0.5 / 0.75
}

TEST(Outputs, SourceWithoutStudyUidIsRefused) {
  DcmDataset header;
  header.putAndInsertString(DCM_PatientName, "X");
  SourceSeries source;
  source.header = &header;
  try {
    WriteStructuredReport(source, DemoFindings(1), config::DicomSettings{}, Identity{"k", "v", "", ""});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no Study Instance UID"), std::string::npos);
  }
}

}  // namespace
}  // namespace curia::dicomsr
