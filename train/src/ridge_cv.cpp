// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/train/ridge_cv.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <sstream>
#include <utility>

#include "curia/config/error.h"

namespace curia::train {
namespace {

void CheckFoldCount(int folds) {
  if (folds < 2) {
    throw Error(ErrorCode::kInvalidArgument, "cross-validation: at least 2 folds are needed, got " + std::to_string(folds));
  }
}

// numpy's heapsort of indices by value (npysort aheapsort_), numpy's fallback in introsort.
void ArgHeapsort(const std::vector<std::int64_t>& v, std::size_t* tosort, std::ptrdiff_t n) {
  std::size_t* a = tosort - 1;  // 1-based heap indexing
  // Moves a[from] down the heap a[1 .. size] to its place (numpy's inner loop, both phases).
  auto sift = [&](std::ptrdiff_t from, std::ptrdiff_t size) {
    const std::size_t tmp = a[from];
    std::ptrdiff_t i = from, j = from << 1;
    while (j <= size) {
      if (j < size && v[a[j]] < v[a[j + 1]]) j += 1;
      if (!(v[tmp] < v[a[j]])) break;
      a[i] = a[j];
      i = j;
      j += j;
    }
    a[i] = tmp;
  };
  for (std::ptrdiff_t l = n >> 1; l > 0; --l) sift(l, n);
  for (; n > 1; --n) {
    // The largest to the end; the last one down from the top of the heap one shorter.
    std::swap(a[1], a[n]);
    sift(1, n - 1);
  }
}

// numpy.argsort(v) with its default kind "quicksort" (numpy 1.24's introsort, npysort aquicksort_:
// median-of-three partitions, insertion sort below 16 elements). It is not stable: the order it
// leaves equal values in decides which of two equal-sized groups GroupKFold places first, so it is
// reproduced step by step.
std::vector<std::size_t> NumpyArgsort(const std::vector<std::int64_t>& v) {
  constexpr std::ptrdiff_t kSmall = 15;
  const std::ptrdiff_t num = static_cast<std::ptrdiff_t>(v.size());
  std::vector<std::size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  if (num < 2) return order;
  int msb = 0;
  for (std::ptrdiff_t m = num; m > 1; m >>= 1) ++msb;
  std::size_t* pl = order.data();
  std::size_t* pr = pl + num - 1;
  std::vector<std::pair<std::size_t*, std::size_t*>> stack;
  std::vector<int> depth;
  int cdepth = msb * 2;
  auto less = [&](std::size_t a, std::size_t b) { return v[a] < v[b]; };
  for (;;) {
    if (cdepth < 0) {
      ArgHeapsort(v, pl, pr - pl + 1);
    } else {
      while (pr - pl > kSmall) {
        std::size_t* pm = pl + ((pr - pl) >> 1);
        if (less(*pm, *pl)) std::swap(*pm, *pl);
        if (less(*pr, *pm)) std::swap(*pr, *pm);
        if (less(*pm, *pl)) std::swap(*pm, *pl);
        const std::int64_t vp = v[*pm];
        std::size_t* pi = pl;
        std::size_t* pj = pr - 1;
        std::swap(*pm, *pj);
        for (;;) {
          do {
            ++pi;
          } while (v[*pi] < vp);
          do {
            --pj;
          } while (vp < v[*pj]);
          if (pi >= pj) break;
          std::swap(*pi, *pj);
        }
        std::swap(*pi, *(pr - 1));
        if (pi - pl < pr - pi) {  // the larger part waits on the stack
          stack.emplace_back(pi + 1, pr);
          pr = pi - 1;
        } else {
          stack.emplace_back(pl, pi - 1);
          pl = pi + 1;
        }
        depth.push_back(--cdepth);
      }
      for (std::size_t* pi = pl + 1; pi <= pr; ++pi) {  // insertion sort
        const std::size_t vi = *pi;
        std::size_t* pj = pi;
        std::size_t* pk = pi - 1;
        while (pj > pl && v[vi] < v[*pk]) *pj-- = *pk--;
        *pj = vi;
      }
    }
    if (stack.empty()) break;
    pl = stack.back().first;
    pr = stack.back().second;
    stack.pop_back();
    cdepth = depth.back();
    depth.pop_back();
  }
  return order;
}

std::string Number(double v) {
  std::ostringstream out;
  out.precision(10);
  out << v;
  return out.str();
}

}  // namespace

std::vector<int> KFoldAssignment(std::size_t cases, int folds) {
  CheckFoldCount(folds);
  const std::size_t k = static_cast<std::size_t>(folds);
  if (cases < k) {
    throw Error(ErrorCode::kInvalidArgument, "cross-validation: " + std::to_string(cases) + " case(s), fewer than the " +
                                                 std::to_string(folds) + " folds");
  }
  std::vector<int> fold(cases, 0);
  std::size_t at = 0;
  for (std::size_t f = 0; f < k; ++f) {
    const std::size_t size = cases / k + (f < cases % k ? 1 : 0);
    for (std::size_t i = 0; i < size; ++i) fold[at++] = static_cast<int>(f);
  }
  return fold;
}

std::vector<int> GroupKFoldAssignment(const std::vector<std::string>& groups, int folds) {
  CheckFoldCount(folds);
  // numpy.unique: sorted names, each case's index among them.
  std::map<std::string, std::size_t> index;
  for (const std::string& g : groups) index.emplace(g, 0);
  std::size_t next = 0;
  for (auto& [name, i] : index) i = next++;
  const std::size_t n_groups = index.size();
  const std::size_t k = static_cast<std::size_t>(folds);
  if (n_groups < k) {
    throw Error(ErrorCode::kInvalidArgument, "cross-validation: " + std::to_string(n_groups) +
                                                 " group(s), fewer than the " + std::to_string(folds) +
                                                 " folds (a group is never split between folds)");
  }
  std::vector<std::size_t> group_of(groups.size());
  std::vector<std::int64_t> size(n_groups, 0);
  for (std::size_t i = 0; i < groups.size(); ++i) {
    group_of[i] = index[groups[i]];
    ++size[group_of[i]];
  }
  std::vector<std::size_t> order = NumpyArgsort(size);
  std::vector<std::int64_t> per_fold(k, 0);
  std::vector<int> fold_of_group(n_groups, 0);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {  // largest first
    std::size_t lightest = 0;
    for (std::size_t f = 1; f < k; ++f) {
      if (per_fold[f] < per_fold[lightest]) lightest = f;
    }
    per_fold[lightest] += size[*it];
    fold_of_group[*it] = static_cast<int>(lightest);
  }
  std::vector<int> fold(groups.size());
  for (std::size_t i = 0; i < groups.size(); ++i) fold[i] = fold_of_group[group_of[i]];
  return fold;
}

RidgeCrossValidationResult CrossValidateRidge(const Matrix& x, const std::vector<double>& y,
                                              const RidgeCrossValidationOptions& options) {
  if (options.grid.empty()) throw Error(ErrorCode::kInvalidArgument, "cross-validation: the grid of alpha values is empty");
  for (double a : options.grid) {
    if (!(a > 0.0) || !std::isfinite(a)) {
      throw Error(ErrorCode::kInvalidArgument, "cross-validation: alpha must be a positive number, got " + Number(a));
    }
  }
  if (y.size() != x.rows()) {
    throw Error(ErrorCode::kInvalidArgument, "cross-validation: " + std::to_string(y.size()) + " targets for " +
                                                 std::to_string(x.rows()) + " feature rows");
  }
  if (!options.groups.empty() && options.groups.size() != y.size()) {
    throw Error(ErrorCode::kInvalidArgument, "cross-validation: " + std::to_string(options.groups.size()) +
                                                 " groups for " + std::to_string(y.size()) + " targets");
  }
  for (double v : y) {
    if (!std::isfinite(v)) throw Error(ErrorCode::kInvalidArgument, "cross-validation: the targets contain NaN or infinity");
  }
  if (!y.empty() && std::all_of(y.begin(), y.end(), [&](double v) { return v == y[0]; })) {
    throw Error(ErrorCode::kInvalidArgument, "cross-validation: every target is " + Number(y[0]) +
                                                 "; R² is undefined for a constant target");
  }
  RidgeCrossValidationResult r;
  r.fold_of_case = options.groups.empty() ? KFoldAssignment(y.size(), options.folds)
                                          : GroupKFoldAssignment(options.groups, options.folds);
  const std::size_t k = static_cast<std::size_t>(options.folds);
  std::vector<std::vector<std::size_t>> train(k), test(k);
  for (std::size_t i = 0; i < y.size(); ++i) {
    for (std::size_t f = 0; f < k; ++f) (static_cast<std::size_t>(r.fold_of_case[i]) == f ? test[f] : train[f]).push_back(i);
  }
  r.fold_r2.assign(options.grid.size(), std::vector<double>(k, 0.0));
  r.mean_r2.assign(options.grid.size(), 0.0);
  for (std::size_t f = 0; f < k; ++f) {
    std::vector<double> y_train, y_test;
    for (std::size_t i : train[f]) y_train.push_back(y[i]);
    for (std::size_t i : test[f]) y_test.push_back(y[i]);
    // r2_score: 1 - sum (y - p)^2 / sum (y - mean y)^2 over the held-out cases.
    double mean = 0.0;
    for (double v : y_test) mean += v;
    mean /= static_cast<double>(y_test.size());
    double total = 0.0;
    for (double v : y_test) total += (v - mean) * (v - mean);
    if (std::all_of(y_test.begin(), y_test.end(), [&](double v) { return v == y_test[0]; })) {
      throw Error(ErrorCode::kInvalidArgument, "cross-validation: the " + std::to_string(y_test.size()) +
                                                   " held-out case(s) of fold " + std::to_string(f) +
                                                   " all have the target " + Number(y_test[0]) +
                                                   "; R² is undefined there (use fewer folds)");
    }
    const Matrix x_test = x.SelectRows(test[f]);
    const RidgeSystem system = BuildRidgeSystem(x.SelectRows(train[f]), y_train);
    for (std::size_t g = 0; g < options.grid.size(); ++g) {
      const std::vector<double> predicted = SolveRidge(system, options.grid[g]).Predict(x_test);
      double residual = 0.0;
      for (std::size_t t = 0; t < y_test.size(); ++t) residual += (y_test[t] - predicted[t]) * (y_test[t] - predicted[t]);
      r.fold_r2[g][f] = 1.0 - residual / total;
    }
  }
  for (std::size_t g = 0; g < options.grid.size(); ++g) {
    for (double v : r.fold_r2[g]) r.mean_r2[g] += v;
    r.mean_r2[g] /= static_cast<double>(k);
    if (r.mean_r2[g] > r.mean_r2[r.best_index]) r.best_index = g;
  }
  r.best_alpha = options.grid[r.best_index];
  r.model = FitRidge(x, y, r.best_alpha);
  return r;
}

}  // namespace curia::train
