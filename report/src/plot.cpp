// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/report/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "curia/config/error.h"
#include "curia/report/font.h"

namespace curia::report {
namespace {

constexpr int kScale = 2;  // every text is drawn at twice the font's size
constexpr int kTextHeight = kGlyphHeight * kScale;
constexpr Rgb kTextColor{30, 30, 30};
constexpr Rgb kAxisColor{60, 60, 60};

double Position(const Axis& a, double v) {
  if (a.log2) return (std::log2(v) - std::log2(a.min)) / (std::log2(a.max) - std::log2(a.min));
  return (v - a.min) / (a.max - a.min);
}

void CheckAxis(const Axis& a, const char* which) {
  if (!std::isfinite(a.min) || !std::isfinite(a.max) || !(a.max > a.min)) {
    throw Error(ErrorCode::kInvalidArgument, std::string("chart: the ") + which + " axis range [" + TickText(a.min) +
                                                 ", " + TickText(a.max) + "] is empty or reversed");
  }
  if (a.log2 && !(a.min > 0.0)) {
    throw Error(ErrorCode::kInvalidArgument, std::string("chart: the ") + which + " axis is log2 but starts at " + TickText(a.min));
  }
  if (!a.tick_labels.empty() && a.tick_labels.size() != a.ticks.size()) {
    throw Error(ErrorCode::kInvalidArgument, std::string("chart: the ") + which + " axis has " +
                                                 std::to_string(a.ticks.size()) + " ticks but " +
                                                 std::to_string(a.tick_labels.size()) + " tick labels");
  }
}

// About six ticks at multiples of 1, 2 or 5 times a power of ten.
std::vector<double> NiceTicks(double lo, double hi) {
  const double raw = (hi - lo) / 5.0;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * power;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::vector<double> Log2Ticks(double lo, double hi) {
  std::vector<double> ticks;
  for (double t = std::exp2(std::ceil(std::log2(lo) - 1e-9)); t <= hi * (1 + 1e-9); t *= 2.0) ticks.push_back(t);
  return ticks;
}

void Ticks(const Axis& a, std::vector<double>* ticks, std::vector<std::string>* labels) {
  *ticks = !a.ticks.empty() ? a.ticks : (a.log2 ? Log2Ticks(a.min, a.max) : NiceTicks(a.min, a.max));
  labels->clear();
  for (std::size_t i = 0; i < ticks->size(); ++i) {
    labels->push_back(!a.tick_labels.empty() ? a.tick_labels[i] : TickText((*ticks)[i]));
  }
}

}  // namespace

std::string TickText(double v) {
  // Exponents only for very large or small magnitudes: 40 is "40", not "4e+01".
  const bool exponent_ok = v != 0.0 && (std::fabs(v) >= 1e6 || std::fabs(v) < 1e-4);
  char buf[32];
  for (int digits = 1; digits <= 12; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    const double back = std::strtod(buf, nullptr);
    if (std::fabs(back - v) <= 1e-9 * std::max(1.0, std::fabs(v)) && (exponent_ok || !std::strchr(buf, 'e'))) break;
  }
  return buf;
}

int Frame::PixelX(double v) const {
  const double p = std::clamp(Position(x, v), 0.0, 1.0);
  return left + static_cast<int>(std::lround(p * (right - left)));
}

int Frame::PixelY(double v) const {
  const double p = std::clamp(Position(y, v), 0.0, 1.0);
  return bottom - static_cast<int>(std::lround(p * (bottom - top)));
}

Rgb SeriesColor(const Series& s, std::size_t position) {
  constexpr std::size_t n = sizeof kPalette / sizeof kPalette[0];
  return kPalette[(s.color_index >= 0 ? static_cast<std::size_t>(s.color_index) : position) % n];
}

Image RenderChart(const Chart& chart, Frame* frame_out) {
  CheckAxis(chart.x, "x");
  CheckAxis(chart.y, "y");
  if (chart.width < 240 || chart.height < 200) {
    throw Error(ErrorCode::kInvalidArgument, "chart: " + std::to_string(chart.width) + " x " +
                                                 std::to_string(chart.height) + " is too small (240 x 200 at least)");
  }
  for (const Series& s : chart.series) {
    if (s.x.size() != s.y.size() || (!s.y_low.empty() && s.y_low.size() != s.x.size()) ||
        s.y_low.size() != s.y_high.size()) {
      throw Error(ErrorCode::kInvalidArgument, "chart: series '" + s.label + "' has " + std::to_string(s.x.size()) +
                                                   " x, " + std::to_string(s.y.size()) + " y and " +
                                                   std::to_string(s.y_low.size()) + "/" + std::to_string(s.y_high.size()) +
                                                   " error bar values");
    }
  }
  std::vector<double> xticks, yticks;
  std::vector<std::string> xlabels, ylabels;
  Ticks(chart.x, &xticks, &xlabels);
  Ticks(chart.y, &yticks, &ylabels);
  int widest_ytick = 0;
  for (const auto& l : ylabels) widest_ytick = std::max(widest_ytick, TextWidth(l, kScale));

  Image img(chart.width, chart.height);
  Frame f;
  f.x = chart.x;
  f.y = chart.y;
  f.left = 12 + kTextHeight + 12 + widest_ytick + 10;
  f.top = 16 + kTextHeight + 16;
  f.right = chart.width - 24;
  f.bottom = chart.height - (10 + kTextHeight + 12 + kTextHeight + 14);

  // Grid, frame, diagonal, then the series on top (a curve along an edge stays visible).
  for (double t : xticks) img.FillRect(f.PixelX(t), f.top, f.PixelX(t) + 1, f.bottom + 1, kGridColor);
  for (double t : yticks) img.FillRect(f.left, f.PixelY(t), f.right + 1, f.PixelY(t) + 1, kGridColor);
  img.DrawLine(f.left, f.bottom, f.right, f.bottom, kAxisColor, 1);
  img.DrawLine(f.left, f.top, f.left, f.bottom, kAxisColor, 1);
  img.DrawLine(f.right, f.top, f.right, f.bottom, kAxisColor, 1);
  img.DrawLine(f.left, f.top, f.right, f.top, kAxisColor, 1);
  if (chart.diagonal) {
    const double lo = std::max(chart.x.min, chart.y.min), hi = std::min(chart.x.max, chart.y.max);
    if (hi > lo) img.DrawLine(f.PixelX(lo), f.PixelY(lo), f.PixelX(hi), f.PixelY(hi), kDiagonalColor, 1);
  }
  for (std::size_t k = 0; k < chart.series.size(); ++k) {
    const Series& s = chart.series[k];
    const Rgb color = SeriesColor(s, k);
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      const int px = f.PixelX(s.x[i]), py = f.PixelY(s.y[i]);
      if (!s.y_low.empty()) {
        const int lo = f.PixelY(s.y_low[i]), hi = f.PixelY(s.y_high[i]);
        img.DrawLine(px, lo, px, hi, color, 1);
        img.DrawLine(px - 4, lo, px + 4, lo, color, 1);
        img.DrawLine(px - 4, hi, px + 4, hi, color, 1);
      }
      if (s.line && i > 0) img.DrawLine(f.PixelX(s.x[i - 1]), f.PixelY(s.y[i - 1]), px, py, color, 2);
      if (s.markers) img.FillRect(px - 3, py - 3, px + 4, py + 4, color);
    }
  }

  // Ticks and their labels.
  for (std::size_t i = 0; i < xticks.size(); ++i) {
    const int px = f.PixelX(xticks[i]);
    img.DrawLine(px, f.bottom, px, f.bottom + 5, kAxisColor, 1);
    const int w = TextWidth(xlabels[i], kScale);
    DrawText(img, std::clamp(px - w / 2, 0, chart.width - w), f.bottom + 10, xlabels[i], kTextColor, kScale);
  }
  for (std::size_t i = 0; i < yticks.size(); ++i) {
    const int py = f.PixelY(yticks[i]);
    img.DrawLine(f.left - 5, py, f.left, py, kAxisColor, 1);
    const int w = TextWidth(ylabels[i], kScale);
    DrawText(img, f.left - 10 - w, py - (7 * kScale) / 2, ylabels[i], kTextColor, kScale);
  }
  // Axis labels and title; a text too long for its place is drawn at the font's own size.
  auto scale_for = [](const std::string& t, int room) { return TextWidth(t, kScale) <= room ? kScale : 1; };
  {
    const int s = scale_for(chart.x.label, f.right - f.left);
    const int w = TextWidth(chart.x.label, s);
    DrawText(img, (f.left + f.right) / 2 - w / 2, chart.height - 10 - kTextHeight, chart.x.label, kTextColor, s);
  }
  {
    const int s = scale_for(chart.y.label, f.bottom - f.top);
    const int w = TextWidth(chart.y.label, s);
    DrawText(img, 12, (f.top + f.bottom) / 2 - w / 2, chart.y.label, kTextColor, s, true);
  }
  {
    const int s = scale_for(chart.title, chart.width - 20);
    const int w = TextWidth(chart.title, s);
    DrawText(img, std::max(10, chart.width / 2 - w / 2), 16, chart.title, kBlack, s);
  }
  // Legend: bottom right inside the data area, a swatch and the label per listed series.
  std::vector<std::size_t> listed;
  int widest = 0;
  for (std::size_t k = 0; k < chart.series.size(); ++k) {
    if (chart.series[k].label.empty()) continue;
    listed.push_back(k);
    widest = std::max(widest, TextWidth(chart.series[k].label, kScale));
  }
  if (!listed.empty()) {
    const int line_height = kTextHeight + 6;
    const int box_w = 8 + 24 + 8 + widest + 8, box_h = 6 + line_height * static_cast<int>(listed.size());
    const int x0 = f.right - 10 - box_w, y0 = f.bottom - 10 - box_h;
    img.FillRect(x0, y0, x0 + box_w, y0 + box_h, kWhite);
    img.DrawLine(x0, y0, x0 + box_w, y0, kAxisColor, 1);
    img.DrawLine(x0, y0 + box_h, x0 + box_w, y0 + box_h, kAxisColor, 1);
    img.DrawLine(x0, y0, x0, y0 + box_h, kAxisColor, 1);
    img.DrawLine(x0 + box_w, y0, x0 + box_w, y0 + box_h, kAxisColor, 1);
    for (std::size_t i = 0; i < listed.size(); ++i) {
      const Series& s = chart.series[listed[i]];
      const int y = y0 + 6 + static_cast<int>(i) * line_height;
      img.FillRect(x0 + 8, y + 7 * kScale / 2 - 2, x0 + 8 + 24, y + 7 * kScale / 2 + 2, SeriesColor(s, listed[i]));
      DrawText(img, x0 + 8 + 24 + 8, y, s.label, kTextColor, kScale);
    }
  }
  if (frame_out) *frame_out = f;
  return img;
}

}  // namespace curia::report
