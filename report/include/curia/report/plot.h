// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Line charts as PNG-ready images: the ROC curves and reliability diagram of `curia evaluate`'s
// report and the learning curves of `curia fewshot`. Axes with ticks and tick labels, axis labels,
// a title, a legend, optional y = x diagonal, markers and vertical error bars; linear or log2 x axis.
//
// Why our own: Debian 12's -dev packages offer no C++ plotting library that fits a command-line
// tool (PLplot and MathGL bring their own device drivers and fonts for a few line charts; gnuplot is a
// separate program whose output would differ by version). A raster of lines, squares and a bitmap
// font is a few hundred lines that the tests decode back pixel by pixel.
//
//   Chart c;
//   c.title = "ROC, AUROC 0.912";
//   c.x = {"False positive rate (1 - specificity)", 0, 1};
//   c.y = {"True positive rate (sensitivity)", 0, 1};
//   c.diagonal = true;
//   c.series.push_back({"lesion", fpr, tpr});
//   Frame frame;
//   Image img = RenderChart(c, &frame);   // frame.PixelX(0.5): where x = 0.5 landed
//   WritePng(img, "roc.png");
//
// Units: data units on the axes, pixels in the image. Thread safety: pure functions.
#include <string>
#include <utility>
#include <vector>

#include "curia/report/image.h"

namespace curia::report {

// Distinct colours for series (colour-blind safe: Okabe and Ito's palette), used in order.
inline constexpr Rgb kPalette[] = {{0, 114, 178}, {213, 94, 0}, {0, 158, 115}, {204, 121, 167},
                                   {230, 159, 0}, {86, 180, 233}, {0, 0, 0}, {240, 228, 66}};
inline constexpr Rgb kDiagonalColor{150, 150, 150};
inline constexpr Rgb kGridColor{232, 232, 232};

struct Axis {
  Axis() = default;
  Axis(std::string label_text, double lo, double hi, bool log2_scale = false)
      : label(std::move(label_text)), min(lo), max(hi), log2(log2_scale) {}

  std::string label;
  double min = 0.0;
  double max = 1.0;
  bool log2 = false;  // positions by log2(value); min and max must then be > 0
  // Tick positions (empty: about 6 evenly spaced "nice" values for a linear axis, the powers of two
  // for a log2 one) and their labels (empty: the values printed with up to 3 significant digits).
  std::vector<double> ticks;
  std::vector<std::string> tick_labels;
};

struct Series {
  std::string label;  // in the legend ("" = not listed)
  std::vector<double> x, y;
  // Vertical error bars from y_low[i] to y_high[i] (both empty, or as many as x).
  std::vector<double> y_low, y_high;
  bool line = true;      // join the points in order
  bool markers = false;  // a filled square at each point
  int color_index = -1;  // into kPalette; -1: the series' position
};

struct Chart {
  std::string title;
  Axis x, y;
  std::vector<Series> series;
  bool diagonal = false;  // the line y = x (chance for ROC curves, perfect calibration)
  int width = 800;
  int height = 640;
};

// Where the data area landed: pixel positions of data values (clamped to the axes' ranges).
struct Frame {
  int left = 0, top = 0, right = 0, bottom = 0;  // the data area's corners (inclusive)
  Axis x, y;
  int PixelX(double v) const;
  int PixelY(double v) const;
};

// Throws curia::Error (kInvalidArgument) on an empty or reversed axis range, a log2 axis with a
// range not above 0, series whose x, y (and error bars) differ in length, or a size too small for
// the margins (below 240 x 200).
Image RenderChart(const Chart& chart, Frame* frame = nullptr);

// The colour a series is drawn in.
Rgb SeriesColor(const Series& s, std::size_t position);

// "0.5", "0.25", "40", "128", "2e+06": the shortest %g form (1 to 12 significant digits) that reads
// back within 1e-9 relative, with an exponent only below 1e-4 or from 1e6 on.
std::string TickText(double v);

}  // namespace curia::report
