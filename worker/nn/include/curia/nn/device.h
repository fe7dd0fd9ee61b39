// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Devices, precisions and the LibTorch runtime (threads, BLAS). This header is LibTorch-free, so
// configuration and command-line code can use it without the cost of the ATen headers.
//
//   Device d = ParseDevice("cuda:0");  CheckDeviceAvailable(d);   // clear error if absent
//   SetIntraOpThreads(4);
//   WarnIfReferenceBlas();                                        // loud warning, once
#include <string>
#include <string_view>

namespace curia::nn {

struct Device {
  enum class Kind { kCpu, kCuda };
  Kind kind = Kind::kCpu;
  int index = 0;  // CUDA ordinal

  bool is_cuda() const { return kind == Kind::kCuda; }
  std::string ToString() const;  // "cpu", "cuda:0"
};

// "cpu", "cuda" (= cuda:0) or "cuda:N". Throws curia::Error(kInvalidArgument) otherwise.
Device ParseDevice(std::string_view text);

enum class Precision { kFp32, kBf16, kFp16 };
// "fp32" | "float32", "bf16" | "bfloat16", "fp16" | "float16".
Precision ParsePrecision(std::string_view text);
const char* PrecisionName(Precision precision);

// Throws curia::Error(kUnavailable) when the LibTorch build has no CUDA, or the ordinal does not
// exist on this machine; the message says which devices there are.
void CheckDeviceAvailable(const Device& device);
bool CudaAvailable();
int CudaDeviceCount();

// Intra-op threads of LibTorch (and, through OpenMP, of OpenBLAS). n <= 0 keeps the current value.
void SetIntraOpThreads(int n);
int IntraOpThreads();

std::string TorchVersion();  // "1.13.1"

struct BlasInfo {
  std::string library;     // "OpenBLAS", "reference BLAS", "MKL", "unknown"
  std::string path;        // resolved path of the loaded BLAS library, if one is mapped
  bool reference = false;  // the slow netlib reference implementation
};
// Looks at the libraries mapped into this process.
BlasInfo DetectBlas();
// Logs a loud warning (once per process) when LibTorch runs on the reference BLAS; returns the info.
BlasInfo WarnIfReferenceBlas();

}  // namespace curia::nn
