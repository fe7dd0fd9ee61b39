// SPDX-License-Identifier: GPL-3.0-or-later
#include "raster.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace curia::region::internal {

int64_t FillEvenOdd(const std::vector<std::vector<Point2>>& polygons, int64_t rows, int64_t cols, uint8_t* mask) {
  double y_min = std::numeric_limits<double>::infinity(), y_max = -y_min;
  for (const std::vector<Point2>& polygon : polygons) {
    for (const Point2& p : polygon) {
      y_min = std::min(y_min, p.y);
      y_max = std::max(y_max, p.y);
    }
  }
  if (!(y_min <= y_max)) return 0;
  // Clamped as doubles first: a contour far off the image must not overflow the integer casts.
  auto clamp = [](double v, int64_t hi) { return std::min(std::max(v, -1.0), static_cast<double>(hi) + 1.0); };
  const int64_t first = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(clamp(y_min, rows))));
  const int64_t last = std::min<int64_t>(rows - 1, static_cast<int64_t>(std::floor(clamp(y_max, rows))));
  int64_t count = 0;
  std::vector<double> crossings;
  for (int64_t y = first; y <= last; ++y) {
    const double yc = static_cast<double>(y);
    crossings.clear();
    for (const std::vector<Point2>& polygon : polygons) {
      const size_t n = polygon.size();
      for (size_t i = 0; i < n; ++i) {
        const Point2& a = polygon[i];
        const Point2& b = polygon[(i + 1) % n];
        // Half-open in y: an edge counts for rows with a.y <= y < b.y (or the other way round), so
        // a vertex on the scan line is counted once and horizontal edges never.
        if ((a.y <= yc) != (b.y <= yc)) crossings.push_back(a.x + (yc - a.y) * (b.x - a.x) / (b.y - a.y));
      }
    }
    std::sort(crossings.begin(), crossings.end());
    uint8_t* row = mask + y * cols;
    for (size_t i = 0; i + 1 < crossings.size(); i += 2) {
      // Centres x with left <= x < right.
      const int64_t x0 = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(clamp(crossings[i], cols))));
      const int64_t x1 = std::min<int64_t>(cols, static_cast<int64_t>(std::ceil(clamp(crossings[i + 1], cols))));
      for (int64_t x = x0; x < x1; ++x) {
        count += row[x] == 0;
        row[x] = 1;
      }
    }
  }
  return count;
}

}  // namespace curia::region::internal
