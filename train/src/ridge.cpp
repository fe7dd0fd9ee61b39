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

RidgeSystem BuildRidgeSystem(const Matrix& x, const std::vector<double>& y) {
  if (y.size() != x.rows()) {
    throw Error(ErrorCode::kInvalidArgument,
                "ridge: " + std::to_string(y.size()) + " targets for " + std::to_string(x.rows()) + " feature rows");
  }
  if (x.rows() == 0 || x.cols() == 0) throw Error(ErrorCode::kInvalidArgument, "ridge: no cases or no features");
  for (double v : x.values()) {
    if (!std::isfinite(v)) throw Error(ErrorCode::kInvalidArgument, "ridge: the features contain NaN or infinity");
  }
  for (double v : y) {
    if (!std::isfinite(v)) throw Error(ErrorCode::kInvalidArgument, "ridge: the targets contain NaN or infinity");
  }
  const std::size_t n = x.rows();
  const std::size_t d = x.cols();
  RidgeSystem s;
  s.x_mean.assign(d, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    const double* xi = x.Row(i);
    for (std::size_t j = 0; j < d; ++j) s.x_mean[j] += xi[j];
    s.y_mean += y[i];
  }
  for (double& m : s.x_mean) m /= static_cast<double>(n);
  s.y_mean /= static_cast<double>(n);

  s.gram = Matrix(d, d);
  s.rhs.assign(d, 0.0);
  std::vector<double> xc(d);
  for (std::size_t i = 0; i < n; ++i) {
    const double* xi = x.Row(i);
    for (std::size_t j = 0; j < d; ++j) xc[j] = xi[j] - s.x_mean[j];
    const double yc = y[i] - s.y_mean;
    for (std::size_t a = 0; a < d; ++a) {
      double* row = s.gram.Row(a);
      const double xa = xc[a];
      for (std::size_t b = 0; b <= a; ++b) row[b] += xa * xc[b];
      s.rhs[a] += xa * yc;
    }
  }
  return s;
}

RidgeModel SolveRidge(const RidgeSystem& system, double alpha) {
  if (!(alpha >= 0.0) || !std::isfinite(alpha)) {
    throw Error(ErrorCode::kInvalidArgument, "ridge: alpha must be >= 0, got " + std::to_string(alpha));
  }
  const std::size_t d = system.rhs.size();
  Matrix gram = system.gram;
  for (std::size_t a = 0; a < d; ++a) gram(a, a) += alpha;
  RidgeModel model;
  model.weights = CholeskySolve(std::move(gram), system.rhs);
  model.intercept = system.y_mean;
  for (std::size_t j = 0; j < d; ++j) model.intercept -= system.x_mean[j] * model.weights[j];
  return model;
}

RidgeModel FitRidge(const Matrix& x, const std::vector<double>& y, double alpha) {
  if (y.size() == x.rows() && (!(alpha >= 0.0) || !std::isfinite(alpha))) {
    throw Error(ErrorCode::kInvalidArgument, "ridge: alpha must be >= 0, got " + std::to_string(alpha));
  }
  return SolveRidge(BuildRidgeSystem(x, y), alpha);
}

}  // namespace curia::train
