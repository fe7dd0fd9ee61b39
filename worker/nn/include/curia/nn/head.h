// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Curia task heads ("dinov2_custom_classifier") on top of a loaded backbone, computed as the
// reference head code does:
//   2-D, no mask:  logits = classifier(post-LN CLS)
//   2-D, mask:     logits = classifier(sum(post-LN patch tokens * maxpool(mask)) / sum(maxpool(mask)))
//   3-D:           per kept slice of a window, pre-LN patch tokens (kernel-pooled, averaged or
//                  masked) + optional CLS, + a sinusoidal slice embedding; concatenated, zero-padded
//                  across the batch, through self/cross attention with learned queries, averaged,
//                  then classifier.
// A head checkpoint's own backbone copy (dino.*) is not loaded: its digest must equal the loaded
// backbone's, otherwise the head is refused.
//
//   auto head = TaskHead::Load("/models/curia/ich", *backbone);
//   at::Tensor logits = head->Logits2D(backbone->Forward(pixels));       // (B, C)
//   at::Tensor p = head->Probabilities(logits);                           // softmax (or the value)
//
// Thread safety: every method is const and stateless; heads may be shared by device workers.
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "curia/model/head_config.h"
#include "curia/nn/backbone.h"

namespace curia::nn {

class TaskHead {
 public:
  // Reads <dir>/config.json and <dir>/model.safetensors for `backbone` (same device; heads compute
  // in float32). Throws curia::Error(kInvalidArgument) with the file and tensor for tensors that do
  // not fit, and when the checkpoint's backbone copy differs from the loaded backbone.
  static std::unique_ptr<TaskHead> Load(const std::string& dir, const Dinov2Backbone& backbone);
  ~TaskHead();

  const model::HeadConfig& config() const;
  // SHA-256 of config.json and the head's own tensors: the head's version in results and SRs.
  const std::string& digest() const;

  // 2-D head on a batch of slices. `mask`: undefined, or (B, 1, H, W) weights in [0, 1] at the
  // resolution of the pixels the backbone saw. Throws kInvalidArgument when a slice's pooled mask
  // is empty (the reference cannot average over nothing). Returns float32 logits (B, C).
  at::Tensor Logits2D(const BackboneOutput& out, const at::Tensor& mask = {}) const;

  // 2-D mask-prompted head on several masks per slice (the worker's regions): `masks` (E, 1, H, W)
  // weights in [0, 1], `slices` (E values) the index into `out`'s batch of each mask's slice. Every
  // mask weights its slice's post-LN patch tokens where they lie: the tokens are neither copied nor
  // repeated per mask (one (k, P) x (P, D) product per slice with k masks). Logits2D(out, mask) is
  // this with slices 0..B-1. Returns float32 logits (E, C); throws as Logits2D.
  at::Tensor MaskedLogits2D(const BackboneOutput& out, const at::Tensor& masks, const std::vector<int64_t>& slices) const;
  // What MaskedLogits2D classifies: each mask's weighted mean of its slice's post-LN patch tokens
  // (E, D) float32, the feature a 2-D mask head is trained on (`curia features` for region heads).
  at::Tensor MaskedFeatures2D(const BackboneOutput& out, const at::Tensor& masks, const std::vector<int64_t>& slices) const;

  // 3-D head, reference batch form: `encoder_outputs` are B volumes' pre-LN encoder outputs
  // (S_i, T, D); `masks` empty, or B masks (S_i, 1, H, W). Volumes of one batch that end up with
  // different token counts are zero-padded, with the reference's padding behaviour. (B, C) float32.
  at::Tensor Logits3D(const std::vector<at::Tensor>& encoder_outputs, const std::vector<at::Tensor>& masks = {}) const;

  // The pieces of Logits3D, for callers that stream slices (the worker pool, `curia head`):
  // the slices a volume of `slices` slices contributes, in order: the window centred on the middle
  // slice (or on the middle masked slice), masked-out slices dropped; an index may repeat where the
  // reference's Python indexing wraps. `mask`: undefined or (S, 1, H, W). Throws kInvalidArgument
  // when the volume is too short for the window or the mask is empty. Needs no backbone output, so
  // the backbone runs only on these slices.
  std::vector<int64_t> KeptSlices(int64_t slices, const at::Tensor& mask = {}) const;
  // KeptSlices for a mask known only by where it lies: masked[s] says whether slice s's mask, as
  // the head gets it (SliceTokens' mask_slice), is non-empty. Throws as KeptSlices with a mask.
  std::vector<int64_t> KeptMaskedSlices(const std::vector<bool>& masked) const;
  // One slice's tokens before the slice embedding, from its pre-LN encoder output (T, D):
  // (t, D) = [CLS] + pooled / averaged / masked patch tokens. `mask_slice`: undefined or (1, H, W).
  at::Tensor SliceTokens(const at::Tensor& encoder_output, const at::Tensor& mask_slice = {}) const;
  // Logits (1, C) of one volume from the tokens of its kept slices, in window order:
  // VolumeLogitsFromInput(VolumeInput(slice_tokens)).
  at::Tensor VolumeLogits(const std::vector<at::Tensor>& slice_tokens) const;
  // VolumeLogits in two halves. VolumeInput: the volume's input to the attention module (T, D),
  // float32 = each kept slice's tokens + its slice embedding (j = 0.. in window order),
  // concatenated; for a volume-average head (no attention module) the volume mean (1, D). What a
  // "tokens3d" feature store holds per case (train/feature_store.h). Throws kInvalidArgument with
  // no slice.
  at::Tensor VolumeInput(const std::vector<at::Tensor>& slice_tokens) const;
  // Logits (1, C) from one VolumeInput.
  at::Tensor VolumeLogitsFromInput(const at::Tensor& input) const;
  // Logits (B, C) from B VolumeInputs, zero-padded across the batch as Logits3D pads (the
  // reference's padding behaviour). Throws kInvalidArgument for inputs not (T >= 1, D).
  at::Tensor LogitsFromInputs(const std::vector<at::Tensor>& inputs) const;

  // softmax over classes, or the logits themselves for a regression head. float32.
  at::Tensor Probabilities(const at::Tensor& logits) const;

  // 2-D head: its classifier on every post-LN patch token, as probabilities (B, P, C): where on the
  // slice the head's evidence lies (a heat map; patches in row-major grid order).
  at::Tensor PatchProbabilities(const BackboneOutput& out) const;

 private:
  struct Impl;
  explicit TaskHead(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace curia::nn
