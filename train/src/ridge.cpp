// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/train/ridge.h"

#include <cmath>
#include <string>

#include "curia/config/error.h"
#include "curia/train/linear_algebra.h"

namespace curia::train {

std::vector<double> RidgeModel::Predict(const Matrix& x) const {
  if (x.cols() != weights.size()) {
    throw Error(ErrorCode::kInvalidArgument, "ridge model: " + std::to_string(x.cols()) + " features, the model has " +
                                                 std::to_string(weights.size()));
  }
  std::vector<double> out(x.rows(), intercept);
  for (std::size_t i = 0; i < x.rows(); ++i) {
    const double* xi = x.Row(i);
    for (std::size_t j = 0; j < weights.size(); ++j) out[i] += weights[j] * xi[j];
  }
  return out;
}

RidgeModel FitRidge(const Matrix& x, const std::vector<double>& y, double alpha) {
  if (y.size() != x.rows()) {
    throw Error(ErrorCode::kInvalidArgument,
                "ridge: " + std::to_string(y.size()) + " targets for " + std::to_string(x.rows()) + " feature rows");
  }
  if (x.rows() == 0 || x.cols() == 0) throw Error(ErrorCode::kInvalidArgument, "ridge: no cases or no features");
  if (!(alpha >= 0.0) || !std::isfinite(alpha)) {
    throw Error(ErrorCode::kInvalidArgument, "ridge: alpha must be >= 0, got " + std::to_string(alpha));
  }
  for (double v : x.values()) {
    if (!std::isfinite(v)) throw Error(ErrorCode::kInvalidArgument, "ridge: the features contain NaN or infinity");
  }
  for (double v : y) {
    if (!std::isfinite(v)) throw Error(ErrorCode::kInvalidArgument, "ridge: the targets contain NaN or infinity");
  }
  const std::size_t n = x.rows();
  const std::size_t d = x.cols();
  std::vector<double> x_mean(d, 0.0);
  double y_mean = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < d; ++j) x_mean[j] += x(i, j);
    y_mean += y[i];
  }
  for (double& m : x_mean) m /= static_cast<double>(n);
  y_mean /= static_cast<double>(n);

  Matrix gram(d, d);
  std::vector<double> rhs(d, 0.0);
  std::vector<double> xc(d);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < d; ++j) xc[j] = x(i, j) - x_mean[j];
    const double yc = y[i] - y_mean;
    for (std::size_t a = 0; a < d; ++a) {
      double* row = gram.Row(a);
      const double xa = xc[a];
      for (std::size_t b = 0; b <= a; ++b) row[b] += xa * xc[b];
      rhs[a] += xa * yc;
    }
  }
  for (std::size_t a = 0; a < d; ++a) gram(a, a) += alpha;
  RidgeModel model;
  model.weights = CholeskySolve(std::move(gram), rhs);
  model.intercept = y_mean;
  for (std::size_t j = 0; j < d; ++j) model.intercept -= x_mean[j] * model.weights[j];
  return model;
}

}  // namespace curia::train
