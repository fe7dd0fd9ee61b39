// SPDX-License-Identifier: GPL-3.0-or-later
// The feature store: written and read back, and refused with the file and JSON path when broken.
#include <gtest/gtest.h>

#include "curia/config/json.h"
#include "curia/model/safetensors.h"
#include "curia/train/feature_store.h"
#include "test_support.h"

namespace curia::train {
namespace {

FeatureStore Small() {
  FeatureStore s;
  s.backbone_digest = "abc";
  s.model_name = "demo";
  s.features = Matrix(3, 2);
  for (std::size_t i = 0; i < 6; ++i) s.features.values()[i] = 0.25 * static_cast<double>(i);
  s.cases = {{"a", "normal", std::nullopt, "train", "p1"}, {"b", "lesion", std::nullopt, "train", ""},
             {"c", "normal", std::nullopt, "test", "p2"}};
  return s;
}

TEST(TrainFeatureStore, RoundTripsAndSelectsSplits) {
  curia::test::TempDir dir;
  WriteFeatureStore(dir.path(), Small());
  const FeatureStore s = LoadFeatureStore(dir.path());
  EXPECT_EQ(s.backbone_digest, "abc");
  ASSERT_EQ(s.cases.size(), 3u);
  EXPECT_EQ(s.cases[1].label, "lesion");
  EXPECT_EQ(s.cases[2].group, "p2");
  EXPECT_EQ(s.features.values(), Small().features.values());  // quarters are exact in float32
  EXPECT_EQ(s.Rows("train"), (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(s.Rows(""), (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(s.digest.size(), 64u);
}

TEST(TrainFeatureStore, BrokenStoresAreRefusedWithTheFileAndPath) {
  curia::test::TempDir dir;
  WriteFeatureStore(dir.path(), Small());
  config::Json index = config::ParseJsonFile(dir.File("index.json"));
  config::Json extra = index;
  extra["cases"].append(index["cases"][0]);
  extra["cases"][3]["id"] = "d";
  curia::test::WriteFile(dir.File("index.json"), config::Dump(extra));
  EXPECT_EQ(curia::test::ErrorMessage([&] { LoadFeatureStore(dir.path()); }),
            dir.File("features.safetensors") + ": 3 feature rows for 4 cases in " + dir.File("index.json"));
  config::Json twice = index;
  twice["cases"][2]["id"] = "a";
  curia::test::WriteFile(dir.File("index.json"), config::Dump(twice));
  EXPECT_EQ(curia::test::ErrorMessage([&] { LoadFeatureStore(dir.path()); }),
            dir.File("index.json") + ": $.cases[2].id: \"a\" appears twice");
  config::Json both = index;
  both["cases"][1]["target"] = 3.5;
  curia::test::WriteFile(dir.File("index.json"), config::Dump(both));
  EXPECT_EQ(curia::test::ErrorMessage([&] { LoadFeatureStore(dir.path()); }),
            dir.File("index.json") + ": $.cases[1]: give either \"label\" (classification) or \"target\" (regression)");
  config::Json format = index;
  format["format"] = "something else";
  curia::test::WriteFile(dir.File("index.json"), config::Dump(format));
  EXPECT_EQ(curia::test::ErrorMessage([&] { LoadFeatureStore(dir.path()); }),
            dir.File("index.json") + ": $.format must be \"curia-feature-store\"");
}


FeatureStore Tokens() {
  FeatureStore s;
  s.backbone_digest = "abc";
  s.model_name = "demo";
  s.feature = kTokens3dFeature;
  s.token_dim = 2;
  s.offsets = {0, 3, 4};
  s.tokens = {0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 1.25f, 1.5f, 1.75f};
  VolumeGeometry g;
  g.num_slices = 3;
  g.use_class_token = true;
  s.geometry = g;
  s.cases = {{"a", "normal", std::nullopt, "train", ""}, {"b", "lesion", std::nullopt, "train", ""}};
  return s;
}

TEST(TrainFeatureStore, Tokens3dRoundTripsWithItsHeadGeometry) {
  curia::test::TempDir dir;
  WriteFeatureStore(dir.path(), Tokens());
  const FeatureStore s = LoadFeatureStore(dir.path());
  EXPECT_TRUE(s.IsTokens3d());
  EXPECT_EQ(s.tokens, Tokens().tokens);
  EXPECT_EQ(s.offsets, (std::vector<int64_t>{0, 3, 4}));
  EXPECT_EQ(s.token_dim, 2u);
  EXPECT_EQ(s.TokenCount(0), 3u);
  EXPECT_EQ(s.TokenCount(1), 1u);
  EXPECT_EQ(s.CaseTokens(1)[0], 1.5f);
  ASSERT_TRUE(s.geometry.has_value());
  EXPECT_EQ(*s.geometry, *Tokens().geometry);
  EXPECT_EQ(s.features.rows(), 0u);
  const config::Json index = config::ParseJsonFile(dir.File("index.json"));
  EXPECT_EQ(index["head_config"]["num_slices"].asInt(), 3);
  EXPECT_TRUE(index["head_config"]["kernel_size"].isNull());
  EXPECT_TRUE(index["head_config"]["use_class_token"].asBool());
  // A geometry from a head config: equal when the 3-D fields are.
  model::HeadConfig head;
  head.attention = model::AttentionConfig{1, 4, {"self", "cross"}};
  head.num_slices = 3;
  head.use_class_token = true;
  EXPECT_EQ(GeometryOf(head, "h"), *s.geometry);
  head.kernel_size = 2;
  EXPECT_NE(GeometryOf(head, "h"), *s.geometry);
  head.attention.reset();
  EXPECT_EQ(curia::test::ErrorMessage([&] { GeometryOf(head, "h/config.json"); }),
            "h/config.json: not an attention head (attention_cfg null or use_avgpool_on_the_volume): its volume input is "
            "not token rows");
}

TEST(TrainFeatureStore, BrokenTokens3dStoresAreRefused) {
  curia::test::TempDir dir;
  FeatureStore bad = Tokens();
  bad.offsets = {0, 4, 4};
  EXPECT_EQ(curia::test::ErrorMessage([&] { WriteFeatureStore(dir.path(), bad); }),
            "feature store " + dir.path() + ": case 1 has no token rows (offsets 4, 4): offsets must rise");
  bad.offsets = {0, 3};
  EXPECT_EQ(curia::test::ErrorMessage([&] { WriteFeatureStore(dir.path(), bad); }),
            "feature store " + dir.path() + ": 'offsets' has 2 values for 2 cases; expected 3");
  bad.offsets = {0, 1, 3};
  EXPECT_EQ(curia::test::ErrorMessage([&] { WriteFeatureStore(dir.path(), bad); }),
            "feature store " + dir.path() + ": 'offsets' ends at 3 but 'tokens' has 4 rows");
  WriteFeatureStore(dir.path(), Tokens());
  const config::Json index = config::ParseJsonFile(dir.File("index.json"));
  config::Json no_geometry = index;
  no_geometry.removeMember("head_config");
  curia::test::WriteFile(dir.File("index.json"), config::Dump(no_geometry));
  EXPECT_NE(curia::test::ErrorMessage([&] { LoadFeatureStore(dir.path()); })
                .find(dir.File("index.json") + ": $.head_config: a \"tokens3d\" store must say the head geometry"),
            std::string::npos);
  config::Json bad_field = index;
  bad_field["head_config"]["num_slices"] = "three";
  curia::test::WriteFile(dir.File("index.json"), config::Dump(bad_field));
  EXPECT_EQ(curia::test::ErrorMessage([&] { LoadFeatureStore(dir.path()); }),
            dir.File("index.json") + ": $.head_config.num_slices: expected a positive integer or null, got \"three\"");
  // Offsets that do not fit the tokens, written by someone else.
  curia::test::WriteFile(dir.File("index.json"), config::Dump(index));
  model::SafetensorsWriter w;
  w.AddFloat32("tokens", {4, 2}, Tokens().tokens);
  w.AddFloat32("offsets", {3}, std::vector<float>{0.0f, 3.0f, 4.0f});
  w.Write(dir.File("features.safetensors"));
  EXPECT_EQ(curia::test::ErrorMessage([&] { LoadFeatureStore(dir.path()); }),
            dir.File("features.safetensors") + ": tensor 'offsets' must be 1-D int64, got F32 [3]");
}

}  // namespace
}  // namespace curia::train
