// SPDX-License-Identifier: GPL-3.0-or-later
#include "test_support.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "curia/config/json.h"

namespace curia::test {

std::string GoldenPath(const std::string& relative) { return std::string(CURIA_SHARED_DIR) + "/golden/" + relative; }

std::string TestDataPath(const std::string& relative) { return std::string(CURIA_TEST_DATA_DIR) + "/" + relative; }

::testing::AssertionResult AllClose(const std::vector<float>& actual, const std::vector<float>& expected,
                                    double atol) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure() << "size " << actual.size() << " != expected " << expected.size();
  }
  double worst = 0.0;
  size_t worst_i = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(actual[i]) - static_cast<double>(expected[i]));
    if (!(diff <= worst) || std::isnan(diff)) {
      worst = std::isnan(diff) ? INFINITY : diff;
      worst_i = i;
    }
  }
  if (worst <= atol) return ::testing::AssertionSuccess() << "max abs diff " << worst;
  return ::testing::AssertionFailure() << "max abs diff " << worst << " > " << atol << " at element " << worst_i
                                       << " (actual " << actual[worst_i] << ", expected " << expected[worst_i] << ")";
}

::testing::AssertionResult AllClose(const std::vector<float>& actual, const model::TensorView& expected, double atol) {
  return AllClose(actual, model::ToFloat32(expected), atol);
}

std::string ErrorMessage(const std::function<void()>& f, ErrorCode code) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  return "no error";
}

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/curia-test-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

ToolResult RunTool(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  TempDir dir;
  const std::string out_path = dir.File("stdout"), err_path = dir.File("stderr");
  ToolResult r;
  pid_t pid = ::fork();
  if (pid == 0) {
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(err, 2);
    for (const std::string& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    std::string tool = CURIA_TOOL;
    argv.push_back(tool.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(tool.c_str(), argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  return r;
}

void CopyFile(const std::string& from, const std::string& to) { WriteFile(to, ReadFile(from)); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> DicomCorpusFiles() {
  std::vector<std::string> files;
  for (const std::string& dir : {std::string(CURIA_SHARED_DIR) + "/dicom", std::string("/usr/lib/python3/dist-packages/pydicom/data/test_files")}) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file() || e.path().extension() == ".md" || e.path().filename() == "README") continue;
      files.push_back(e.path().string());
    }
  }
  return files;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

ShellResult RunShell(const std::string& command) {
  ShellResult r;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  const int status = ::pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string LinesStartingWith(const std::string& text, const std::string& prefix) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    if (line.rfind(prefix, 0) == 0) out += line + "\n";
    start = end + 1;
  }
  return out;
}

std::string AddDemoMask3DHead(const std::string& model_dir) {
  const std::filesystem::path from = std::filesystem::path(model_dir) / "demo-3d", to = std::filesystem::path(model_dir) / "demo-mask3d";
  std::filesystem::create_directories(to);
  for (const auto& entry : std::filesystem::directory_iterator(from)) {
    if (entry.path().filename() != "config.json") CopyFile(entry.path().string(), (to / entry.path().filename()).string());
  }
  config::Json c = config::ParseJsonFile((from / "config.json").string());
  c["curia_requires_mask"] = true;
  WriteFile((to / "config.json").string(), config::Dump(c));
  return "demo-mask3d";
}

}  // namespace curia::test
