// SPDX-License-Identifier: GPL-3.0-or-later
// Evaluation metrics against scikit-learn 1.2 (sklearn_reference.py) and R's pROC and prop.test
// (proc_reference.R) on the same seeded data.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "curia/train/logistic.h"
#include "curia/train/metrics.h"
#include "curia/train/sampling.h"
#include "reference.h"
#include "test_support.h"

namespace curia::train {
namespace {

using test::ToJson;

// Binary labels and scores with many ties (scores rounded to 0.05), positives higher on average.
void MakeScores(std::size_t n, std::uint64_t seed, std::vector<int>* labels, std::vector<double>* scores,
                std::vector<double>* probability) {
  test::Normal rng(seed);
  for (std::size_t i = 0; i < n; ++i) {
    const int y = rng.Uniform() < 0.35 ? 1 : 0;
    const double s = std::round((y * 0.9 + rng.Next()) * 20.0) / 20.0;
    labels->push_back(y);
    scores->push_back(s);
    probability->push_back(1.0 / (1.0 + std::exp(-1.5 * s)));
  }
}

TEST(TrainMetrics, BinaryMetricsMatchScikitLearn) {
  if (!test::HaveSklearn()) GTEST_SKIP() << "/usr/bin/python3 cannot import sklearn";
  std::vector<int> y;
  std::vector<double> s, p;
  MakeScores(300, 21, &y, &s, &p);
  // Exact edges of the calibration bins (0.1, 0.3, 1.0) are in the data too.
  y.insert(y.end(), {0, 1, 1, 0});
  s.insert(s.end(), {0.0, 0.5, 1.0, -0.5});
  p.insert(p.end(), {0.1, 0.30000000000000004, 1.0, 0.0});
  config::Json t(::Json::objectValue);
  t["kind"] = "metrics";
  t["y"] = ToJson(y);
  t["scores"] = ToJson(s);
  t["probability"] = ToJson(p);
  config::Json tasks(::Json::arrayValue);
  tasks.append(t);
  const config::Json ref = test::Sklearn(tasks);
  ASSERT_EQ(ref.size(), 1u);
  const config::Json& r = ref[0];
  const double auc = RocAuc(y, s);
  std::cout << "AUROC " << auc << ", |difference| " << std::fabs(auc - r["auc"].asDouble()) << "\n";
  EXPECT_NEAR(auc, r["auc"].asDouble(), 1e-9);
  EXPECT_EQ(YoudenThreshold(y, s).threshold, r["youden_threshold"].asDouble());
  // The ROC curve, point by point (ties in the scores make fewer points than cases).
  const RocCurvePoints roc = RocCurve(y, s);
  ASSERT_EQ(roc.fpr.size(), r["roc_fpr"].size());
  ASSERT_EQ(roc.tpr.size(), roc.fpr.size());
  ASSERT_EQ(roc.thresholds.size(), roc.fpr.size());
  EXPECT_LT(roc.fpr.size(), y.size());
  std::cout << "ROC curve: " << roc.fpr.size() << " points for " << y.size() << " cases\n";
  for (std::size_t i = 0; i < roc.fpr.size(); ++i) {
    const int j = static_cast<int>(i);
    EXPECT_NEAR(roc.fpr[i], r["roc_fpr"][j].asDouble(), 1e-15) << i;
    EXPECT_NEAR(roc.tpr[i], r["roc_tpr"][j].asDouble(), 1e-15) << i;
    if (!r["roc_thresholds"][j].isNull()) {
      EXPECT_EQ(roc.thresholds[i], r["roc_thresholds"][j].asDouble()) << i;
    }
  }
  // Its trapezoids are the AUROC.
  double area = 0.0;
  for (std::size_t i = 1; i < roc.fpr.size(); ++i) area += (roc.fpr[i] - roc.fpr[i - 1]) * (roc.tpr[i] + roc.tpr[i - 1]) / 2;
  EXPECT_NEAR(area, auc, 1e-12);
  EXPECT_NEAR(BrierScore(y, p), r["brier"].asDouble(), 1e-12);
  const std::vector<CalibrationBin> table = CalibrationTable(y, p, 10);
  ASSERT_EQ(table.size(), 10u);
  std::vector<double> fraction, predicted;
  for (std::size_t b = 0; b < table.size(); ++b) {
    EXPECT_EQ(table[b].count, r["calibration_counts"][static_cast<int>(b)].asUInt64()) << "bin " << b;
    if (table[b].count == 0) continue;
    fraction.push_back(table[b].fraction_positive);
    predicted.push_back(table[b].mean_predicted);
  }
  const std::vector<double> ref_fraction = test::VectorFromJson(r["calibration_true"]);
  const std::vector<double> ref_predicted = test::VectorFromJson(r["calibration_pred"]);
  ASSERT_EQ(fraction.size(), ref_fraction.size());
  for (std::size_t b = 0; b < fraction.size(); ++b) {
    EXPECT_NEAR(fraction[b], ref_fraction[b], 1e-12);
    EXPECT_NEAR(predicted[b], ref_predicted[b], 1e-12);
  }
}

TEST(TrainMetrics, MulticlassAndRegressionMetricsMatchScikitLearn) {
  if (!test::HaveSklearn()) GTEST_SKIP() << "/usr/bin/python3 cannot import sklearn";
  // Probabilities from a real fit, rounded to create ties and renormalised (roc_auc_score checks
  // that rows sum to 1).
  const test::Dataset d = test::MakeClasses({40, 30, 20, 25}, 4, 0.8, 31);
  LogisticOptions o;
  o.c = 0.05;
  const LogisticModel m = FitLogistic(d.x, d.y, 4, o);
  Matrix proba = m.PredictProba(d.x);
  for (std::size_t i = 0; i < proba.rows(); ++i) {
    double sum = 0.0;
    for (std::size_t k = 0; k < proba.cols(); ++k) sum += (proba(i, k) = std::round(proba(i, k) * 20.0) / 20.0);
    for (std::size_t k = 0; k < proba.cols(); ++k) proba(i, k) /= sum;
  }
  const std::vector<int> predicted = m.Predict(d.x);
  test::Normal rng(32);
  std::vector<double> truth, estimate;
  for (int i = 0; i < 60; ++i) {
    truth.push_back(40.0 + 15.0 * rng.Next());
    estimate.push_back(truth.back() + 4.0 * rng.Next() + 1.0);
  }
  config::Json tasks(::Json::arrayValue);
  config::Json t(::Json::objectValue);
  t["kind"] = "multiclass";
  t["y"] = ToJson(d.y);
  t["proba"] = ToJson(proba);
  t["predicted"] = ToJson(predicted);
  tasks.append(t);
  config::Json u(::Json::objectValue);
  u["kind"] = "regression";
  u["y"] = ToJson(truth);
  u["predicted"] = ToJson(estimate);
  tasks.append(u);
  const config::Json ref = test::Sklearn(tasks);
  ASSERT_EQ(ref.size(), 2u);
  const double auc = RocAucOvrMacro(d.y, proba);
  std::cout << "OvR macro AUROC " << auc << ", |difference| " << std::fabs(auc - ref[0]["auc_ovr"].asDouble()) << "\n";
  EXPECT_NEAR(auc, ref[0]["auc_ovr"].asDouble(), 1e-9);
  EXPECT_NEAR(Accuracy(d.y, predicted), ref[0]["accuracy"].asDouble(), 1e-15);
  EXPECT_NEAR(BalancedAccuracy(d.y, predicted, 4), ref[0]["balanced_accuracy"].asDouble(), 1e-12);
  const auto confusion = ConfusionMatrix(d.y, predicted, 4);
  for (int a = 0; a < 4; ++a) {
    for (int b = 0; b < 4; ++b) EXPECT_EQ(confusion[a][b], ref[0]["confusion"][a][b].asUInt64());
  }
  const RegressionMetrics rm = RegressionScores(truth, estimate);
  EXPECT_NEAR(rm.mae, ref[1]["mae"].asDouble(), 1e-12);
  EXPECT_NEAR(rm.rmse, ref[1]["rmse"].asDouble(), 1e-12);
  EXPECT_NEAR(rm.r2, ref[1]["r2"].asDouble(), 1e-12);
}

TEST(TrainMetrics, DeLongAndWilsonIntervalsMatchR) {
  if (!test::HaveProc()) GTEST_SKIP() << "/usr/bin/Rscript cannot load pROC (packaging/install-deps.sh installs r-cran-proc)";
  std::vector<int> y;
  std::vector<double> s, p;
  MakeScores(150, 41, &y, &s, &p);
  curia::test::TempDir dir;
  std::ostringstream scores, proportions;
  scores.precision(17);
  scores << "label,score\n";
  for (std::size_t i = 0; i < y.size(); ++i) scores << y[i] << "," << s[i] << "\n";
  const std::vector<std::pair<std::size_t, std::size_t>> props = {{0, 12}, {3, 40}, {17, 23}, {50, 50}, {1, 2}};
  proportions << "successes,n\n";
  for (const auto& [k, n] : props) proportions << k << "," << n << "\n";
  curia::test::WriteFile(dir.File("scores.csv"), scores.str());
  curia::test::WriteFile(dir.File("proportions.csv"), proportions.str());
  const curia::test::ShellResult r =
      curia::test::RunShell("/usr/bin/Rscript " + curia::test::TestDataPath("unit/train/proc_reference.R") + " " +
                            dir.File("scores.csv") + " " + dir.File("proportions.csv") + " 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.output;
  std::istringstream in(r.output);
  double auc = 0, lower = 0, upper = 0;
  ASSERT_TRUE(in >> auc >> lower >> upper) << r.output;
  const AucInterval ours = DeLongInterval(y, s);
  const double worst = std::max({std::fabs(ours.auc - auc), std::fabs(ours.ci.lower - lower), std::fabs(ours.ci.upper - upper)});
  std::cout << "DeLong: AUROC " << ours.auc << " [" << ours.ci.lower << ", " << ours.ci.upper
            << "], max |difference| to pROC " << worst << "\n";
  EXPECT_LE(worst, 1e-6);
  EXPECT_NEAR(ours.auc, RocAuc(y, s), 1e-12);
  double wilson_worst = 0.0;
  for (const auto& [k, n] : props) {
    double lo = 0, hi = 0;
    ASSERT_TRUE(in >> lo >> hi) << r.output;
    const Interval w = WilsonInterval(k, n);
    wilson_worst = std::max({wilson_worst, std::fabs(w.lower - lo), std::fabs(w.upper - hi)});
    EXPECT_NEAR(w.lower, lo, 1e-9) << k << "/" << n;
    EXPECT_NEAR(w.upper, hi, 1e-9) << k << "/" << n;
  }
  std::cout << "Wilson: max |difference| to prop.test " << wilson_worst << "\n";
}

TEST(TrainMetrics, StratifiedBootstrapIsSeededAndAgreesWithDeLong) {
  std::vector<int> y;
  std::vector<double> s, p;
  MakeScores(400, 51, &y, &s, &p);
  auto auc_of = [&](const std::vector<std::size_t>& idx) {
    std::vector<int> yy;
    std::vector<double> ss;
    for (std::size_t i : idx) {
      yy.push_back(y[i]);
      ss.push_back(s[i]);
    }
    return RocAuc(yy, ss);
  };
  const Interval a = StratifiedBootstrapInterval(y, auc_of, 2000, 7);
  // The seed fixes the resamples (fewer of them here, to keep the test quick).
  const Interval b1 = StratifiedBootstrapInterval(y, auc_of, 200, 7);
  const Interval b2 = StratifiedBootstrapInterval(y, auc_of, 200, 7);
  const Interval c = StratifiedBootstrapInterval(y, auc_of, 200, 8);
  EXPECT_EQ(b1.lower, b2.lower);
  EXPECT_EQ(b1.upper, b2.upper);
  EXPECT_TRUE(b1.lower != c.lower || b1.upper != c.upper);
  // Two estimates of the same sampling distribution: within a few thousandths at n = 400.
  const AucInterval d = DeLongInterval(y, s);
  std::cout << "bootstrap [" << a.lower << ", " << a.upper << "], DeLong [" << d.ci.lower << ", " << d.ci.upper << "]\n";
  EXPECT_NEAR(a.lower, d.ci.lower, 0.015);
  EXPECT_NEAR(a.upper, d.ci.upper, 0.015);
  // Stratified: every resample keeps both classes (the AUROC would throw otherwise).
  EXPECT_LT(a.lower, RocAuc(y, s));
  EXPECT_GT(a.upper, RocAuc(y, s));
}

TEST(TrainMetrics, QuantileIsRType7) {
  // R: quantile(c(1, 2, 4, 8), c(0.025, 0.5, 0.975)) = 1.075 3.000 7.700
  EXPECT_NEAR(Quantile({8, 1, 4, 2}, 0.025), 1.075, 1e-12);
  EXPECT_NEAR(Quantile({8, 1, 4, 2}, 0.5), 3.0, 1e-12);
  EXPECT_NEAR(Quantile({8, 1, 4, 2}, 0.975), 7.7, 1e-12);
}

TEST(TrainMetrics, ThresholdCountsAndYoudenOnAHandExample) {
  const std::vector<int> y = {0, 0, 1, 0, 1, 1};
  const std::vector<double> s = {0.1, 0.3, 0.35, 0.8, 0.7, 0.9};
  // Thresholds 0.9: J = 1/3; 0.8: 0; 0.7: 1/3; 0.35: 1 - 1/3 = 2/3 (the maximum); 0.3: 1/3; 0.1: 0.
  const ThresholdMetrics t = YoudenThreshold(y, s);
  EXPECT_EQ(t.threshold, 0.35);
  EXPECT_EQ(t.tp, 3u);
  EXPECT_EQ(t.fn, 0u);
  EXPECT_EQ(t.fp, 1u);
  EXPECT_EQ(t.tn, 2u);
  EXPECT_DOUBLE_EQ(t.sensitivity, 1.0);
  EXPECT_DOUBLE_EQ(t.specificity, 2.0 / 3.0);
  // Wilson 3/3 at 95 %: [n / (n + z^2), 1].
  EXPECT_NEAR(t.sensitivity_ci.lower, 3.0 / (3.0 + kZ95 * kZ95), 1e-15);
  EXPECT_DOUBLE_EQ(t.sensitivity_ci.upper, 1.0);
  EXPECT_EQ(curia::test::ErrorMessage([&] { RocAuc({1, 1}, {0.2, 0.3}); }),
            "AUROC: needs cases of both classes (2 positive, 0 negative)");
  EXPECT_EQ(curia::test::ErrorMessage([&] { RocAuc({1, 0}, {0.2}); }), "AUROC: 2 labels for 1 predictions");
  EXPECT_EQ(curia::test::ErrorMessage([&] { RocCurve({0, 0}, {0.2, 0.3}); }),
            "ROC curve: needs cases of both classes (0 positive, 2 negative)");
  // The curve of the hand example, by hand: thresholds 1.9 (max + 1), 0.9, 0.8, 0.7, 0.35, 0.3, 0.1.
  const RocCurvePoints roc = RocCurve(y, s);
  EXPECT_EQ(roc.thresholds, (std::vector<double>{1.9, 0.9, 0.8, 0.7, 0.35, 0.3, 0.1}));
  EXPECT_EQ(roc.tpr, (std::vector<double>{0, 1.0 / 3, 1.0 / 3, 2.0 / 3, 1, 1, 1}));
  EXPECT_EQ(roc.fpr, (std::vector<double>{0, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 2.0 / 3, 1}));
}

// Draws without replacement: distinct members of the pool, the same for the same seed, each member
// chosen k/n of the time (20000 draws: within 0.02 of 0.3, about 6 standard errors).
TEST(TrainSampling, WithoutReplacementIsDistinctSeededAndUniform) {
  const std::vector<std::size_t> pool = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  std::mt19937_64 a(7), b(7), c(8);
  const std::vector<std::size_t> first = SampleWithoutReplacement(a, pool, 3);
  EXPECT_EQ(first, SampleWithoutReplacement(b, pool, 3));
  EXPECT_NE(first, SampleWithoutReplacement(c, pool, 3));
  std::vector<int> chosen(10, 0);
  for (int draw = 0; draw < 20000; ++draw) {
    const std::vector<std::size_t> s = SampleWithoutReplacement(a, pool, 3);
    ASSERT_EQ(s.size(), 3u);
    EXPECT_TRUE(s[0] != s[1] && s[0] != s[2] && s[1] != s[2]);
    for (std::size_t v : s) {
      ASSERT_GE(v, 10u);
      ASSERT_LE(v, 19u);
      ++chosen[v - 10];
    }
  }
  for (int n : chosen) EXPECT_NEAR(n / 20000.0, 0.3, 0.02);
  EXPECT_EQ(SampleWithoutReplacement(a, pool, 10).size(), 10u);
  EXPECT_EQ(curia::test::ErrorMessage([&] { SampleWithoutReplacement(a, pool, 11); }),
            "cannot draw 11 of 10 without replacement");
  for (int i = 0; i < 1000; ++i) EXPECT_LT(UniformIndex(a, 3), 3u);
}

}  // namespace
}  // namespace curia::train
