// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The lines of the curia::Error that `f` throws (empty when it throws none): configuration errors
// list one problem per line. For the config tests, which link nothing but config/.
#include <functional>
#include <string>
#include <vector>

#include "curia/config/error.h"

namespace curia::config {

inline std::vector<std::string> ErrorLines(const std::function<void()>& f) {
  std::vector<std::string> lines;
  try {
    f();
  } catch (const Error& e) {
    const std::string text = e.what();
    size_t start = 0;
    while (true) {
      const size_t end = text.find('\n', start);
      lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  return lines;
}

}  // namespace curia::config
