// SPDX-License-Identifier: GPL-3.0-or-later
// The head phantom as a DICOM series: valid CT and MR Image Storage objects (dciodvfy), read back by
// the project's own loader into the phantom's values and geometry, UIDs fixed by the seed.
#include "curia/phantom/series.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

#include "curia/config/error.h"
#include "curia/dicom/series.h"
#include "test_support.h"

namespace curia::phantom {
namespace {

using test::LinesStartingWith;
using test::RunShell;

PhantomSeriesOptions Small(const std::string& modality, uint64_t seed = 7) {
  PhantomSeriesOptions o;
  o.modality = modality;
  o.seed = seed;
  o.phantom.slices = 5;
  o.phantom.rows = 96;
  o.phantom.cols = 80;  // not square: rows and columns cannot be swapped unnoticed
  o.phantom.pixel_mm = 2.5;
  o.phantom.slice_mm = 8.0;
  return o;
}

// Writes the series, validates every file, loads it back and compares with the phantom.
void CheckRoundTrip(const PhantomSeriesOptions& o) {
  SCOPED_TRACE(o.modality);
  test::TempDir dir;
  const PhantomSeriesInfo info = WritePhantomSeries(o, dir.path());
  ASSERT_EQ(info.files.size(), 5u);
  EXPECT_EQ(std::filesystem::path(info.files[0]).filename(), "slice-0001.dcm");
  for (const std::string& f : info.files) {
    const test::ShellResult v = RunShell("dciodvfy " + f);
    EXPECT_EQ(v.status, 0) << f << "\n" << v.output;
    EXPECT_EQ(LinesStartingWith(v.output, "Error"), "") << f << "\n" << v.output;
    EXPECT_NE(v.output.find(o.modality == "CT" ? "CTImage" : "MRImage"), std::string::npos) << v.output;
  }

  dicom::QuietDcmtkLogging();
  dicom::FileSource files;
  const dicom::ScanResult scan = dicom::LoadSeries(files, dicom::FindDicomFiles(dir.path()), {});
  ASSERT_EQ(scan.unreadable.size(), 0u);
  ASSERT_EQ(scan.series.size(), 1u);
  const dicom::SeriesResult& s = scan.series[0];
  ASSERT_TRUE(s.volume) << s.error;
  EXPECT_EQ(s.series_uid, info.series_uid);
  EXPECT_EQ(s.study_uid, info.study_uid);
  EXPECT_EQ(s.modality, o.modality);
  EXPECT_EQ(s.description, "Head phantom (synthetic)");
  s.volume->Verify();
  const worker::VolumeInfo vi = s.volume->Info();
  EXPECT_EQ(vi.slices, 5);
  EXPECT_EQ(vi.rows, 96);
  EXPECT_EQ(vi.cols, 80);
  EXPECT_EQ(vi.plane, "axial");
  EXPECT_NEAR(vi.pixel_spacing_mm[0], 2.5, 1e-9);
  EXPECT_NEAR(vi.pixel_spacing_mm[1], 2.5, 1e-9);
  EXPECT_NEAR(vi.slice_spacing_mm, 8.0, 1e-9);

  phantom::PhantomOptions po = o.phantom;
  po.seed = o.seed;
  const phantom::PhantomVolume phantom = phantom::MakeHeadPhantom(po);
  const int64_t n = vi.rows * vi.cols;
  std::set<int64_t> seen;
  std::vector<float> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < vi.slices; ++i) {
    // Which phantom slice this is, from its position (z = (k - (slices-1)/2) * slice_mm).
    const dicom::SliceRef& ref = s.volume->slices()[static_cast<size_t>(i)];
    EXPECT_NEAR(ref.position[0], -(80 - 1) / 2.0 * 2.5, 1e-6);
    EXPECT_NEAR(ref.position[1], -(96 - 1) / 2.0 * 2.5, 1e-6);
    const double kf = ref.position[2] / 8.0 + 2.0;
    const int64_t k = std::lround(kf);
    ASSERT_NEAR(kf, static_cast<double>(k), 1e-6);
    ASSERT_TRUE(k >= 0 && k < 5);
    seen.insert(k);
    s.volume->ReadSlice(i, values.data());
    const int16_t* hu = phantom.Slice(k);
    double worst = 0;
    for (int64_t p = 0; p < n; ++p) {
      const double expected = o.modality == "CT" ? hu[p] : std::max(0, hu[p] + 1024);
      worst = std::max(worst, std::abs(values[static_cast<size_t>(p)] - expected));
    }
    EXPECT_LE(worst, 0.5) << "slice " << k;
  }
  EXPECT_EQ(seen.size(), 5u);
}

TEST(PhantomSeries, CtIsValidAndReadsBackAsThePhantomsHu) { CheckRoundTrip(Small("CT")); }

TEST(PhantomSeries, MrIsValidAndReadsBackAsStoredValues) { CheckRoundTrip(Small("MR")); }

TEST(PhantomSeries, TheSeedFixesUidsAndPixels) {
  const PhantomSeriesInfo a = DescribePhantomSeries(Small("CT", 1));
  const PhantomSeriesInfo b = DescribePhantomSeries(Small("CT", 1));
  const PhantomSeriesInfo c = DescribePhantomSeries(Small("CT", 2));
  PhantomSeriesOptions mr = Small("MR", 1);
  const PhantomSeriesInfo d = DescribePhantomSeries(mr);
  EXPECT_EQ(a.study_uid, b.study_uid);
  EXPECT_EQ(a.series_uid, b.series_uid);
  EXPECT_EQ(a.accession_number, b.accession_number);
  EXPECT_NE(a.study_uid, c.study_uid);
  EXPECT_NE(a.series_uid, c.series_uid);
  EXPECT_NE(a.series_uid, d.series_uid);
  std::set<std::string> uids = {a.study_uid, a.series_uid, a.frame_of_reference_uid};
  EXPECT_EQ(uids.size(), 3u);
  for (const std::string& uid : uids) {
    EXPECT_EQ(uid.rfind("2.25.", 0), 0u) << uid;
    EXPECT_LE(uid.size(), 64u);
  }
  EXPECT_LE(a.accession_number.size(), 16u);
  EXPECT_EQ(a.sop_class_uid, "1.2.840.10008.5.1.4.1.1.2");
  EXPECT_EQ(d.sop_class_uid, "1.2.840.10008.5.1.4.1.1.4");

  // Instances arrive in slice order with distinct SOP Instance UIDs, the same for the same seed.
  // Pixel data is the last element: its bytes end the file.
  struct Made {
    std::vector<std::string> sops, pixels;
  };
  auto make = [](const PhantomSeriesOptions& o) {
    Made out;
    std::vector<int64_t> order;
    const size_t pixel_bytes = static_cast<size_t>(o.phantom.rows * o.phantom.cols * 2);
    MakePhantomSeries(o, [&](const PhantomInstance& i) {
      order.push_back(i.index);
      out.sops.push_back(i.sop_instance_uid);
      EXPECT_EQ(i.bytes.substr(128, 4), "DICM");
      out.pixels.push_back(i.bytes.substr(i.bytes.size() - pixel_bytes));
    });
    EXPECT_EQ(order, (std::vector<int64_t>{0, 1, 2, 3, 4}));
    return out;
  };
  const Made first = make(Small("CT", 1)), again = make(Small("CT", 1)), other = make(Small("CT", 2));
  EXPECT_EQ(first.sops, again.sops);
  EXPECT_EQ(first.pixels, again.pixels);
  EXPECT_EQ(std::set<std::string>(first.sops.begin(), first.sops.end()).size(), 5u);
  EXPECT_NE(first.sops, other.sops);
  EXPECT_NE(first.pixels, other.pixels);  // the seed drives the noise too
}

TEST(PhantomSeries, BadOptionsAreRefusedBeforeAnythingIsWritten) {
  test::TempDir dir;
  PhantomSeriesOptions o = Small("US");
  EXPECT_NE(test::ErrorMessage([&] { WritePhantomSeries(o, dir.File("x")); }).find("modality must be CT or MR"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.File("x")));
  o = Small("CT");
  o.patient_id = "A\\B";
  EXPECT_NE(test::ErrorMessage([&] { DescribePhantomSeries(o); }).find("patient ID"), std::string::npos);
  o = Small("CT");
  o.phantom.slices = 0;
  EXPECT_NE(test::ErrorMessage([&] { DescribePhantomSeries(o); }), "no error");
  o = Small("CT");
  o.uid_root = "2.25.";
  EXPECT_NE(test::ErrorMessage([&] { DescribePhantomSeries(o); }).find("UID root"), std::string::npos);
}

}  // namespace
}  // namespace curia::phantom
