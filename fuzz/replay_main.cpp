// SPDX-License-Identifier: GPL-3.0-or-later
// Replays inputs through a fuzz target's LLVMFuzzerTestOneInput without libFuzzer, so that the
// crash inputs kept in fuzz/regressions/<target>/ run as ordinary ctest tests with any compiler.
//
//   fuzz_replay_<target> FILE_OR_FOLDER...     every regular file, folders recursively
//
// An input that runs longer than kSlowInputSeconds fails the replay, as libFuzzer's -timeout
// (fuzz/run.sh: 20 s) would: timeout-* inputs are regressions too. The fixed code takes
// milliseconds on them, so the limit is far from anything a loaded machine could reach.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));

namespace {
constexpr double kSlowInputSeconds = 10.0;
}

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path p(argv[i]);
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(p)) {
        if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
      }
    } else {
      files.push_back(p);
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", f.c_str());
      return 1;
    }
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::printf("%s (%zu bytes)\n", f.c_str(), bytes.size());
    std::fflush(stdout);
    const auto start = std::chrono::steady_clock::now();
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (seconds > kSlowInputSeconds) {
      std::fprintf(stderr, "%s took %.1f s (limit %.0f s): a hang the fuzzer would report as a timeout\n", f.c_str(),
                   seconds, kSlowInputSeconds);
      return 1;
    }
  }
  std::printf("%zu inputs replayed without a crash or a hang\n", files.size());
  return 0;
}
