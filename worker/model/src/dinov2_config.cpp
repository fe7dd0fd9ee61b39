// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/model/dinov2_config.h"

#include <limits>
#include <set>

#include "curia/config/error.h"
#include "curia/config/json_fields.h"
#include "curia/model/safetensors.h"

namespace curia::model {

using config::Diagnostics;
using config::Json;
using config::ObjectReader;

int64_t Dinov2Config::MlpHiddenSize() const {
  const int64_t hidden = static_cast<int64_t>(static_cast<double>(hidden_size) * mlp_ratio);
  if (!use_swiglu_ffn) return hidden;
  // transformers: int(hidden_features * 2 / 3), rounded up to a multiple of 8.
  const int64_t two_thirds = static_cast<int64_t>(static_cast<double>(hidden) * 2.0 / 3.0);
  return (two_thirds + 7) / 8 * 8;
}

Dinov2Config ParseDinov2Config(const Json& doc, const std::string& source) {
  Diagnostics diag(source);
  ObjectReader r(doc, "$", diag);
  Dinov2Config c;
  c.source = source;
  if (r.ok()) {
    const std::string type = r.RequiredString("model_type");
    if (!type.empty() && type != "dinov2" && type != "dinov2_with_registers") {
      diag.Add(r.PathOf("model_type"), "\"" + type +
                                           "\" is not a DINOv2 backbone (expected \"dinov2\"); "
                                           "point the model path at the backbone folder, not a head");
    }
    constexpr int64_t kBig = 1 << 20;
    c.hidden_size = r.RequiredInt("hidden_size", 1, kBig);
    c.num_hidden_layers = r.RequiredInt("num_hidden_layers", 1, 1000);
    c.num_attention_heads = r.RequiredInt("num_attention_heads", 1, 4096);
    c.mlp_ratio = r.Number("mlp_ratio", 4.0, 1e-3, 64.0);
    c.patch_size = r.RequiredInt("patch_size", 1, 4096);
    c.image_size = r.RequiredInt("image_size", 1, kBig);
    c.num_channels = r.Int("num_channels", 3, 1, 64);
    c.layer_norm_eps = r.Number("layer_norm_eps", 1e-6, 0.0, 1.0);
    c.layerscale_value = r.Number("layerscale_value", 1.0, std::numeric_limits<double>::lowest(),
                                  std::numeric_limits<double>::max());
    c.use_swiglu_ffn = r.Bool("use_swiglu_ffn", false);
    c.qkv_bias = r.Bool("qkv_bias", true);
    c.hidden_act = r.String("hidden_act", "gelu");
    c.num_register_tokens = r.Int("num_register_tokens", 0, 0, 4096);
    c.demo = r.Bool("curia_demo", false);
    if (c.hidden_size > 0 && c.num_attention_heads > 0 && c.hidden_size % c.num_attention_heads != 0) {
      diag.Add(r.PathOf("num_attention_heads"),
               std::to_string(c.num_attention_heads) + " does not divide hidden_size " +
                   std::to_string(c.hidden_size));
    }
    if (c.patch_size > 0 && c.image_size > 0 && c.image_size < c.patch_size) {
      diag.Add(r.PathOf("image_size"), std::to_string(c.image_size) + " is smaller than patch_size " +
                                           std::to_string(c.patch_size));
    }
    if (!c.use_swiglu_ffn && c.hidden_act != "gelu") {
      diag.Add(r.PathOf("hidden_act"), "\"" + c.hidden_act +
                                           "\" is not supported (the GELU MLP supports \"gelu\", "
                                           "the exact erf form)");
    }
    if (c.MlpHiddenSize() < 1) diag.Add(r.PathOf("mlp_ratio"), "gives an empty MLP");
  }
  diag.ThrowIfAny();
  return c;
}

Dinov2Config LoadDinov2Config(const std::string& path) {
  return ParseDinov2Config(config::ParseJsonFile(path), path);
}

Json Dinov2ConfigToJson(const Dinov2Config& c) {
  Json j(::Json::objectValue);
  j["apply_layernorm"] = true;
  j["architectures"].append("Dinov2Model");
  j["attention_probs_dropout_prob"] = 0.0;
  j["drop_path_rate"] = 0.0;
  j["hidden_act"] = c.hidden_act;
  j["hidden_dropout_prob"] = 0.0;
  j["hidden_size"] = c.hidden_size;
  j["image_size"] = c.image_size;
  j["initializer_range"] = 0.02;
  j["layer_norm_eps"] = c.layer_norm_eps;
  j["layerscale_value"] = c.layerscale_value;
  j["mlp_ratio"] = c.mlp_ratio;
  j["model_type"] = "dinov2";
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_channels"] = c.num_channels;
  j["num_hidden_layers"] = c.num_hidden_layers;
  if (c.num_register_tokens > 0) j["num_register_tokens"] = c.num_register_tokens;
  j["patch_size"] = c.patch_size;
  j["qkv_bias"] = c.qkv_bias;
  j["torch_dtype"] = "float32";
  j["use_mask_token"] = true;
  j["use_swiglu_ffn"] = c.use_swiglu_ffn;
  if (c.demo) {
    j["curia_demo"] = true;
    j["curia_demo_notice"] = "DEMO - not Curia weights - meaningless output";
  }
  return j;
}

std::vector<TensorSpec> BackboneTensorSpecs(const Dinov2Config& c) {
  const int64_t d = c.hidden_size;
  const int64_t h = c.MlpHiddenSize();
  std::vector<TensorSpec> specs = {
      {"embeddings.cls_token", {1, 1, d}},
      {"embeddings.mask_token", {1, d}, true},
      {"embeddings.patch_embeddings.projection.weight", {d, c.num_channels, c.patch_size, c.patch_size}},
      {"embeddings.patch_embeddings.projection.bias", {d}},
      {"embeddings.position_embeddings", {1, c.NumPositions(), d}},
  };
  if (c.num_register_tokens > 0) specs.push_back({"embeddings.register_tokens", {1, c.num_register_tokens, d}});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    specs.push_back({p + "norm1.weight", {d}});
    specs.push_back({p + "norm1.bias", {d}});
    for (const char* qkv : {"query", "key", "value"}) {
      specs.push_back({p + "attention.attention." + qkv + ".weight", {d, d}});
      if (c.qkv_bias) specs.push_back({p + "attention.attention." + qkv + ".bias", {d}});
    }
    specs.push_back({p + "attention.output.dense.weight", {d, d}});
    specs.push_back({p + "attention.output.dense.bias", {d}});
    specs.push_back({p + "layer_scale1.lambda1", {d}});
    specs.push_back({p + "norm2.weight", {d}});
    specs.push_back({p + "norm2.bias", {d}});
    if (c.use_swiglu_ffn) {
      specs.push_back({p + "mlp.weights_in.weight", {2 * h, d}});
      specs.push_back({p + "mlp.weights_in.bias", {2 * h}});
      specs.push_back({p + "mlp.weights_out.weight", {d, h}});
      specs.push_back({p + "mlp.weights_out.bias", {d}});
    } else {
      specs.push_back({p + "mlp.fc1.weight", {h, d}});
      specs.push_back({p + "mlp.fc1.bias", {h}});
      specs.push_back({p + "mlp.fc2.weight", {d, h}});
      specs.push_back({p + "mlp.fc2.bias", {d}});
    }
    specs.push_back({p + "layer_scale2.lambda1", {d}});
  }
  specs.push_back({"layernorm.weight", {d}});
  specs.push_back({"layernorm.bias", {d}});
  return specs;
}

void CheckTensor(const SafetensorsFile& file, const std::string& name, const TensorSpec& spec,
                 std::vector<std::string>& problems, const std::function<std::string(const TensorView&)>& shape_note) {
  const TensorView* t = file.Find(name);
  if (!t) {
    if (!spec.optional) problems.push_back("tensor '" + name + "' is missing");
    return;
  }
  if (!(t->dtype == DType::kF32 || t->dtype == DType::kF16 || t->dtype == DType::kBF16)) {
    problems.push_back("tensor '" + name + "' has dtype " + DTypeName(t->dtype) + ", expected F32, F16 or BF16");
  }
  if (t->shape != spec.shape) {
    problems.push_back("tensor '" + name + "' has shape " + ShapeString(t->shape) + ", expected " +
                       ShapeString(spec.shape) + (shape_note ? shape_note(*t) : ""));
  }
}

void ThrowIfTensorProblems(const SafetensorsFile& file, const std::vector<std::string>& problems) {
  if (problems.empty()) return;
  std::string text;
  const size_t shown = std::min<size_t>(problems.size(), 20);
  for (size_t i = 0; i < shown; ++i) text += (i ? "\n" : "") + file.path() + ": " + problems[i];
  if (problems.size() > shown) {
    text += "\n" + file.path() + ": ... and " + std::to_string(problems.size() - shown) + " more problems";
  }
  throw Error(ErrorCode::kInvalidArgument, text);
}

void CheckBackboneTensors(const SafetensorsFile& file, const Dinov2Config& cfg, std::string_view prefix) {
  std::vector<std::string> problems;
  std::set<std::string, std::less<>> expected;
  const std::string ffn = cfg.use_swiglu_ffn ? "SwiGLU (use_swiglu_ffn true)" : "GELU (use_swiglu_ffn false)";
  for (const TensorSpec& spec : BackboneTensorSpecs(cfg)) {
    const std::string name = std::string(prefix) + spec.name;
    expected.insert(name);
    CheckTensor(file, name, spec, problems, [&](const TensorView&) { return " for " + cfg.source; });
  }
  for (const TensorView& t : file.tensors()) {
    if (t.name.compare(0, prefix.size(), prefix) != 0) continue;
    if (!expected.count(t.name)) {
      problems.push_back("unexpected tensor '" + t.name + "' (not part of a Dinov2 backbone with " +
                         ffn + ", " + std::to_string(cfg.num_hidden_layers) + " layers, as " +
                         cfg.source + " describes)");
    }
  }
  ThrowIfTensorProblems(file, problems);
}

}  // namespace curia::model
