// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/pool/prepare.h"

namespace curia::pool {

double SlicePreparer::Prepare(const worker::IVolumeSource& volume, int64_t rows, int64_t cols, int64_t index,
                              float* out) {
  raw_.resize(static_cast<size_t>(rows * cols));
  volume.ReadSlice(index, raw_.data());
  for (float& v : raw_) {
    bool clamped = false;
    v = static_cast<float>(model::ToInt16(v, false, &clamped)) / 32767.0f;
  }
  const auto key = std::make_pair(rows, cols);
  auto it = resizers_.find(key);
  if (it == resizers_.end()) it = resizers_.emplace(key, model::Resizer(rows, cols, size_, size_)).first;
  it->second.Resize(raw_.data(), out);
  double sum = 0.0;
  for (int64_t i = 0; i < size_ * size_; ++i) sum += out[i];
  return sum;
}

model::ZScoreStats SlicePreparer::PrepareZScored(const worker::IVolumeSource& volume, int64_t rows, int64_t cols,
                                                 int64_t index, double eps, float* out) {
  Prepare(volume, rows, cols, index, out);
  return model::ZScore(out, size_ * size_, eps);
}

}  // namespace curia::pool
