// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Helpers shared by the tests: where the golden files are, element-wise comparison with a report
// of the worst element, temporary folders, and running the `curia` tool.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "curia/config/error.h"
#include "curia/model/safetensors.h"

namespace curia::test {

// ../shared/golden/<relative> (the folder CMake found).
std::string GoldenPath(const std::string& relative);
// tests/<relative> in the source tree (files this project generates, with their generators).
std::string TestDataPath(const std::string& relative);

// |actual - expected| <= atol element-wise; on failure names the worst element and its index.
::testing::AssertionResult AllClose(const std::vector<float>& actual, const std::vector<float>& expected,
                                    double atol);
::testing::AssertionResult AllClose(const std::vector<float>& actual, const model::TensorView& expected,
                                    double atol);

// The message of the curia::Error that `f` throws (expecting `code`), or "no error".
std::string ErrorMessage(const std::function<void()>& f, ErrorCode code = ErrorCode::kInvalidArgument);

// A fresh folder under $TMPDIR, removed (recursively) with the object.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Runs `curia <args>` (the built tool) and captures its exit status and output.
struct ToolResult {
  int status = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// `env`: extra NAME=VALUE settings for the tool's environment.
ToolResult RunTool(const std::vector<std::string>& args, const std::vector<std::string>& env = {});

// Runs a shell command; its exit status (-1 when it did not exit normally) and its stdout and
// stderr together.
struct ShellResult {
  int status = -1;
  std::string output;
};
ShellResult RunShell(const std::string& command);
// The lines of `text` that start with `prefix`, each ending with a newline.
std::string LinesStartingWith(const std::string& text, const std::string& prefix);

// Copies a file byte for byte; writes bytes to a file.
void CopyFile(const std::string& from, const std::string& to);
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& bytes);

// Every file of the DICOM corpora: ../shared/dicom and pydicom's test files (READMEs left out).
std::vector<std::string> DicomCorpusFiles();

// A 3-D mask-prompted head in a demo model folder (model::WriteDemoModel): a copy of its demo-3d
// head whose config.json says "curia_requires_mask" (published configs cannot say it; see
// model/head_config.h). Returns the head's folder name, "demo-mask3d". Idempotent.
std::string AddDemoMask3DHead(const std::string& model_dir);

}  // namespace curia::test
