// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/train/feature_store.h"

#include <cstring>
#include <filesystem>
#include <set>

#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/config/sha256.h"
#include "curia/model/safetensors.h"

namespace curia::train {
namespace {

std::string OptionalString(const config::Json& c, const char* key, const std::string& where) {
  const config::Json* v = config::Find(c, key);
  if (v == nullptr || v->isNull()) return "";
  if (!v->isString()) throw Error(ErrorCode::kInvalidArgument, where + "." + key + ": expected a string, got " + config::Describe(*v));
  return v->asString();
}

[[noreturn]] void Bad(const std::string& message) { throw Error(ErrorCode::kInvalidArgument, message); }

std::optional<int64_t> OptionalPositive(const config::Json& g, const char* key, const std::string& where) {
  const config::Json* v = config::Find(g, key);
  if (v == nullptr || v->isNull()) return std::nullopt;
  if (!v->isIntegral() || v->asInt64() < 1) Bad(where + "." + key + ": expected a positive integer or null, got " + config::Describe(*v));
  return v->asInt64();
}

bool RequiredBool(const config::Json& g, const char* key, const std::string& where) {
  const config::Json* v = config::Find(g, key);
  if (v == nullptr || !v->isBool()) Bad(where + "." + key + ": expected true or false, got " + (v ? config::Describe(*v) : "nothing"));
  return v->asBool();
}

VolumeGeometry ReadGeometry(const config::Json& index, const std::string& index_path) {
  const std::string where = index_path + ": $.head_config";
  const config::Json* g = config::Find(index, "head_config");
  if (g == nullptr || !g->isObject()) {
    Bad(where + ": a \"tokens3d\" store must say the head geometry its tokens were made for "
                "({\"num_slices\", \"kernel_size\", \"use_class_token\", \"use_avgpool_per_slice\", \"use_n_blocks\"})");
  }
  VolumeGeometry geo;
  geo.num_slices = OptionalPositive(*g, "num_slices", where);
  geo.kernel_size = OptionalPositive(*g, "kernel_size", where);
  geo.use_class_token = RequiredBool(*g, "use_class_token", where);
  geo.use_avgpool_per_slice = RequiredBool(*g, "use_avgpool_per_slice", where);
  const config::Json* n = config::Find(*g, "use_n_blocks");
  if (n == nullptr || !n->isIntegral() || n->asInt64() < 1) {
    Bad(where + ".use_n_blocks: expected a positive integer, got " + (n ? config::Describe(*n) : "nothing"));
  }
  geo.use_n_blocks = n->asInt64();
  return geo;
}

config::Json GeometryJson(const VolumeGeometry& g) {
  config::Json j(::Json::objectValue);
  j["num_slices"] = g.num_slices ? config::Json(static_cast<Json::Int64>(*g.num_slices)) : config::Json();
  j["kernel_size"] = g.kernel_size ? config::Json(static_cast<Json::Int64>(*g.kernel_size)) : config::Json();
  j["use_class_token"] = g.use_class_token;
  j["use_avgpool_per_slice"] = g.use_avgpool_per_slice;
  j["use_n_blocks"] = static_cast<Json::Int64>(g.use_n_blocks);
  return j;
}

// offsets: N + 1 values rising strictly from 0 to `rows` (every case has a token).
void CheckOffsets(const std::vector<int64_t>& offsets, std::size_t cases, std::size_t rows, const std::string& where) {
  if (offsets.size() != cases + 1) {
    Bad(where + ": 'offsets' has " + std::to_string(offsets.size()) + " values for " + std::to_string(cases) +
        " cases; expected " + std::to_string(cases + 1));
  }
  if (offsets[0] != 0) Bad(where + ": 'offsets' must start at 0, found " + std::to_string(offsets[0]));
  for (std::size_t i = 0; i < cases; ++i) {
    if (offsets[i + 1] <= offsets[i]) {
      Bad(where + ": case " + std::to_string(i) + " has no token rows (offsets " + std::to_string(offsets[i]) + ", " +
          std::to_string(offsets[i + 1]) + "): offsets must rise");
    }
  }
  if (static_cast<std::size_t>(offsets[cases]) != rows) {
    Bad(where + ": 'offsets' ends at " + std::to_string(offsets[cases]) + " but 'tokens' has " + std::to_string(rows) + " rows");
  }
}

}  // namespace

bool VolumeGeometry::operator==(const VolumeGeometry& o) const {
  return num_slices == o.num_slices && kernel_size == o.kernel_size && use_class_token == o.use_class_token &&
         use_avgpool_per_slice == o.use_avgpool_per_slice && use_n_blocks == o.use_n_blocks;
}

std::string VolumeGeometry::ToString() const { return config::Dump(GeometryJson(*this), -1); }

VolumeGeometry GeometryOf(const model::HeadConfig& head, const std::string& source) {
  if (head.use_avgpool_on_the_volume || !head.attention) {
    Bad(source + ": not an attention head (attention_cfg null or use_avgpool_on_the_volume): its volume input is "
                 "not token rows");
  }
  VolumeGeometry g;
  g.num_slices = head.num_slices;
  g.kernel_size = head.kernel_size;
  g.use_class_token = head.use_class_token;
  g.use_avgpool_per_slice = head.use_avgpool_per_slice;
  g.use_n_blocks = head.use_n_blocks;
  return g;
}

std::size_t FeatureStore::TokenCount(std::size_t i) const { return static_cast<std::size_t>(offsets.at(i + 1) - offsets.at(i)); }

const float* FeatureStore::CaseTokens(std::size_t i) const {
  return tokens.data() + static_cast<std::size_t>(offsets.at(i)) * token_dim;
}

std::vector<std::size_t> FeatureStore::Rows(const std::string& split) const {
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    if (split.empty() || cases[i].split == split) rows.push_back(i);
  }
  return rows;
}

FeatureStore LoadFeatureStore(const std::string& dir) {
  const std::string index_path = dir + "/index.json";
  const std::string features_path = dir + "/features.safetensors";
  const config::Json index = config::ParseJsonFile(index_path);
  FeatureStore s;
  const config::Json* format = config::Find(index, "format");
  if (format == nullptr || !format->isString() || format->asString() != kFeatureStoreFormat) {
    throw Error(ErrorCode::kInvalidArgument, index_path + ": $.format must be \"" + kFeatureStoreFormat + "\"");
  }
  const config::Json* version = config::Find(index, "version");
  if (version == nullptr || !version->isInt() || version->asInt() != 1) {
    throw Error(ErrorCode::kInvalidArgument, index_path + ": $.version must be 1");
  }
  s.backbone_digest = OptionalString(index, "backbone_digest", index_path + ": $");
  s.model_name = OptionalString(index, "model_name", index_path + ": $");
  s.feature = OptionalString(index, "feature", index_path + ": $");
  const config::Json* cases = config::Find(index, "cases");
  if (cases == nullptr || !cases->isArray()) throw Error(ErrorCode::kInvalidArgument, index_path + ": $.cases must be an array");
  std::set<std::string> ids;
  for (::Json::ArrayIndex i = 0; i < cases->size(); ++i) {
    const config::Json& c = (*cases)[i];
    const std::string where = index_path + ": $.cases[" + std::to_string(i) + "]";
    if (!c.isObject()) throw Error(ErrorCode::kInvalidArgument, where + ": expected an object");
    FeatureCase fc;
    fc.id = OptionalString(c, "id", where);
    fc.label = OptionalString(c, "label", where);
    fc.split = OptionalString(c, "split", where);
    fc.group = OptionalString(c, "group", where);
    if (const config::Json* t = config::Find(c, "target"); t != nullptr && !t->isNull()) {
      if (!t->isNumeric()) throw Error(ErrorCode::kInvalidArgument, where + ".target: expected a number, got " + config::Describe(*t));
      fc.target = t->asDouble();
    }
    if (fc.id.empty()) throw Error(ErrorCode::kInvalidArgument, where + ".id: missing");
    if (fc.label.empty() == !fc.target.has_value()) {
      throw Error(ErrorCode::kInvalidArgument, where + ": give either \"label\" (classification) or \"target\" (regression)");
    }
    if (!ids.insert(fc.id).second) throw Error(ErrorCode::kInvalidArgument, where + ".id: \"" + fc.id + "\" appears twice");
    s.cases.push_back(std::move(fc));
  }
  const auto file = model::SafetensorsFile::Open(features_path);
  if (s.IsTokens3d()) {
    s.geometry = ReadGeometry(index, index_path);
    const model::TensorView& t = file->Get("tokens");
    if (t.shape.size() != 2 || !model::IsFloatingDType(t.dtype) || t.shape[1] < 1) {
      Bad(features_path + ": tensor 'tokens' must be 2-D floating, got " + model::DTypeName(t.dtype) + " " +
          model::ShapeString(t.shape));
    }
    const model::TensorView& o = file->Get("offsets");
    if (o.shape.size() != 1 || o.dtype != model::DType::kI64) {
      Bad(features_path + ": tensor 'offsets' must be 1-D int64, got " + model::DTypeName(o.dtype) + " " +
          model::ShapeString(o.shape));
    }
    s.offsets.resize(static_cast<std::size_t>(o.shape[0]));
    if (!s.offsets.empty()) std::memcpy(s.offsets.data(), o.data, s.offsets.size() * sizeof(int64_t));
    CheckOffsets(s.offsets, s.cases.size(), static_cast<std::size_t>(t.shape[0]), features_path);
    s.token_dim = static_cast<std::size_t>(t.shape[1]);
    s.tokens = model::ToFloat32(t);
  } else {
    const model::TensorView& t = file->Get("features");
    if (t.shape.size() != 2 || !model::IsFloatingDType(t.dtype)) {
      throw Error(ErrorCode::kInvalidArgument, features_path + ": tensor 'features' must be 2-D floating, got " +
                                                   model::DTypeName(t.dtype) + " " + model::ShapeString(t.shape));
    }
    if (static_cast<std::size_t>(t.shape[0]) != s.cases.size()) {
      throw Error(ErrorCode::kInvalidArgument, features_path + ": " + std::to_string(t.shape[0]) + " feature rows for " +
                                                   std::to_string(s.cases.size()) + " cases in " + index_path);
    }
    s.features = Matrix(static_cast<std::size_t>(t.shape[0]), static_cast<std::size_t>(t.shape[1]));
    s.features.values() = model::ToFloat64(t);
  }
  config::Sha256 h;
  const std::string f1 = config::Sha256File(features_path);
  const std::string f2 = config::Sha256File(index_path);
  h.Update(f1.data(), f1.size());
  h.Update(f2.data(), f2.size());
  s.digest = h.HexDigest();
  return s;
}

void WriteFeatureStore(const std::string& dir, const FeatureStore& s) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(ErrorCode::kInvalidArgument, dir + ": cannot create folder (" + ec.message() + ")");
  model::SafetensorsWriter w;
  if (s.IsTokens3d()) {
    if (!s.geometry) Bad("feature store " + dir + ": a \"tokens3d\" store needs its head geometry");
    if (s.token_dim == 0 || s.tokens.size() % s.token_dim != 0) {
      Bad("feature store " + dir + ": " + std::to_string(s.tokens.size()) + " token values are not rows of " +
          std::to_string(s.token_dim));
    }
    const std::size_t rows = s.tokens.size() / s.token_dim;
    CheckOffsets(s.offsets, s.cases.size(), rows, "feature store " + dir);
    w.AddFloat32("tokens", {static_cast<int64_t>(rows), static_cast<int64_t>(s.token_dim)}, s.tokens);
    std::vector<uint8_t> bytes(s.offsets.size() * sizeof(int64_t));
    std::memcpy(bytes.data(), s.offsets.data(), bytes.size());
    w.Add("offsets", model::DType::kI64, {static_cast<int64_t>(s.offsets.size())}, std::move(bytes));
  } else {
    if (s.features.rows() != s.cases.size()) {
      throw Error(ErrorCode::kInvalidArgument, "feature store: " + std::to_string(s.features.rows()) + " rows for " +
                                                   std::to_string(s.cases.size()) + " cases");
    }
    std::vector<float> values(s.features.values().begin(), s.features.values().end());
    w.AddFloat32("features", {static_cast<int64_t>(s.features.rows()), static_cast<int64_t>(s.features.cols())}, values);
  }
  w.Write(dir + "/features.safetensors");
  config::Json index(::Json::objectValue);
  index["format"] = kFeatureStoreFormat;
  index["version"] = 1;
  index["backbone_digest"] = s.backbone_digest;
  index["model_name"] = s.model_name;
  index["feature"] = s.feature;
  if (s.IsTokens3d()) index["head_config"] = GeometryJson(*s.geometry);
  config::Json cases(::Json::arrayValue);
  for (const FeatureCase& c : s.cases) {
    config::Json j(::Json::objectValue);
    j["id"] = c.id;
    if (c.target) {
      j["target"] = *c.target;
    } else {
      j["label"] = c.label;
    }
    if (!c.split.empty()) j["split"] = c.split;
    if (!c.group.empty()) j["group"] = c.group;
    cases.append(j);
  }
  index["cases"] = cases;
  const std::string text = config::Dump(index) + "\n";
  config::WriteFileAtomic(dir + "/index.json", {text});
}

}  // namespace curia::train
