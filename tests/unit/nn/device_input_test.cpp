// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/nn/device_input.h"

#include <ATen/ATen.h>
#include <c10/core/StreamGuard.h>
#include <gtest/gtest.h>

#include <vector>

#include "curia/nn/device.h"

namespace curia::nn {
namespace {

std::vector<float> Ramp(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) * 0.5f - 7.0f;
  return v;
}

// On the CPU a batch is used where it lies: no stream, no staging copy.
TEST(DeviceInput, CpuWrapsTheCallersBuffer) {
  DeviceInput input(Device{}, {1, 4, 3});
  EXPECT_FALSE(input.pinned());
  EXPECT_FALSE(input.stream().has_value());
  const std::vector<float> pixels = Ramp(2 * 12);
  const at::Tensor x = input.Upload(pixels.data(), 2);
  EXPECT_EQ(x.sizes(), (at::IntArrayRef{2, 1, 4, 3}));
  EXPECT_EQ(x.scalar_type(), at::kFloat);
  EXPECT_TRUE(x.device().is_cpu());
  EXPECT_EQ(x.data_ptr<float>(), pixels.data());
}

// The device path (pinned staging reused across batches of different sizes, asynchronous copy on
// the worker's stream) where this LibTorch has a GPU; `bench/gpu_check.sh` times it.
TEST(DeviceInput, CudaCopiesEachBatchExactly) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device in this LibTorch";
  DeviceInput input(Device{Device::Kind::kCuda, 0}, {1, 8, 8});
  ASSERT_TRUE(input.pinned());
  const c10::OptionalStreamGuard on_stream(input.stream());
  for (int64_t n : {3, 1, 5, 5}) {
    std::vector<float> pixels = Ramp(static_cast<size_t>(n) * 64);
    pixels[0] = static_cast<float>(n);
    const at::Tensor x = input.Upload(pixels.data(), n);
    EXPECT_TRUE(x.device().is_cuda());
    const at::Tensor back = x.to(at::kCPU);
    ASSERT_EQ(back.sizes(), (at::IntArrayRef{n, 1, 8, 8}));
    EXPECT_TRUE(at::equal(back, at::from_blob(pixels.data(), {n, 1, 8, 8}, at::kFloat))) << "batch of " << n;
  }
}

}  // namespace
}  // namespace curia::nn
