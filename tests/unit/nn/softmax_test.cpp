// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/nn/softmax.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "curia/config/error.h"
#include "test_support.h"

namespace curia::nn {
namespace {

using test::ErrorMessage;

const SoftmaxKernel kKernels[] = {SoftmaxKernel::kAvx512, SoftmaxKernel::kAvx2, SoftmaxKernel::kPortable,
                                  SoftmaxKernel::kBest};

// Every kernel this CPU runs, against LibTorch's softmax computed in float64, for row lengths around
// each vector width (the masked tails) and the attention's 1025; the values between rows (stride >
// cols) stay as they were.
TEST(Softmax, EveryKernelAgreesWithLibTorchInDoublePrecision) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 6.0f);
  int kernels_run = 0;
  for (SoftmaxKernel kernel : kKernels) {
    if (!SoftmaxKernelAvailable(kernel)) continue;
    ++kernels_run;
    for (int64_t cols : {1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 100, 1025}) {
      const int64_t rows = 5, stride = cols + 3;
      std::vector<float> data(static_cast<size_t>(rows * stride));
      for (float& v : data) v = normal(rng);
      data[0] = 80.0f;  // a large score: exp without the maximum taken off would overflow
      const std::vector<float> before = data;
      SoftmaxRows(data.data(), rows, cols, stride, kernel);
      const at::Tensor in = at::from_blob(const_cast<float*>(before.data()), {rows, stride}).narrow(1, 0, cols);
      const at::Tensor expected = at::softmax(in.to(at::kDouble), 1);
      const at::Tensor got = at::from_blob(data.data(), {rows, stride}).narrow(1, 0, cols).to(at::kDouble);
      // Within float32 rounding of a sum of `cols` terms (values are at most 1), and no worse than
      // LibTorch's own float32 softmax by more than that.
      const double worst = (got - expected).abs().max().item<double>();
      const double torch_worst = (at::softmax(in, 1).to(at::kDouble) - expected).abs().max().item<double>();
      EXPECT_LT(worst, 4e-6) << "kernel " << static_cast<int>(kernel) << ", " << cols << " columns";
      EXPECT_LT(worst, torch_worst + 2e-6) << "kernel " << static_cast<int>(kernel) << ", " << cols << " columns";
      for (int64_t r = 0; r < rows; ++r) {
        EXPECT_NEAR(got[r].sum().item<double>(), 1.0, 1e-5);
        for (int64_t j = cols; j < stride; ++j) {
          EXPECT_EQ(data[static_cast<size_t>(r * stride + j)], before[static_cast<size_t>(r * stride + j)])
              << "padding changed, kernel " << static_cast<int>(kernel) << ", " << cols << " columns";
        }
      }
    }
  }
  EXPECT_GE(kernels_run, 2);  // portable and best at least
}

// NaN anywhere in a row (in the vector body or in the tail) or +inf makes the row NaN, as LibTorch
// does; the other rows are unaffected.
TEST(Softmax, NanAndInfinityPoisonTheirRowOnly) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (SoftmaxKernel kernel : kKernels) {
    if (!SoftmaxKernelAvailable(kernel)) continue;
    for (int64_t where : {0, 5, 16, 35}) {
      for (float bad : {nan, inf}) {
        const int64_t cols = 37;
        std::vector<float> data(2 * cols, 1.0f);
        data[static_cast<size_t>(where)] = bad;
        SoftmaxRows(data.data(), 2, cols, cols, kernel);
        for (int64_t j = 0; j < cols; ++j) {
          EXPECT_TRUE(std::isnan(data[static_cast<size_t>(j)]))
              << "kernel " << static_cast<int>(kernel) << ", " << bad << " at " << where << ", column " << j;
          EXPECT_FLOAT_EQ(data[static_cast<size_t>(cols + j)], 1.0f / cols);
        }
      }
    }
  }
}

TEST(Softmax, BadShapesAndUnavailableKernelsAreErrors) {
  std::vector<float> data(8, 0.0f);
  EXPECT_EQ(ErrorMessage([&] { SoftmaxRows(data.data(), 2, 4, 3); }, ErrorCode::kInvalidArgument),
            "softmax: 2 rows of 4 values with a row stride of 3");
  EXPECT_EQ(ErrorMessage([&] { SoftmaxRows(data.data(), 1, 0, 4); }, ErrorCode::kInvalidArgument),
            "softmax: 1 rows of 0 values with a row stride of 4");
  for (SoftmaxKernel kernel : {SoftmaxKernel::kAvx512, SoftmaxKernel::kAvx2}) {
    if (SoftmaxKernelAvailable(kernel)) continue;
    EXPECT_NE(ErrorMessage([&] { SoftmaxRows(data.data(), 1, 8, 8, kernel); }, ErrorCode::kInvalidArgument)
                  .find("kernel is not available on this CPU or build"),
              std::string::npos);
  }
  SoftmaxRows(data.data(), 0, 8, 8);  // no rows: nothing to do
  EXPECT_EQ(data, std::vector<float>(8, 0.0f));
}

}  // namespace
}  // namespace curia::nn
