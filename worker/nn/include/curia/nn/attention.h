// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// One head of softmax(q k^T * scale) v on the CPU in float32, fused: query rows go through in
// blocks of twelve whose score rows stay in L1/L2 (no T x T matrix written and read back). The CPU
// attention of LibTorch 1.13 builds (src/backbone.cpp) runs it for each (image, head) pair on its
// thread; LibTorch 2.x builds take LibTorch's own fused kernel. No LibTorch in this header.
//
//   AttentionWorkspace ws;                          // one per thread, reused
//   if (FusedAttentionAvailable(64)) AttentionHead(q, k, v, 2304, out, 768, 1025, 64, 0.125f, ws);
//
// Why our own: LibTorch 1.13 has no fused CPU attention; through BLAS each head writes and reads
// back a 1025 x 1025 score matrix, and its two 64-wide products ran at ~0.5 of the large-product
// rate on the Ice Lake Xeon of docs/performance.md.
#include <cstdint>
#include <vector>

namespace curia::nn {

// Scratch memory of AttentionHead (packed keys and values, the score rows); grows as needed.
struct AttentionWorkspace {
  std::vector<float> keys, values, queries, scores;
};

// Whether this CPU and build run the fused kernel for heads of `head_dim` (AVX-512F with libmvec,
// head_dim a multiple of 16 up to 64).
bool FusedAttentionAvailable(int64_t head_dim);

// out[i] = sum_j softmax_j(scale * q[i] . k[j]) v[j] for i, j < tokens; row i of q, k and v starts at
// base + i * in_stride, of out at out + i * out_stride (head_dim floats each). Throws
// kInvalidArgument where FusedAttentionAvailable(head_dim) is false or a size is out of range.
void AttentionHead(const float* q, const float* k, const float* v, int64_t in_stride, float* out, int64_t out_stride,
                   int64_t tokens, int64_t head_dim, float scale, AttentionWorkspace& workspace);

}  // namespace curia::nn
