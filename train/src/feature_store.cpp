// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/train/feature_store.h"

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

}  // namespace

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
  if (s.features.rows() != s.cases.size()) {
    throw Error(ErrorCode::kInvalidArgument, "feature store: " + std::to_string(s.features.rows()) + " rows for " +
                                                 std::to_string(s.cases.size()) + " cases");
  }
  std::vector<float> values(s.features.values().begin(), s.features.values().end());
  model::SafetensorsWriter w;
  w.AddFloat32("features", {static_cast<int64_t>(s.features.rows()), static_cast<int64_t>(s.features.cols())}, values);
  w.Write(dir + "/features.safetensors");
  config::Json index(::Json::objectValue);
  index["format"] = kFeatureStoreFormat;
  index["version"] = 1;
  index["backbone_digest"] = s.backbone_digest;
  index["model_name"] = s.model_name;
  index["feature"] = s.feature;
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
