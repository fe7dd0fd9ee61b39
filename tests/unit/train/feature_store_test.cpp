// SPDX-License-Identifier: GPL-3.0-or-later
// The feature store: written and read back, and refused with the file and JSON path when broken.
#include <gtest/gtest.h>

#include "curia/config/json.h"
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

}  // namespace
}  // namespace curia::train
