// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// L2-regularised logistic regression, fitted as scikit-learn 1.2 fits
// `LogisticRegression(penalty="l2", solver="lbfgs", C=c, fit_intercept=True)`: full batch, float64,
// L-BFGS from zero weights on
//     f(W, b) = sum_i s_i * loss_i + ||W||^2 / (2 C)       (the intercepts b are not penalised)
// where s_i is the case's weight (1, or n / (K * n_k) for class_weight="balanced") and
//   - two classes: one logit z = w.x + b, loss = log(1 + exp(z)) - y z, P(class 1) = sigmoid(z);
//   - K >= 3 classes: K logits (multinomial), loss = logsumexp(z) - z_y, P = softmax(z).
// Multiplying f by C gives the brief's C * sum s_i loss_i + ||W||^2 / 2: the same minimiser.
// The intercepts of a multinomial fit are defined up to a common shift; probabilities are not.
//
//   LogisticOptions o;
//   o.c = 0.1;
//   o.class_weight = ClassWeight::kBalanced;
//   LogisticModel m = FitLogistic(features, labels, 3, o);   // labels in 0..2
//   Matrix p = m.PredictProba(test_features);              // rows: cases, columns: classes
//
// Units: features as given (no scaling is applied, as scikit-learn applies none).
// Thread safety: pure functions; a model is a value.
#include <cstddef>
#include <vector>

#include "curia/train/lbfgs.h"
#include "curia/train/matrix.h"

namespace curia::train {

enum class ClassWeight { kNone, kBalanced };

struct LogisticOptions {
  double c = 1.0;  // inverse regularisation strength, > 0
  ClassWeight class_weight = ClassWeight::kNone;
  double tolerance = 1e-10;  // on the largest gradient component of f (scikit-learn's `tol`)
  int max_iterations = 10000;
  // SciPy L-BFGS-B's relative-decrease stop (LbfgsOptions::relative_decrease_tolerance); 0 = off,
  // the default. `curia bench train` sets 2.2e-9 to stop by the same rules as scikit-learn.
  double relative_decrease_tolerance = 0.0;
};

struct LogisticModel {
  int num_classes = 0;        // K >= 2
  Matrix weights;             // 1 x D for two classes (the logit of class 1), K x D otherwise
  std::vector<double> intercepts;  // one per row of `weights`
  LbfgsResult optimisation;   // how the fit ended

  // Probabilities, one row per case, K columns summing to 1.
  Matrix PredictProba(const Matrix& x) const;
  // The raw logits (one column for two classes, K otherwise).
  Matrix DecisionFunction(const Matrix& x) const;
  // The most probable class of each case (ties: the lower class; two classes: class 1 when z > 0).
  std::vector<int> Predict(const Matrix& x) const;
  // The weights as K x D with intercepts, as a published linear head stores them: for two classes
  // the logits (0, z) become (-w/2, w/2) so that softmax gives the same probabilities.
  Matrix SoftmaxWeights(std::vector<double>* intercepts_out) const;
};

// Class weights as scikit-learn's "balanced": n / (K * n_k), one per class.
std::vector<double> BalancedClassWeights(const std::vector<int>& labels, int num_classes);

// Fits the model. `labels` are class indices in [0, num_classes); every class must have a case.
// Throws curia::Error (kInvalidArgument) on a count mismatch, labels out of range, a missing class,
// fewer than two classes, C <= 0 or non-finite features.
LogisticModel FitLogistic(const Matrix& x, const std::vector<int>& labels, int num_classes,
                          const LogisticOptions& options = {});

}  // namespace curia::train
