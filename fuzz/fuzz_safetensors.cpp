// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: safetensors files (model::SafetensorsFile::Open, which memory-maps the file, so
// the input goes through a file in $TMPDIR or /tmp), then every tensor converted to float.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "curia/config/error.h"
#include "curia/model/safetensors.h"

namespace {
std::string InputPath() {
  const char* tmp = std::getenv("TMPDIR");
  return std::string(tmp && *tmp ? tmp : "/tmp") + "/curia-fuzz-" + std::to_string(::getpid()) + ".safetensors";
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = InputPath();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  if (size && std::fwrite(data, 1, size, f) != size) {
    std::fclose(f);
    return 0;
  }
  std::fclose(f);
  try {
    auto file = curia::model::SafetensorsFile::Open(path);
    for (const curia::model::TensorView& t : file->tensors()) {
      if (t.nbytes > size) __builtin_trap();  // a view must lie inside the file
      std::vector<float> values = curia::model::ToFloat32(t);
      if (static_cast<int64_t>(values.size()) != t.NumElements()) __builtin_trap();
      if (file->Find(t.name) != &t) __builtin_trap();
    }
  } catch (const curia::Error&) {
    // a specific refusal: fine
  }
  std::remove(path.c_str());
  return 0;
}
