// SPDX-License-Identifier: GPL-3.0-or-later
// JPEG 2000 in the loader (OpenJPEG), checked against second decoders: GDCM's `gdcmconv --raw`
// (whose uncompressed output the loader then reads with DCMTK), OpenJPEG's `opj_decompress`, and
// the uncompressed originals of lossless encodings (`gdcmconv --j2k`, `opj_compress`).
//
// Tolerance: exact equality everywhere, lossy files included. The loader and both tools decode
// with Debian's libopenjp2 (GDCM 3.0 is built against it), and JPEG 2000 decoding is
// deterministic integer code for the reversible 5/3 wavelet and deterministic floating point for
// the irreversible 9/7 one, so any difference would be an error in how the frames are found,
// signed, masked or rescaled, which is what these tests are for.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "curia/config/error.h"
#include "curia/dicom/series.h"
#include "dicom_synthetic.h"
#include "test_support.h"

namespace curia::dicom {
namespace {

using test::SyntheticImage;
using test::TempDir;

std::string Shared(const std::string& relative) { return std::string(CURIA_SHARED_DIR) + "/dicom/" + relative; }
const std::string kPydicom = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

ScanResult Load(const std::string& path) {
  static FileSource files;
  QuietDcmtkLogging();
  const std::vector<std::string> ids =
      std::filesystem::is_directory(path) ? FindDicomFiles(path) : std::vector<std::string>{path};
  return LoadSeries(files, ids, {});
}

std::vector<float> AllSlices(const DicomVolume& v) {
  std::vector<float> all;
  const worker::VolumeInfo info = v.Info();
  std::vector<float> slice(static_cast<size_t>(info.rows * info.cols));
  for (int64_t i = 0; i < info.slices; ++i) {
    v.ReadSlice(i, slice.data());
    all.insert(all.end(), slice.begin(), slice.end());
  }
  return all;
}

std::string Dims(const DicomVolume& v) {
  const worker::VolumeInfo i = v.Info();
  return std::to_string(i.slices) + "x" + std::to_string(i.rows) + "x" + std::to_string(i.cols) + " " + i.plane;
}

// Runs a command that must succeed; its output.
std::string Must(const std::string& command) {
  const test::ShellResult r = test::RunShell(command);
  EXPECT_EQ(r.status, 0) << command << "\n" << r.output;
  return r.output;
}

// The volume of the only series at `path`, or a test failure with the loader's reason.
std::shared_ptr<DicomVolume> VolumeAt(const std::string& path) {
  const ScanResult r = Load(path);
  if (r.series.size() != 1) {
    ADD_FAILURE() << path << ": " << r.series.size() << " series, " << r.unreadable.size() << " unreadable";
    return nullptr;
  }
  if (!r.series[0].volume) ADD_FAILURE() << path << ": " << r.series[0].error;
  return r.series[0].volume;
}

// Copies a JPEG 2000 file (or a folder's files) to <dir>/j2k, giving it a position and orientation
// when `add_geometry` (for the NM test images, which have none), and decodes each copy with
// `gdcmconv --raw` to <dir>/raw.
void CopyAndDecodeWithGdcm(const std::string& source, const TempDir& dir, bool add_geometry) {
  std::filesystem::create_directories(dir.File("j2k"));
  std::filesystem::create_directories(dir.File("raw"));
  const std::vector<std::string> files =
      std::filesystem::is_directory(source) ? FindDicomFiles(source) : std::vector<std::string>{source};
  for (const std::string& f : files) {
    const std::string name = std::filesystem::path(f).filename().string();
    const std::string j2k = dir.File("j2k/" + name), raw = dir.File("raw/" + name);
    test::CopyFile(f, j2k);
    if (add_geometry) {
      Must("dcmodify -nb -q -i '(0020,0032)=0\\0\\0' -i '(0020,0037)=1\\0\\0\\0\\1\\0' " + j2k);
    }
    Must("gdcmconv --raw " + j2k + " " + raw);
    // The second decoder really decoded: its output is uncompressed.
    EXPECT_NE(Must("dcmdump +P 0002,0010 " + raw).find("=LittleEndianExplicit"), std::string::npos) << raw;
  }
}

TEST(Jpeg2000, EveryFileOfTheCorporaDecodesToTheSecondDecodersPixels) {
  struct Case {
    std::string path;
    bool add_geometry;
    std::string dims;
  };
  const std::vector<Case> cases = {
      {Shared("Comunix/Ct"), false, "2x512x512 axial"},  // lossy, unsigned 12-bit
      {Shared("Comunix/Pet"), false, "2x128x128 axial"},  // lossy, 15-bit code stream, Bits Stored 16
      {Shared("transfer-syntaxes/1.2.840.10008.1.2.4.90.dcm"), true, "1x1024x256 axial"},  // 3 fragments
      {Shared("transfer-syntaxes/1.2.840.10008.1.2.4.91.dcm"), false, "1x512x512 axial"},  // lossy, signed
      {kPydicom + "/MR_small_jp2klossless.dcm", false, "1x64x64 axial"},
      {kPydicom + "/693_J2KI.dcm", false, "1x512x512 axial"},              // signed 16-bit code stream, Bits Stored 14
      {kPydicom + "/J2K_pixelrep_mismatch.dcm", false, "1x512x512 axial"},  // unsigned code stream, signed header
      {kPydicom + "/JPEG2000.dcm", true, "1x1024x256 axial"},
  };
  for (const Case& c : cases) {
    TempDir dir;
    CopyAndDecodeWithGdcm(c.path, dir, c.add_geometry);
    const std::shared_ptr<DicomVolume> ours = VolumeAt(dir.File("j2k")), gdcm = VolumeAt(dir.File("raw"));
    ASSERT_TRUE(ours && gdcm) << c.path;
    EXPECT_EQ(Dims(*ours), c.dims) << c.path;
    EXPECT_NO_THROW(ours->Verify()) << c.path;  // not blank
    const std::vector<float> a = AllSlices(*ours), b = AllSlices(*gdcm);
    ASSERT_EQ(a.size(), b.size()) << c.path;
    size_t differing = 0;
    for (size_t i = 0; i < a.size(); ++i) differing += a[i] != b[i];
    EXPECT_EQ(differing, 0u) << c.path << ": pixels that differ from gdcmconv --raw's";
  }
}

TEST(Jpeg2000, UnsignedCodeStreamOfASignedImageIsReadWithTheHeadersSign) {
  // The code stream holds 0..8191 (unsigned 13-bit); Pixel Representation 1 with Bits Stored 13
  // makes the upper half negative, as GDCM + DCMTK, pydicom and Horos read it.
  const std::shared_ptr<DicomVolume> v = VolumeAt(kPydicom + "/J2K_pixelrep_mismatch.dcm");
  ASSERT_TRUE(v);
  const std::vector<float> hu = AllSlices(*v);
  const auto [lo, hi] = std::minmax_element(hu.begin(), hu.end());
  EXPECT_LT(*lo, -1000.0f);  // air after the two's complement reading
  EXPECT_LE(*hi, 4095.0f);
}

TEST(Jpeg2000, LosslessEncodingsGiveTheOriginalPixels) {
  // A JPEG 2000 lossless file next to its uncompressed original (pydicom's test files).
  EXPECT_EQ(AllSlices(*VolumeAt(kPydicom + "/MR_small_jp2klossless.dcm")), AllSlices(*VolumeAt(kPydicom + "/MR_small.dcm")));
  // Real series encoded here by GDCM: a 22-slice MR, a signed CT and a sagittal 12-bit CT.
  for (const std::string& source :
       {Shared("Brainix/Flair"), Shared("single/SignedCT.dcm"), Shared("single/Phenix-CT.dcm")}) {
    TempDir dir;
    std::filesystem::create_directories(dir.File("j2k"));
    const std::vector<std::string> files =
        std::filesystem::is_directory(source) ? FindDicomFiles(source) : std::vector<std::string>{source};
    for (const std::string& f : files) {
      const std::string out = dir.File("j2k/" + std::filesystem::path(f).filename().string());
      Must("gdcmconv --j2k " + f + " " + out);
      EXPECT_NE(Must("dcmdump +P 0002,0010 " + out).find("=JPEG2000LosslessOnly"), std::string::npos);
    }
    const std::shared_ptr<DicomVolume> original = VolumeAt(source), j2k = VolumeAt(dir.File("j2k"));
    ASSERT_TRUE(original && j2k) << source;
    EXPECT_EQ(Dims(*j2k), Dims(*original)) << source;
    EXPECT_EQ(AllSlices(*j2k), AllSlices(*original)) << source;
  }
}

TEST(Jpeg2000, LossyEncodingMatchesGdcmAndIsNearTheOriginal) {
  TempDir dir;
  std::filesystem::create_directories(dir.File("j2k"));
  Must("gdcmconv --j2k --lossy -r 10 " + Shared("single/SignedCT.dcm") + " " + dir.File("j2k/ct.dcm") + " 2>&1");
  EXPECT_NE(Must("dcmdump +P 0002,0010 " + dir.File("j2k/ct.dcm")).find("=JPEG2000 "), std::string::npos);
  std::filesystem::create_directories(dir.File("raw"));
  Must("gdcmconv --raw " + dir.File("j2k/ct.dcm") + " " + dir.File("raw/ct.dcm"));
  const std::vector<float> lossy = AllSlices(*VolumeAt(dir.File("j2k/ct.dcm")));
  EXPECT_EQ(lossy, AllSlices(*VolumeAt(dir.File("raw/ct.dcm"))));
  const std::vector<float> original = AllSlices(*VolumeAt(Shared("single/SignedCT.dcm")));
  ASSERT_EQ(lossy.size(), original.size());
  double worst = 0, sum = 0;
  for (size_t i = 0; i < lossy.size(); ++i) {
    const double d = std::fabs(static_cast<double>(lossy[i]) - original[i]);
    worst = std::max(worst, d);
    sum += d;
  }
  const auto [lo, hi] = std::minmax_element(original.begin(), original.end());
  const double mean = sum / static_cast<double>(lossy.size());
  EXPECT_GT(worst, 0.0);  // it is lossy (ratio 10)...
  EXPECT_LT(mean, 0.01 * (*hi - *lo)) << "mean absolute error " << mean << " HU";  // ...but the same image
  RecordProperty("lossy_mean_abs_hu", std::to_string(mean));
  RecordProperty("lossy_max_abs_hu", std::to_string(worst));
}

TEST(Jpeg2000, ColourAndBrokenFilesAreRefusedWithTheirReason) {
  ScanResult r = Load(Shared("transfer-syntaxes/jp2k91YBR-ICT.dcm"));
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_NE(r.series[0].error.find("colour image (3 samples per pixel, Photometric Interpretation YBR_ICT): a grey "
                                   "volume is needed"),
            std::string::npos)
      << r.series[0].error;
  // A fragment whose code stream is broken (a sequence delimiter inside, pydicom's test file).
  TempDir dir;
  test::CopyFile(kPydicom + "/JPEG2000-embedded-sequence-delimiter.dcm", dir.File("broken.dcm"));
  Must("dcmodify -nb -q -i '(0020,0032)=0\\0\\0' -i '(0020,0037)=1\\0\\0\\0\\1\\0' " + dir.File("broken.dcm"));
  const std::shared_ptr<DicomVolume> broken = VolumeAt(dir.File("broken.dcm"));
  ASSERT_TRUE(broken);
  const std::string message = test::ErrorMessage([&] { broken->Verify(); });
  EXPECT_NE(message.find(dir.File("broken.dcm") + ": "), std::string::npos) << message;
  EXPECT_NE(message.find("JPEG 2000 frame 1"), std::string::npos) << message;
}

// --- Code streams made here with OpenJPEG's tools, wrapped in synthetic instances ---

constexpr int kRows = 24, kCols = 32;

// Encodes rows x cols values of `bits` bits with opj_compress (`.j2k` or `.jp2` by `extension`).
std::string Encode(const std::vector<int>& values, int bits, bool is_signed, const std::string& extension,
                   const std::string& options = "") {
  TempDir dir;
  std::string raw;
  for (int v : values) {
    if (bits <= 8) {
      raw.push_back(static_cast<char>(v));
    } else {
      raw.push_back(static_cast<char>(v & 0xFF));
      raw.push_back(static_cast<char>((v >> 8) & 0xFF));
    }
  }
  test::WriteFile(dir.File("in.rawl"), raw);
  Must("opj_compress -i " + dir.File("in.rawl") + " -o " + dir.File("out" + extension) + " -F " +
       std::to_string(kCols) + "," + std::to_string(kRows) + ",1," + std::to_string(bits) + "," +
       (is_signed ? "s" : "u") + " -n 3 " + options);
  std::string bytes = test::ReadFile(dir.File("out" + extension));
  if (bytes.size() % 2) bytes.push_back('\0');  // fragments have even lengths
  return bytes;
}

std::vector<int> Ramp(int start, int step, int frame = 0) {
  std::vector<int> v;
  for (int i = 0; i < kRows * kCols; ++i) v.push_back(start + step * i + 7 * frame);
  return v;
}

class Jpeg2000Synthetic : public ::testing::Test {
 protected:
  SyntheticImage Image(int frames = 1) {
    SyntheticImage im;
    im.rows = kRows;
    im.cols = kCols;
    im.frames = frames;
    im.bits_stored = 12;
    im.high_bit = 11;
    im.positions.clear();
    for (int f = 0; f < frames; ++f) im.positions.push_back({0, 0, 5.0 * f});
    return im;
  }
  // The same image uncompressed, with these stored values.
  std::vector<float> Native(SyntheticImage im, const std::vector<int>& values) {
    im.transfer_syntax.clear();
    im.fragments.clear();
    im.offset_table.clear();
    im.pixels.clear();
    for (int v : values) im.pixels.push_back(static_cast<uint16_t>(v));
    return Decoded(im);
  }
  std::vector<float> Decoded(const SyntheticImage& im) {
    const std::shared_ptr<DicomVolume> v = Volume(im);
    if (!v) return {};
    return AllSlices(*v);
  }
  std::shared_ptr<DicomVolume> Volume(const SyntheticImage& im) {
    source_.Add("im", test::MakeInstance(im));
    const ScanResult r = LoadSeries(source_, {"im"}, {});
    if (!r.series.at(0).volume) ADD_FAILURE() << r.series[0].error;
    return r.series[0].volume;
  }
  std::string Refusal(const SyntheticImage& im) {
    const std::shared_ptr<DicomVolume> v = Volume(im);
    return v ? test::ErrorMessage([&] { v->Verify(); }) : "no volume";
  }

  MemorySource source_;
};

TEST_F(Jpeg2000Synthetic, CodeStreamAndJp2FileSigned12Bit) {
  const std::vector<int> values = Ramp(-1900, 5);
  for (const char* extension : {".j2k", ".jp2"}) {
    SyntheticImage im = Image();
    im.transfer_syntax = "1.2.840.10008.1.2.4.90";
    im.fragments = {Encode(values, 12, true, extension)};
    EXPECT_EQ(Decoded(im), Native(im, values)) << extension;
  }
  EXPECT_EQ(Native(Image(), values)[0], -1900.0f);  // the reference is what it should be
}

TEST_F(Jpeg2000Synthetic, EightBitUnsigned) {
  SyntheticImage im = Image();
  im.modality = "MR";
  im.bits_allocated = 8;
  im.bits_stored = 8;
  im.high_bit = 7;
  im.pixel_representation = 0;
  im.transfer_syntax = "1.2.840.10008.1.2.4.90";
  std::vector<int> values;
  for (int i = 0; i < kRows * kCols; ++i) values.push_back((i * 7) % 256);
  im.fragments = {Encode(values, 8, false, ".j2k")};
  const std::vector<float> v = Decoded(im);
  ASSERT_EQ(v.size(), values.size());
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], static_cast<float>(values[i])) << i;  // axial: no reorientation
}

TEST_F(Jpeg2000Synthetic, MultiFrameWithAndWithoutOffsetTableAndFramesInSeveralFragments) {
  SyntheticImage im = Image(3);
  im.transfer_syntax = "1.2.840.10008.1.2.4.90";
  std::vector<int> all;
  std::vector<std::string> streams;
  for (int f = 0; f < 3; ++f) {
    const std::vector<int> values = Ramp(-1000 + 300 * f, 3, f);
    all.insert(all.end(), values.begin(), values.end());
    streams.push_back(Encode(values, 12, true, ".j2k"));
  }
  const std::vector<float> expected = Native(im, all);
  // One fragment a frame, no offset table.
  im.fragments = streams;
  EXPECT_EQ(Decoded(im), expected);
  // The same with the Basic Offset Table (offsets of each item from the first fragment's tag).
  uint32_t at = 0;
  for (const std::string& s : streams) {
    im.offset_table.push_back(at);
    at += 8 + static_cast<uint32_t>(s.size());
  }
  EXPECT_EQ(Decoded(im), expected);
  // Each frame in two fragments: with the offset table, and without (frames start at code
  // stream starts).
  im.fragments.clear();
  im.offset_table.clear();
  at = 0;
  for (const std::string& s : streams) {
    const size_t half = (s.size() / 4) * 2;
    im.offset_table.push_back(at);
    im.fragments.push_back(s.substr(0, half));
    im.fragments.push_back(s.substr(half));
    at += 16 + static_cast<uint32_t>(s.size());
  }
  EXPECT_EQ(Decoded(im), expected);
  im.offset_table.clear();
  EXPECT_EQ(Decoded(im), expected);
  // An offset table that points into a fragment.
  im.offset_table = {0, 10, 20};
  EXPECT_NE(Refusal(im).find("Basic Offset Table entry 2 (10) does not point at the start of a fragment"),
            std::string::npos)
      << Refusal(im);
}

TEST_F(Jpeg2000Synthetic, LossyCodeStreamMatchesOpjDecompress) {
  const std::vector<int> values = Ramp(-1900, 5);
  SyntheticImage im = Image();
  im.transfer_syntax = "1.2.840.10008.1.2.4.91";
  TempDir dir;
  const std::string stream = Encode(values, 12, true, ".j2k", "-I -r 8");
  test::WriteFile(dir.File("lossy.j2k"), stream);
  Must("opj_decompress -i " + dir.File("lossy.j2k") + " -o " + dir.File("out.rawl"));
  const std::string decoded = test::ReadFile(dir.File("out.rawl"));
  ASSERT_EQ(decoded.size(), values.size() * 2);
  std::vector<int> theirs;
  bool differs = false;
  for (size_t i = 0; i < values.size(); ++i) {
    theirs.push_back(static_cast<int16_t>(static_cast<uint8_t>(decoded[2 * i]) | static_cast<uint8_t>(decoded[2 * i + 1]) << 8));
    differs |= theirs.back() != values[i];
  }
  EXPECT_TRUE(differs);  // lossy
  im.fragments = {stream};
  EXPECT_EQ(Decoded(im), Native(im, theirs));
}

TEST_F(Jpeg2000Synthetic, UnsignedCodeStreamInASignedHeaderKeepsTheBitPattern) {
  SyntheticImage im = Image();
  im.transfer_syntax = "1.2.840.10008.1.2.4.90";
  std::vector<int> values;
  for (int i = 0; i < kRows * kCols; ++i) values.push_back((i * 11) % 4096);  // unsigned 12-bit
  im.fragments = {Encode(values, 12, false, ".j2k")};
  const std::vector<float> v = Decoded(im);
  ASSERT_EQ(v.size(), values.size());
  for (size_t i = 0; i < v.size(); ++i) {
    ASSERT_EQ(v[i], static_cast<float>(values[i] >= 2048 ? values[i] - 4096 : values[i])) << i;
  }
}

TEST_F(Jpeg2000Synthetic, MismatchesAndCorruptionAreSpecificRefusals) {
  const std::vector<int> values = Ramp(-1900, 5);
  const std::string stream = Encode(values, 12, true, ".j2k");
  SyntheticImage im = Image();
  im.transfer_syntax = "1.2.840.10008.1.2.4.90";
  // Another size in the header.
  im.rows = kRows / 2;
  im.fragments = {stream};
  EXPECT_NE(Refusal(im).find("im: JPEG 2000 frame 1 is 32x24 pixels with 1 component(s) where the header says 32x12 "
                             "(Columns x Rows) with 1 sample per pixel"),
            std::string::npos)
      << Refusal(im);
  // Values wider than Bits Stored.
  im = Image();
  im.transfer_syntax = "1.2.840.10008.1.2.4.90";
  im.bits_stored = 8;
  im.high_bit = 7;
  im.fragments = {stream};
  EXPECT_NE(Refusal(im).find("im: JPEG 2000 frame 1 holds signed 12-bit values such as -1900, more than Bits Stored 8 "
                             "holds: the header and the code stream disagree on the pixel values"),
            std::string::npos)
      << Refusal(im);
  // A truncated code stream (strict decoding: no partly grey image).
  im = Image();
  im.transfer_syntax = "1.2.840.10008.1.2.4.90";
  im.fragments = {stream.substr(0, (stream.size() / 4) * 2)};
  EXPECT_NE(Refusal(im).find("im: cannot decode JPEG 2000 frame 1 of the pixel data (OpenJPEG: "), std::string::npos)
      << Refusal(im);
  EXPECT_NE(Refusal(im).find("): truncated or corrupt"), std::string::npos) << Refusal(im);
  // Not a code stream at all, and the old stand-in fragment (a SIZ marker of zeros).
  im.fragments = {std::string(64, 'x')};
  EXPECT_NE(Refusal(im).find("im: JPEG 2000 frame 1 is neither a JPEG 2000 code stream nor a JP2 file"),
            std::string::npos)
      << Refusal(im);
  im.fragments.clear();
  EXPECT_NE(Refusal(im).find("im: cannot decode JPEG 2000 frame 1 of the pixel data (OpenJPEG: "), std::string::npos)
      << Refusal(im);
}

}  // namespace
}  // namespace curia::dicom
