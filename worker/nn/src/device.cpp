// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/nn/device.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <mutex>

#include "curia/config/error.h"
#include "curia/config/log.h"

namespace curia::nn {

std::string Device::ToString() const {
  return is_cuda() ? "cuda:" + std::to_string(index) : "cpu";
}

Device ParseDevice(std::string_view text) {
  Device d;
  if (text == "cpu") return d;
  d.kind = Device::Kind::kCuda;
  if (text == "cuda") return d;
  const std::string_view ordinal = text.substr(0, 5) == "cuda:" ? text.substr(5) : std::string_view();
  bool ok = !ordinal.empty() && ordinal.size() <= 3;
  for (char c : ordinal) ok = ok && c >= '0' && c <= '9';
  if (!ok) {
    throw Error(ErrorCode::kInvalidArgument,
                "unknown device '" + std::string(text) + "' (expected cpu, cuda or cuda:N)");
  }
  d.index = std::stoi(std::string(ordinal));
  return d;
}

Precision ParsePrecision(std::string_view text) {
  if (text == "fp32" || text == "float32") return Precision::kFp32;
  if (text == "bf16" || text == "bfloat16") return Precision::kBf16;
  if (text == "fp16" || text == "float16") return Precision::kFp16;
  throw Error(ErrorCode::kInvalidArgument,
              "unknown precision '" + std::string(text) + "' (expected fp32, bf16 or fp16)");
}

const char* PrecisionName(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kBf16: return "bf16";
    case Precision::kFp16: return "fp16";
  }
  return "?";
}

bool CudaAvailable() { return at::globalContext().hasCUDA(); }

int CudaDeviceCount() { return CudaAvailable() ? at::detail::getCUDAHooks().getNumGPUs() : 0; }

void CheckDeviceAvailable(const Device& d) {
  if (!d.is_cuda()) return;
  if (!CudaAvailable()) {
    throw Error(ErrorCode::kUnavailable,
                "device " + d.ToString() + " requested, but this LibTorch (" + TorchVersion() +
                    ") was built without CUDA or no CUDA driver was found; use --device cpu");
  }
  const int n = CudaDeviceCount();
  if (d.index >= n) {
    throw Error(ErrorCode::kUnavailable, "device " + d.ToString() + " does not exist: this machine has " +
                                             std::to_string(n) + " CUDA device(s) (cuda:0 .. cuda:" +
                                             std::to_string(n - 1) + ")");
  }
}

void SetIntraOpThreads(int n) {
  if (n > 0) at::set_num_threads(n);
}

int IntraOpThreads() { return at::get_num_threads(); }

std::string TorchVersion() { return TORCH_VERSION; }

BlasInfo DetectBlas() {
  BlasInfo info;
  info.library = "unknown (none mapped: LibTorch may carry its own, e.g. MKL)";
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    const bool blas_like = path.find("blas") != std::string::npos || path.find("libmkl") != std::string::npos;
    if (!blas_like) continue;
    char resolved[PATH_MAX];
    const std::string real = ::realpath(path.c_str(), resolved) ? std::string(resolved) : path;
    if (real.find("openblas") != std::string::npos) {
      info = {"OpenBLAS", real, false};
      break;  // OpenBLAS wins even if the generic libblas is also mapped
    }
    if (real.find("libmkl") != std::string::npos) {
      info = {"MKL", real, false};
      break;
    }
    if (real.find("blis") != std::string::npos) {
      info = {"BLIS", real, false};
    } else if (real.find("atlas") != std::string::npos) {
      info = {"ATLAS", real, false};
    } else if (real.find("/blas/libblas.so") != std::string::npos && info.library.rfind("unknown", 0) == 0) {
      info = {"reference BLAS", real, true};
    }
  }
  return info;
}

BlasInfo WarnIfReferenceBlas() {
  static std::once_flag once;
  BlasInfo info = DetectBlas();
  if (info.reference) {
    std::call_once(once, [&] {
      log::Warning("model",
                   "*** LibTorch is running on the REFERENCE BLAS (" + info.path +
                       "): the backbone will be about 30x slower. Install OpenBLAS: "
                       "apt-get install libopenblas0-openmp (packaging/install-deps.sh does it) ***");
    });
  }
  return info;
}

}  // namespace curia::nn
