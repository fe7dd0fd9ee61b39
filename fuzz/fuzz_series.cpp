// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: DICOM series loading from buffers (dicom::LoadSeries over a MemorySource), then
// Verify() and ReadSlice() of every volume small enough to decode quickly.
//
// Input: one or more DICOM instances separated by kSeparator (a single file is one instance), so
// the fuzzer can build multi-instance series from the seeds (fuzz/run.sh joins a series' first
// instances with the separator).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "curia/config/error.h"
#include "curia/dicom/series.h"

namespace {
constexpr std::string_view kSeparator = "\n--curia-fuzz-instance--\n";
constexpr size_t kMaxInstances = 8;
constexpr int64_t kMaxDecodedValues = 1 << 18;  // larger volumes: headers only
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  curia::dicom::QuietDcmtkLogging();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (curia::dicom::QuietDcmtkLogging(), true);  // also for the replay runner
  (void)quiet;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  curia::dicom::MemorySource source;
  std::vector<std::string> ids;
  size_t start = 0;
  while (ids.size() < kMaxInstances) {
    const size_t end = input.find(kSeparator, start);
    const std::string id = "instance-" + std::to_string(ids.size());
    source.Add(id, std::string(input.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start)));
    ids.push_back(id);
    if (end == std::string_view::npos) break;
    start = end + kSeparator.size();
  }
  try {
    curia::dicom::ScanResult scan = curia::dicom::LoadSeries(source, ids, {});
    for (const curia::dicom::SeriesResult& s : scan.series) {
      if (!s.volume) continue;
      const curia::worker::VolumeInfo info = s.volume->Info();
      if (info.rows <= 0 || info.cols <= 0 || info.slices <= 0) __builtin_trap();  // a volume must have pixels
      if (info.rows * info.cols > kMaxDecodedValues / info.slices) continue;
      try {
        s.volume->Verify();
      } catch (const curia::Error&) {
        // truncated, corrupt or blank pixel data: a refusal, not a finding
      }
      std::vector<float> slice(static_cast<size_t>(info.rows * info.cols));
      try {
        s.volume->ReadSlice(info.slices - 1, slice.data());
      } catch (const curia::Error&) {
      }
    }
  } catch (const curia::Error&) {
    // a specific refusal: fine
  }
  return 0;
}
