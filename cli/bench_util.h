// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// What the bench commands share for their figures: fixed-point text, the median and spread, the
// --json file.
//
//   std::cout << Fixed(Median(seconds), 3);   // "0.123"
//   WriteJsonFile(p.Get("--json"), figures);
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "curia/config/error.h"
#include "curia/config/json.h"

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

// "low-high" of a non-empty set of per-round figures, 3 digits: the spread printed beside a median.
inline std::string Spread(const std::vector<double>& v) {
  const auto [low, high] = std::minmax_element(v.begin(), v.end());
  return Fixed(*low, 3) + "-" + Fixed(*high, 3);
}

// A command's figures as an indented JSON file (--json); throws curia::Error when it cannot be written.
inline void WriteJsonFile(const std::string& path, const config::Json& figures) {
  std::ofstream out(path);
  out << config::Dump(figures) << "\n";
  if (!out) throw Error(ErrorCode::kInvalidArgument, path + ": write failed");
}

}  // namespace curia::cli
