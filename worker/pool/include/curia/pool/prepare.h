// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// What a preprocessing thread of the pool does to one slice before the model sees it: the volume's
// ReadSlice (decode, rescale, orientation), then the processor's numpy path (model/preprocess.h:
// int16 by truncation, clamped where torch is undefined, /32767), the antialiased bicubic resize to
// size x size where the slice's size differs, and (PrepareZScored) the per-slice z-score. Shared by
// the pool and `curia bench host`, so that the bench times the pool's own code.
//
//   SlicePreparer prep(512);                                      // one per thread
//   prep.PrepareZScored(volume, info.rows, info.cols, k, eps, staging + i * 512 * 512);
//
// Not thread-safe: each thread keeps its own (its buffers and resizers are reused, so the steady
// state allocates nothing here). Numerics are exactly those of model::ToInt16, model::Resizer and
// model::ZScore (same operations in the same order).
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "curia/model/preprocess.h"
#include "curia/worker/volume.h"

namespace curia::pool {

class SlicePreparer {
 public:
  explicit SlicePreparer(int64_t size) : size_(size) {}

  // Slice `index` of `volume` (rows x cols after orientation) into size*size floats at `out`.
  // Returns the sum of the size*size values written, accumulated in double in index order (what
  // model::ZScore's first pass gives).
  double Prepare(const worker::IVolumeSource& volume, int64_t rows, int64_t cols, int64_t index, float* out);
  // Prepare, then z-score the slice alone (model::ZScore with `eps`).
  model::ZScoreStats PrepareZScored(const worker::IVolumeSource& volume, int64_t rows, int64_t cols, int64_t index,
                                    double eps, float* out);

 private:
  int64_t size_;
  std::vector<float> raw_;
  std::map<std::pair<int64_t, int64_t>, model::Resizer> resizers_;
};

}  // namespace curia::pool
