// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/model/demo_model.h"

#include <cmath>
#include <cstring>
#include <filesystem>

#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/model/head_config.h"
#include "curia/model/safetensors.h"

namespace curia::model {
namespace {

uint64_t NameHash(const std::string& name) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// Initial values by the role of the tensor, at scales that keep a deep random stack finite.
std::vector<float> DemoValues(const TensorSpec& spec, uint64_t seed) {
  DemoRandom rng(seed ^ NameHash(spec.name));
  const size_t n = static_cast<size_t>(NumElements(spec.shape));
  std::vector<float> v(n);
  const std::string& name = spec.name;
  auto ends_with = [&](const char* suffix) {
    const size_t k = std::strlen(suffix);
    return name.size() >= k && name.compare(name.size() - k, k, suffix) == 0;
  };
  const bool is_norm = name.find("norm") != std::string::npos;
  if (ends_with("lambda1")) {
    for (auto& x : v) x = static_cast<float>(0.05 + 0.15 * rng.Uniform());
  } else if (is_norm && ends_with("weight")) {
    for (auto& x : v) x = static_cast<float>(1.0 + 0.1 * rng.Normal());
  } else if (ends_with("bias")) {
    for (auto& x : v) x = static_cast<float>(0.02 * rng.Normal());
  } else if (ends_with("weight")) {
    int64_t fan_in = 1;
    for (size_t i = 1; i < spec.shape.size(); ++i) fan_in *= spec.shape[i];
    const double scale = 1.0 / std::sqrt(static_cast<double>(fan_in));
    for (auto& x : v) x = static_cast<float>(scale * rng.Normal());
  } else {  // cls, mask, register and position embeddings; learned queries
    for (auto& x : v) x = static_cast<float>(0.1 * rng.Normal());
  }
  return v;
}

struct DemoHead {
  const char* name;
  const char* description;
  HeadConfig config;
};

std::vector<DemoHead> DemoHeads() {
  HeadConfig base;
  base.model_name = "curia-demo";
  base.demo = true;
  HeadConfig h2 = base;
  h2.num_classes = 2;
  h2.labels = {"no finding", "finding"};
  HeadConfig mask = base;
  mask.num_classes = 3;
  mask.labels = {"region A", "region B", "region C"};
  mask.requires_mask = true;
  HeadConfig h3 = h2;
  h3.num_slices = 5;
  h3.kernel_size = 8;
  h3.use_class_token = true;
  h3.attention = AttentionConfig{1, 4, {"self", "cross"}};
  return {{"demo-2d", "2-D head on the CLS token of each slice", h2},
          {"demo-mask", "2-D mask-prompted head (mask-weighted patch tokens); needs a mask", mask},
          {"demo-3d", "3-D head pooling a window of 5 slices with attention", h3}};
}

}  // namespace

uint64_t DemoRandom::NextU64() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double DemoRandom::Uniform() { return static_cast<double>(NextU64() >> 11) * (1.0 / 9007199254740992.0); }

double DemoRandom::Normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1;
  do {
    u1 = Uniform();
  } while (u1 <= 0.0);
  const double u2 = Uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2.0 * M_PI * u2);
  has_spare_ = true;
  return r * std::cos(2.0 * M_PI * u2);
}

DemoSize ParseDemoSize(const std::string& text) {
  if (text == "tiny") return DemoSize::kTiny;
  if (text == "base") return DemoSize::kBase;
  throw Error(ErrorCode::kInvalidArgument, "unknown model size '" + text + "' (expected tiny or base)");
}

Dinov2Config DemoConfig(DemoSize size) {
  Dinov2Config c;
  c.image_size = 512;
  c.patch_size = 16;
  c.num_channels = 1;
  c.use_swiglu_ffn = true;
  c.layer_norm_eps = 1e-6;
  c.layerscale_value = 1e-5;
  c.mlp_ratio = 4.0;
  c.demo = true;
  if (size == DemoSize::kTiny) {
    c.hidden_size = 64;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
  } else {
    c.hidden_size = 768;
    c.num_hidden_layers = 12;
    c.num_attention_heads = 12;
  }
  return c;
}

std::string DemoTasksJson() {
  return R"json({
  "demo-finding": {"Head": "demo-2d", "Aggregate": "max", "Threshold": 0.5,
                   "Finding": {"Code": "DEMO2D", "Scheme": "99CURIA", "Meaning": "Demo finding (meaningless)"}},
  "demo-3d-finding": {"Head": "demo-3d", "Threshold": 0.5,
                      "Finding": {"Code": "DEMO3D", "Scheme": "99CURIA", "Meaning": "Demo 3-D finding (meaningless)"}}
})json";
}

std::string DemoRegionTasksJson() {
  return R"json({
  "demo-region": {"Head": "demo-mask", "Region": {"From": ["SEG", "RTSTRUCT"]},
                  "Finding": {"Code": "DEMOREGION", "Scheme": "99CURIA", "Meaning": "Demo region class (meaningless)"}}
})json";
}

bool IsDemoModel(const std::string& dir) {
  try {
    const config::Json existing = config::ParseJsonFile(dir + "/config.json");
    const config::Json* flag = config::Find(existing, "curia_demo");
    return flag && flag->isBool() && flag->asBool();
  } catch (const Error&) {
    return false;
  }
}

void WriteDemoModel(const std::string& dir, DemoSize size, uint64_t seed) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(ErrorCode::kInvalidArgument, dir + ": cannot create folder (" + ec.message() + ")");
  const std::string config_path = dir + "/config.json";
  if (std::filesystem::exists(config_path)) {
    if (!IsDemoModel(dir)) {
      throw Error(ErrorCode::kInvalidArgument,
                  dir + " already holds a model that is not a Curia demo model; refusing to overwrite it");
    }
  }
  const Dinov2Config cfg = DemoConfig(size);
  SafetensorsWriter writer;
  writer.SetMetadata("format", "pt");
  writer.SetMetadata("curia_demo", "DEMO - not Curia weights - meaningless output");
  writer.SetMetadata("curia_demo_seed", std::to_string(seed));
  for (const TensorSpec& spec : BackboneTensorSpecs(cfg)) {
    writer.AddFloat32(spec.name, spec.shape, DemoValues(spec, seed));
  }
  writer.Write(dir + "/model.safetensors");

  std::string head_lines;
  for (const DemoHead& head : DemoHeads()) {
    const std::string head_dir = dir + "/" + head.name;
    std::filesystem::create_directories(head_dir, ec);
    if (ec) throw Error(ErrorCode::kInvalidArgument, head_dir + ": cannot create folder (" + ec.message() + ")");
    SafetensorsWriter w;
    w.SetMetadata("format", "pt");
    w.SetMetadata("curia_demo", "DEMO - not a Curia head - meaningless output");
    std::vector<TensorSpec> specs = HeadTensorSpecs(head.config, cfg.hidden_size);
    if (size == DemoSize::kTiny) {
      // As published: the head checkpoint carries a copy of its backbone (verified at load).
      for (TensorSpec s : BackboneTensorSpecs(cfg)) {
        w.AddFloat32("dino." + s.name, s.shape, DemoValues(s, seed));
      }
    }
    for (const TensorSpec& s : specs) {
      TensorSpec named = s;
      named.name = std::string(head.name) + "/" + s.name;  // a distinct random stream per head
      w.AddFloat32(s.name, s.shape, DemoValues(named, seed));
    }
    w.Write(head_dir + "/model.safetensors");
    config::WriteFileAtomic(head_dir + "/config.json", {config::Dump(HeadConfigToJson(head.config)) + "\n"});
    head_lines += std::string("- `") + head.name + "/`: " + head.description + "\n";
  }

  config::Json pre(::Json::objectValue);
  pre["clip_below_air"] = false;
  pre["crop_size"] = cfg.image_size;
  pre["do_normalize"] = true;
  pre["do_resize"] = true;
  pre["eps"] = 1e-6;
  pre["image_processor_type"] = "CuriaImageProcessor";
  config::WriteFileAtomic(dir + "/preprocessor_config.json", {config::Dump(pre) + "\n"});
  const std::string readme =
      "# DEMO model - not Curia weights - meaningless output\n\n"
      "Written by `curia demo-model` (size " +
      std::string(size == DemoSize::kTiny ? "tiny" : "base") + ", seed " + std::to_string(seed) +
      ") with deterministic random weights in the Hugging Face layout of raidium/curia.\n"
      "It exists to test and demonstrate Curia Node. Its outputs mean nothing.\n\n"
      "Demo heads (same layout as the raidium/curia head subfolders):\n\n" + head_lines;
  config::WriteFileAtomic(dir + "/README.md", {readme});
  // config.json last: a folder with a demo config.json is complete.
  config::WriteFileAtomic(config_path, {config::Dump(Dinov2ConfigToJson(cfg)) + "\n"});
}

}  // namespace curia::model
