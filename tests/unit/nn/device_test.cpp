// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/nn/device.h"

#include <gtest/gtest.h>

#include "curia/config/error.h"
#include "test_support.h"

namespace curia::nn {
namespace {

TEST(Device, Parses) {
  EXPECT_FALSE(ParseDevice("cpu").is_cuda());
  EXPECT_EQ(ParseDevice("cuda").ToString(), "cuda:0");
  EXPECT_EQ(ParseDevice("cuda:3").index, 3);
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "CUDA:0", "cuda:12345"}) {
    EXPECT_EQ(test::ErrorMessage([&] { ParseDevice(bad); }),
              std::string("unknown device '") + bad + "' (expected cpu, cuda or cuda:N)");
  }
  EXPECT_EQ(ParsePrecision("bfloat16"), Precision::kBf16);
  EXPECT_EQ(std::string(PrecisionName(ParsePrecision("fp16"))), "fp16");
  EXPECT_THROW(ParsePrecision("int8"), Error);
}

TEST(Device, MissingCudaIsAClearError) {
  const int n = CudaDeviceCount();
  const std::string msg =  // one past the last device
      test::ErrorMessage([&] { CheckDeviceAvailable(Device{Device::Kind::kCuda, n}); }, ErrorCode::kUnavailable);
  if (!CudaAvailable()) {
    EXPECT_NE(msg.find("was built without CUDA or no CUDA driver was found; use --device cpu"), std::string::npos) << msg;
  } else {
    EXPECT_NE(msg.find("does not exist: this machine has"), std::string::npos) << msg;
  }
  EXPECT_NO_THROW(CheckDeviceAvailable(Device{}));
}

TEST(Device, Threads) {
  SetIntraOpThreads(1);
  EXPECT_EQ(IntraOpThreads(), 1);
  SetIntraOpThreads(2);
  EXPECT_EQ(IntraOpThreads(), 2);
  SetIntraOpThreads(0);  // keeps the current value
  EXPECT_EQ(IntraOpThreads(), 2);
}

// The install script selects OpenBLAS; LibTorch on the reference BLAS is ~30x slower.
TEST(Blas, LibTorchIsNotOnTheReferenceBlas) {
  const BlasInfo info = WarnIfReferenceBlas();
  EXPECT_FALSE(info.reference) << "LibTorch uses " << info.path << ": run packaging/install-deps.sh";
  EXPECT_FALSE(info.library.empty());
}

}  // namespace
}  // namespace curia::nn
