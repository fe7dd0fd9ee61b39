// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A feature store: the cached backbone features of labelled cases, what `curia train-head` and
// `curia evaluate` read. A folder with two files:
//   features.safetensors  one tensor "features", float32 [N, D] (row i = case i of the index)
//   index.json            {"format": "curia-feature-store", "version": 1,
//                          "backbone_digest": "<BackboneDigest of the backbone that made them>",
//                          "model_name": "<backbone repository or folder>", "feature": "cls",
//                          "cases": [{"id": "...", "label": "pneumonia" | "target": 41.5,
//                                     "split": "train" | "validation" | "test", "group": "patient-7"}]}
// "label" (a class name) for classification, "target" (a number) for regression; "split" and
// "group" are optional ("" when absent).
//
//   FeatureStore s = LoadFeatureStore("features/");
//   std::vector<std::size_t> rows = s.Rows("train");
//
// Thread safety: a loaded store is a value.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "curia/train/matrix.h"

namespace curia::train {

inline constexpr const char* kFeatureStoreFormat = "curia-feature-store";

struct FeatureCase {
  std::string id;
  std::string label;              // classification ("" for regression)
  std::optional<double> target;   // regression
  std::string split;
  std::string group;
};

struct FeatureStore {
  std::string backbone_digest;
  std::string model_name;
  std::string feature = "cls";
  std::vector<FeatureCase> cases;
  Matrix features;     // N x D, read from float32
  std::string digest;  // SHA-256 of features.safetensors then index.json (hex), set by Load

  // Indices of the cases in `split` (every case when split is empty).
  std::vector<std::size_t> Rows(const std::string& split) const;
};

// Throws curia::Error naming the file and the JSON path: a missing file, a wrong format or version,
// a features tensor that is not 2-D floating, case count != rows, a case with neither or both of
// label and target, duplicate ids.
FeatureStore LoadFeatureStore(const std::string& dir);
// Writes both files (features as float32), atomically each.
void WriteFeatureStore(const std::string& dir, const FeatureStore& store);

}  // namespace curia::train
