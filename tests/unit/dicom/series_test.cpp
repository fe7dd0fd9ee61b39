// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/dicom/series.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "curia/config/error.h"
#include "dicom_synthetic.h"
#include "test_support.h"

namespace curia::dicom {
namespace {

using test::SyntheticImage;

std::string Shared(const std::string& relative) { return std::string(CURIA_SHARED_DIR) + "/dicom/" + relative; }
const std::string kPydicom = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

std::vector<float> Slice(const DicomVolume& v, int64_t index) {
  const worker::VolumeInfo info = v.Info();
  std::vector<float> out(static_cast<size_t>(info.rows * info.cols));
  v.ReadSlice(index, out.data());
  return out;
}

std::vector<float> AllSlices(const DicomVolume& v) {
  std::vector<float> all;
  for (int64_t i = 0; i < v.Info().slices; ++i) {
    const std::vector<float> s = Slice(v, i);
    all.insert(all.end(), s.begin(), s.end());
  }
  return all;
}

ScanResult LoadFolderOrFile(const std::string& path) {
  static FileSource files;
  QuietDcmtkLogging();
  const std::vector<std::string> ids =
      std::filesystem::is_directory(path) ? FindDicomFiles(path) : std::vector<std::string>{path};
  return LoadSeries(files, ids, {});
}

// One series expected from a folder or file: a volume of this size, or an error containing this.
struct Expect {
  std::string path;
  std::string volume;  // "slices x rows x cols plane", or empty
  std::string error;   // substring, or empty
};

TEST(Corpus, SharedDicomGivesAVolumeOrItsSpecificError) {
  const std::vector<Expect> cases = {
      {"Brainix/Flair", "22x288x288 axial", ""},
      {"Brainix/Epi", "22x256x256 axial", ""},
      {"Knix/Loc", "", "mixed orientations in one series"},
      {"Comunix/Ct", "2x512x512 axial", ""},   // JPEG 2000
      {"Comunix/Pet", "2x128x128 axial", ""},  // JPEG 2000 (the tool refuses PT by modality)
      {"single/Phenix-CT.dcm", "1x358x512 sagittal", ""},
      {"single/SignedCT.dcm", "1x512x512 axial", ""},
      {"edge/Issue22-NoPixelData.dcm", "", "no pixel data"},
      {"edge/DummyCTInvalidRows.dcm", "", "no pixel data"},
      {"edge/Issue16.dcm", "", "colour image (3 samples per pixel, Photometric Interpretation YBR_FULL_422)"},
      {"encodings/Lena-latin1.dcm", "", "a grey volume is needed"},
      {"transfer-syntaxes/1.2.840.10008.1.2.dcm", "1x256x256 sagittal", ""},
      {"transfer-syntaxes/1.2.840.10008.1.2.1.99.dcm", "1x358x512 sagittal", ""},  // deflate
      {"transfer-syntaxes/1.2.840.10008.1.2.4.51.dcm", "1x512x512 axial", ""},     // JPEG extended
      {"transfer-syntaxes/1.2.840.10008.1.2.4.57.dcm", "1x1024x1024 sagittal", ""},
      {"transfer-syntaxes/1.2.840.10008.1.2.4.70.dcm", "1x400x512 coronal", ""},  // JPEG lossless SV1
      {"transfer-syntaxes/1.2.840.10008.1.2.4.81.dcm", "1x512x512 axial", ""},    // JPEG-LS near-lossless
      {"transfer-syntaxes/1.2.840.10008.1.2.4.80.dcm", "", "missing Image Position (Patient)"},
      {"transfer-syntaxes/1.2.840.10008.1.2.4.90.dcm", "", "missing Image Position (Patient)"},  // JPEG 2000 NM
      {"transfer-syntaxes/1.2.840.10008.1.2.4.91.dcm", "1x512x512 axial", ""},                  // JPEG 2000
      {"transfer-syntaxes/jp2k91YBR-ICT.dcm", "", "colour image (3 samples per pixel, Photometric Interpretation YBR_ICT)"},
      {"transfer-syntaxes/1.2.840.10008.1.2.5.dcm", "", "missing Image Position (Patient)"},
      {"transfer-syntaxes/Rle.dcm", "1x256x256 axial", ""},
  };
  for (const Expect& c : cases) {
    const ScanResult r = LoadFolderOrFile(Shared(c.path));
    ASSERT_EQ(r.series.size(), 1u) << c.path;
    const SeriesResult& s = r.series[0];
    if (!c.volume.empty()) {
      ASSERT_TRUE(s.volume) << c.path << ": " << s.error;
      const worker::VolumeInfo i = s.volume->Info();
      EXPECT_EQ(std::to_string(i.slices) + "x" + std::to_string(i.rows) + "x" + std::to_string(i.cols) + " " + i.plane,
                c.volume)
          << c.path;
      EXPECT_NO_THROW(s.volume->Verify()) << c.path;
    } else {
      EXPECT_FALSE(s.volume) << c.path;
      EXPECT_NE(s.error.find(c.error), std::string::npos) << c.path << ": " << s.error;
    }
  }
  // Every file of the corpus, one at a time: a volume that decodes, or a specific error.
  for (const auto& entry : std::filesystem::recursive_directory_iterator(Shared(""))) {
    if (entry.path().extension() != ".dcm") continue;
    const ScanResult r = LoadFolderOrFile(entry.path().string());
    EXPECT_EQ(r.series.size() + r.unreadable.size(), 1u) << entry.path();
    for (const SeriesResult& s : r.series) {
      if (s.volume) {
        EXPECT_NO_THROW(s.volume->Verify()) << entry.path();
      } else {
        EXPECT_FALSE(s.error.empty()) << entry.path();
      }
    }
  }
}

TEST(Corpus, PydicomTestFilesGiveAVolumeOrASpecificError) {
  // The reasons the loader may give; anything else would be a generic failure.
  const std::regex specific(
      "(.*: )?(no pixel data|colour image .*|missing Image Position \\(Patient\\)|missing Image Orientation "
      "\\(Patient\\)|multi-frame image without a position for each frame|unsupported transfer syntax .*|no Series "
      "Instance UID|not a readable DICOM file, or truncated or corrupt .*|refused before parsing: .*)");
  int volumes = 0, refused = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kPydicom)) {
    if (entry.path().extension() != ".dcm") continue;
    const ScanResult r = LoadFolderOrFile(entry.path().string());
    for (const InstanceError& u : r.unreadable) {
      EXPECT_TRUE(std::regex_match(u.error, specific)) << u.error;
      ++refused;
    }
    for (const SeriesResult& s : r.series) {
      if (s.volume) {
        EXPECT_NO_THROW(s.volume->Verify()) << entry.path();
        ++volumes;
      } else {
        EXPECT_TRUE(std::regex_match(s.error, specific)) << entry.path() << ": " << s.error;
        ++refused;
      }
    }
  }
  EXPECT_GE(volumes, 12);
  EXPECT_GE(refused, 50);
  // Some specific ones.
  EXPECT_NE(LoadFolderOrFile(kPydicom + "/MR_truncated.dcm").unreadable.at(0).error.find("truncated or corrupt"),
            std::string::npos);
  EXPECT_NE(LoadFolderOrFile(kPydicom + "/rtplan_truncated.dcm").unreadable.at(0).error.find("truncated or corrupt"),
            std::string::npos);
}

TEST(Corpus, OneImageInEveryLosslessEncodingDecodesToTheSamePixels) {
  const std::vector<float> reference = AllSlices(*LoadFolderOrFile(kPydicom + "/MR_small.dcm").series.at(0).volume);
  for (const char* name : {"MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm", "MR_small_implicit.dcm",
                           "MR_small_jpeg_ls_lossless.dcm", "MR_small_padded.dcm"}) {
    const ScanResult r = LoadFolderOrFile(kPydicom + "/" + name);
    ASSERT_TRUE(r.series.at(0).volume) << name << r.series.at(0).error;
    EXPECT_EQ(AllSlices(*r.series[0].volume), reference) << name;
  }
  const std::vector<float> jpeg = AllSlices(*LoadFolderOrFile(Shared("transfer-syntaxes/Jpeg.dcm")).series.at(0).volume);
  EXPECT_EQ(AllSlices(*LoadFolderOrFile(Shared("transfer-syntaxes/JpegLossless.dcm")).series.at(0).volume), jpeg);
  EXPECT_EQ(AllSlices(*LoadFolderOrFile(Shared("transfer-syntaxes/Rle.dcm")).series.at(0).volume), jpeg);
  EXPECT_EQ(AllSlices(*LoadFolderOrFile(Shared("transfer-syntaxes/1.2.840.10008.1.2.1.99.dcm")).series.at(0).volume),
            AllSlices(*LoadFolderOrFile(Shared("single/Phenix-CT.dcm")).series.at(0).volume));  // deflate
  // 32-bit big endian (RT dose): the same doses as little endian.
  EXPECT_EQ(AllSlices(*LoadFolderOrFile(kPydicom + "/rtdose_expb.dcm").series.at(0).volume),
            AllSlices(*LoadFolderOrFile(kPydicom + "/rtdose.dcm").series.at(0).volume));
}

TEST(Corpus, CtIsInHounsfieldUnitsAndSlicesAreSorted) {
  const ScanResult ct = LoadFolderOrFile(kPydicom + "/CT_small.dcm");
  const std::vector<float> hu = Slice(*ct.series.at(0).volume, 0);
  EXPECT_LT(*std::min_element(hu.begin(), hu.end()), -800.0f);  // air, after RescaleIntercept -1024
  const ScanResult flair = LoadFolderOrFile(Shared("Brainix/Flair"));
  const DicomVolume& v = *flair.series.at(0).volume;
  for (size_t i = 1; i < v.slices().size(); ++i) EXPECT_GT(v.slices()[i].position[2], v.slices()[i - 1].position[2]);
  EXPECT_EQ(v.Info().references.size(), 22u);
  EXPECT_NEAR(v.Info().slice_spacing_mm, 6.0, 1e-6);
}

class Synthetic : public ::testing::Test {
 protected:
  // Slices of 4 x 3 with values base + index, at z = positions.
  std::string Add(SyntheticImage im, const std::string& id) {
    if (im.pixels.empty()) {
      for (int i = 0; i < im.rows * im.cols * im.frames; ++i) im.pixels.push_back(static_cast<uint16_t>(100 + i));
    }
    source_.Add(id, test::MakeInstance(im));
    ids_.push_back(id);
    return id;
  }
  SyntheticImage Image(double z, int k) {
    SyntheticImage im;
    im.positions = {{0, 0, z}};
    im.sop_uid = "1.2.826.0.1.3680043.10.1234.3." + std::to_string(k);
    im.pixels.clear();
    for (int i = 0; i < 12; ++i) im.pixels.push_back(static_cast<uint16_t>(k * 100 + i));
    return im;
  }
  ScanResult Load(LoadOptions options = {}) { return LoadSeries(source_, ids_, options); }

  MemorySource source_;
  std::vector<std::string> ids_;
};

TEST_F(Synthetic, SortsAlongTheNormalAndKeepsTheUids) {
  Add(Image(10, 2), "c");
  Add(Image(0, 0), "a");
  Add(Image(5, 1), "b");
  const ScanResult r = Load();
  ASSERT_TRUE(r.series.at(0).volume) << r.series[0].error;
  const DicomVolume& v = *r.series[0].volume;
  std::vector<std::string> uids;
  for (const auto& r : v.Info().references) uids.push_back(r.sop_instance_uid);
  EXPECT_EQ(uids, (std::vector<std::string>{"1.2.826.0.1.3680043.10.1234.3.0", "1.2.826.0.1.3680043.10.1234.3.1",
                                            "1.2.826.0.1.3680043.10.1234.3.2"}));
  EXPECT_EQ(v.Info().references[0].frame, 0);  // single-frame images
  EXPECT_EQ(Slice(v, 1)[0], 100.0f);  // k = 1: values 100..111, signed 16-bit, CT slope 1
  EXPECT_DOUBLE_EQ(v.Info().slice_spacing_mm, 5.0);
  EXPECT_EQ(v.Info().pixel_spacing_mm[0], 0.5);
}

TEST_F(Synthetic, RefusesDuplicateAndMissingPositionsMixedSizesAndBlankVolumes) {
  Add(Image(0, 0), "a");
  Add(Image(0, 1), "b");
  EXPECT_NE(Load().series[0].error.find("duplicate slice position 0 mm along the slice normal (a and b)"), std::string::npos)
      << Load().series[0].error;
  ids_ = {"a"};
  Add(Image(5, 1), "b5");
  Add(Image(15, 2), "c15");  // z = 10 is missing
  EXPECT_NE(Load().series[0].error.find("missing slice(s): a gap of 10 mm between positions 5 mm and 15 mm"),
            std::string::npos)
      << Load().series[0].error;
  ids_ = {"a"};
  SyntheticImage big = Image(5, 1);
  big.rows = 6;
  big.pixels.assign(18, 7);
  Add(big, "big");
  EXPECT_NE(Load().series[0].error.find("mixed Rows/Columns in one series: 4x3 (a) and 6x3 (big)"), std::string::npos);
  ids_.clear();
  SyntheticImage blank = Image(0, 0);
  blank.pixels.assign(12, 5);
  Add(blank, "blank");
  const ScanResult r = Load();
  ASSERT_TRUE(r.series[0].volume);
  try {
    r.series[0].volume->Verify();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "constant pixel data: every pixel of the 1 slice(s) is 5 (a blank image)");
  }
}

TEST_F(Synthetic, TruncatedPixelDataIsASpecificError) {
  SyntheticImage im = Image(0, 0);
  im.truncate_pixels = true;
  Add(im, "short");
  const ScanResult r = Load();
  ASSERT_TRUE(r.series[0].volume);  // the header is fine...
  try {
    r.series[0].volume->Verify();  // ...the pixels are not
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("short: cannot"), std::string::npos) << e.what();
  }
}

TEST_F(Synthetic, BitsStoredSignMonochrome1AndRescale) {
  SyntheticImage im = Image(0, 0);
  im.bits_stored = 12;
  im.high_bit = 11;
  im.pixel_representation = 1;
  im.slope = 2;
  im.intercept = -1000;
  // 0x0FFF is -1 in 12-bit two's complement; the top nibble is garbage to be masked.
  im.pixels = {0xFFFF, 0x0001, 0x07FF, 0x0800, 0xF000, 0, 0, 0, 0, 0, 0, 0};
  Add(im, "ct");
  std::vector<float> v = Slice(*Load().series[0].volume, 0);
  EXPECT_EQ(v[0], -1002.0f);  // -1 * 2 - 1000
  EXPECT_EQ(v[1], -998.0f);
  EXPECT_EQ(v[2], 2047.0f * 2 - 1000);
  EXPECT_EQ(v[3], -2048.0f * 2 - 1000);
  EXPECT_EQ(v[4], -1000.0f);
  // MR: no rescale; MONOCHROME1 turned around within the stored range.
  ids_.clear();
  SyntheticImage mr = Image(0, 0);
  mr.modality = "MR";
  mr.photometric = "MONOCHROME1";
  mr.pixel_representation = 0;
  mr.bits_stored = 8;
  mr.high_bit = 7;
  mr.slope = 5;
  mr.pixels = {0, 255, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  Add(mr, "mr");
  v = Slice(*Load().series[0].volume, 0);
  EXPECT_EQ(v[0], 255.0f);
  EXPECT_EQ(v[1], 0.0f);
  EXPECT_EQ(v[2], 245.0f);
}

TEST_F(Synthetic, OrientationIsNormalisedFeetFirstAndProne) {
  SyntheticImage im = Image(0, 0);
  im.iop = {-1, 0, 0, 0, -1, 0};  // prone: rows toward anterior, columns toward right
  Add(im, "prone");
  const ScanResult r = Load();
  const std::vector<float> v = Slice(*r.series[0].volume, 0);
  // Both axes flipped: the last stored pixel comes first.
  EXPECT_EQ(v.front(), 11.0f);
  EXPECT_EQ(v.back(), 0.0f);
  EXPECT_EQ(r.series[0].volume->Info().plane, "axial");
}

TEST_F(Synthetic, EnhancedMultiFrameUsesPerFramePositions) {
  SyntheticImage im;
  im.frames = 3;
  im.positions = {{0, 0, 20}, {0, 0, 0}, {0, 0, 10}};
  for (int f = 0; f < 3; ++f) {
    for (int i = 0; i < 12; ++i) im.pixels.push_back(static_cast<uint16_t>(f * 100 + i));
  }
  Add(im, "enhanced");
  const ScanResult r = Load();
  ASSERT_TRUE(r.series[0].volume) << r.series[0].error;
  const DicomVolume& v = *r.series[0].volume;
  EXPECT_EQ(v.Info().slices, 3);
  std::vector<int32_t> frames;
  for (const auto& r : v.Info().references) frames.push_back(r.frame);
  EXPECT_EQ(frames, (std::vector<int32_t>{2, 3, 1}));
  EXPECT_EQ(Slice(v, 0)[0], 100.0f);  // frame 2 is at z = 0
  EXPECT_EQ(Slice(v, 2)[0], 0.0f);
}

TEST_F(Synthetic, UnsupportedTransferSyntaxUsesTheTranscoderHook) {
  SyntheticImage im = Image(0, 3);
  const std::string native = test::MakeInstance(im);
  im.transfer_syntax = "1.2.840.10008.1.2.4.100";  // MPEG-2 video: no decoder here
  Add(im, "mpeg2");
  EXPECT_NE(Load().series[0].error.find("mpeg2: unsupported transfer syntax MPEG2 Main Profile @ Main Level "
                                        "(1.2.840.10008.1.2.4.100): no decoder for it here (uncompressed, deflate, "
                                        "JPEG, JPEG-LS, RLE and JPEG 2000 are decoded)"),
            std::string::npos)
      << Load().series[0].error;
  std::vector<std::string> asked;
  LoadOptions options;
  options.transcoder = [&](const std::string& id) -> std::optional<std::string> {
    asked.push_back(id);
    return native;  // what Orthanc would return, decoded to explicit little endian
  };
  const ScanResult r = Load(options);
  ASSERT_TRUE(r.series[0].volume) << r.series[0].error;
  EXPECT_EQ(Slice(*r.series[0].volume, 0)[0], 300.0f);
  EXPECT_EQ(asked, (std::vector<std::string>{"mpeg2"}));
  options.transcoder = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  try {
    Slice(*Load(options).series[0].volume, 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("and no transcoding available"), std::string::npos);
  }
}

}  // namespace
}  // namespace curia::dicom
