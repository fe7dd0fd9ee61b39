// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/nn/attention.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "curia/config/error.h"
#include "curia/nn/softmax.h"

#if defined(CURIA_HAVE_LIBMVEC) && defined(__x86_64__) && defined(__GNUC__)
#define CURIA_ATTENTION_X86 1
// GCC 12's AVX-512 intrinsics fill "undefined" operands with a self-initialised variable, which
// -Wuninitialized reports in every caller.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace curia::nn {
namespace {

// Query rows per block: their scores take 2 x 12 vector accumulators (each panel of keys read from L2
// once per 12 rows), their output is summed in two halves of 6 rows x up to 4 accumulators.
constexpr int64_t kRows = 12;
constexpr int64_t kHalf = kRows / 2;
constexpr int64_t kPanel = 32;  // keys per packed panel: two AVX-512 vectors

int64_t RoundUp(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

#ifdef CURIA_ATTENTION_X86
// scores[r][j] = q[r] . k[j] for the block's kRows packed query rows (already scaled) and every key,
// and each row's maximum over the `tokens` real keys (row_max); keys come packed in panels of
// kPanel: panel p holds, for each d, keys p*kPanel .. +kPanel (zero past the last token).
__attribute__((target("avx512f"))) void BlockScores(const float* qp, const float* kp, int64_t tokens, int64_t hd,
                                                    float* scores, int64_t ld, float* row_max) {
  const int64_t panels = ld / kPanel;
  const __m512 lowest = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 m[kRows];
  for (int64_t r = 0; r < kRows; ++r) m[r] = lowest;
  for (int64_t p = 0; p < panels; ++p) {
    const float* panel = kp + p * hd * kPanel;
    __m512 a0[kRows], a1[kRows];
    for (int64_t r = 0; r < kRows; ++r) a0[r] = a1[r] = _mm512_setzero_ps();
    for (int64_t d = 0; d < hd; ++d) {
      const __m512 k0 = _mm512_loadu_ps(panel + d * kPanel), k1 = _mm512_loadu_ps(panel + d * kPanel + 16);
      for (int64_t r = 0; r < kRows; ++r) {
        const __m512 b = _mm512_set1_ps(qp[r * hd + d]);
        a0[r] = _mm512_fmadd_ps(b, k0, a0[r]);
        a1[r] = _mm512_fmadd_ps(b, k1, a1[r]);
      }
    }
    // Lanes of keys past the last token take no part in the maximum.
    const int64_t real = std::min<int64_t>(kPanel, tokens - p * kPanel);
    const __mmask16 mask0 = static_cast<__mmask16>(real >= 16 ? 0xFFFFu : (1u << real) - 1u);
    const __mmask16 mask1 = static_cast<__mmask16>(real >= 32 ? 0xFFFFu : real <= 16 ? 0u : (1u << (real - 16)) - 1u);
    for (int64_t r = 0; r < kRows; ++r) {
      _mm512_storeu_ps(scores + r * ld + p * kPanel, a0[r]);
      _mm512_storeu_ps(scores + r * ld + p * kPanel + 16, a1[r]);
      m[r] = _mm512_mask_max_ps(m[r], mask0, m[r], a0[r]);
      m[r] = _mm512_mask_max_ps(m[r], mask1, m[r], a1[r]);
    }
  }
  for (int64_t r = 0; r < kRows; ++r) row_max[r] = _mm512_reduce_max_ps(m[r]);
}

// out[r] = sum_j scores[r][j] v[j] / sums[r] for kHalf rows (`valid` of them written), V packed
// contiguously, NV = head_dim / 16 vectors per row.
template <int NV>
__attribute__((target("avx512f"))) void BlockOutput(const float* scores, int64_t ld, const float* sums, const float* vp,
                                                    int64_t tokens, float* out, int64_t out_stride, int64_t valid) {
  __m512 acc[kHalf][NV];
  for (int64_t r = 0; r < kHalf; ++r) {
    for (int c = 0; c < NV; ++c) acc[r][c] = _mm512_setzero_ps();
  }
  for (int64_t j = 0; j < tokens; ++j) {
    __m512 v[NV];
    for (int c = 0; c < NV; ++c) v[c] = _mm512_loadu_ps(vp + j * NV * 16 + c * 16);
    for (int64_t r = 0; r < kHalf; ++r) {
      const __m512 b = _mm512_set1_ps(scores[r * ld + j]);
      for (int c = 0; c < NV; ++c) acc[r][c] = _mm512_fmadd_ps(b, v[c], acc[r][c]);
    }
  }
  for (int64_t r = 0; r < valid; ++r) {
    const __m512 inv = _mm512_set1_ps(1.0f / sums[r]);
    for (int c = 0; c < NV; ++c) _mm512_storeu_ps(out + r * out_stride + c * 16, _mm512_mul_ps(acc[r][c], inv));
  }
}

using BlockOutputFn = void (*)(const float*, int64_t, const float*, const float*, int64_t, float*, int64_t, int64_t);
#endif

}  // namespace

bool FusedAttentionAvailable(int64_t head_dim) {
#ifdef CURIA_ATTENTION_X86
  return head_dim > 0 && head_dim % 16 == 0 && head_dim <= 64 && SoftmaxKernelAvailable(SoftmaxKernel::kAvx512);
#else
  (void)head_dim;
  return false;
#endif
}

void AttentionHead(const float* q, const float* k, const float* v, int64_t in_stride, float* out, int64_t out_stride,
                   int64_t tokens, int64_t head_dim, float scale, AttentionWorkspace& ws) {
  if (!FusedAttentionAvailable(head_dim)) {
    throw Error(ErrorCode::kInvalidArgument, "attention: no fused kernel for heads of " + std::to_string(head_dim) +
                                                 " on this CPU or build (AVX-512F and a head size of 16, 32, 48 "
                                                 "or 64 needed)");
  }
  if (tokens < 1 || in_stride < head_dim || out_stride < head_dim) {
    throw Error(ErrorCode::kInvalidArgument, "attention: " + std::to_string(tokens) + " tokens with row strides " +
                                                 std::to_string(in_stride) + " and " + std::to_string(out_stride) +
                                                 " for heads of " + std::to_string(head_dim));
  }
#ifdef CURIA_ATTENTION_X86
  const int64_t hd = head_dim, panels = RoundUp(tokens, kPanel) / kPanel, ld = panels * kPanel;
  // Keys packed in panels (zero past the last token: those scores are computed and never used),
  // values contiguous.
  ws.keys.resize(static_cast<size_t>(panels * hd * kPanel));
  for (int64_t p = 0; p < panels; ++p) {  // the panel's keys stay in L1 while it is written in order
    const int64_t n = std::min(kPanel, tokens - p * kPanel);
    float* dst = ws.keys.data() + p * hd * kPanel;
    const float* src = k + p * kPanel * in_stride;
    for (int64_t d = 0; d < hd; ++d) {
      for (int64_t j = 0; j < n; ++j) dst[d * kPanel + j] = src[j * in_stride + d];
      std::fill(dst + d * kPanel + n, dst + (d + 1) * kPanel, 0.0f);
    }
  }
  ws.values.resize(static_cast<size_t>(tokens * hd));
  for (int64_t j = 0; j < tokens; ++j) std::memcpy(ws.values.data() + j * hd, v + j * in_stride, sizeof(float) * hd);
  ws.queries.resize(static_cast<size_t>(kRows * hd));
  ws.scores.resize(static_cast<size_t>(kRows * ld));
  BlockOutputFn output = hd == 16   ? BlockOutput<1>
                         : hd == 32 ? BlockOutput<2>
                         : hd == 48 ? BlockOutput<3>
                                    : BlockOutput<4>;
  for (int64_t r0 = 0; r0 < tokens; r0 += kRows) {
    const int64_t valid = std::min(kRows, tokens - r0);
    for (int64_t r = 0; r < kRows; ++r) {
      float* qr = ws.queries.data() + r * hd;
      if (r < valid) {
        const float* src = q + (r0 + r) * in_stride;
        for (int64_t d = 0; d < hd; ++d) qr[d] = src[d] * scale;
      } else {
        std::fill(qr, qr + hd, 0.0f);
      }
    }
    // The softmax in two steps around the products: the maximum with the scores, exp and sum over
    // each row, the division by the sum on the output rows.
    float row_max[kRows], sums[kRows];
    BlockScores(ws.queries.data(), ws.keys.data(), tokens, hd, ws.scores.data(), ld, row_max);
    // A NaN or +inf score makes its row's sum NaN, and with it the row's output, as LibTorch's softmax.
    for (int64_t r = 0; r < valid; ++r)
      sums[r] = internal::Avx512ExpAndSum(ws.scores.data() + r * ld, tokens, row_max[r]);
    for (int64_t h = 0; h < valid; h += kHalf) {
      output(ws.scores.data() + h * ld, ld, sums + h, ws.values.data(), tokens, out + (r0 + h) * out_stride, out_stride,
             std::min(kHalf, valid - h));
    }
  }
#else
  (void)q, (void)k, (void)v, (void)out, (void)scale, (void)ws;
#endif
}

}  // namespace curia::nn
