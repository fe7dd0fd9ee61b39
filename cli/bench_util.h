// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// What the bench commands share for their figures: fixed-point text and the median.
//
//   std::cout << Fixed(Median(seconds), 3);   // "0.123"
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace curia::cli {

// `v` with `digits` digits after the point.
inline std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// The median of a non-empty set (the mean of the middle two for an even count).
inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace curia::cli
