// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/train/linear_algebra.h"

#include <cmath>
#include <cstring>
#include <string>

#include "curia/config/error.h"

namespace curia::train {

// GCC and Clang on x86-64 build these kernels twice, for the baseline and for AVX2, and pick one
// when the program starts (an ifunc). By the CPU's feature ("avx2"), not its model: GCC dispatches
// an "arch=" clone by the CPU model (__builtin_cpu_is), and with "arch=haswell" an AMD Zen 5 ran
// the baseline build (seen with perf: two-lane SSE2, four rows' partial sums spilled to the stack).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
#define CURIA_TRAIN_KERNEL __attribute__((target_clones("avx2", "default")))
#else
#define CURIA_TRAIN_KERNEL
#endif

namespace {
// The eight partial sums of an inner product (s[k] for j mod 8 = k) added pairwise: one function for
// Dot and Dot4, so that the two stay the same bit for bit.
inline double AddPartialSums(const double* s) {
  return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}
}  // namespace

CURIA_TRAIN_KERNEL double Dot(const double* a, const double* b, std::size_t n) {
  double s[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  std::size_t j = 0;
  for (; j + 8 <= n; j += 8) {
    for (std::size_t k = 0; k < 8; ++k) s[k] += a[j + k] * b[j + k];
  }
  for (std::size_t k = 0; j < n; ++j, ++k) s[k] += a[j] * b[j];
  return AddPartialSums(s);
}

namespace {
// Four doubles as one value (GCC/Clang vector extension): a 256-bit register in the AVX2 build, a
// pair of 128-bit ones in the baseline; loaded from any double (aligned to 8, may alias). Written
// out because the compilers' own vectorisation of four rows' partial sums shuffled and spilled them.
typedef double V4 __attribute__((vector_size(32), aligned(8), may_alias));
}  // namespace

CURIA_TRAIN_KERNEL void Dot4(const double* w, const double* x0, const double* x1, const double* x2, const double* x3,
                             std::size_t n, double out[4]) {
  // Lanes 0-3 and 4-7 of each row's eight partial sums (Dot's s[k], k = j mod 8).
  V4 lo0 = {0, 0, 0, 0}, hi0 = lo0, lo1 = lo0, hi1 = lo0, lo2 = lo0, hi2 = lo0, lo3 = lo0, hi3 = lo0;
  std::size_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const V4* wv = reinterpret_cast<const V4*>(w + j);
    const V4 *a0 = reinterpret_cast<const V4*>(x0 + j), *a1 = reinterpret_cast<const V4*>(x1 + j);
    const V4 *a2 = reinterpret_cast<const V4*>(x2 + j), *a3 = reinterpret_cast<const V4*>(x3 + j);
    lo0 += wv[0] * a0[0];
    hi0 += wv[1] * a0[1];
    lo1 += wv[0] * a1[0];
    hi1 += wv[1] * a1[1];
    lo2 += wv[0] * a2[0];
    hi2 += wv[1] * a2[1];
    lo3 += wv[0] * a3[0];
    hi3 += wv[1] * a3[1];
  }
  double s[4][8];
  const V4 parts[4][2] = {{lo0, hi0}, {lo1, hi1}, {lo2, hi2}, {lo3, hi3}};
  for (int r = 0; r < 4; ++r) std::memcpy(s[r], parts[r], sizeof s[r]);
  const double* x[4] = {x0, x1, x2, x3};
  for (std::size_t k = 0; j < n; ++j, ++k) {
    for (int r = 0; r < 4; ++r) s[r][k] += w[j] * x[r][j];
  }
  for (int r = 0; r < 4; ++r) out[r] = AddPartialSums(s[r]);
}

CURIA_TRAIN_KERNEL void Axpy(double alpha, const double* x, double* y, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) y[j] += alpha * x[j];
}

CURIA_TRAIN_KERNEL void Axpy4(const double* a, const double* x0, const double* x1, const double* x2, const double* x3,
                              double* y, std::size_t n) {
  const double a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
  for (std::size_t j = 0; j < n; ++j) y[j] += (a0 * x0[j] + a1 * x1[j]) + (a2 * x2[j] + a3 * x3[j]);
}

std::vector<double> CholeskySolve(Matrix a, const std::vector<double>& b) {
  const std::size_t n = a.rows();
  CURIA_CHECK(a.cols() == n && b.size() == n);
  // In place: A = L L^T, L in the lower triangle.
  for (std::size_t j = 0; j < n; ++j) {
    const double* lj = a.Row(j);
    const double diag = a(j, j) - Dot(lj, lj, j);
    if (!(diag > 0.0)) {
      throw Error(ErrorCode::kInvalidArgument,
                  "Cholesky: the matrix is not positive definite (pivot " + std::to_string(j) + ")");
    }
    const double ljj = std::sqrt(diag);
    a(j, j) = ljj;
    for (std::size_t i = j + 1; i < n; ++i) {
      const double* li = a.Row(i);
      a(i, j) = (a(i, j) - Dot(li, lj, j)) / ljj;
    }
  }
  std::vector<double> y(b);
  for (std::size_t i = 0; i < n; ++i) {  // L y = b
    y[i] = (y[i] - Dot(a.Row(i), y.data(), i)) / a(i, i);
  }
  for (std::size_t i = n; i-- > 0;) {  // L^T x = y
    double s = y[i];
    for (std::size_t k = i + 1; k < n; ++k) s -= a(k, i) * y[k];
    y[i] = s / a(i, i);
  }
  return y;
}

}  // namespace curia::train
