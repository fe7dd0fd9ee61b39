// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The DINOv2 backbone of Curia, computed as transformers' Dinov2Model does (eager attention):
// patch embedding, CLS (+ registers), position embeddings (bicubic interpolation when the patch
// grid differs from the configured one), pre-norm layers with LayerScale and a SwiGLU or exact-GELU
// MLP, final LayerNorm. Loads a Hugging Face folder (config.json + model.safetensors, e.g.
// raidium/curia) directly, or the `dino.*` copy inside a head checkpoint.
//
//   auto backbone = Dinov2Backbone::Load("/models/curia", {ParseDevice("cpu"), Precision::kFp32});
//   BackboneOutput out = backbone->Forward(pixel_values);   // (B,1,512,512) float32
//   out.pooler_output;                                      // (B,768): layer-normed CLS
//
// Thread safety: Forward is const and keeps no state between calls; several threads may call it
// at once (each call allocates its own activations).
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "curia/model/dinov2_config.h"
#include "curia/model/safetensors.h"
#include "curia/nn/device.h"

namespace curia::nn {

struct BackboneOptions {
  Device device;
  Precision precision = Precision::kFp32;
};

struct BackboneOutput {
  at::Tensor last_hidden_state;  // (B, T, D) after the final LayerNorm; T = 1 + registers + patches
  at::Tensor pooler_output;      // (B, D) = last_hidden_state[:, 0]
  at::Tensor encoder_output;     // (B, T, D) before the final LayerNorm (hidden_states[-1])
  std::vector<at::Tensor> hidden_states;  // L + 1 tensors (embeddings, then each layer) on request
};

// Where a forward pass spends its time (seconds of wall clock, summed over the layers), for
// `curia bench model`: on request only, since timing each part waits for the device after it.
// Attention's two products and its softmax run interleaved on threads; their wall time is split
// in proportion to the threads' time in each.
struct ForwardTimes {
  double embed = 0;               // patch embedding, position embeddings
  double norms = 0;               // the layers' LayerNorms and the final one
  double projections = 0;         // q/k/v and the attention output projection (residual add included)
  double attention_products = 0;  // q k^T and scores v (and the softmax where a fused kernel runs all three)
  double softmax = 0;             // 0 where fused into attention_products
  double mlp = 0;                 // both MLP products and the activation (residual add included)
  double Total() const { return embed + norms + projections + attention_products + softmax + mlp; }
};

class Dinov2Backbone {
 public:
  // Reads <dir>/config.json and <dir>/model.safetensors. Throws curia::Error naming the file (and
  // tensor or JSON path) for anything missing, unexpected or misshapen; kUnavailable when the device
  // or precision cannot run here.
  static std::unique_ptr<Dinov2Backbone> Load(const std::string& dir, const BackboneOptions& options);
  // From tensors `prefix`+<HF name> of an open file (e.g. "dino." in a head checkpoint).
  static std::unique_ptr<Dinov2Backbone> FromFile(const model::Dinov2Config& config,
                                                  const model::SafetensorsFile& file,
                                                  std::string_view prefix, const BackboneOptions& options);
  ~Dinov2Backbone();

  // pixel_values: (B, C, H, W), floating, any device. Outputs are on the backbone's device in its
  // precision. Throws curia::Error(kInvalidArgument) for a wrong rank, channel count or an image
  // smaller than one patch.
  // With `times`, adds where this pass spent its time to it (slower: see ForwardTimes).
  BackboneOutput Forward(const at::Tensor& pixel_values, bool output_hidden_states = false,
                         ForwardTimes* times = nullptr) const;

  const model::Dinov2Config& config() const;
  const Device& device() const;
  Precision precision() const;
  int64_t num_parameters() const;  // loaded parameters (mask_token excluded)
  // model::BackboneDigest of the weights it was loaded from: identifies the backbone in results.
  const std::string& digest() const;

 private:
  struct Impl;
  explicit Dinov2Backbone(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace curia::nn
