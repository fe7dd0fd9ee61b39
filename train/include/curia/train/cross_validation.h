// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Choosing the regularisation strength C of a logistic head by stratified k-fold cross-validation,
// as scikit-learn 1.2's `GridSearchCV(LogisticRegression(...), {"C": grid}, cv=StratifiedKFold(k))`
// does: the same folds (no shuffling), accuracy on each held-out fold, the mean over folds, the
// best mean wins and ties go to the first grid value; then a refit on all cases.
// With a group per case (e.g. the patient), folds follow `StratifiedGroupKFold(k)` (no shuffling):
// a group never spans two folds.
//
//   CrossValidationOptions cv;
//   cv.grid = {0.01, 0.1, 1, 10};
//   cv.folds = 5;
//   CrossValidationResult r = CrossValidateLogistic(x, labels, 2, cv);
//   r.best_c; r.model.PredictProba(test);
//
// Thread safety: pure functions (CrossValidateLogistic starts and joins its own worker threads).
#include <cstddef>
#include <string>
#include <vector>

#include "curia/train/logistic.h"
#include "curia/train/matrix.h"

namespace curia::train {

// The held-out fold (0..k-1) of each case, as StratifiedKFold(n_splits=k, shuffle=False) assigns
// them. Throws curia::Error (kInvalidArgument) when k < 2, there is one class only, a class has
// fewer cases than folds (scikit-learn only warns; a fold without a class makes its score
// meaningless), or there are no cases.
std::vector<int> StratifiedKFoldAssignment(const std::vector<int>& labels, int folds);

// The same for StratifiedGroupKFold(n_splits=k, shuffle=False): whole groups go to the fold that
// keeps the class proportions most even. Throws as above, and when groups and labels differ in
// count. A fold can end up empty when there are few groups: that is an error too.
std::vector<int> StratifiedGroupKFoldAssignment(const std::vector<int>& labels, const std::vector<std::string>& groups,
                                                int folds);

struct CrossValidationOptions {
  std::vector<double> grid;  // candidate values of C, in order (ties go to the first)
  int folds = 5;
  LogisticOptions logistic;  // class weights, tolerance; its `c` is ignored
  std::vector<std::string> groups;  // empty, or one group per case
  // The fold x grid fits are independent and run on this many threads (0: one per hardware
  // thread); each fit is the same whichever thread runs it, so the result does not depend on it.
  int threads = 0;
};

struct CrossValidationResult {
  std::vector<int> fold_of_case;
  std::vector<std::vector<double>> fold_accuracy;  // [grid index][fold]
  std::vector<double> mean_accuracy;               // [grid index]
  std::size_t best_index = 0;
  double best_c = 0.0;
  LogisticModel model;  // refitted on all cases with best_c
};

// Throws curia::Error (kInvalidArgument) for an empty grid, a count mismatch between labels,
// features and groups, and the fold errors above.
CrossValidationResult CrossValidateLogistic(const Matrix& x, const std::vector<int>& labels, int num_classes,
                                            const CrossValidationOptions& options);

}  // namespace curia::train
