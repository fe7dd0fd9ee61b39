// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Softmax over the rows of a float32 matrix, in place: the CPU attention's score rows
// (src/backbone.cpp). No LibTorch in this header.
//
//   SoftmaxRows(scores, rows, cols, row_stride);   // each row: exp(x - max) / sum
//
// Why our own: LibTorch 1.13's CPU softmax runs its AVX2 kernel even where AVX-512 is present and
// walks each row three times through its generic reduction code; on the 2-core Xeon of
// docs/performance.md it took 1.2-1.9 ms for one head's 1025 x 1025 scores, this 0.8 ms (memory-bound
// there), 7.5 % of the whole Curia-B forward pass. The exponential is glibc's vector libm (libmvec),
// not ours.
#include <cstdint>

namespace curia::nn {

enum class SoftmaxKernel {
  kBest,      // the widest this CPU and build support
  kAvx512,    // AVX-512F with libmvec's 16-lane expf
  kAvx2,      // AVX2 + FMA with libmvec's 8-lane expf
  kPortable,  // plain C++, std::exp
};

// Whether this CPU and build can run `kernel` (kBest and kPortable: always).
bool SoftmaxKernelAvailable(SoftmaxKernel kernel);

// The kernel kBest picks here.
SoftmaxKernel BestSoftmaxKernel();

// Each of `rows` rows of `cols` floats (row r starts at data + r * stride) becomes its softmax.
// NaN or +inf in a row makes that row NaN, as LibTorch's softmax does. Throws kInvalidArgument for
// an unavailable kernel.
void SoftmaxRows(float* data, int64_t rows, int64_t cols, int64_t stride, SoftmaxKernel kernel = SoftmaxKernel::kBest);

namespace internal {
// x[j] = exp(x[j] - max) for j < n (libmvec's 16-lane expf, the tail masked); returns their sum.
// Only where SoftmaxKernelAvailable(SoftmaxKernel::kAvx512); shared by SoftmaxRows and the fused
// attention (attention.h).
float Avx512ExpAndSum(float* x, int64_t n, float max);
}  // namespace internal

}  // namespace curia::nn
