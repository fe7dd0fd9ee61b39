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

}  // namespace curia::train
