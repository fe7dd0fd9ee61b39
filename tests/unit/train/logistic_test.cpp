// SPDX-License-Identifier: GPL-3.0-or-later
// Logistic regression, ridge and the choice of C by cross-validation against scikit-learn 1.2 on the
// same data (tests/unit/train/sklearn_reference.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>
#include <random>
#include <vector>

#include "curia/train/cross_validation.h"
#include "curia/train/lbfgs.h"
#include "curia/train/linear_algebra.h"
#include "curia/train/logistic.h"
#include "curia/train/ridge.h"
#include "reference.h"
#include "test_support.h"

namespace curia::train {
namespace {

using test::MakeClasses;
using test::ToJson;

#define REQUIRE_SKLEARN()                                                                             \
  if (!test::HaveSklearn()) GTEST_SKIP() << "/usr/bin/python3 cannot import sklearn "                \
                                            "(packaging/install-deps.sh installs python3-sklearn)"

double MaxAbsDifference(const Matrix& a, const Matrix& b) {
  EXPECT_EQ(a.rows(), b.rows());
  EXPECT_EQ(a.cols(), b.cols());
  double m = 0.0;
  for (std::size_t i = 0; i < std::min(a.values().size(), b.values().size()); ++i) {
    m = std::max(m, std::fabs(a.values()[i] - b.values()[i]));
  }
  return m;
}

// Dot4 gives Dot's sums bit for bit (the fit's numerics did not change with it), for lengths around
// the eight partial sums, with values whose sums depend on the order of the additions.
TEST(TrainLinearAlgebra, Dot4IsFourDotsBitForBit) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (std::size_t n : {0u, 1u, 7u, 8u, 9u, 15u, 16u, 17u, 768u, 771u}) {
    std::vector<double> w(n), x(4 * n);
    for (double& v : w) v = u(rng) * std::pow(10.0, 8.0 * u(rng));
    for (double& v : x) v = u(rng) * std::pow(10.0, 8.0 * u(rng));
    double out[4] = {-1.0, -1.0, -1.0, -1.0};
    Dot4(w.data(), x.data(), x.data() + n, x.data() + 2 * n, x.data() + 3 * n, n, out);
    for (std::size_t r = 0; r < 4; ++r) {
      const double expected = Dot(w.data(), x.data() + r * n, n);
      EXPECT_EQ(std::memcmp(&out[r], &expected, sizeof(double)), 0) << "n " << n << " row " << r << ": " << out[r]
                                                                     << " against Dot's " << expected;
    }
  }
}

TEST(TrainLbfgs, MinimisesTheRosenbrockFunction) {
  // Non-convex and badly scaled: a classic check of the line search and the two-loop recursion.
  std::vector<double> x = {-1.2, 1.0, -1.2, 1.0};
  const LbfgsResult r = MinimiseLbfgs(
      [](const std::vector<double>& v, std::vector<double>& g) {
        double f = 0.0;
        std::fill(g.begin(), g.end(), 0.0);
        for (std::size_t i = 0; i + 1 < v.size(); ++i) {
          const double a = v[i + 1] - v[i] * v[i];
          const double b = 1.0 - v[i];
          f += 100.0 * a * a + b * b;
          g[i] += -400.0 * v[i] * a - 2.0 * b;
          g[i + 1] += 200.0 * a;
        }
        return f;
      },
      x, LbfgsOptions{});
  EXPECT_TRUE(r.converged) << r.stop_reason << " gradient " << r.gradient_max;
  for (double v : x) EXPECT_NEAR(v, 1.0, 1e-8);
}

// Z-scores of the columns of `train` (population standard deviation), applied to both.
void Standardise(Matrix& train, Matrix* other) {
  for (std::size_t j = 0; j < train.cols(); ++j) {
    double mean = 0.0, sq = 0.0;
    for (std::size_t i = 0; i < train.rows(); ++i) mean += train(i, j);
    mean /= static_cast<double>(train.rows());
    for (std::size_t i = 0; i < train.rows(); ++i) sq += (train(i, j) - mean) * (train(i, j) - mean);
    const double sd = std::sqrt(sq / static_cast<double>(train.rows()));
    for (std::size_t i = 0; i < train.rows(); ++i) train(i, j) = (train(i, j) - mean) / sd;
    for (std::size_t i = 0; i < other->rows(); ++i) (*other)(i, j) = ((*other)(i, j) - mean) / sd;
  }
}

// One test for the fits, so that Python starts once.
TEST(TrainLogistic, ProbabilitiesMatchScikitLearn) {
  REQUIRE_SKLEARN();
  struct Case {
    const char* name;
    std::vector<int> counts;
    std::size_t dims;
    double c;
    bool balanced;
    bool standardised;
    std::string Name() const { return std::string(name) + (standardised ? ", standardised" : ", raw"); }
  };
  // Each on raw features (offsets and scales differ per feature, as backbone features do) and on
  // standardised ones (z-scores, computed on the training set).
  std::vector<Case> cases;
  for (bool standardised : {false, true}) {
    cases.push_back({"binary", {70, 40}, 6, 0.5, false, standardised});
    cases.push_back({"binary balanced", {90, 25}, 6, 2.0, true, standardised});
    cases.push_back({"3 classes", {50, 40, 30}, 8, 0.3, false, standardised});
    cases.push_back({"3 classes balanced", {60, 25, 35}, 8, 1.0, true, standardised});
  }
  config::Json tasks(::Json::arrayValue);
  std::vector<test::Dataset> train, eval;
  for (std::size_t k = 0; k < cases.size(); ++k) {
    train.push_back(MakeClasses(cases[k].counts, cases[k].dims, 1.0, 100 + k));
    eval.push_back(MakeClasses(cases[k].counts, cases[k].dims, 1.0, 100 + k));  // same means: same seed
    // Evaluate on fresh cases too: rows of `eval` shifted so that they are not the training rows.
    for (double& v : eval.back().x.values()) v += 0.25;
    if (cases[k].standardised) Standardise(train.back().x, &eval.back().x);
    config::Json t(::Json::objectValue);
    t["kind"] = "logistic";
    t["x"] = ToJson(train[k].x);
    t["y"] = ToJson(train[k].y);
    t["x_eval"] = ToJson(eval[k].x);
    t["C"] = cases[k].c;
    t["balanced"] = cases[k].balanced;
    tasks.append(t);
  }
  const config::Json ref = test::Sklearn(tasks);
  ASSERT_EQ(ref.size(), cases.size());
  int tight = 0;  // cases where LogisticRegression converged to within 1e-6
  for (std::size_t k = 0; k < cases.size(); ++k) {
    LogisticOptions o;
    o.c = cases[k].c;
    o.class_weight = cases[k].balanced ? ClassWeight::kBalanced : ClassWeight::kNone;
    const int classes = static_cast<int>(cases[k].counts.size());
    const LogisticModel m = FitLogistic(train[k].x, train[k].y, classes, o);
    // L-BFGS reaches tol = 1e-10 or stops where f no longer changes in double precision.
    EXPECT_LE(m.optimisation.gradient_max, 1e-6) << cases[k].Name() << ": " << m.optimisation.stop_reason;
    EXPECT_EQ(m.weights.rows(), classes == 2 ? 1u : static_cast<std::size_t>(classes));
    const Matrix p = m.PredictProba(eval[k].x);
    const config::Json& r = ref[static_cast<int>(k)];
    const double diff = MaxAbsDifference(p, test::MatrixFromJson(r["proba"]));
    const double diff_finished = MaxAbsDifference(p, test::MatrixFromJson(r["proba_finished"]));
    std::cout << cases[k].Name() << ": max |p - sklearn p| = " << diff << ", to the exact minimiser "
              << diff_finished << " (" << m.optimisation.iterations << " iterations, gradient "
              << m.optimisation.gradient_max << "; sklearn " << r["n_iter"].asInt() << " iterations, gradient "
              << r["gradient_sklearn"].asDouble() << ", its distance to the minimiser " << r["sklearn_error"].asDouble() << ")\n";
    // Against the exact minimiser of scikit-learn's objective: 1e-8. Against LogisticRegression's
    // own answer: never further than that answer is from its own minimiser (SciPy's default ftol,
    // which LogisticRegression does not expose, stops its L-BFGS-B while the gradient is still
    // 1e-6..1e-3; see sklearn_reference.py and docs/training.md), and within 1e-5 whenever
    // LogisticRegression itself is within 1e-6 of its minimiser.
    const double sklearn_error = r["sklearn_error"].asDouble();
    EXPECT_LE(diff_finished, 1e-8) << cases[k].Name();
    EXPECT_LE(diff, sklearn_error + 1e-8) << cases[k].Name();
    if (sklearn_error <= 1e-6) {
      EXPECT_LE(diff, 1e-5) << cases[k].Name();
      ++tight;
    }
    // Rows are probabilities.
    for (std::size_t i = 0; i < p.rows(); ++i) {
      double s = 0.0;
      for (std::size_t c = 0; c < p.cols(); ++c) s += p(i, c);
      EXPECT_NEAR(s, 1.0, 1e-12);
    }
    // The softmax form of the weights (as a published head stores them) gives the same probabilities.
    std::vector<double> b;
    const Matrix w = m.SoftmaxWeights(&b);
    ASSERT_EQ(w.rows(), static_cast<std::size_t>(classes));
    double worst = 0.0;
    for (std::size_t i = 0; i < eval[k].x.rows(); ++i) {
      std::vector<double> z(w.rows());
      double mx = -1e300;
      for (std::size_t c = 0; c < w.rows(); ++c) {
        z[c] = b[c];
        for (std::size_t j = 0; j < w.cols(); ++j) z[c] += w(c, j) * eval[k].x(i, j);
        mx = std::max(mx, z[c]);
      }
      double s = 0.0;
      for (double& v : z) s += (v = std::exp(v - mx));
      for (std::size_t c = 0; c < w.rows(); ++c) worst = std::max(worst, std::fabs(z[c] / s - p(i, c)));
    }
    EXPECT_LE(worst, 1e-12) << cases[k].Name();
  }
  EXPECT_GE(tight, 1) << "no case where LogisticRegression converged: the 1e-5 comparison was not made";
}

TEST(TrainLogistic, BalancedWeightsAreNOverKTimesClassCount) {
  const std::vector<double> w = BalancedClassWeights({0, 0, 0, 1, 2, 2}, 3);
  EXPECT_DOUBLE_EQ(w[0], 6.0 / 9.0);
  EXPECT_DOUBLE_EQ(w[1], 2.0);
  EXPECT_DOUBLE_EQ(w[2], 1.0);
}

TEST(TrainLogistic, BadInputIsRefusedWithAClearMessage) {
  const test::Dataset d = MakeClasses({5, 5}, 3, 1.0, 1);
  std::vector<int> short_labels(d.y.begin(), d.y.end() - 1);
  EXPECT_EQ(curia::test::ErrorMessage([&] { FitLogistic(d.x, short_labels, 2); }),
            "training: 9 labels for 10 feature rows");
  EXPECT_EQ(curia::test::ErrorMessage([&] { FitLogistic(d.x, std::vector<int>(10, 0), 2); }),
            "training: class 1 has no cases");
  EXPECT_EQ(curia::test::ErrorMessage([&] { FitLogistic(d.x, d.y, 1); }),
            "training: a classifier needs at least two classes, got 1");
  std::vector<int> bad = d.y;
  bad[3] = 7;
  EXPECT_EQ(curia::test::ErrorMessage([&] { FitLogistic(d.x, bad, 2); }), "training: case 3 has label 7, outside [0, 2)");
  LogisticOptions o;
  o.c = 0.0;
  EXPECT_NE(curia::test::ErrorMessage([&] { FitLogistic(d.x, d.y, 2, o); }).find("C must be a positive number"),
            std::string::npos);
}

TEST(TrainRidge, MatchesScikitLearn) {
  REQUIRE_SKLEARN();
  test::Normal rng(7);
  const std::size_t n = 80, d = 12;
  Matrix x(n, d);
  std::vector<double> y(n);
  std::vector<double> beta(d);
  for (double& b : beta) b = rng.Next();
  for (std::size_t i = 0; i < n; ++i) {
    y[i] = 3.0;
    for (std::size_t j = 0; j < d; ++j) {
      x(i, j) = 5.0 * j + (1.0 + j) * rng.Next();
      y[i] += beta[j] * x(i, j);
    }
    y[i] += 0.5 * rng.Next();
  }
  config::Json tasks(::Json::arrayValue);
  const std::vector<double> alphas = {0.1, 10.0};
  for (double alpha : alphas) {
    config::Json t(::Json::objectValue);
    t["kind"] = "ridge";
    t["x"] = ToJson(x);
    t["y"] = ToJson(y);
    t["x_eval"] = ToJson(x);
    t["alpha"] = alpha;
    tasks.append(t);
  }
  const config::Json ref = test::Sklearn(tasks);
  ASSERT_EQ(ref.size(), alphas.size());
  for (std::size_t k = 0; k < alphas.size(); ++k) {
    const RidgeModel m = FitRidge(x, y, alphas[k]);
    const config::Json& r = ref[static_cast<int>(k)];
    const std::vector<double> coef = test::VectorFromJson(r["coef"]);
    const std::vector<double> pred = test::VectorFromJson(r["predicted"]);
    const std::vector<double> ours = m.Predict(x);
    double worst = std::fabs(m.intercept - r["intercept"].asDouble());
    for (std::size_t j = 0; j < d; ++j) worst = std::max(worst, std::fabs(m.weights[j] - coef[j]));
    for (std::size_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(ours[i] - pred[i]));
    std::cout << "ridge alpha " << alphas[k] << ": max |difference| = " << worst << "\n";
    EXPECT_LE(worst, 1e-6);
  }
  EXPECT_EQ(curia::test::ErrorMessage([&] { FitRidge(x, std::vector<double>(3, 0.0), 1.0); }),
            "ridge: 3 targets for 80 feature rows");
}

// Folds, mean accuracies and the chosen C against GridSearchCV(..., cv=StratifiedKFold(k)), and with
// groups against StratifiedGroupKFold(k).
TEST(TrainCrossValidation, ChoosesTheSameCAsGridSearchCV) {
  REQUIRE_SKLEARN();
  // Weakly separated classes, so that C matters; the label order is shuffled so that folds are not trivial.
  test::Dataset binary = MakeClasses({48, 29}, 5, 0.35, 11);
  test::Dataset three = MakeClasses({33, 21, 26}, 6, 0.45, 12);
  test::Normal rng(13);
  std::vector<std::string> groups;
  for (std::size_t i = 0; i < three.y.size(); ++i) {
    groups.push_back("patient-" + std::to_string(static_cast<int>(rng.Uniform() * 30)));
  }
  const std::vector<double> grid = {1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0};
  struct Case {
    const char* name;
    const test::Dataset* data;
    int classes;
    int folds;
    bool balanced;
    bool grouped;
  };
  const std::vector<Case> cases = {
      {"binary, 5 folds", &binary, 2, 5, false, false},
      {"binary, 4 folds, balanced", &binary, 2, 4, true, false},
      {"3 classes, 5 folds", &three, 3, 5, false, false},
      {"3 classes, 3 folds, grouped", &three, 3, 3, false, true},
  };
  config::Json tasks(::Json::arrayValue);
  for (const Case& c : cases) {
    config::Json t(::Json::objectValue);
    t["kind"] = "gridsearch";
    t["x"] = ToJson(c.data->x);
    t["y"] = ToJson(c.data->y);
    t["folds"] = c.folds;
    t["grid"] = ToJson(grid);
    t["balanced"] = c.balanced;
    if (c.grouped) {
      config::Json g(::Json::arrayValue);
      for (const auto& s : groups) g.append(s);
      t["groups"] = g;
    }
    tasks.append(t);
  }
  const config::Json ref = test::Sklearn(tasks);
  ASSERT_EQ(ref.size(), cases.size());
  for (std::size_t k = 0; k < cases.size(); ++k) {
    const Case& c = cases[k];
    const config::Json& r = ref[static_cast<int>(k)];
    CrossValidationOptions o;
    o.grid = grid;
    o.folds = c.folds;
    o.logistic.class_weight = c.balanced ? ClassWeight::kBalanced : ClassWeight::kNone;
    if (c.grouped) o.groups = groups;
    const CrossValidationResult cv = CrossValidateLogistic(c.data->x, c.data->y, c.classes, o);
    std::vector<int> folds;
    for (const auto& f : r["folds"]) folds.push_back(f.asInt());
    EXPECT_EQ(cv.fold_of_case, folds) << c.name;
    // Mean accuracies: equal to the cross-validation with exact fits; GridSearchCV's own can differ
    // where a C leaves held-out logits within its L-BFGS-B's error of 0 (printed, not asserted).
    const std::vector<double> means = test::VectorFromJson(r["mean_scores"]);
    const std::vector<double> exact = test::VectorFromJson(r["mean_scores_exact"]);
    ASSERT_EQ(means.size(), grid.size());
    ASSERT_EQ(exact.size(), grid.size());
    for (std::size_t g = 0; g < grid.size(); ++g) {
      EXPECT_EQ(cv.mean_accuracy[g], exact[g]) << c.name << " C=" << grid[g];
      if (means[g] != exact[g]) {
        std::cout << c.name << ", C = " << grid[g] << ": GridSearchCV's mean accuracy " << means[g]
                  << ", with exact fits " << exact[g] << "\n";
      }
    }
    EXPECT_EQ(cv.best_index, static_cast<std::size_t>(r["best_index"].asInt())) << c.name;
    const Matrix p = cv.model.PredictProba(c.data->x);
    const double diff = MaxAbsDifference(p, test::MatrixFromJson(r["proba"]));
    const double diff_exact = MaxAbsDifference(p, test::MatrixFromJson(r["proba_finished"]));
    std::cout << c.name << ": C = " << cv.best_c << ", refit max |p - sklearn p| = " << diff
              << ", to the exact minimiser " << diff_exact << "\n";
    EXPECT_LE(diff_exact, 1e-8) << c.name;
  }
  // The grid must have made a difference somewhere, or the test proves little.
  bool varied = false;
  for (std::size_t k = 0; k < cases.size(); ++k) {
    const std::vector<double> means = test::VectorFromJson(ref[static_cast<int>(k)]["mean_scores"]);
    varied = varied || *std::max_element(means.begin(), means.end()) != *std::min_element(means.begin(), means.end());
  }
  EXPECT_TRUE(varied);
}

TEST(TrainCrossValidation, BadInputIsRefusedWithAClearMessage) {
  const test::Dataset d = MakeClasses({10, 4}, 3, 1.0, 3);
  CrossValidationOptions o;
  o.grid = {1.0};
  o.folds = 5;
  EXPECT_EQ(curia::test::ErrorMessage([&] { CrossValidateLogistic(d.x, d.y, 2, o); }),
            "cross-validation: class 1 has 4 case(s), fewer than the 5 folds");
  EXPECT_EQ(curia::test::ErrorMessage([&] { CrossValidateLogistic(d.x, std::vector<int>(14, 1), 2, o); }),
            "cross-validation: all cases have the same label (1); two classes at least are needed");
  EXPECT_EQ(curia::test::ErrorMessage([&] { CrossValidateLogistic(d.x, std::vector<int>(13, 1), 2, o); }),
            "cross-validation: 13 labels for 14 feature rows");
  o.grid.clear();
  EXPECT_EQ(curia::test::ErrorMessage([&] { CrossValidateLogistic(d.x, d.y, 2, o); }),
            "cross-validation: the grid of C values is empty");
  o.grid = {1.0};
  o.folds = 2;
  o.groups.assign(14, "one patient");
  EXPECT_EQ(curia::test::ErrorMessage([&] { CrossValidateLogistic(d.x, d.y, 2, o); }),
            "cross-validation: fold 1 of 2 has no cases (1 groups); use fewer folds");
}

TEST(TrainCrossValidation, StratifiedFoldsFollowScikitLearnsRoundRobin) {
  // Worked by hand from StratifiedKFold's rule: classes numbered by first appearance ("1" first,
  // 7 cases; "0", 5 cases), the sorted numbers dealt round robin to 3 folds give fold 0 three "1"s
  // and one "0", folds 1 and 2 two of each; each class's cases then fill the folds in data order.
  const std::vector<int> y = {1, 1, 0, 0, 0, 1, 0, 1, 1, 0, 1, 1};
  EXPECT_EQ(StratifiedKFoldAssignment(y, 3), (std::vector<int>{0, 0, 0, 1, 1, 0, 2, 1, 1, 2, 2, 2}));
}

}  // namespace
}  // namespace curia::train
