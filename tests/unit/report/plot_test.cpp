// SPDX-License-Identifier: GPL-3.0-or-later
// Charts rendered, written as PNG and decoded back with libpng: the curve passes where its data
// say, the diagonal is drawn, the title and tick labels are there, errors are clear.
#include <gtest/gtest.h>

#include <cmath>

#include "curia/config/error.h"
#include "curia/report/font.h"
#include "curia/report/plot.h"
#include "decode_png.h"

namespace curia::report {
namespace {

std::uint32_t Packed(Rgb c) { return (std::uint32_t{c.r} << 16) | (std::uint32_t{c.g} << 8) | c.b; }

Chart RocLike() {
  Chart c;
  c.title = "ROC test, AUROC 0.875";
  c.x = {"False positive rate", 0.0, 1.0};
  c.y = {"True positive rate", 0.0, 1.0};
  c.diagonal = true;
  Series s;
  s.label = "curve";
  // Up the left edge to 0.75, across to x = 0.5 at y = 1, then along the top.
  s.x = {0.0, 0.0, 0.5, 1.0};
  s.y = {0.0, 0.75, 1.0, 1.0};
  c.series.push_back(s);
  return c;
}

TEST(ReportPlot, TheCurveAndTheDiagonalAreWhereTheDataSay) {
  Frame f;
  const Chart chart = RocLike();
  const test::DecodedPng d = test::DecodePngBytes(EncodePng(RenderChart(chart, &f)));
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.width, 800u);
  EXPECT_EQ(d.height, 640u);
  ASSERT_GT(f.right - f.left, 400);
  ASSERT_GT(f.bottom - f.top, 300);
  const std::uint32_t curve = Packed(kPalette[0]);
  // On the segment (0, 0.75) -> (0.5, 1): its midpoint (0.25, 0.875).
  EXPECT_EQ(d.At(f.PixelX(0.25), f.PixelY(0.875)), curve);
  // Up the left edge at y = 0.5 (the line is 2 pixels wide, drawn over the frame).
  EXPECT_EQ(d.At(f.PixelX(0.0), f.PixelY(0.5)), curve);
  // The diagonal at (0.3, 0.3) and (0.7, 0.7), where neither curve nor legend lies.
  EXPECT_EQ(d.At(f.PixelX(0.3), f.PixelY(0.3)), Packed(kDiagonalColor));
  EXPECT_EQ(d.At(f.PixelX(0.7), f.PixelY(0.7)), Packed(kDiagonalColor));
  // Below the curve and off the diagonal and grid: background.
  EXPECT_EQ(d.At(f.PixelX(0.25) + 3, f.PixelY(0.6) + 3), 0xffffffu);
  // A curve through (0.25, 0.5) would be drawn there: nothing is.
  EXPECT_NE(d.At(f.PixelX(0.25), f.PixelY(0.5)), curve);

  // Text is there: dark pixels in the title band and left of the data area (tick labels), none
  // of them in the curve's colour.
  auto dark_in = [&](int x0, int y0, int x1, int y1) {
    int n = 0;
    for (int y = y0; y < y1; ++y) {
      for (int x = x0; x < x1; ++x) {
        const std::uint32_t p = d.At(x, y);
        n += ((p >> 16) & 0xff) < 80 && ((p >> 8) & 0xff) < 80 && (p & 0xff) < 80;
      }
    }
    return n;
  };
  EXPECT_GT(dark_in(0, 0, 800, f.top - 4), 200);
  EXPECT_GT(dark_in(0, f.top, f.left - 6, f.bottom), 200);
  EXPECT_GT(dark_in(f.left, f.bottom + 6, f.right, 640), 200);
  // The title is centred: its first and last dark columns as far from the edges, within a glyph.
  int first = -1, last = -1;
  for (int x = 0; x < 800; ++x) {
    if (dark_in(x, 0, x + 1, 36) > 0) {  // the title band (16 + 18 pixels)
      if (first < 0) first = x;
      last = x;
    }
  }
  ASSERT_GE(first, 0);
  EXPECT_NEAR(first, 799 - last, 12) << first << " .. " << last;
  EXPECT_NEAR(last - first + 1, TextWidth(chart.title, 2), 12);
}

TEST(ReportPlot, Log2AxisErrorBarsAndMarkers) {
  Chart c;
  c.title = "learning curve";
  c.x = {"cases per class", 1.0, 16.0, true};
  c.y = {"AUROC", 0.0, 1.0};
  Series s;
  s.label = "AUROC";
  s.x = {1, 2, 4, 8, 16};
  s.y = {0.6, 0.7, 0.8, 0.9, 0.95};
  s.y_low = {0.5, 0.6, 0.75, 0.85, 0.93};
  s.y_high = {0.7, 0.8, 0.85, 0.95, 0.97};
  s.markers = true;
  c.series.push_back(s);
  Frame f;
  const Image img = RenderChart(c, &f);
  // log2: 1, 2, 4, 8, 16 equally spaced.
  const int step = f.PixelX(2) - f.PixelX(1);
  EXPECT_GT(step, 50);
  for (double k : {4.0, 8.0, 16.0}) EXPECT_NEAR(f.PixelX(k) - f.PixelX(k / 2), step, 1);
  EXPECT_EQ(f.PixelX(16), f.right);
  const Rgb color = kPalette[0];
  // The error bar at k = 2 spans 0.6..0.8; its caps at both ends; markers at the points.
  EXPECT_EQ(img.At(f.PixelX(2), f.PixelY(0.62)), color);
  EXPECT_EQ(img.At(f.PixelX(2) + 4, f.PixelY(0.6)), color);
  EXPECT_EQ(img.At(f.PixelX(2) - 4, f.PixelY(0.8)), color);
  EXPECT_EQ(img.At(f.PixelX(8) + 2, f.PixelY(0.9) + 2), color);
  // Midway between points, the line: (sqrt(2 * 4) on the log axis, 0.75).
  EXPECT_EQ(img.At(f.PixelX(std::sqrt(8.0)), f.PixelY(0.75)), color);
}

TEST(ReportPlot, TicksAndBadInput) {
  EXPECT_EQ(TickText(0.2), "0.2");
  EXPECT_EQ(TickText(0.25), "0.25");
  EXPECT_EQ(TickText(128), "128");
  EXPECT_EQ(TickText(0), "0");
  EXPECT_EQ(TickText(40), "40");
  EXPECT_EQ(TickText(1000), "1000");
  EXPECT_EQ(TickText(42.5), "42.5");
  EXPECT_EQ(TickText(-0.3), "-0.3");
  EXPECT_EQ(TickText(2e6), "2e+06");
  EXPECT_EQ(TickText(1.0 / 3.0), "0.333333333");  // within 1e-9
  Chart c = RocLike();
  c.x.max = 0.0;
  EXPECT_THROW(RenderChart(c), Error);
  c = RocLike();
  c.x = {"k", 0.0, 8.0, true};
  EXPECT_THROW(RenderChart(c), Error);
  c = RocLike();
  c.series[0].y.pop_back();
  EXPECT_THROW(RenderChart(c), Error);
  c = RocLike();
  c.width = 100;
  EXPECT_THROW(RenderChart(c), Error);
  c = RocLike();
  c.x.ticks = {0, 1};
  c.x.tick_labels = {"zero"};
  EXPECT_THROW(RenderChart(c), Error);
}

}  // namespace
}  // namespace curia::report
