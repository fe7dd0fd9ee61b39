// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/nn/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "curia/config/error.h"

#if defined(CURIA_HAVE_LIBMVEC) && defined(__x86_64__) && defined(__GNUC__)
#define CURIA_SOFTMAX_X86 1
// GCC 12's AVX-512 intrinsics fill "undefined" operands with a self-initialised variable, which
// -Wuninitialized reports in every caller.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
// glibc's vector math library (x86-64 vector function ABI names: 'e' = AVX-512, 'd' = AVX2).
extern "C" __m512 _ZGVeN16v_expf(__m512);
extern "C" __m256 _ZGVdN8v_expf(__m256);
#endif

namespace curia::nn {

#ifdef CURIA_SOFTMAX_X86
namespace internal {

__attribute__((target("avx512f"))) float Avx512ExpAndSum(float* x, int64_t n, float max) {
  const int64_t full = n / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (n - full)) - 1u);
  const __m512 vm = _mm512_set1_ps(max);
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t j = 0;
  for (; j + 32 <= full; j += 32) {
    const __m512 a = _ZGVeN16v_expf(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm));
    const __m512 b = _ZGVeN16v_expf(_mm512_sub_ps(_mm512_loadu_ps(x + j + 16), vm));
    _mm512_storeu_ps(x + j, a);
    _mm512_storeu_ps(x + j + 16, b);
    s0 = _mm512_add_ps(s0, a);
    s1 = _mm512_add_ps(s1, b);
  }
  for (; j < full; j += 16) {
    const __m512 a = _ZGVeN16v_expf(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm));
    _mm512_storeu_ps(x + j, a);
    s0 = _mm512_add_ps(s0, a);
  }
  if (tail != 0) {
    const __m512 a =
        _mm512_maskz_mov_ps(tail, _ZGVeN16v_expf(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + full), vm)));
    _mm512_mask_storeu_ps(x + full, tail, a);
    s0 = _mm512_add_ps(s0, a);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

}  // namespace internal
#endif

namespace {

// Every kernel: a NaN that the maximum drops still meets exp (exp(NaN - max) = NaN), so it makes the
// sum and with it the whole row NaN; +inf makes the maximum +inf and exp(inf - inf) NaN.
void PortableRow(float* x, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j) m = std::max(m, x[j]);
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) sum += (x[j] = std::exp(x[j] - m));
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < n; ++j) x[j] *= inv;
}

#ifdef CURIA_SOFTMAX_X86
// Three passes over a row that is still in L1 (a score row is 4 KiB): the maximum, exp(x - max)
// written back with its sum (internal::Avx512ExpAndSum), the scaling by 1 / sum. The tail (n %
// lanes) goes through masked loads and stores, so every element meets the same expf.
__attribute__((target("avx512f"))) void Avx512Row(float* x, int64_t n) {
  const int64_t full = n / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (n - full)) - 1u);
  const __m512 lowest = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 m0 = lowest, m1 = lowest;
  int64_t j = 0;
  for (; j + 32 <= full; j += 32) {
    m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + j));
    m1 = _mm512_max_ps(m1, _mm512_loadu_ps(x + j + 16));
  }
  for (; j < full; j += 16) m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + j));
  if (tail != 0) m0 = _mm512_max_ps(m0, _mm512_mask_loadu_ps(lowest, tail, x + full));
  const float m = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
  const __m512 inv = _mm512_set1_ps(1.0f / internal::Avx512ExpAndSum(x, n, m));
  for (j = 0; j < full; j += 16) _mm512_storeu_ps(x + j, _mm512_mul_ps(_mm512_loadu_ps(x + j), inv));
  if (tail != 0) _mm512_mask_storeu_ps(x + full, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x + full), inv));
}

__attribute__((target("avx2,fma"))) float HorizontalMax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

__attribute__((target("avx2,fma"))) float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// As Avx512Row with 8 lanes; the tail through a lane mask (AVX2 has masked loads and stores, not
// masked arithmetic).
__attribute__((target("avx2,fma"))) void Avx2Row(float* x, int64_t n) {
  const int64_t full = n / 8 * 8, rest = n - full;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rest)), lane);
  const __m256 lowest = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  __m256 m0 = lowest;
  int64_t j = 0;
  for (; j < full; j += 8) m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + j));
  __m256 last = lowest;
  if (rest != 0) {
    last = _mm256_blendv_ps(lowest, _mm256_maskload_ps(x + full, tail), _mm256_castsi256_ps(tail));
    m0 = _mm256_max_ps(m0, last);
  }
  const float m = HorizontalMax(m0);
  const __m256 vm = _mm256_set1_ps(m);
  __m256 s0 = _mm256_setzero_ps();
  for (j = 0; j < full; j += 8) {
    const __m256 a = _ZGVdN8v_expf(_mm256_sub_ps(_mm256_loadu_ps(x + j), vm));
    _mm256_storeu_ps(x + j, a);
    s0 = _mm256_add_ps(s0, a);
  }
  if (rest != 0) {
    const __m256 a = _mm256_and_ps(_ZGVdN8v_expf(_mm256_sub_ps(last, vm)), _mm256_castsi256_ps(tail));
    _mm256_maskstore_ps(x + full, tail, a);
    s0 = _mm256_add_ps(s0, a);
  }
  const __m256 inv = _mm256_set1_ps(1.0f / HorizontalSum(s0));
  for (j = 0; j < full; j += 8) _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), inv));
  if (rest != 0) _mm256_maskstore_ps(x + full, tail, _mm256_mul_ps(_mm256_maskload_ps(x + full, tail), inv));
}
#endif

const char* Name(SoftmaxKernel k) {
  switch (k) {
    case SoftmaxKernel::kBest: return "best";
    case SoftmaxKernel::kAvx512: return "AVX-512";
    case SoftmaxKernel::kAvx2: return "AVX2";
    case SoftmaxKernel::kPortable: return "portable";
  }
  return "?";
}

}  // namespace

bool SoftmaxKernelAvailable(SoftmaxKernel kernel) {
  switch (kernel) {
    case SoftmaxKernel::kBest:
    case SoftmaxKernel::kPortable: return true;
#ifdef CURIA_SOFTMAX_X86
    case SoftmaxKernel::kAvx512: return __builtin_cpu_supports("avx512f");
    case SoftmaxKernel::kAvx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    case SoftmaxKernel::kAvx512:
    case SoftmaxKernel::kAvx2: return false;
#endif
  }
  return false;
}

SoftmaxKernel BestSoftmaxKernel() {
  static const SoftmaxKernel best = SoftmaxKernelAvailable(SoftmaxKernel::kAvx512) ? SoftmaxKernel::kAvx512
                                    : SoftmaxKernelAvailable(SoftmaxKernel::kAvx2) ? SoftmaxKernel::kAvx2
                                                                                   : SoftmaxKernel::kPortable;
  return best;
}

void SoftmaxRows(float* data, int64_t rows, int64_t cols, int64_t stride, SoftmaxKernel kernel) {
  if (kernel == SoftmaxKernel::kBest) kernel = BestSoftmaxKernel();
  if (!SoftmaxKernelAvailable(kernel)) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("softmax: the ") + Name(kernel) + " kernel is not available on this CPU or build");
  }
  if (rows < 0 || cols < 1 || stride < cols) {
    throw Error(ErrorCode::kInvalidArgument, "softmax: " + std::to_string(rows) + " rows of " + std::to_string(cols) +
                                                 " values with a row stride of " + std::to_string(stride));
  }
  void (*row)(float*, int64_t) = PortableRow;
#ifdef CURIA_SOFTMAX_X86
  if (kernel == SoftmaxKernel::kAvx512) row = Avx512Row;
  if (kernel == SoftmaxKernel::kAvx2) row = Avx2Row;
#endif
  for (int64_t r = 0; r < rows; ++r) row(data + r * stride, cols);
}

}  // namespace curia::nn
