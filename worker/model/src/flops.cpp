// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/model/flops.h"

namespace curia::model {

BackboneFlops BackboneFlopsByPart(const Dinov2Config& c, int64_t height, int64_t width) {
  const double patches = static_cast<double>((height / c.patch_size) * (width / c.patch_size));
  const double tokens = 1.0 + static_cast<double>(c.num_register_tokens) + patches;
  const double d = static_cast<double>(c.hidden_size);
  const double h = static_cast<double>(c.MlpHiddenSize());
  const double mlp_in = c.use_swiglu_ffn ? 2.0 * h : h;
  const double layers = static_cast<double>(c.num_hidden_layers);
  BackboneFlops f;
  f.embed = 2.0 * patches * d * static_cast<double>(c.num_channels * c.patch_size * c.patch_size);
  f.projections = layers * (2.0 * tokens * d * (3.0 * d)   // q, k, v
                            + 2.0 * tokens * d * d);       // output projection
  f.attention_products = layers * (2.0 * tokens * tokens * d    // q k^T
                                   + 2.0 * tokens * tokens * d);  // attention x v
  f.mlp = layers * (2.0 * tokens * d * mlp_in   // MLP in
                    + 2.0 * tokens * h * d);    // MLP out
  return f;
}

double BackboneFlopsPerImage(const Dinov2Config& c, int64_t height, int64_t width) {
  return BackboneFlopsByPart(c, height, width).Total();
}

GemmShape DominantGemm(const Dinov2Config& c, int64_t height, int64_t width, int64_t batch) {
  const int64_t tokens = 1 + c.num_register_tokens + (height / c.patch_size) * (width / c.patch_size);
  const int64_t h = c.MlpHiddenSize();
  return {batch * tokens, c.hidden_size, c.use_swiglu_ffn ? 2 * h : h};
}

}  // namespace curia::model
