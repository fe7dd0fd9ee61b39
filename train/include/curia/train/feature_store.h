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
// "feature": "tokens3d" is the 3-D kind (a 3-D attention head's input, curia-model.md §5.3): each
// case is a variable number of token rows, exactly what the head's attention module takes for that
// volume (the window's kept slices, per-slice tokens as the head geometry says, slice positional
// embedding added, optional CLS; nn::TaskHead::VolumeInput):
//   features.safetensors  "tokens" float32 [sum T_i, D] and "offsets" int64 [N + 1] (case i = rows
//                         offsets[i] .. offsets[i + 1] - 1; offsets[0] = 0, each case >= 1 row)
//   index.json            as above, plus "head_config": {"num_slices": 3 | null, "kernel_size": 2 | null,
//                         "use_class_token": bool, "use_avgpool_per_slice": bool, "use_n_blocks": 1},
//                         the head geometry the tokens were made for (training refuses another).
//
//   FeatureStore s = LoadFeatureStore("features/");
//   std::vector<std::size_t> rows = s.Rows("train");
//
// Thread safety: a loaded store is a value.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "curia/model/head_config.h"
#include "curia/train/matrix.h"

namespace curia::train {

inline constexpr const char* kFeatureStoreFormat = "curia-feature-store";
inline constexpr const char* kTokens3dFeature = "tokens3d";

// The 3-D head fields that decide what a volume's tokens are (the attention module's input).
struct VolumeGeometry {
  std::optional<int64_t> num_slices;
  std::optional<int64_t> kernel_size;
  bool use_class_token = false;
  bool use_avgpool_per_slice = false;
  int64_t use_n_blocks = 1;

  bool operator==(const VolumeGeometry& o) const;
  bool operator!=(const VolumeGeometry& o) const { return !(*this == o); }
  // {"num_slices": 3, "kernel_size": null, ...}, as index.json holds it.
  std::string ToString() const;
};
// A head's geometry; throws curia::Error(kInvalidArgument) for a head whose volume input is not
// token rows for an attention module (use_avgpool_on_the_volume, or no attention_cfg).
VolumeGeometry GeometryOf(const model::HeadConfig& head, const std::string& source);

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
  Matrix features;     // N x D, read from float32 (empty for "tokens3d")
  // "tokens3d" only: the token rows (sum T_i x token_dim, row-major float32), offsets (N + 1), and
  // the head geometry they were made for.
  std::vector<float> tokens;
  std::size_t token_dim = 0;
  std::vector<int64_t> offsets;
  std::optional<VolumeGeometry> geometry;
  std::string digest;  // SHA-256 of features.safetensors then index.json (hex), set by Load

  // Indices of the cases in `split` (every case when split is empty).
  std::vector<std::size_t> Rows(const std::string& split) const;
  bool IsTokens3d() const { return feature == kTokens3dFeature; }
  // "tokens3d": case i's token count (offsets[i + 1] - offsets[i]) and first row.
  std::size_t TokenCount(std::size_t i) const;
  const float* CaseTokens(std::size_t i) const;
};

// Throws curia::Error naming the file and the JSON path: a missing file, a wrong format or version,
// a features tensor that is not 2-D floating, case count != rows, a case with neither or both of
// label and target, duplicate ids; for "tokens3d": tokens not 2-D floating, offsets not int64
// [N + 1] rising from 0 to the token rows, a case without tokens, a missing or malformed
// head_config.
FeatureStore LoadFeatureStore(const std::string& dir);
// Writes both files (features or tokens + offsets as float32 / int64), atomically each; refuses
// (kInvalidArgument) the same inconsistencies Load refuses.
void WriteFeatureStore(const std::string& dir, const FeatureStore& store);

}  // namespace curia::train
