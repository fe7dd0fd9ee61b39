// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Curia task heads as published on Hugging Face: a subfolder of raidium/curia with a config.json
// (model_type "dinov2_custom_classifier", Dinov2ForImageClassificationConfig) and a
// model.safetensors holding classifier.* (and attention_module.* for 3-D heads), usually next to a
// full copy of the backbone under dino.*. Pure C++: what a head is, which tensors it needs, and
// whether its backbone copy is the loaded backbone.
//
//   HeadConfig head = LoadHeadConfig("/models/curia/ich/config.json");
//   auto file = SafetensorsFile::Open("/models/curia/ich/model.safetensors");
//   HeadWeights w = CheckHeadTensors(*file, head, backbone_config);   // throws on any mismatch
//   if (w.has_backbone_copy && BackboneDigest(*file, backbone_config, "dino.") != loaded_digest) refuse;
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "curia/config/json.h"
#include "curia/model/dinov2_config.h"

namespace curia::model {

class SafetensorsFile;

struct AttentionConfig {
  int64_t num_heads = 1;
  int64_t num_queries = 1;
  std::vector<std::string> blocks;  // "self" / "cross", applied in order
  bool HasCross() const;
};

struct HeadConfig {
  int64_t num_classes = 0;
  std::optional<int64_t> num_slices;   // 3-D window; null: every slice
  std::optional<int64_t> kernel_size;  // 3-D: average-pool the patch grid with this kernel
  int64_t use_n_blocks = 1;
  bool use_class_token = false;            // 3-D: prepend each slice's (pre-LN) CLS token
  bool use_avgpool_per_slice = false;      // 3-D: one mean patch token per slice
  bool use_avgpool_on_the_volume = false;  // 3-D: one mean over every patch token, no attention
  bool regression = false;                 // the output is a value, not class logits
  std::optional<AttentionConfig> attention;
  std::vector<std::string> labels;  // index -> label (id2label, or LABEL_i as transformers names them)
  std::string model_name;           // the backbone repository the head was trained on
  bool demo = false;
  // The head classifies a masked region (a mask-prompted head such as anatomy-ct): it must be given
  // a mask. Published configs do not say so ("curia_requires_mask" marks our demo heads).
  bool requires_mask = false;
  std::string source;

  // A 3-D head pools a window of slices: it has an attention module, a slice window or a volume
  // average. Otherwise the head classifies each slice (CLS token, or mask-weighted patch tokens).
  bool Is3D() const { return attention.has_value() || use_avgpool_on_the_volume || num_slices.has_value(); }
};

// Every problem at once, with its JSON path; configurations the reference code cannot run
// (use_n_blocks > 1, num_heads != 1, ...) are refused with the reason.
HeadConfig ParseHeadConfig(const config::Json& doc, const std::string& source);
HeadConfig LoadHeadConfig(const std::string& path);
config::Json HeadConfigToJson(const HeadConfig& head);

// The head's own tensors (classifier.*, attention_module.* when attention is configured) for a
// backbone of hidden size `hidden`.
std::vector<TensorSpec> HeadTensorSpecs(const HeadConfig& head, int64_t hidden);

struct HeadWeights {
  bool has_backbone_copy = false;        // dino.* present (and complete)
  std::vector<std::string> ignored;      // present but unused (attention_module.* without attention_cfg)
};

// Checks the head tensors against the config and the backbone they will run on: every head tensor
// present, floating, with the right shape (classifier (C, hidden): a head trained on another
// backbone size is refused with both sizes named); nothing unexpected; dino.* complete or absent.
// Throws curia::Error(kInvalidArgument) listing every problem with the file and tensor names.
HeadWeights CheckHeadTensors(const SafetensorsFile& file, const HeadConfig& head, const Dinov2Config& backbone);

// SHA-256 over the backbone tensors under `prefix` (names without prefix, dtypes, shapes, bytes,
// in a fixed order; the training-only mask token excluded): equal digests mean the same weights.
std::string BackboneDigest(const SafetensorsFile& file, const Dinov2Config& backbone, std::string_view prefix = "");

}  // namespace curia::model
