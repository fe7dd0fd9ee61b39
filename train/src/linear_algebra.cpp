// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/train/linear_algebra.h"

#include <cmath>
#include <string>

#include "curia/config/error.h"

namespace curia::train {

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
