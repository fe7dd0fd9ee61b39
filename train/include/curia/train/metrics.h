// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Evaluation metrics for heads, with confidence intervals, matching the references named per
// function (scikit-learn 1.2, R's pROC 1.18). Labels are class indices 0..K-1; binary metrics take
// class 1 as positive and a score where higher means more likely positive.
//
//   double auc = RocAuc(labels, scores);                      // sklearn roc_auc_score
//   AucInterval ci = DeLongInterval(labels, scores);          // pROC ci.auc(method = "delong")
//   Interval boot = StratifiedBootstrapInterval(labels, [&](const std::vector<std::size_t>& idx) {
//     return RocAuc(Take(labels, idx), Take(scores, idx));
//   });
//
// Thread safety: pure functions.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "curia/train/matrix.h"

namespace curia::train {

constexpr double kZ95 = 1.959963984540054;  // qnorm(0.975)

struct Interval {
  double lower = 0.0;
  double upper = 0.0;
};

// Area under the ROC curve, ties counted 1/2 (the trapezoid rule, = Mann-Whitney U / (n1 n0)), as
// roc_auc_score. Throws curia::Error (kInvalidArgument) unless both classes are present, labels
// are 0/1 and counts match.
double RocAuc(const std::vector<int>& labels, const std::vector<double>& scores);

// One-vs-rest macro AUROC, as roc_auc_score(labels, probabilities, multi_class="ovr",
// average="macro"): the mean over classes k of RocAuc(label == k, column k). Two classes: the AUROC
// of column 1. Every class must be present.
double RocAucOvrMacro(const std::vector<int>& labels, const Matrix& probabilities);

struct AucInterval {
  double auc = 0.0;
  double variance = 0.0;  // DeLong's estimate of Var(AUC)
  Interval ci;
};
// DeLong's variance and the normal interval around the AUROC, clipped to [0, 1], as pROC's
// ci.auc(roc(labels, scores, direction = "<"), method = "delong", conf.level = level).
AucInterval DeLongInterval(const std::vector<int>& labels, const std::vector<double>& scores, double level = 0.95);

// Wilson score interval for a proportion successes / n (= R's prop.test(correct = FALSE)).
// n = 0 gives [0, 1].
Interval WilsonInterval(std::size_t successes, std::size_t n, double z = kZ95);

// confusion[t][p]: cases of true class t predicted as p (sklearn confusion_matrix).
std::vector<std::vector<std::size_t>> ConfusionMatrix(const std::vector<int>& labels, const std::vector<int>& predicted,
                                                      int num_classes);
double Accuracy(const std::vector<int>& labels, const std::vector<int>& predicted);
// Mean recall over the classes present in `labels` (sklearn balanced_accuracy_score).
double BalancedAccuracy(const std::vector<int>& labels, const std::vector<int>& predicted, int num_classes);

// The ROC curve as sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False) of
// scikit-learn 1.2: one point per distinct score, highest first (positive when score >= threshold),
// preceded by (0, 0) at threshold max(score) + 1 (scikit-learn 1.3 and later put +infinity there).
// fpr and tpr rise to 1. Throws curia::Error (kInvalidArgument) unless both classes are present.
struct RocCurvePoints {
  std::vector<double> fpr, tpr, thresholds;
};
RocCurvePoints RocCurve(const std::vector<int>& labels, const std::vector<double>& scores);

// Binary classification at a threshold: positive when score >= threshold.
struct ThresholdMetrics {
  double threshold = 0.0;
  std::size_t tp = 0, fn = 0, tn = 0, fp = 0;
  double sensitivity = 0.0;
  Interval sensitivity_ci;  // Wilson
  double specificity = 0.0;
  Interval specificity_ci;  // Wilson
};
ThresholdMetrics AtThreshold(const std::vector<int>& labels, const std::vector<double>& scores, double threshold);

// The threshold among the observed scores that maximises Youden's J = sensitivity + specificity - 1
// (positive when score >= threshold); ties go to the highest such threshold, as the first maximum of
// sklearn's roc_curve(drop_intermediate=False) thresholds.
ThresholdMetrics YoudenThreshold(const std::vector<int>& labels, const std::vector<double>& scores);

// Mean squared difference between the predicted probability of class 1 and the outcome
// (sklearn brier_score_loss).
double BrierScore(const std::vector<int>& labels, const std::vector<double>& probability);
// Multi-class Brier: the mean over cases of sum_k (p_k - [y = k])^2 (Brier's original; twice the
// binary score for two classes).
double BrierScoreMulticlass(const std::vector<int>& labels, const Matrix& probabilities);

// Reliability table with `bins` equal-width bins on [0, 1] (bin i holds p in (i/b, (i+1)/b], the
// first also 0), as sklearn's calibration_curve(strategy="uniform"); empty bins are kept with count 0.
struct CalibrationBin {
  double lower = 0.0;
  double upper = 0.0;
  std::size_t count = 0;
  double mean_predicted = 0.0;
  double fraction_positive = 0.0;
};
std::vector<CalibrationBin> CalibrationTable(const std::vector<int>& labels, const std::vector<double>& probability,
                                             int bins = 10);

// Percentile interval of `statistic` over `resamples` stratified bootstrap resamples (cases drawn
// with replacement within each class, class sizes kept, as pROC's stratified bootstrap), seeded
// (std::mt19937_64, portable). Percentiles interpolate linearly (R's quantile type 7, numpy's
// default). Resamples whose statistic is not finite are dropped.
Interval StratifiedBootstrapInterval(const std::vector<int>& labels,
                                     const std::function<double(const std::vector<std::size_t>& indices)>& statistic,
                                     int resamples = 2000, std::uint64_t seed = 42, double level = 0.95);

// Quantile with linear interpolation (R type 7) of unsorted values; q in [0, 1].
double Quantile(std::vector<double> values, double q);

struct RegressionMetrics {
  double mae = 0.0;
  double rmse = 0.0;
  double r2 = 0.0;  // 1 - SS_res / SS_tot (sklearn r2_score: constant truth gives 1 if predicted exactly, else 0)
};
RegressionMetrics RegressionScores(const std::vector<double>& truth, const std::vector<double>& predicted);

}  // namespace curia::train
