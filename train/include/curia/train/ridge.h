// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Ridge regression as scikit-learn's `Ridge(alpha, fit_intercept=True)` on dense data: centre the
// features and the target, solve (Xc^T Xc + alpha I) w = Xc^T yc by Cholesky, intercept
// b = mean(y) - mean(x).w. The intercept is not penalised.
//
//   RidgeModel m = FitRidge(features, targets, 1.0);
//   std::vector<double> predicted = m.Predict(test_features);
//
// Thread safety: pure functions; a model is a value.
#include <vector>

#include "curia/train/matrix.h"

namespace curia::train {

struct RidgeModel {
  std::vector<double> weights;  // D
  double intercept = 0.0;
  std::vector<double> Predict(const Matrix& x) const;
};

// Throws curia::Error (kInvalidArgument) on a count mismatch, alpha < 0, no cases or non-finite
// input, and when alpha = 0 leaves the system singular.
RidgeModel FitRidge(const Matrix& x, const std::vector<double>& y, double alpha);

// The centred normal equations of a ridge fit, built once and solved for several alphas (as the
// cross-validation of alpha does): gram = Xc^T Xc (lower triangle), rhs = Xc^T yc.
struct RidgeSystem {
  Matrix gram;  // D x D, lower triangle filled
  std::vector<double> rhs;
  std::vector<double> x_mean;
  double y_mean = 0.0;
};

// Throws as FitRidge does for the data.
RidgeSystem BuildRidgeSystem(const Matrix& x, const std::vector<double>& y);
// Throws curia::Error (kInvalidArgument) for alpha < 0 and when alpha = 0 leaves the system singular.
RidgeModel SolveRidge(const RidgeSystem& system, double alpha);

}  // namespace curia::train
