// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/model/head_config.h"

#include <algorithm>
#include <set>

#include "curia/config/error.h"
#include "curia/config/json_fields.h"
#include "curia/config/sha256.h"
#include "curia/model/safetensors.h"

namespace curia::model {

using config::Diagnostics;
using config::Json;
using config::ObjectReader;

namespace {

constexpr const char* kAttentionPrefix = "attention_module.";
constexpr const char* kBackbonePrefix = "dino.";

// A nullable positive integer member.
std::optional<int64_t> NullableInt(ObjectReader& r, const char* key) {
  Diagnostics& diag = r.diagnostics();
  const Json* v = r.Get(key);
  if (!v || v->isNull()) return std::nullopt;
  if (!v->isInt64() || v->asInt64() < 1) {
    diag.Add(r.PathOf(key), "expected null or an integer >= 1, found " + config::Describe(*v));
    return std::nullopt;
  }
  return v->asInt64();
}

void AddAttentionSpecs(std::vector<TensorSpec>& specs, const std::string& block, int64_t d) {
  const std::string p = std::string(kAttentionPrefix) + block + "_attention.attention.";
  specs.push_back({p + "multihead_attn.in_proj_weight", {3 * d, d}});
  specs.push_back({p + "multihead_attn.in_proj_bias", {3 * d}});
  specs.push_back({p + "multihead_attn.out_proj.weight", {d, d}});
  specs.push_back({p + "multihead_attn.out_proj.bias", {d}});
  specs.push_back({p + "norm.weight", {d}});
  specs.push_back({p + "norm.bias", {d}});
}

}  // namespace

bool AttentionConfig::HasCross() const { return std::find(blocks.begin(), blocks.end(), "cross") != blocks.end(); }

HeadConfig ParseHeadConfig(const Json& doc, const std::string& source) {
  Diagnostics diag(source);
  ObjectReader r(doc, "$", diag);
  HeadConfig h;
  h.source = source;
  if (r.ok()) {
    const std::string type = r.RequiredString("model_type");
    if (!type.empty() && type != "dinov2_custom_classifier") {
      diag.Add(r.PathOf("model_type"), "\"" + type + "\" is not a Curia task head (expected \"dinov2_custom_classifier\")");
    }
    h.num_classes = r.RequiredInt("num_classes", 1, 100000);
    h.num_slices = NullableInt(r, "num_slices");
    h.kernel_size = NullableInt(r, "kernel_size");
    h.use_n_blocks = r.Int("use_n_blocks", 1, 1, 1000);
    h.use_class_token = r.Bool("use_class_token", false);
    h.use_avgpool_per_slice = r.Bool("use_avgpool_per_slice", false);
    h.use_avgpool_on_the_volume = r.Bool("use_avgpool_on_the_volume", false);
    h.regression = r.Bool("regression", false);
    h.model_name = r.String("model_name", "");
    h.demo = r.Bool("curia_demo", false);
    h.requires_mask = r.Bool("curia_requires_mask", false);
    if (const Json* a = r.Get("attention_cfg"); a && !a->isNull()) {
      ObjectReader ar(*a, r.PathOf("attention_cfg"), diag);
      AttentionConfig att;
      att.num_heads = ar.Int("num_heads", 1, 1, 4096);
      att.num_queries = ar.Int("num_queries", 1, 1, 100000);
      if (const Json* blocks = ar.Get("block")) {
        if (!blocks->isArray() || blocks->empty()) {
          diag.Add(ar.PathOf("block"),
                   "expected a non-empty array of \"self\" / \"cross\", found " + config::Describe(*blocks));
        } else {
          for (Json::ArrayIndex i = 0; i < blocks->size(); ++i) {
            const Json& b = (*blocks)[i];
            if (!b.isString() || (b.asString() != "self" && b.asString() != "cross")) {
              diag.Add(config::JsonPath(ar.PathOf("block"), i),
                       "expected \"self\" or \"cross\", found " + config::Describe(b));
            } else {
              att.blocks.push_back(b.asString());
            }
          }
        }
      } else {
        att.blocks = {"self", "cross"};  // the reference's default
      }
      if (att.num_heads != 1) {
        diag.Add(ar.PathOf("num_heads"), std::to_string(att.num_heads) +
                                             " is not supported: the reference passes a 3-D attention mask that "
                                             "torch accepts only with num_heads 1");
      }
      h.attention = att;
    }
    // id2label: {"0": "normal", "1": "hemorrhage"}; transformers' default names otherwise.
    if (const Json* map = r.Get("id2label"); map && !map->isNull() && h.num_classes > 0) {
      const std::string path = r.PathOf("id2label");
      if (!map->isObject()) {
        diag.Add(path, "expected an object {\"0\": label, ...}, found " + config::Describe(*map));
      } else if (static_cast<int64_t>(map->size()) != h.num_classes) {
        diag.Add(path, "has " + std::to_string(map->size()) + " labels but num_classes is " +
                           std::to_string(h.num_classes));
      } else {
        h.labels.assign(static_cast<size_t>(h.num_classes), "");
        for (const auto& [key, label_p] : config::MembersInFileOrder(*map)) {
          const Json& label = *label_p;
          int64_t index = -1;
          try {
            size_t used = 0;
            index = std::stoll(key, &used);
            if (used != key.size()) index = -1;
          } catch (const std::exception&) {
          }
          if (index < 0 || index >= h.num_classes || !h.labels[static_cast<size_t>(index)].empty()) {
            diag.Add(config::JsonPath(path, key), "key must be a class index in [0, " + std::to_string(h.num_classes - 1) +
                                                      "], each once");
          } else if (!label.isString() || label.asString().empty()) {
            diag.Add(config::JsonPath(path, key), "expected a non-empty label, found " + config::Describe(label));
          } else {
            h.labels[static_cast<size_t>(index)] = label.asString();
          }
        }
      }
    }
    if (h.labels.empty()) {
      for (int64_t i = 0; i < h.num_classes; ++i) h.labels.push_back("LABEL_" + std::to_string(i));
    }
    // Combinations the reference code cannot run.
    if (h.use_n_blocks != 1) {
      diag.Add(r.PathOf("use_n_blocks"), "only 1 is supported (the reference concatenates n blocks to n*D features "
                                         "but its classifier expects D)");
    }
    if (h.use_avgpool_per_slice && h.use_class_token) {
      diag.Add(r.PathOf("use_avgpool_per_slice"), "cannot be combined with use_class_token (the reference fails)");
    }
    if (h.use_avgpool_on_the_volume && (h.attention || h.use_class_token)) {
      diag.Add(r.PathOf("use_avgpool_on_the_volume"),
               "works only with attention_cfg null and use_class_token false (the reference fails otherwise)");
    }
    if (!h.use_avgpool_on_the_volume && !h.attention && h.num_slices) {
      diag.Add(r.PathOf("attention_cfg"), "a 3-D head (num_slices set) needs an attention module or "
                                          "use_avgpool_on_the_volume");
    }
    if (h.regression && h.num_classes != 1) {
      diag.Add(r.PathOf("num_classes"), "a regression head has one output, found " + std::to_string(h.num_classes));
    }
  }
  diag.ThrowIfAny();
  return h;
}

HeadConfig LoadHeadConfig(const std::string& path) { return ParseHeadConfig(config::ParseJsonFile(path), path); }

Json HeadConfigToJson(const HeadConfig& h) {
  Json j(::Json::objectValue);
  j["architectures"].append("Dinov2ForImageClassification");
  if (h.attention) {
    Json a(::Json::objectValue);
    Json blocks(::Json::arrayValue);
    for (const auto& b : h.attention->blocks) blocks.append(b);
    a["block"] = std::move(blocks);
    a["num_heads"] = h.attention->num_heads;
    a["num_queries"] = h.attention->num_queries;
    j["attention_cfg"] = std::move(a);
  } else {
    j["attention_cfg"] = Json();
  }
  Json labels(::Json::objectValue);  // written in key order ("0", "1", "10", ..., "2"), as JsonCpp keeps objects
  for (size_t i = 0; i < h.labels.size(); ++i) labels[std::to_string(i)] = h.labels[i];
  j["id2label"] = std::move(labels);
  j["kernel_size"] = h.kernel_size ? Json(*h.kernel_size) : Json();
  j["model_name"] = h.model_name;
  j["model_type"] = "dinov2_custom_classifier";
  j["num_classes"] = h.num_classes;
  j["num_slices"] = h.num_slices ? Json(*h.num_slices) : Json();
  j["regression"] = h.regression;
  j["torch_dtype"] = "float32";
  j["use_avgpool_on_the_volume"] = h.use_avgpool_on_the_volume;
  j["use_avgpool_per_slice"] = h.use_avgpool_per_slice;
  j["use_class_token"] = h.use_class_token;
  j["use_n_blocks"] = h.use_n_blocks;
  if (h.requires_mask) j["curia_requires_mask"] = true;
  if (h.demo) {
    j["curia_demo"] = true;
    j["curia_demo_notice"] = "DEMO - not a Curia head - meaningless output";
  }
  return j;
}

std::vector<TensorSpec> HeadTensorSpecs(const HeadConfig& h, int64_t d) {
  std::vector<TensorSpec> specs = {{"classifier.weight", {h.num_classes, d}}, {"classifier.bias", {h.num_classes}}};
  if (h.attention) {
    const auto& blocks = h.attention->blocks;
    if (std::find(blocks.begin(), blocks.end(), "self") != blocks.end()) AddAttentionSpecs(specs, "self", d);
    if (h.attention->HasCross()) {
      AddAttentionSpecs(specs, "cross", d);
      specs.push_back({std::string(kAttentionPrefix) + "cross_attention.learned_queries", {h.attention->num_queries, d}});
    }
  }
  return specs;
}

HeadWeights CheckHeadTensors(const SafetensorsFile& file, const HeadConfig& head, const Dinov2Config& backbone) {
  std::vector<std::string> problems;
  HeadWeights result;
  std::set<std::string, std::less<>> expected;
  const int64_t d = backbone.hidden_size;
  for (const TensorSpec& spec : HeadTensorSpecs(head, d)) {
    expected.insert(spec.name);
    CheckTensor(file, spec.name, spec, problems, [&](const TensorView& t) -> std::string {
      if (spec.name == "classifier.weight" && t.shape.size() == 2 && t.shape[1] != d) {
        return ": the head was trained on features of size " + std::to_string(t.shape[1]) + " but the backbone (" +
               backbone.source + ") has hidden size " + std::to_string(d);
      }
      if (spec.name.rfind("classifier.", 0) == 0 && !t.shape.empty() && t.shape[0] != head.num_classes) {
        return ": " + std::to_string(t.shape[0]) + " outputs but config.json says num_classes " +
               std::to_string(head.num_classes);
      }
      return "";
    });
  }
  size_t backbone_tensors = 0;
  for (const TensorView& t : file.tensors()) {
    if (expected.count(t.name)) continue;
    if (t.name.rfind(kBackbonePrefix, 0) == 0) {
      ++backbone_tensors;
    } else if (!head.attention && t.name.rfind(kAttentionPrefix, 0) == 0) {
      result.ignored.push_back(t.name);  // weights of an attention module the config does not use
    } else {
      problems.push_back("unexpected tensor '" + t.name + "' (not part of this head's config.json)");
    }
  }
  if (backbone_tensors > 0) {
    // A backbone copy must be a complete one for this backbone.
    try {
      CheckBackboneTensors(file, backbone, kBackbonePrefix);
      result.has_backbone_copy = true;
    } catch (const Error& e) {
      problems.push_back(std::string("its backbone copy (dino.*) does not fit the backbone ") + backbone.source + ":\n" +
                         e.what());
    }
  }
  ThrowIfTensorProblems(file, problems);
  return result;
}

std::string BackboneDigest(const SafetensorsFile& file, const Dinov2Config& backbone, std::string_view prefix) {
  config::Sha256 h;
  for (const TensorSpec& spec : BackboneTensorSpecs(backbone)) {
    if (spec.optional) continue;
    const TensorView& t = file.Get(std::string(prefix) + spec.name);
    h.Update(spec.name);
    h.Update(std::string(1, '\0') + DTypeName(t.dtype) + ShapeString(t.shape));
    h.Update(t.data, t.nbytes);
  }
  return h.HexDigest();
}

}  // namespace curia::model
