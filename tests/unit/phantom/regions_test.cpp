// SPDX-License-Identifier: GPL-3.0-or-later
// The phantom's region objects: contours that even-odd fill back to their masks, and a SEG and an
// RTSTRUCT for a small phantom series that pass dciodvfy and that pydicom reads back as the
// phantom's labels (check_regions.py: SEG frames placed by Image Position, RTSTRUCT contours
// rasterised with the even-odd rule at pixel centres).
#include "curia/phantom/regions.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "curia/dicom/series.h"
#include "curia/phantom/contours.h"
#include "curia/phantom/phantom.h"
#include "test_support.h"

namespace curia::phantom {
namespace {

using test::LinesStartingWith;
using test::RunShell;

// Even-odd fill of closed polygons at pixel centres (column c, row r), by crossings of the ray
// toward +column: the way RTSTRUCT readers rasterise.
std::vector<uint8_t> FillEvenOdd(const std::vector<Contour>& contours, int64_t rows, int64_t cols) {
  std::vector<uint8_t> out(static_cast<size_t>(rows * cols), 0);
  for (int64_t r = 0; r < rows; ++r) {
    const double y = static_cast<double>(r);
    for (const Contour& c : contours) {
      const size_t n = c.points.size();
      for (size_t i = 0; i < n; ++i) {
        const auto& a = c.points[i];
        const auto& b = c.points[(i + 1) % n];
        if ((a[1] > y) == (b[1] > y)) continue;
        const double x = a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
        for (int64_t col = 0; col < cols; ++col) {
          if (static_cast<double>(col) < x) out[static_cast<size_t>(r * cols + col)] ^= 1;
        }
      }
    }
  }
  return out;
}

TEST(Contours, EvenOddFillGivesTheMaskBack) {
  // Holes, a region inside a hole, pixels touching only at corners, regions on the border, noise.
  const int64_t rows = 24, cols = 31;
  std::vector<uint8_t> mask(static_cast<size_t>(rows * cols), 0);
  auto at = [&](int64_t r, int64_t c) -> uint8_t& { return mask[static_cast<size_t>(r * cols + c)]; };
  for (int64_t r = 2; r < 14; ++r) {
    for (int64_t c = 2; c < 14; ++c) at(r, c) = 1;
  }
  for (int64_t r = 4; r < 12; ++r) {
    for (int64_t c = 4; c < 12; ++c) at(r, c) = 0;  // a hole
  }
  at(7, 7) = at(7, 8) = at(8, 7) = 1;  // an island in the hole
  at(16, 16) = at(17, 17) = at(16, 18) = at(18, 16) = 1;  // diagonal neighbours (saddles)
  for (int64_t c = 0; c < cols; ++c) at(rows - 1, c) = 1;  // the bottom border
  at(0, cols - 1) = 1;  // a corner pixel
  std::mt19937 rng(5);
  for (int64_t r = 14; r < rows - 1; ++r) {
    for (int64_t c = 20; c < cols; ++c) at(r, c) = rng() % 2;
  }
  const std::vector<Contour> contours = TraceContours(mask.data(), rows, cols);
  EXPECT_EQ(FillEvenOdd(contours, rows, cols), mask);
  // Vertices only where the direction changes: a square is 4 corners.
  std::vector<uint8_t> square(16, 0);
  square[5] = square[6] = square[9] = square[10] = 1;
  const std::vector<Contour> one = TraceContours(square.data(), 4, 4);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].points.size(), 4u);
  EXPECT_EQ(one[0].points[0], (std::array<double, 2>{0.5, 0.5}));  // pixel (1, 1)'s top-left corner
  std::vector<uint8_t> empty(16, 0);
  EXPECT_TRUE(TraceContours(empty.data(), 4, 4).empty());
}

PhantomSeriesOptions Small() {
  PhantomSeriesOptions o;
  o.seed = 11;
  o.phantom.slices = 5;
  o.phantom.rows = 96;
  o.phantom.cols = 80;
  o.phantom.pixel_mm = 2.5;
  o.phantom.slice_mm = 8.0;
  o.study_date = "20261201";
  o.study_time = "101500";
  return o;
}

TEST(PhantomRegions, LabelsAreThePaintedStructures) {
  PhantomOptions p = Small().phantom;
  std::vector<uint8_t> labels(static_cast<size_t>(p.rows * p.cols));
  std::vector<int16_t> hu(labels.size());
  std::set<int> seen;
  for (int64_t k = 0; k < p.slices; ++k) {
    MakeHeadPhantomLabels(p, k, labels.data());
    p.noise_hu = 0;
    MakeHeadPhantomSlice(p, k, hu.data());
    for (size_t i = 0; i < labels.size(); ++i) {
      static const int kHu[] = {-1000, 40, 1200, 38, 28, 5, 5, 70};
      EXPECT_EQ(hu[i], kHu[labels[i]]) << "slice " << k << " pixel " << i;
      seen.insert(labels[i]);
    }
  }
  EXPECT_EQ(seen, (std::set<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  ASSERT_EQ(PhantomStructures().size(), 7u);
  for (size_t i = 0; i < PhantomStructures().size(); ++i) EXPECT_EQ(PhantomStructures()[i].label, int(i + 1));
}

TEST(PhantomRegions, SegAndRtstructAreValidAndReadBackAsTheLabels) {
  dicom::QuietDcmtkLogging();  // dcmseg warns about its own dimension check while writing
  const PhantomSeriesOptions o = Small();
  test::TempDir dir;
  const PhantomSeriesInfo series = WritePhantomSeries(o, dir.File("series"));
  const PhantomRegionInfo seg = WritePhantomSegmentation(o, dir.File("seg.dcm"));
  const PhantomRegionInfo rt = WritePhantomStructureSet(o, dir.File("rtstruct.dcm"));
  EXPECT_EQ(seg.labels, (std::vector<int>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(rt.labels, seg.labels);
  EXPECT_EQ(seg.sop_class_uid, "1.2.840.10008.5.1.4.1.1.66.4");
  EXPECT_EQ(rt.sop_class_uid, "1.2.840.10008.5.1.4.1.1.481.3");
  EXPECT_NE(seg.series_uid, series.series_uid);
  EXPECT_NE(rt.series_uid, seg.series_uid);

  // The expected labels, (slices, rows, cols), for the checker; and the frames a SEG without empty
  // frames has: one per (slice, structure present on it).
  PhantomOptions p = o.phantom;
  p.seed = o.seed;
  std::string labels;
  int64_t frames = 0;
  std::vector<uint8_t> slice(static_cast<size_t>(p.rows * p.cols));
  for (int64_t k = 0; k < p.slices; ++k) {
    MakeHeadPhantomLabels(p, k, slice.data());
    labels.append(slice.begin(), slice.end());
    frames += static_cast<int64_t>(std::set<uint8_t>(slice.begin(), slice.end()).size()) - 1;
  }
  EXPECT_EQ(seg.frames, frames);
  EXPECT_LT(seg.frames, 7 * p.slices);  // the lesion is on one slice only: empty frames were left out
  test::WriteFile(dir.File("labels.u8"), labels);

  for (const std::string& f : {dir.File("seg.dcm"), dir.File("rtstruct.dcm")}) {
    const test::ShellResult v = RunShell("dciodvfy " + f);
    EXPECT_NE(v.output.find(f.find("seg") != std::string::npos ? "Segmentation" : "RTStructureSet"), std::string::npos)
        << v.output;
    EXPECT_EQ(LinesStartingWith(v.output, "Error"), "") << f << "\n" << v.output;
    // What dciodvfy still warns about, for the record (the test log).
    std::cout << f << ":\n" << LinesStartingWith(v.output, "Warning");
  }
  const test::ShellResult py =
      RunShell("/usr/bin/python3 " + test::TestDataPath("unit/phantom/check_regions.py") + " " + dir.path() + " " +
               std::to_string(p.slices) + " " + std::to_string(p.rows) + " " + std::to_string(p.cols));
  EXPECT_EQ(py.status, 0) << py.output;
  EXPECT_NE(py.output.find("SEG ok: 7 segments, " + std::to_string(frames) + " frames"), std::string::npos) << py.output;
  EXPECT_NE(py.output.find("RTSTRUCT ok: 7 ROIs, " + std::to_string(rt.frames) + " contours"), std::string::npos)
      << py.output;

  // The same options give the same objects (UIDs included).
  EXPECT_TRUE(MakePhantomSegmentation(o).bytes == test::ReadFile(dir.File("seg.dcm")));
  EXPECT_TRUE(MakePhantomStructureSet(o).bytes == test::ReadFile(dir.File("rtstruct.dcm")));
}

TEST(PhantomRegions, WithoutTheLesionThereIsNoLesionSegment) {
  PhantomSeriesOptions o = Small();
  o.phantom.lesion = false;
  EXPECT_EQ(MakePhantomSegmentation(o).labels, (std::vector<int>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(MakePhantomStructureSet(o).labels, (std::vector<int>{1, 2, 3, 4, 5, 6}));
}

}  // namespace
}  // namespace curia::phantom
