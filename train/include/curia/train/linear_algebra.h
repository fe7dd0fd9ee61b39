// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Cholesky factorisation and solve for the small symmetric positive definite systems of ridge
// regression (D x D, D up to a few thousand).
// Thread safety: pure functions.
#include <cstddef>
#include <vector>

#include "curia/train/matrix.h"

namespace curia::train {

// sum_j a[j] * b[j] with four partial sums, so that the additions are not one dependent chain (the
// compiler may not reorder floating-point sums itself): about four times the speed of a plain loop
// on the trainer's row lengths. Rounding differs from the plain loop's by a few ulps.
inline double Dot(const double* a, const double* b, std::size_t n) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  std::size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    s0 += a[j] * b[j];
    s1 += a[j + 1] * b[j + 1];
    s2 += a[j + 2] * b[j + 2];
    s3 += a[j + 3] * b[j + 3];
  }
  for (; j < n; ++j) s0 += a[j] * b[j];
  return (s0 + s1) + (s2 + s3);
}

// Solves A x = b for symmetric positive definite A (only the lower triangle is read). Throws
// curia::Error (kInvalidArgument) when A is not positive definite.
std::vector<double> CholeskySolve(Matrix a, const std::vector<double>& b);

}  // namespace curia::train
