// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A temporary folder (mkdtemp under $TMPDIR) removed with its files when it goes out of scope.
#include <string>

namespace curia::cli {

class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace curia::cli
