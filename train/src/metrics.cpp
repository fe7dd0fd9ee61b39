// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/train/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

#include "curia/config/error.h"
#include "curia/train/sampling.h"

namespace curia::train {
namespace {

void CheckSameCount(std::size_t a, std::size_t b, const char* what) {
  if (a != b) {
    throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": " + std::to_string(a) + " labels for " +
                                                 std::to_string(b) + " predictions");
  }
}

// Positives and negatives of binary labels (throws unless 0/1 and both present).
void CountBinary(const std::vector<int>& labels, const char* what, std::size_t* positives, std::size_t* negatives) {
  *positives = 0;
  *negatives = 0;
  for (int y : labels) {
    if (y == 1) {
      ++*positives;
    } else if (y == 0) {
      ++*negatives;
    } else {
      throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": binary labels must be 0 or 1, got " + std::to_string(y));
    }
  }
  if (*positives == 0 || *negatives == 0) {
    throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": needs cases of both classes (" +
                                                 std::to_string(*positives) + " positive, " +
                                                 std::to_string(*negatives) + " negative)");
  }
}

// Placement of each positive among the negatives (fraction below, ties 1/2) and of each negative
// among the positives (fraction above, ties 1/2): DeLong's structural components, in O(n log n).
void Placements(const std::vector<int>& labels, const std::vector<double>& scores, std::vector<double>* v10,
                std::vector<double>* v01) {
  std::vector<double> pos, neg;
  for (std::size_t i = 0; i < labels.size(); ++i) (labels[i] == 1 ? pos : neg).push_back(scores[i]);
  std::vector<double> pos_sorted = pos, neg_sorted = neg;
  std::sort(pos_sorted.begin(), pos_sorted.end());
  std::sort(neg_sorted.begin(), neg_sorted.end());
  const double n1 = static_cast<double>(pos.size());
  const double n0 = static_cast<double>(neg.size());
  v10->resize(pos.size());
  v01->resize(neg.size());
  for (std::size_t i = 0; i < pos.size(); ++i) {
    const auto below = std::lower_bound(neg_sorted.begin(), neg_sorted.end(), pos[i]) - neg_sorted.begin();
    const auto up_to = std::upper_bound(neg_sorted.begin(), neg_sorted.end(), pos[i]) - neg_sorted.begin();
    (*v10)[i] = (static_cast<double>(below) + 0.5 * static_cast<double>(up_to - below)) / n0;
  }
  for (std::size_t j = 0; j < neg.size(); ++j) {
    const auto below = std::lower_bound(pos_sorted.begin(), pos_sorted.end(), neg[j]) - pos_sorted.begin();
    const auto up_to = std::upper_bound(pos_sorted.begin(), pos_sorted.end(), neg[j]) - pos_sorted.begin();
    const double above = static_cast<double>(pos_sorted.size()) - static_cast<double>(up_to);
    (*v01)[j] = (above + 0.5 * static_cast<double>(up_to - below)) / n1;
  }
}

double Mean(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// The normal quantile by Acklam's rational approximation refined by one Halley step (|error| well
// below 1e-12), for confidence levels other than 95 %.
double NormalQuantile(double p) {
  if (!(p > 0.0 && p < 1.0)) throw Error(ErrorCode::kInvalidArgument, "normal quantile: p must be in (0, 1)");
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  double x;
  if (p < 0.02425) {
    const double q = std::sqrt(-2.0 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  } else if (p > 1.0 - 0.02425) {
    const double q = std::sqrt(-2.0 * std::log(1.0 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  } else {
    const double q = p - 0.5;
    const double r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
  }
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2.0 * M_PI) * std::exp(x * x / 2.0);
  return x - u / (1.0 + x * u / 2.0);
}

}  // namespace

double RocAuc(const std::vector<int>& labels, const std::vector<double>& scores) {
  CheckSameCount(labels.size(), scores.size(), "AUROC");
  std::size_t n1 = 0, n0 = 0;
  CountBinary(labels, "AUROC", &n1, &n0);
  // Mann-Whitney with mid-ranks: (sum of the positives' ranks - n1 (n1 + 1) / 2) / (n1 n0).
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0.0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double mid_rank = 0.5 * static_cast<double>(i + 1 + j);  // ranks i+1..j
    for (std::size_t k = i; k < j; ++k) rank_sum += labels[order[k]] == 1 ? mid_rank : 0.0;
    i = j;
  }
  const double u = rank_sum - 0.5 * static_cast<double>(n1) * static_cast<double>(n1 + 1);
  return u / (static_cast<double>(n1) * static_cast<double>(n0));
}

double RocAucOvrMacro(const std::vector<int>& labels, const Matrix& probabilities) {
  CheckSameCount(labels.size(), probabilities.rows(), "AUROC");
  const std::size_t k = probabilities.cols();
  if (k < 2) throw Error(ErrorCode::kInvalidArgument, "AUROC: needs at least two probability columns");
  std::vector<double> column(labels.size());
  if (k == 2) {
    for (std::size_t i = 0; i < labels.size(); ++i) column[i] = probabilities(i, 1);
    return RocAuc(labels, column);
  }
  double sum = 0.0;
  std::vector<int> binary(labels.size());
  for (std::size_t c = 0; c < k; ++c) {
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (labels[i] < 0 || static_cast<std::size_t>(labels[i]) >= k) {
        throw Error(ErrorCode::kInvalidArgument, "AUROC: label " + std::to_string(labels[i]) + " outside [0, " + std::to_string(k) + ")");
      }
      binary[i] = static_cast<std::size_t>(labels[i]) == c ? 1 : 0;
      column[i] = probabilities(i, c);
    }
    sum += RocAuc(binary, column);
  }
  return sum / static_cast<double>(k);
}

AucInterval DeLongInterval(const std::vector<int>& labels, const std::vector<double>& scores, double level) {
  if (!(level > 0.0 && level < 1.0)) throw Error(ErrorCode::kInvalidArgument, "DeLong: the level must be in (0, 1)");
  CheckSameCount(labels.size(), scores.size(), "DeLong");
  std::size_t n1 = 0, n0 = 0;
  CountBinary(labels, "DeLong", &n1, &n0);
  if (n1 < 2 || n0 < 2) throw Error(ErrorCode::kInvalidArgument, "DeLong: needs at least two cases of each class");
  std::vector<double> v10, v01;
  Placements(labels, scores, &v10, &v01);
  AucInterval r;
  r.auc = Mean(v10);
  double s10 = 0.0, s01 = 0.0;
  for (double v : v10) s10 += (v - r.auc) * (v - r.auc);
  for (double v : v01) s01 += (v - r.auc) * (v - r.auc);
  s10 /= static_cast<double>(n1 - 1);
  s01 /= static_cast<double>(n0 - 1);
  r.variance = s10 / static_cast<double>(n1) + s01 / static_cast<double>(n0);
  const double z = level == 0.95 ? kZ95 : NormalQuantile(0.5 + level / 2.0);
  const double sd = std::sqrt(r.variance);
  r.ci.lower = std::clamp(r.auc - z * sd, 0.0, 1.0);
  r.ci.upper = std::clamp(r.auc + z * sd, 0.0, 1.0);
  return r;
}

Interval WilsonInterval(std::size_t successes, std::size_t n, double z) {
  if (successes > n) throw Error(ErrorCode::kInvalidArgument, "Wilson interval: more successes than trials");
  if (n == 0) return {0.0, 1.0};
  const double nn = static_cast<double>(n);
  const double p = static_cast<double>(successes) / nn;
  const double z2 = z * z;
  const double denom = 1.0 + z2 / nn;
  const double centre = (p + z2 / (2.0 * nn)) / denom;
  const double half = z / denom * std::sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn));
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

std::vector<std::vector<std::size_t>> ConfusionMatrix(const std::vector<int>& labels, const std::vector<int>& predicted,
                                                      int num_classes) {
  CheckSameCount(labels.size(), predicted.size(), "confusion matrix");
  const std::size_t k = static_cast<std::size_t>(std::max(num_classes, 0));
  std::vector<std::vector<std::size_t>> m(k, std::vector<std::size_t>(k, 0));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes || predicted[i] < 0 || predicted[i] >= num_classes) {
      throw Error(ErrorCode::kInvalidArgument, "confusion matrix: case " + std::to_string(i) + " has a class outside [0, " +
                                                   std::to_string(num_classes) + ")");
    }
    ++m[static_cast<std::size_t>(labels[i])][static_cast<std::size_t>(predicted[i])];
  }
  return m;
}

double Accuracy(const std::vector<int>& labels, const std::vector<int>& predicted) {
  CheckSameCount(labels.size(), predicted.size(), "accuracy");
  if (labels.empty()) throw Error(ErrorCode::kInvalidArgument, "accuracy: no cases");
  std::size_t correct = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) correct += labels[i] == predicted[i] ? 1 : 0;
  return static_cast<double>(correct) / static_cast<double>(labels.size());
}

double BalancedAccuracy(const std::vector<int>& labels, const std::vector<int>& predicted, int num_classes) {
  const auto m = ConfusionMatrix(labels, predicted, num_classes);
  double sum = 0.0;
  int present = 0;
  for (std::size_t c = 0; c < m.size(); ++c) {
    const std::size_t total = std::accumulate(m[c].begin(), m[c].end(), std::size_t{0});
    if (total == 0) continue;
    sum += static_cast<double>(m[c][c]) / static_cast<double>(total);
    ++present;
  }
  if (present == 0) throw Error(ErrorCode::kInvalidArgument, "balanced accuracy: no cases");
  return sum / present;
}

ThresholdMetrics AtThreshold(const std::vector<int>& labels, const std::vector<double>& scores, double threshold) {
  CheckSameCount(labels.size(), scores.size(), "sensitivity/specificity");
  std::size_t n1 = 0, n0 = 0;
  CountBinary(labels, "sensitivity/specificity", &n1, &n0);
  ThresholdMetrics t;
  t.threshold = threshold;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const bool positive = scores[i] >= threshold;
    if (labels[i] == 1) {
      ++(positive ? t.tp : t.fn);
    } else {
      ++(positive ? t.fp : t.tn);
    }
  }
  t.sensitivity = static_cast<double>(t.tp) / static_cast<double>(n1);
  t.specificity = static_cast<double>(t.tn) / static_cast<double>(n0);
  t.sensitivity_ci = WilsonInterval(t.tp, n1);
  t.specificity_ci = WilsonInterval(t.tn, n0);
  return t;
}

RocCurvePoints RocCurve(const std::vector<int>& labels, const std::vector<double>& scores) {
  CheckSameCount(labels.size(), scores.size(), "ROC curve");
  std::size_t n1 = 0, n0 = 0;
  CountBinary(labels, "ROC curve", &n1, &n0);
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  RocCurvePoints c;
  c.fpr.push_back(0.0);
  c.tpr.push_back(0.0);
  c.thresholds.push_back(scores[order[0]] + 1.0);
  std::size_t tp = 0, fp = 0;
  for (std::size_t i = 0; i < order.size();) {
    const double t = scores[order[i]];
    for (; i < order.size() && scores[order[i]] == t; ++i) ++(labels[order[i]] == 1 ? tp : fp);
    c.fpr.push_back(static_cast<double>(fp) / static_cast<double>(n0));
    c.tpr.push_back(static_cast<double>(tp) / static_cast<double>(n1));
    c.thresholds.push_back(t);
  }
  return c;
}

ThresholdMetrics YoudenThreshold(const std::vector<int>& labels, const std::vector<double>& scores) {
  CheckSameCount(labels.size(), scores.size(), "Youden threshold");
  std::size_t n1 = 0, n0 = 0;
  CountBinary(labels, "Youden threshold", &n1, &n0);
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  std::size_t tp = 0, fp = 0;
  double best_j = -2.0;
  double best_threshold = scores[order[0]];
  for (std::size_t i = 0; i < order.size();) {
    const double t = scores[order[i]];
    for (; i < order.size() && scores[order[i]] == t; ++i) ++(labels[order[i]] == 1 ? tp : fp);
    const double j = static_cast<double>(tp) / static_cast<double>(n1) - static_cast<double>(fp) / static_cast<double>(n0);
    if (j > best_j) {
      best_j = j;
      best_threshold = t;
    }
  }
  return AtThreshold(labels, scores, best_threshold);
}

double BrierScore(const std::vector<int>& labels, const std::vector<double>& probability) {
  CheckSameCount(labels.size(), probability.size(), "Brier score");
  if (labels.empty()) throw Error(ErrorCode::kInvalidArgument, "Brier score: no cases");
  double s = 0.0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const double d = probability[i] - (labels[i] == 1 ? 1.0 : 0.0);
    s += d * d;
  }
  return s / static_cast<double>(labels.size());
}

double BrierScoreMulticlass(const std::vector<int>& labels, const Matrix& probabilities) {
  CheckSameCount(labels.size(), probabilities.rows(), "Brier score");
  if (labels.empty()) throw Error(ErrorCode::kInvalidArgument, "Brier score: no cases");
  double s = 0.0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    for (std::size_t k = 0; k < probabilities.cols(); ++k) {
      const double d = probabilities(i, k) - (static_cast<std::size_t>(labels[i]) == k ? 1.0 : 0.0);
      s += d * d;
    }
  }
  return s / static_cast<double>(labels.size());
}

std::vector<CalibrationBin> CalibrationTable(const std::vector<int>& labels, const std::vector<double>& probability,
                                             int bins) {
  CheckSameCount(labels.size(), probability.size(), "calibration");
  if (bins < 1) throw Error(ErrorCode::kInvalidArgument, "calibration: at least one bin");
  const double width = 1.0 / static_cast<double>(bins);
  std::vector<CalibrationBin> table(static_cast<std::size_t>(bins));
  for (std::size_t b = 0; b < table.size(); ++b) {
    table[b].lower = static_cast<double>(b) * width;
    table[b].upper = b + 1 == table.size() ? 1.0 : static_cast<double>(b + 1) * width;
  }
  std::vector<double> sum_p(table.size(), 0.0), sum_y(table.size(), 0.0);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const double p = probability[i];
    if (!(p >= 0.0 && p <= 1.0)) {
      throw Error(ErrorCode::kInvalidArgument, "calibration: probability " + std::to_string(p) + " outside [0, 1]");
    }
    // The number of inner edges strictly below p (numpy.searchsorted, side "left").
    std::size_t b = 0;
    while (b + 1 < table.size() && table[b].upper < p) ++b;
    ++table[b].count;
    sum_p[b] += p;
    sum_y[b] += labels[i] == 1 ? 1.0 : 0.0;
  }
  for (std::size_t b = 0; b < table.size(); ++b) {
    if (table[b].count == 0) continue;
    table[b].mean_predicted = sum_p[b] / static_cast<double>(table[b].count);
    table[b].fraction_positive = sum_y[b] / static_cast<double>(table[b].count);
  }
  return table;
}

double Quantile(std::vector<double> values, double q) {
  if (values.empty()) throw Error(ErrorCode::kInvalidArgument, "quantile of no values");
  std::sort(values.begin(), values.end());
  const double h = (static_cast<double>(values.size()) - 1.0) * q;
  const std::size_t lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (h - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

Interval StratifiedBootstrapInterval(const std::vector<int>& labels,
                                     const std::function<double(const std::vector<std::size_t>& indices)>& statistic,
                                     int resamples, std::uint64_t seed, double level) {
  if (resamples < 1 || !(level > 0.0 && level < 1.0)) {
    throw Error(ErrorCode::kInvalidArgument, "bootstrap: resamples must be >= 1 and the level in (0, 1)");
  }
  if (labels.empty()) throw Error(ErrorCode::kInvalidArgument, "bootstrap: no cases");
  std::vector<int> classes(labels);
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  std::vector<std::vector<std::size_t>> members(classes.size());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    members[static_cast<std::size_t>(std::lower_bound(classes.begin(), classes.end(), labels[i]) - classes.begin())]
        .push_back(i);
  }
  std::mt19937_64 rng(seed);
  std::vector<double> values;
  values.reserve(static_cast<std::size_t>(resamples));
  std::vector<std::size_t> indices(labels.size());
  for (int r = 0; r < resamples; ++r) {
    std::size_t out = 0;
    for (const auto& m : members) {
      for (std::size_t k = 0; k < m.size(); ++k) indices[out++] = m[UniformIndex(rng, m.size())];
    }
    const double v = statistic(indices);
    if (std::isfinite(v)) values.push_back(v);
  }
  if (values.empty()) throw Error(ErrorCode::kInvalidArgument, "bootstrap: the statistic was not finite on any resample");
  return {Quantile(values, (1.0 - level) / 2.0), Quantile(values, 1.0 - (1.0 - level) / 2.0)};
}

RegressionMetrics RegressionScores(const std::vector<double>& truth, const std::vector<double>& predicted) {
  if (truth.size() != predicted.size()) {
    throw Error(ErrorCode::kInvalidArgument, "regression metrics: " + std::to_string(truth.size()) + " targets for " +
                                                 std::to_string(predicted.size()) + " predictions");
  }
  if (truth.empty()) throw Error(ErrorCode::kInvalidArgument, "regression metrics: no cases");
  const double n = static_cast<double>(truth.size());
  double abs_sum = 0.0, sq_sum = 0.0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    const double d = truth[i] - predicted[i];
    abs_sum += std::fabs(d);
    sq_sum += d * d;
  }
  const double mean = Mean(truth);
  double ss_tot = 0.0;
  for (double t : truth) ss_tot += (t - mean) * (t - mean);
  RegressionMetrics m;
  m.mae = abs_sum / n;
  m.rmse = std::sqrt(sq_sum / n);
  if (ss_tot == 0.0) {
    m.r2 = sq_sum == 0.0 ? 1.0 : 0.0;
  } else {
    m.r2 = 1.0 - sq_sum / ss_tot;
  }
  return m;
}

}  // namespace curia::train
