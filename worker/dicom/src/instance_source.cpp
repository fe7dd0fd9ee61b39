// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/dicom/instance_source.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "curia/config/error.h"

namespace curia::dicom {

std::string FileSource::Bytes(const std::string& id) const {
  std::ifstream in(id, std::ios::binary);
  if (!in) throw Error(ErrorCode::kNotFound, id + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string MemorySource::Bytes(const std::string& id) const {
  auto it = instances_.find(id);
  if (it == instances_.end()) throw Error(ErrorCode::kNotFound, "instance " + id + " is not in memory");
  return it->second;
}

std::vector<std::string> FindDicomFiles(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw Error(ErrorCode::kNotFound, dir + ": not a folder (or not readable)");
  }
  std::vector<std::string> files;
  for (auto it = std::filesystem::recursive_directory_iterator(
           dir, std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string path = it->path().string();
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    bool dicom = ext == ".dcm";
    if (!dicom) {
      std::ifstream in(path, std::ios::binary);
      char magic[132] = {};
      dicom = in.read(magic, 132) && std::string(magic + 128, 4) == "DICM";
    }
    if (dicom) files.push_back(path);
  }
  if (ec) throw Error(ErrorCode::kNotFound, dir + ": cannot list (" + ec.message() + ")");
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace curia::dicom
