// SPDX-License-Identifier: GPL-3.0-or-later
// The choice of ridge alpha by (group) k-fold cross-validation against scikit-learn 1.2's
// GridSearchCV(Ridge(), {"alpha": grid}, cv=KFold(k) / GroupKFold(k)) on the same data
// (tests/unit/train/sklearn_reference.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "curia/train/ridge_cv.h"
#include "reference.h"
#include "test_support.h"

namespace curia::train {
namespace {

using test::ToJson;

// y = x.beta + noise, features with offsets and scales; few informative features and enough noise
// that alpha matters.
struct Regression {
  Matrix x;
  std::vector<double> y;
};

Regression MakeRegression(std::size_t n, std::size_t d, double noise, std::uint64_t seed) {
  test::Normal rng(seed);
  Regression r{Matrix(n, d), std::vector<double>(n, 0.0)};
  std::vector<double> beta(d), scale(d), offset(d);
  for (std::size_t j = 0; j < d; ++j) {
    beta[j] = j < 5 ? rng.Next() : 0.1 * rng.Next();
    scale[j] = 0.5 + 1.5 * rng.Uniform();
    offset[j] = 2.0 * rng.Next();
  }
  for (std::size_t i = 0; i < n; ++i) {
    r.y[i] = 40.0;
    for (std::size_t j = 0; j < d; ++j) {
      const double z = rng.Next();
      r.x(i, j) = offset[j] + scale[j] * z;
      r.y[i] += beta[j] * z;
    }
    r.y[i] += noise * rng.Next();
  }
  return r;
}

TEST(TrainRidgeCrossValidation, ChoosesTheSameAlphaAsGridSearchCV) {
  if (!test::HaveSklearn()) GTEST_SKIP() << "/usr/bin/python3 cannot import sklearn (packaging/install-deps.sh installs it)";
  const Regression tall = MakeRegression(93, 20, 2.0, 21);  // 93 cases: folds of 19, 19, 19, 18, 18
  const Regression wide = MakeRegression(45, 60, 1.0, 22);  // more features than cases (scikit-learn solves the dual)
  test::Normal rng(23);
  std::vector<std::string> groups;  // patients with 1 to 4 cases: many groups of equal size
  for (std::size_t i = 0; i < tall.y.size(); ++i) {
    const bool new_patient = i == 0 || rng.Uniform() < 0.4;
    groups.push_back(new_patient ? "patient-" + std::to_string(i) : groups.back());
  }
  // Shuffle the group names among cases a little, so that a group's cases are not all adjacent.
  for (std::size_t i = 0; i + 7 < groups.size(); i += 7) std::swap(groups[i], groups[i + 5]);
  const std::vector<double> grid = {0.01, 0.1, 1.0, 10.0, 100.0, 1000.0};
  struct Case {
    const char* name;
    const Regression* data;
    int folds;
    bool grouped;
  };
  const std::vector<Case> cases = {
      {"93 x 20, 5 folds", &tall, 5, false},
      {"45 x 60, 3 folds", &wide, 3, false},
      {"93 x 20, 4 folds, grouped", &tall, 4, true},
  };
  config::Json tasks(::Json::arrayValue);
  for (const Case& c : cases) {
    config::Json t(::Json::objectValue);
    t["kind"] = "ridgecv";
    t["x"] = ToJson(c.data->x);
    t["y"] = ToJson(c.data->y);
    t["folds"] = c.folds;
    t["grid"] = ToJson(grid);
    if (c.grouped) {
      config::Json g(::Json::arrayValue);
      for (const auto& s : groups) g.append(s);
      t["groups"] = g;
    }
    tasks.append(t);
  }
  const config::Json ref = test::Sklearn(tasks);
  ASSERT_EQ(ref.size(), cases.size());
  bool interior = false;
  for (std::size_t k = 0; k < cases.size(); ++k) {
    const Case& c = cases[k];
    const config::Json& r = ref[static_cast<int>(k)];
    RidgeCrossValidationOptions o;
    o.grid = grid;
    o.folds = c.folds;
    if (c.grouped) o.groups = groups;
    const RidgeCrossValidationResult cv = CrossValidateRidge(c.data->x, c.data->y, o);
    std::vector<int> folds;
    for (const auto& f : r["folds"]) folds.push_back(f.asInt());
    EXPECT_EQ(cv.fold_of_case, folds) << c.name;
    const std::vector<double> means = test::VectorFromJson(r["mean_scores"]);
    ASSERT_EQ(means.size(), grid.size());
    double worst_score = 0.0;
    for (std::size_t g = 0; g < grid.size(); ++g) {
      const std::vector<double> per_fold = test::VectorFromJson(r["fold_scores"][static_cast<int>(g)]);
      ASSERT_EQ(per_fold.size(), static_cast<std::size_t>(c.folds));
      for (int f = 0; f < c.folds; ++f) worst_score = std::max(worst_score, std::fabs(cv.fold_r2[g][f] - per_fold[f]));
      worst_score = std::max(worst_score, std::fabs(cv.mean_r2[g] - means[g]));
    }
    EXPECT_LE(worst_score, 1e-9) << c.name;
    EXPECT_EQ(cv.best_index, static_cast<std::size_t>(r["best_index"].asInt())) << c.name;
    interior = interior || (cv.best_index > 0 && cv.best_index + 1 < grid.size());
    const std::vector<double> coef = test::VectorFromJson(r["coef"]);
    ASSERT_EQ(coef.size(), cv.model.weights.size());
    double worst_coef = std::fabs(cv.model.intercept - r["intercept"].asDouble());
    for (std::size_t j = 0; j < coef.size(); ++j) worst_coef = std::max(worst_coef, std::fabs(cv.model.weights[j] - coef[j]));
    EXPECT_LE(worst_coef, 1e-6) << c.name;
    std::cout << c.name << ": alpha = " << cv.best_alpha << " (mean R² " << cv.mean_r2[cv.best_index]
              << "); max |R² - sklearn| = " << worst_score << ", coefficients " << worst_coef << "\n";
  }
  EXPECT_TRUE(interior) << "alpha never chosen inside the grid: the test data do not exercise the choice";
}

// GroupKFold's placement of equal-sized groups depends on numpy's (unstable) argsort: many layouts
// with many ties, more than 16 groups (numpy's quicksort partitions) and fewer (insertion sort).
TEST(TrainRidgeCrossValidation, GroupFoldsMatchGroupKFoldCaseByCase) {
  if (!test::HaveSklearn()) GTEST_SKIP() << "/usr/bin/python3 cannot import sklearn (packaging/install-deps.sh installs it)";
  test::Normal rng(31);
  std::vector<std::vector<std::string>> layouts;
  std::vector<int> fold_counts;
  config::Json list(::Json::arrayValue);
  for (int l = 0; l < 120; ++l) {
    const int n_groups = 3 + static_cast<int>(rng.Uniform() * 80);
    const int max_size = 1 + static_cast<int>(rng.Uniform() * 5);
    std::vector<std::string> groups;
    for (int g = 0; g < n_groups; ++g) {
      const int size = 1 + static_cast<int>(rng.Uniform() * max_size);
      const std::string name = "g" + std::to_string(static_cast<int>(rng.Uniform() * 1e6)) + "-" + std::to_string(g);
      for (int s = 0; s < size; ++s) groups.push_back(name);
    }
    // Interleave: cases of a group are not adjacent.
    for (std::size_t i = 0; i + 3 < groups.size(); i += 3) std::swap(groups[i], groups[i + 2]);
    const int folds = 2 + static_cast<int>(rng.Uniform() * std::min(n_groups - 1, 9));
    layouts.push_back(groups);
    fold_counts.push_back(folds);
    config::Json t(::Json::objectValue);
    config::Json g(::Json::arrayValue);
    for (const auto& s : groups) g.append(s);
    t["groups"] = g;
    t["folds"] = folds;
    list.append(t);
  }
  config::Json tasks(::Json::arrayValue);
  config::Json t(::Json::objectValue);
  t["kind"] = "groupkfold";
  t["layouts"] = list;
  tasks.append(t);
  const config::Json ref = test::Sklearn(tasks);
  ASSERT_EQ(ref.size(), 1u);
  int differing = 0;
  for (std::size_t l = 0; l < layouts.size(); ++l) {
    std::vector<int> expected;
    for (const auto& f : ref[0]["folds"][static_cast<int>(l)]) expected.push_back(f.asInt());
    const std::vector<int> ours = GroupKFoldAssignment(layouts[l], fold_counts[l]);
    if (ours != expected) ++differing;
    EXPECT_EQ(ours, expected) << "layout " << l << ": " << layouts[l].size() << " cases, " << fold_counts[l] << " folds";
  }
  EXPECT_EQ(differing, 0);
}

TEST(TrainRidgeCrossValidation, FoldsAreContiguousBlocksAsKFold) {
  // KFold(3) on 8 cases: sizes 3, 3, 2.
  EXPECT_EQ(KFoldAssignment(8, 3), (std::vector<int>{0, 0, 0, 1, 1, 1, 2, 2}));
  // GroupKFold(2), worked by hand: sizes a=3, b=1, c=2; largest first to the lighter fold:
  // a -> 0, c -> 1, b -> 1.
  EXPECT_EQ(GroupKFoldAssignment({"b", "a", "c", "a", "c", "a"}, 2), (std::vector<int>{1, 0, 1, 0, 1, 0}));
}

TEST(TrainRidgeCrossValidation, BadInputIsRefusedWithAClearMessage) {
  const Regression d = MakeRegression(12, 3, 1.0, 5);
  RidgeCrossValidationOptions o;
  o.grid = {1.0, 10.0};
  o.folds = 13;
  EXPECT_EQ(curia::test::ErrorMessage([&] { CrossValidateRidge(d.x, d.y, o); }),
            "cross-validation: 12 case(s), fewer than the 13 folds");
  o.folds = 3;
  EXPECT_EQ(curia::test::ErrorMessage([&] { CrossValidateRidge(d.x, std::vector<double>(12, 2.5), o); }),
            "cross-validation: every target is 2.5; R² is undefined for a constant target");
  std::vector<double> y = d.y;
  for (std::size_t i = 8; i < 12; ++i) y[i] = 7.0;  // the last fold's targets are all 7
  EXPECT_EQ(curia::test::ErrorMessage([&] { CrossValidateRidge(d.x, y, o); }),
            "cross-validation: the 4 held-out case(s) of fold 2 all have the target 7; R² is undefined there "
            "(use fewer folds)");
  o.groups = {"a", "a", "a", "a", "b", "b", "b", "b", "b", "b", "b", "b"};
  EXPECT_EQ(curia::test::ErrorMessage([&] { CrossValidateRidge(d.x, d.y, o); }),
            "cross-validation: 2 group(s), fewer than the 3 folds (a group is never split between folds)");
  o.groups.clear();
  o.grid = {};
  EXPECT_EQ(curia::test::ErrorMessage([&] { CrossValidateRidge(d.x, d.y, o); }),
            "cross-validation: the grid of alpha values is empty");
  o.grid = {1.0, -2.0};
  EXPECT_EQ(curia::test::ErrorMessage([&] { CrossValidateRidge(d.x, d.y, o); }),
            "cross-validation: alpha must be a positive number, got -2");
  o.grid = {1.0};
  EXPECT_EQ(curia::test::ErrorMessage([&] { CrossValidateRidge(d.x, std::vector<double>(5, 1.0), o); }),
            "cross-validation: 5 targets for 12 feature rows");
}

}  // namespace
}  // namespace curia::train
