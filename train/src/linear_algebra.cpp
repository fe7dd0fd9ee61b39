// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/train/linear_algebra.h"

#include <cmath>
#include <string>

#include "curia/config/error.h"

namespace curia::train {

// GCC and Clang on x86-64 build these kernels twice, for the baseline and for AVX2 (Haswell and
// later), and pick one when the program starts (an ifunc).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
#define CURIA_TRAIN_KERNEL __attribute__((target_clones("arch=haswell", "default")))
#else
#define CURIA_TRAIN_KERNEL
#endif

CURIA_TRAIN_KERNEL double Dot(const double* a, const double* b, std::size_t n) {
  double s[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  std::size_t j = 0;
  for (; j + 8 <= n; j += 8) {
    for (std::size_t k = 0; k < 8; ++k) s[k] += a[j + k] * b[j + k];
  }
  for (std::size_t k = 0; j < n; ++j, ++k) s[k] += a[j] * b[j];
  return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
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
