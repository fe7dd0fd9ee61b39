// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Floating-point operation counts (multiply-add = 2) of a DINOv2 forward pass, for benchmarks that
// report efficiency as a ratio of FLOP rates.
#include <cstdint>

#include "curia/model/dinov2_config.h"

namespace curia::model {

// One image of height x width pixels: patch embedding, every layer's projections, attention
// products and MLP. Element-wise work (LayerNorm, softmax, activations) is not counted.
double BackboneFlopsPerImage(const Dinov2Config& cfg, int64_t height, int64_t width);

// The same count by part (all layers), as nn::ForwardTimes splits the time.
struct BackboneFlops {
  double embed = 0;
  double projections = 0;         // q, k, v and the output projection
  double attention_products = 0;  // q k^T and attention x v
  double mlp = 0;                 // MLP in and out
  double Total() const { return embed + projections + attention_products + mlp; }
};
BackboneFlops BackboneFlopsByPart(const Dinov2Config& cfg, int64_t height, int64_t width);

// The backbone's dominant matrix product for a batch: (batch*tokens x hidden) times
// (hidden x mlp_in_width), i.e. the MLP input projection.
struct GemmShape {
  int64_t m, k, n;
  double Flops() const { return 2.0 * static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n); }
};
GemmShape DominantGemm(const Dinov2Config& cfg, int64_t height, int64_t width, int64_t batch);

}  // namespace curia::model
