// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// DICOM DS values for the phantom's writers (series.cpp, regions.cpp).
#include <cstdio>
#include <string>

namespace curia::phantom {

// A DS value: fixed notation, at most 6 decimals, trailing zeros dropped ("-127.75", "5", "0.5");
// at most 16 characters for |v| < 1e8.
inline std::string Ds(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  std::string s = buf;
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  if (s == "-0") s = "0";
  return s;
}

}  // namespace curia::phantom
