// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/train/logistic.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "curia/config/error.h"
#include "curia/train/linear_algebra.h"

namespace curia::train {
namespace {

// log(1 + exp(z)) without overflow.
double Softplus(double z) { return z > 0.0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z)); }

double Sigmoid(double z) {
  if (z >= 0.0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

void CheckInputs(const Matrix& x, const std::vector<int>& labels, int num_classes) {
  if (labels.size() != x.rows()) {
    throw Error(ErrorCode::kInvalidArgument, "training: " + std::to_string(labels.size()) + " labels for " +
                                                 std::to_string(x.rows()) + " feature rows");
  }
  if (num_classes < 2) {
    throw Error(ErrorCode::kInvalidArgument,
                "training: a classifier needs at least two classes, got " + std::to_string(num_classes));
  }
  if (x.cols() == 0) throw Error(ErrorCode::kInvalidArgument, "training: the features have no columns");
  std::vector<std::size_t> counts(static_cast<std::size_t>(num_classes), 0);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes) {
      throw Error(ErrorCode::kInvalidArgument, "training: case " + std::to_string(i) + " has label " +
                                                   std::to_string(labels[i]) + ", outside [0, " +
                                                   std::to_string(num_classes) + ")");
    }
    ++counts[static_cast<std::size_t>(labels[i])];
  }
  for (int k = 0; k < num_classes; ++k) {
    if (counts[static_cast<std::size_t>(k)] == 0) {
      throw Error(ErrorCode::kInvalidArgument, "training: class " + std::to_string(k) + " has no cases");
    }
  }
  for (double v : x.values()) {
    if (!std::isfinite(v)) throw Error(ErrorCode::kInvalidArgument, "training: the features contain NaN or infinity");
  }
}

}  // namespace

std::vector<double> BalancedClassWeights(const std::vector<int>& labels, int num_classes) {
  std::vector<double> counts(static_cast<std::size_t>(num_classes), 0.0);
  for (int y : labels) counts.at(static_cast<std::size_t>(y)) += 1.0;
  std::vector<double> w(counts.size(), 0.0);
  for (std::size_t k = 0; k < counts.size(); ++k) {
    w[k] = counts[k] > 0.0 ? static_cast<double>(labels.size()) / (static_cast<double>(num_classes) * counts[k]) : 0.0;
  }
  return w;
}

Matrix LogisticModel::DecisionFunction(const Matrix& x) const {
  if (x.cols() != weights.cols()) {
    throw Error(ErrorCode::kInvalidArgument, "logistic model: " + std::to_string(x.cols()) + " features, the model has " +
                                                 std::to_string(weights.cols()));
  }
  Matrix z(x.rows(), weights.rows());
  for (std::size_t i = 0; i < x.rows(); ++i) {
    const double* xi = x.Row(i);
    for (std::size_t k = 0; k < weights.rows(); ++k) {
      const double* wk = weights.Row(k);
      double s = intercepts[k];
      for (std::size_t j = 0; j < x.cols(); ++j) s += wk[j] * xi[j];
      z(i, k) = s;
    }
  }
  return z;
}

Matrix LogisticModel::PredictProba(const Matrix& x) const {
  const Matrix z = DecisionFunction(x);
  Matrix p(x.rows(), static_cast<std::size_t>(num_classes));
  for (std::size_t i = 0; i < x.rows(); ++i) {
    if (num_classes == 2) {
      p(i, 1) = Sigmoid(z(i, 0));
      p(i, 0) = 1.0 - p(i, 1);
      continue;
    }
    double m = z(i, 0);
    for (std::size_t k = 1; k < z.cols(); ++k) m = std::max(m, z(i, k));
    double sum = 0.0;
    for (std::size_t k = 0; k < z.cols(); ++k) sum += (p(i, k) = std::exp(z(i, k) - m));
    for (std::size_t k = 0; k < z.cols(); ++k) p(i, k) /= sum;
  }
  return p;
}

std::vector<int> LogisticModel::Predict(const Matrix& x) const {
  const Matrix z = DecisionFunction(x);
  std::vector<int> out(x.rows(), 0);
  for (std::size_t i = 0; i < x.rows(); ++i) {
    if (num_classes == 2) {
      out[i] = z(i, 0) > 0.0 ? 1 : 0;
      continue;
    }
    std::size_t best = 0;
    for (std::size_t k = 1; k < z.cols(); ++k) {
      if (z(i, k) > z(i, best)) best = k;
    }
    out[i] = static_cast<int>(best);
  }
  return out;
}

Matrix LogisticModel::SoftmaxWeights(std::vector<double>* intercepts_out) const {
  std::vector<double> b;
  Matrix w;
  if (num_classes == 2) {
    w = Matrix(2, weights.cols());
    for (std::size_t j = 0; j < weights.cols(); ++j) {
      w(0, j) = -0.5 * weights(0, j);
      w(1, j) = 0.5 * weights(0, j);
    }
    b = {-0.5 * intercepts[0], 0.5 * intercepts[0]};
  } else {
    w = weights;
    b = intercepts;
  }
  if (intercepts_out != nullptr) *intercepts_out = b;
  return w;
}

LogisticModel FitLogistic(const Matrix& x, const std::vector<int>& labels, int num_classes,
                          const LogisticOptions& options) {
  CheckInputs(x, labels, num_classes);
  if (!(options.c > 0.0) || !std::isfinite(options.c)) {
    throw Error(ErrorCode::kInvalidArgument, "training: C must be a positive number, got " + std::to_string(options.c));
  }
  const std::size_t n = x.rows();
  const std::size_t d = x.cols();
  const std::size_t rows = num_classes == 2 ? 1 : static_cast<std::size_t>(num_classes);
  const std::size_t stride = d + 1;  // weights then the intercept, per row
  std::vector<double> sample_weight(n, 1.0);
  if (options.class_weight == ClassWeight::kBalanced) {
    const std::vector<double> cw = BalancedClassWeights(labels, num_classes);
    for (std::size_t i = 0; i < n; ++i) sample_weight[i] = cw[static_cast<std::size_t>(labels[i])];
  }
  const double inv_c = 1.0 / options.c;

  // The residuals of a block of kBlock cases are added to the gradient in one pass over it
  // (Axpy4), which reads and writes the gradient once per block instead of once per case.
  constexpr std::size_t kBlock = 4;
  static_assert(kBlock == 4, "Dot4 and Axpy4 take four cases");
  // The block's decision values too (Dot4: one pass over the weights for four cases, the same sums
  // as Dot's bit for bit).
  std::vector<double> z(rows), block_dots(kBlock * rows);
  std::vector<double> residual(kBlock * rows);
  const Objective objective = [&](const std::vector<double>& w, std::vector<double>& g) {
    std::fill(g.begin(), g.end(), 0.0);
    double f = 0.0;
    for (std::size_t first = 0; first < n; first += kBlock) {
      const std::size_t count = std::min(kBlock, n - first);
      for (std::size_t k = 0; k < rows; ++k) {
        const double* wk = w.data() + k * stride;
        double* dots = block_dots.data() + k * kBlock;
        if (count == kBlock) {
          Dot4(wk, x.Row(first), x.Row(first + 1), x.Row(first + 2), x.Row(first + 3), d, dots);
        } else {
          for (std::size_t b = 0; b < count; ++b) dots[b] = Dot(wk, x.Row(first + b), d);
        }
      }
      for (std::size_t b = 0; b < count; ++b) {
        const std::size_t i = first + b;
        for (std::size_t k = 0; k < rows; ++k) z[k] = w[k * stride + d] + block_dots[k * kBlock + b];
        const double si = sample_weight[i];
        const int y = labels[i];
        if (rows == 1) {
          const double yi = y == 1 ? 1.0 : 0.0;
          f += si * (Softplus(z[0]) - yi * z[0]);
          z[0] = si * (Sigmoid(z[0]) - yi);  // now the residual
        } else {
          double m = z[0];
          for (std::size_t k = 1; k < rows; ++k) m = std::max(m, z[k]);
          double sum = 0.0;
          for (std::size_t k = 0; k < rows; ++k) sum += std::exp(z[k] - m);
          const double lse = m + std::log(sum);
          f += si * (lse - z[static_cast<std::size_t>(y)]);
          for (std::size_t k = 0; k < rows; ++k) {
            z[k] = si * (std::exp(z[k] - lse) - (static_cast<int>(k) == y ? 1.0 : 0.0));
          }
        }
        for (std::size_t k = 0; k < rows; ++k) residual[k * kBlock + b] = z[k];
      }
      for (std::size_t k = 0; k < rows; ++k) {
        double* gk = g.data() + k * stride;
        const double* r = residual.data() + k * kBlock;
        if (count == kBlock) {
          Axpy4(r, x.Row(first), x.Row(first + 1), x.Row(first + 2), x.Row(first + 3), gk, d);
        } else {
          for (std::size_t b = 0; b < count; ++b) Axpy(r[b], x.Row(first + b), gk, d);
        }
        for (std::size_t b = 0; b < count; ++b) gk[d] += r[b];
      }
    }
    for (std::size_t k = 0; k < rows; ++k) {
      const double* wk = w.data() + k * stride;
      double* gk = g.data() + k * stride;
      for (std::size_t j = 0; j < d; ++j) {
        f += 0.5 * inv_c * wk[j] * wk[j];
        gk[j] += inv_c * wk[j];
      }
    }
    return f;
  };

  std::vector<double> w(rows * stride, 0.0);
  LbfgsOptions lo;
  lo.gradient_tolerance = options.tolerance;
  lo.max_iterations = options.max_iterations;
  lo.relative_decrease_tolerance = options.relative_decrease_tolerance;
  LogisticModel model;
  model.optimisation = MinimiseLbfgs(objective, w, lo);
  model.num_classes = num_classes;
  model.weights = Matrix(rows, d);
  model.intercepts.assign(rows, 0.0);
  for (std::size_t k = 0; k < rows; ++k) {
    for (std::size_t j = 0; j < d; ++j) model.weights(k, j) = w[k * stride + j];
    model.intercepts[k] = w[k * stride + d];
  }
  return model;
}

}  // namespace curia::train
