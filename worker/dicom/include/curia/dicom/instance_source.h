// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Where DICOM instances come from: files for the command-line tool, Orthanc for the plugin, memory
// for tests. The loader asks for a file path first (DCMTK then reads pixel data lazily, frame by
// frame) and for the bytes otherwise.
//
//   FileSource files;                                   // ids are paths
//   ScanResult scan = LoadSeries(files, FindDicomFiles("/data/study"), {});
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace curia::dicom {

class IInstanceSource {
 public:
  virtual ~IInstanceSource() = default;
  // A file DCMTK may read itself, when the instance is one.
  virtual std::optional<std::string> FilePath(const std::string& id) const { (void)id; return std::nullopt; }
  // The instance: a DICOM file (with or without its 128-byte preamble and meta header).
  // Throws curia::Error(kNotFound) when it is gone. Thread-safe.
  virtual std::string Bytes(const std::string& id) const = 0;
  // How messages name the instance (a path, an Orthanc ID): never patient data.
  virtual std::string Name(const std::string& id) const { return id; }
};

class FileSource : public IInstanceSource {
 public:
  std::optional<std::string> FilePath(const std::string& id) const override { return id; }
  std::string Bytes(const std::string& id) const override;
};

class MemorySource : public IInstanceSource {
 public:
  void Add(const std::string& id, std::string bytes) { instances_[id] = std::move(bytes); }
  std::string Bytes(const std::string& id) const override;

 private:
  std::map<std::string, std::string> instances_;
};

// Every file under `dir` (recursively, sorted) that looks like DICOM: the "DICM" marker at offset
// 128, or a .dcm name (files without meta header exist). Throws curia::Error(kNotFound) when `dir`
// is not a readable folder.
std::vector<std::string> FindDicomFiles(const std::string& dir);

}  // namespace curia::dicom
