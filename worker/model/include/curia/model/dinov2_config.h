// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The Hugging Face `config.json` of a DINOv2 backbone (transformers' Dinov2Config), and the exact
// set of tensors a `model.safetensors` for it must hold. Pure C++: no LibTorch.
//
//   Dinov2Config cfg = LoadDinov2Config("/models/curia/config.json");
//   CheckBackboneTensors(*SafetensorsFile::Open("/models/curia/model.safetensors"), cfg);
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "curia/config/json.h"

namespace curia::model {

class SafetensorsFile;
struct TensorView;

struct Dinov2Config {
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  double mlp_ratio = 4.0;
  int64_t patch_size = 16;
  int64_t image_size = 512;
  int64_t num_channels = 1;
  double layer_norm_eps = 1e-6;
  double layerscale_value = 1.0;  // initial value only; the stored lambdas are what count
  bool use_swiglu_ffn = true;
  bool qkv_bias = true;
  std::string hidden_act = "gelu";  // used by the GELU MLP only; "gelu" is the exact erf form
  int64_t num_register_tokens = 0;
  bool demo = false;  // written by `curia demo-model`: random weights, meaningless output
  std::string source;  // file it was read from, for messages

  int64_t HeadDim() const { return hidden_size / num_attention_heads; }
  // Width of the MLP's hidden layer: int(D*r) for GELU, rounded 2/3 of it (multiple of 8) for
  // SwiGLU, as transformers computes it.
  int64_t MlpHiddenSize() const;
  // Patches per side of the configured image, and position embeddings (CLS + grid^2).
  int64_t GridSize() const { return image_size / patch_size; }
  int64_t NumPositions() const { return GridSize() * GridSize() + 1; }
};

// Reads the fields above from a parsed config.json; every problem is reported at once with its
// JSON path: "config.json: $.hidden_size: expected an integer >= 1, found "768"".
Dinov2Config ParseDinov2Config(const config::Json& doc, const std::string& source);
Dinov2Config LoadDinov2Config(const std::string& path);
// The HF field set (as save_pretrained writes it) for a config, used by `curia demo-model`.
config::Json Dinov2ConfigToJson(const Dinov2Config& cfg);

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  bool optional = false;  // embeddings.mask_token: training only, may be absent
};

// Appends to `problems` what is wrong with tensor `name` of `file` against `spec`: missing (unless
// optional), not floating point (F32, F16 or BF16), or of another shape, the message then ending
// with `shape_note(tensor)` when given (why the shape matters).
void CheckTensor(const SafetensorsFile& file, const std::string& name, const TensorSpec& spec,
                 std::vector<std::string>& problems,
                 const std::function<std::string(const TensorView&)>& shape_note = nullptr);
// Throws curia::Error(kInvalidArgument), one line per problem prefixed by the file's path (at most
// 20, then a count), unless `problems` is empty.
void ThrowIfTensorProblems(const SafetensorsFile& file, const std::vector<std::string>& problems);

// Every tensor of transformers' Dinov2Model state_dict for this config, without prefix.
std::vector<TensorSpec> BackboneTensorSpecs(const Dinov2Config& cfg);

// Checks that `file` holds the backbone tensors under `prefix` ("" or "dino."): every required one
// present, floating point (F32, F16 or BF16), with the right shape; and no unexpected tensor under
// the prefix. With a non-empty prefix, tensors outside it are left to the caller (a head's own
// weights). Throws curia::Error(kInvalidArgument) listing every problem, each naming the file and
// the tensor.
void CheckBackboneTensors(const SafetensorsFile& file, const Dinov2Config& cfg,
                          std::string_view prefix = "");

}  // namespace curia::model
