// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/pool/prepare.h"

namespace curia::pool {

double SlicePreparer::Prepare(const worker::IVolumeSource& volume, int64_t rows, int64_t cols, int64_t index,
                              float* out) {
  const int64_t plane = size_ * size_;
  if (rows == size_ && cols == size_) {
    // No resize: the slice is read into `out` and converted there, summed in the same pass.
    volume.ReadSlice(index, out);
    return model::ToInt16Scaled(out, plane, out);
  }
  const size_t n = static_cast<size_t>(rows * cols);
  if (raw_.size() < n) raw_.resize(n);
  volume.ReadSlice(index, raw_.data());
  model::ToInt16Scaled(raw_.data(), rows * cols, raw_.data());
  const auto key = std::make_pair(rows, cols);
  auto it = resizers_.find(key);
  if (it == resizers_.end()) it = resizers_.emplace(key, model::Resizer(rows, cols, size_, size_)).first;
  it->second.Resize(raw_.data(), out);
  double sum = 0.0;
  for (int64_t i = 0; i < plane; ++i) sum += out[i];
  return sum;
}

model::ZScoreStats SlicePreparer::PrepareZScored(const worker::IVolumeSource& volume, int64_t rows, int64_t cols,
                                                 int64_t index, double eps, float* out) {
  const double sum = Prepare(volume, rows, cols, index, out);
  return model::ZScoreWithSum(out, size_ * size_, sum, eps);
}

}  // namespace curia::pool
