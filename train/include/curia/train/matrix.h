// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A dense row-major matrix of doubles: the features of a training set (one row a case, one column a
// feature), a model's weights (one row a class), predicted probabilities (one row a case, one column
// a class). Deliberately small: the trainer's sizes (thousands of cases, hundreds of features) need
// no BLAS.
//
//   Matrix x(3, 2);          // zeros
//   x(0, 1) = 4.0;
//   const double* row = x.Row(0);
//
// Thread safety: a value type; concurrent reads are safe.
#include <cstddef>
#include <vector>

namespace curia::train {

class Matrix {
 public:
  Matrix() = default;
  Matrix(std::size_t rows, std::size_t cols, double fill = 0.0) : rows_(rows), cols_(cols), values_(rows * cols, fill) {}

  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }
  double& operator()(std::size_t r, std::size_t c) { return values_[r * cols_ + c]; }
  double operator()(std::size_t r, std::size_t c) const { return values_[r * cols_ + c]; }
  double* Row(std::size_t r) { return values_.data() + r * cols_; }
  const double* Row(std::size_t r) const { return values_.data() + r * cols_; }
  std::vector<double>& values() { return values_; }
  const std::vector<double>& values() const { return values_; }

  // The rows named by `indices`, in that order.
  Matrix SelectRows(const std::vector<std::size_t>& indices) const {
    Matrix out(indices.size(), cols_);
    for (std::size_t i = 0; i < indices.size(); ++i) {
      for (std::size_t c = 0; c < cols_; ++c) out(i, c) = (*this)(indices[i], c);
    }
    return out;
  }

 private:
  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
  std::vector<double> values_;
};

}  // namespace curia::train
