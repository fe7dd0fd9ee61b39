// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Choosing the ridge strength alpha by k-fold cross-validation, as scikit-learn 1.2's
// `GridSearchCV(Ridge(), {"alpha": grid}, cv=KFold(k))` does: the same folds (contiguous, no
// shuffling), R² (`r2_score`) on each held-out fold, the mean over folds, the best mean wins and
// ties go to the first grid value; then a refit on all cases. With a group per case (e.g. the
// patient), folds follow `GroupKFold(k)`: whole groups, largest first, each to the fold with the
// fewest cases so far.
//
//   RidgeCrossValidationOptions cv;
//   cv.grid = {0.01, 0.1, 1, 10, 100, 1000};
//   cv.folds = 5;
//   RidgeCrossValidationResult r = CrossValidateRidge(x, targets, cv);
//   r.best_alpha; r.model.Predict(test);
//
// Thread safety: pure functions.
#include <cstddef>
#include <string>
#include <vector>

#include "curia/train/matrix.h"
#include "curia/train/ridge.h"

namespace curia::train {

// The held-out fold (0..k-1) of each of `cases` cases as KFold(n_splits=k, shuffle=False) assigns
// them: contiguous blocks, the first n % k folds one case larger. Throws curia::Error
// (kInvalidArgument) when k < 2 or there are fewer cases than folds.
std::vector<int> KFoldAssignment(std::size_t cases, int folds);

// The same for GroupKFold(n_splits=k): groups sorted by name, then by decreasing size (in the order
// numpy's argsort leaves equal sizes), each to the fold with the fewest cases so far (the first
// such fold). Throws when k < 2 or there are fewer groups than folds.
std::vector<int> GroupKFoldAssignment(const std::vector<std::string>& groups, int folds);

struct RidgeCrossValidationOptions {
  std::vector<double> grid;         // candidate values of alpha (> 0), in order (ties go to the first)
  int folds = 5;
  std::vector<std::string> groups;  // empty, or one group per case
};

struct RidgeCrossValidationResult {
  std::vector<int> fold_of_case;
  std::vector<std::vector<double>> fold_r2;  // [grid index][fold]
  std::vector<double> mean_r2;               // [grid index]
  std::size_t best_index = 0;
  double best_alpha = 0.0;
  RidgeModel model;  // refitted on all cases with best_alpha
};

// Throws curia::Error (kInvalidArgument) for an empty grid or a value <= 0, a count mismatch
// between targets, features and groups, the fold errors above, a constant target (R² is undefined)
// and a held-out fold whose targets are all equal (its R² is undefined; scikit-learn scores it 0 or
// 1 without saying so).
RidgeCrossValidationResult CrossValidateRidge(const Matrix& x, const std::vector<double>& y,
                                              const RidgeCrossValidationOptions& options);

}  // namespace curia::train
