// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The accuracy half of `curia bench gpu`: a float64 CPU reference of a DINOv2 backbone folder, and
// the comparison of a loaded backbone (any device, any precision) with it on the same fixed batch.
//
// The reference is written independently of Dinov2Backbone, the way transformers' Dinov2Model
// computes it: the patch embedding as a strided convolution, separate q, k and v projections,
// softmax(q k^T / sqrt(d)) v per head, LayerScale as a multiplication, the SwiGLU or exact-GELU MLP.
// So it checks the backbone's fused and folded formulation as well as the device's arithmetic.
//
//   auto ref = BackboneReference::Compute("/tmp/demo", /*batch=*/2, 512, 512, /*seed=*/0);
//   AccuracyResult a = ref->Check(*backbone);   // a.last_hidden_rel < 1e-5 for fp32
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "curia/nn/backbone.h"

namespace curia::cli {

struct AccuracyResult {
  // ||a - b|| / ||b|| (Frobenius) of one image's output against the reference, worst image.
  double last_hidden_rel = 0;
  double pooler_rel = 0;
  // max |a - b| over the batch.
  double last_hidden_max_abs = 0;
  double pooler_max_abs = 0;
  double Worst() const { return last_hidden_rel > pooler_rel ? last_hidden_rel : pooler_rel; }
};

class BackboneReference {
 public:
  // Reads <dir>/config.json and <dir>/model.safetensors, converts every weight to float64 and runs
  // the reference on `batch` images of height x width whose pixels are N(0, 1) draws of
  // model::DemoRandom(seed) (the same on every machine), float32-rounded. Throws curia::Error for a
  // bad folder or an image smaller than one patch.
  static std::unique_ptr<BackboneReference> Compute(const std::string& dir, int64_t batch, int64_t height,
                                                    int64_t width, uint64_t seed);
  ~BackboneReference();

  // Runs `backbone` on the same float32 pixels and compares its last_hidden_state and pooler_output
  // with the reference, in float64 on the CPU. Non-finite outputs give NaN errors.
  AccuracyResult Check(const nn::Dinov2Backbone& backbone) const;

  double seconds() const;  // wall time of the reference forward pass
  int64_t batch() const;
  int64_t tokens() const;

 private:
  struct Impl;
  explicit BackboneReference(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Runs `f`; returns "" or the message of what it threw (LibTorch's without its C++ backtrace,
// first line only), so that a benchmark row can report a precision or size the device cannot run.
std::string ErrorMessageOf(const std::function<void()>& f);

}  // namespace curia::cli
