// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/train/cross_validation.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "curia/config/error.h"

namespace curia::train {
namespace {

// Classes numbered by order of first appearance (as StratifiedKFold does), and their counts.
std::vector<int> EncodeByAppearance(const std::vector<int>& labels, std::vector<std::size_t>* counts) {
  std::map<int, int> code;
  std::vector<int> out(labels.size());
  counts->clear();
  for (std::size_t i = 0; i < labels.size(); ++i) {
    auto it = code.find(labels[i]);
    if (it == code.end()) {
      it = code.emplace(labels[i], static_cast<int>(code.size())).first;
      counts->push_back(0);
    }
    out[i] = it->second;
    ++(*counts)[static_cast<std::size_t>(it->second)];
  }
  return out;
}

void CheckFolds(const std::vector<std::size_t>& counts, const std::vector<int>& labels, int folds) {
  if (labels.empty()) throw Error(ErrorCode::kInvalidArgument, "cross-validation: no cases");
  if (folds < 2) {
    throw Error(ErrorCode::kInvalidArgument, "cross-validation: at least 2 folds are needed, got " + std::to_string(folds));
  }
  if (counts.size() < 2) {
    throw Error(ErrorCode::kInvalidArgument,
                "cross-validation: all cases have the same label (" + std::to_string(labels[0]) + "); two classes at least are needed");
  }
  // Report the smallest class by its label.
  std::map<int, std::size_t> by_label;
  for (int y : labels) ++by_label[y];
  for (const auto& [label, count] : by_label) {
    if (count < static_cast<std::size_t>(folds)) {
      throw Error(ErrorCode::kInvalidArgument, "cross-validation: class " + std::to_string(label) + " has " +
                                                   std::to_string(count) + " case(s), fewer than the " +
                                                   std::to_string(folds) + " folds");
    }
  }
}

// numpy's pairwise summation (the reduction numpy uses along a contiguous axis), so that standard
// deviations tie exactly where numpy's do.
double PairwiseSum(const double* a, std::size_t n) {
  if (n < 8) {
    double s = 0.0;  // numpy starts from -0.0; the same for any non-empty sum of these values
    for (std::size_t i = 0; i < n; ++i) s += a[i];
    return s;
  }
  if (n <= 128) {
    double r[8];
    for (std::size_t k = 0; k < 8; ++k) r[k] = a[k];
    std::size_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (std::size_t k = 0; k < 8; ++k) r[k] += a[i + k];
    }
    double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) s += a[i];
    return s;
  }
  std::size_t half = n / 2;
  half -= half % 8;
  return PairwiseSum(a, half) + PairwiseSum(a + half, n - half);
}

// numpy.std (ddof 0) of a contiguous vector.
double StdContiguous(const std::vector<double>& v) {
  const double mean = PairwiseSum(v.data(), v.size()) / static_cast<double>(v.size());
  std::vector<double> sq(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) sq[i] = (v[i] - mean) * (v[i] - mean);
  return std::sqrt(PairwiseSum(sq.data(), sq.size()) / static_cast<double>(v.size()));
}

bool IsClose(double a, double b) {  // numpy.isclose defaults
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return std::fabs(a - b) <= 1e-8 + 1e-5 * std::fabs(b);
}

}  // namespace

std::vector<int> StratifiedKFoldAssignment(const std::vector<int>& labels, int folds) {
  std::vector<std::size_t> counts;
  const std::vector<int> encoded = EncodeByAppearance(labels, &counts);
  CheckFolds(counts, labels, folds);
  const std::size_t k_folds = static_cast<std::size_t>(folds);
  const std::size_t classes = counts.size();
  // allocation[f][c]: cases of class c in fold f, dealt round robin over the sorted encoded labels.
  std::vector<int> sorted = encoded;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::vector<std::size_t>> allocation(k_folds, std::vector<std::size_t>(classes, 0));
  for (std::size_t i = 0; i < sorted.size(); ++i) ++allocation[i % k_folds][static_cast<std::size_t>(sorted[i])];
  // Within each class, in data order: the first allocation[0][c] cases to fold 0, and so on.
  std::vector<int> fold(labels.size(), 0);
  std::vector<std::size_t> next_fold(classes, 0), used(classes, 0);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const std::size_t c = static_cast<std::size_t>(encoded[i]);
    while (used[c] == allocation[next_fold[c]][c]) {
      ++next_fold[c];
      used[c] = 0;
    }
    fold[i] = static_cast<int>(next_fold[c]);
    ++used[c];
  }
  return fold;
}

std::vector<int> StratifiedGroupKFoldAssignment(const std::vector<int>& labels, const std::vector<std::string>& groups,
                                                int folds) {
  if (groups.size() != labels.size()) {
    throw Error(ErrorCode::kInvalidArgument, "cross-validation: " + std::to_string(groups.size()) + " groups for " +
                                                 std::to_string(labels.size()) + " labels");
  }
  std::vector<std::size_t> appearance_counts;
  EncodeByAppearance(labels, &appearance_counts);
  CheckFolds(appearance_counts, labels, folds);
  // Classes and groups in sorted order (numpy.unique).
  std::map<int, std::size_t> class_index;
  for (int y : labels) class_index.emplace(y, 0);
  std::size_t next = 0;
  for (auto& [label, index] : class_index) index = next++;
  std::map<std::string, std::size_t> group_index;
  for (const std::string& g : groups) group_index.emplace(g, 0);
  next = 0;
  for (auto& [name, index] : group_index) index = next++;
  const std::size_t classes = class_index.size();
  const std::size_t n_groups = group_index.size();
  const std::size_t k_folds = static_cast<std::size_t>(folds);

  std::vector<double> class_count(classes, 0.0);
  std::vector<std::vector<double>> per_group(n_groups, std::vector<double>(classes, 0.0));
  std::vector<std::size_t> group_of(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const std::size_t c = class_index[labels[i]];
    group_of[i] = group_index[groups[i]];
    per_group[group_of[i]][c] += 1.0;
    class_count[c] += 1.0;
  }
  // Groups by decreasing spread of their class counts (stable).
  std::vector<double> spread(n_groups);
  for (std::size_t g = 0; g < n_groups; ++g) spread[g] = -StdContiguous(per_group[g]);
  std::vector<std::size_t> order(n_groups);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return spread[a] < spread[b]; });

  std::vector<std::vector<double>> per_fold(k_folds, std::vector<double>(classes, 0.0));
  std::vector<int> fold_of_group(n_groups, 0);
  for (std::size_t g : order) {
    std::size_t best_fold = 0;
    double min_eval = std::numeric_limits<double>::infinity();
    double min_samples = std::numeric_limits<double>::infinity();
    for (std::size_t f = 0; f < k_folds; ++f) {
      for (std::size_t c = 0; c < classes; ++c) per_fold[f][c] += per_group[g][c];
      // Mean over classes of the std over folds of the fold's share of the class.
      std::vector<double> std_per_class(classes);
      for (std::size_t c = 0; c < classes; ++c) {
        double mean = 0.0;  // numpy reduces along axis 0 one row at a time
        for (std::size_t h = 0; h < k_folds; ++h) mean += per_fold[h][c] / class_count[c];
        mean /= static_cast<double>(k_folds);
        double ss = 0.0;
        for (std::size_t h = 0; h < k_folds; ++h) {
          const double dev = per_fold[h][c] / class_count[c] - mean;
          ss += dev * dev;
        }
        std_per_class[c] = std::sqrt(ss / static_cast<double>(k_folds));
      }
      for (std::size_t c = 0; c < classes; ++c) per_fold[f][c] -= per_group[g][c];
      const double eval = PairwiseSum(std_per_class.data(), classes) / static_cast<double>(classes);
      const double samples = PairwiseSum(per_fold[f].data(), classes);
      if (eval < min_eval || (IsClose(eval, min_eval) && samples < min_samples)) {
        min_eval = eval;
        min_samples = samples;
        best_fold = f;
      }
    }
    for (std::size_t c = 0; c < classes; ++c) per_fold[best_fold][c] += per_group[g][c];
    fold_of_group[g] = static_cast<int>(best_fold);
  }
  std::vector<int> fold(labels.size());
  std::vector<std::size_t> fold_size(k_folds, 0);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    fold[i] = fold_of_group[group_of[i]];
    ++fold_size[static_cast<std::size_t>(fold[i])];
  }
  for (std::size_t f = 0; f < k_folds; ++f) {
    if (fold_size[f] == 0) {
      throw Error(ErrorCode::kInvalidArgument, "cross-validation: fold " + std::to_string(f) + " of " +
                                                   std::to_string(folds) + " has no cases (" + std::to_string(n_groups) +
                                                   " groups); use fewer folds");
    }
  }
  return fold;
}

CrossValidationResult CrossValidateLogistic(const Matrix& x, const std::vector<int>& labels, int num_classes,
                                            const CrossValidationOptions& options) {
  if (options.grid.empty()) throw Error(ErrorCode::kInvalidArgument, "cross-validation: the grid of C values is empty");
  if (labels.size() != x.rows()) {
    throw Error(ErrorCode::kInvalidArgument, "cross-validation: " + std::to_string(labels.size()) + " labels for " +
                                                 std::to_string(x.rows()) + " feature rows");
  }
  CrossValidationResult r;
  r.fold_of_case = options.groups.empty() ? StratifiedKFoldAssignment(labels, options.folds)
                                          : StratifiedGroupKFoldAssignment(labels, options.groups, options.folds);
  const std::size_t k_folds = static_cast<std::size_t>(options.folds);
  std::vector<std::vector<std::size_t>> train(k_folds), test(k_folds);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    for (std::size_t f = 0; f < k_folds; ++f) {
      (static_cast<std::size_t>(r.fold_of_case[i]) == f ? test[f] : train[f]).push_back(i);
    }
  }
  r.fold_accuracy.assign(options.grid.size(), std::vector<double>(k_folds, 0.0));
  r.mean_accuracy.assign(options.grid.size(), 0.0);
  std::vector<Matrix> x_train(k_folds), x_test(k_folds);
  std::vector<std::vector<int>> y_train(k_folds);
  for (std::size_t f = 0; f < k_folds; ++f) {
    x_train[f] = x.SelectRows(train[f]);
    x_test[f] = x.SelectRows(test[f]);
    for (std::size_t i : train[f]) y_train[f].push_back(labels[i]);
  }
  // One task per (fold, C); the threads take the next task until none is left.
  const std::size_t tasks = k_folds * options.grid.size();
  auto fit = [&](std::size_t task) {
    const std::size_t f = task / options.grid.size();
    const std::size_t g = task % options.grid.size();
    LogisticOptions lo = options.logistic;
    lo.c = options.grid[g];
    const LogisticModel m = FitLogistic(x_train[f], y_train[f], num_classes, lo);
    const std::vector<int> predicted = m.Predict(x_test[f]);
    std::size_t correct = 0;
    for (std::size_t t = 0; t < test[f].size(); ++t) correct += predicted[t] == labels[test[f][t]] ? 1 : 0;
    r.fold_accuracy[g][f] = static_cast<double>(correct) / static_cast<double>(test[f].size());
  };
  std::size_t threads = options.threads > 0 ? static_cast<std::size_t>(options.threads)
                                            : std::max(1u, std::thread::hardware_concurrency());
  threads = std::min(threads, tasks);
  std::atomic<std::size_t> next{0};
  std::mutex error_mutex;
  std::exception_ptr error;
  auto work = [&] {
    for (std::size_t task = next++; task < tasks; task = next++) {
      try {
        fit(task);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  for (std::size_t g = 0; g < options.grid.size(); ++g) {
    // numpy's mean over each candidate's row, so that ties are ties exactly as in GridSearchCV
    r.mean_accuracy[g] = PairwiseSum(r.fold_accuracy[g].data(), k_folds) / static_cast<double>(k_folds);
    if (r.mean_accuracy[g] > r.mean_accuracy[r.best_index]) r.best_index = g;
  }
  r.best_c = options.grid[r.best_index];
  LogisticOptions lo = options.logistic;
  lo.c = r.best_c;
  r.model = FitLogistic(x, labels, num_classes, lo);
  return r;
}

}  // namespace curia::train
