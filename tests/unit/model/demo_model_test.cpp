// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/model/demo_model.h"

#include <gtest/gtest.h>

#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/config/sha256.h"
#include "curia/model/safetensors.h"
#include "test_support.h"

namespace curia::model {
namespace {

TEST(DemoModel, WritesAMarkedHuggingFaceFolder) {
  test::TempDir dir;
  WriteDemoModel(dir.path(), DemoSize::kTiny, 0);
  const Dinov2Config cfg = LoadDinov2Config(dir.File("config.json"));
  EXPECT_TRUE(cfg.demo);
  EXPECT_EQ(cfg.hidden_size, 64);
  EXPECT_EQ(cfg.image_size, 512);
  EXPECT_EQ(cfg.num_channels, 1);
  auto weights = SafetensorsFile::Open(dir.File("model.safetensors"));
  EXPECT_NO_THROW(CheckBackboneTensors(*weights, cfg));
  EXPECT_NE(weights->metadata().at("curia_demo").find("DEMO"), std::string::npos);
  const config::Json pre = config::ParseJsonFile(dir.File("preprocessor_config.json"));
  EXPECT_EQ(config::Find(pre, "crop_size")->asInt64(), 512);
  EXPECT_EQ(config::Find(pre, "image_processor_type")->asString(), "CuriaImageProcessor");
  EXPECT_NE(test::ReadFile(dir.File("README.md")).find("meaningless output"), std::string::npos);
}

TEST(DemoModel, SameSeedSameBytesOtherSeedOtherWeights) {
  test::TempDir a, b, c;
  WriteDemoModel(a.path(), DemoSize::kTiny, 7);
  WriteDemoModel(b.path(), DemoSize::kTiny, 7);
  WriteDemoModel(c.path(), DemoSize::kTiny, 8);
  const std::string ha = config::Sha256File(a.File("model.safetensors"));
  EXPECT_EQ(ha, config::Sha256File(b.File("model.safetensors")));
  // The same bytes on any machine and LibTorch version (no LibTorch involved): pinned.
  EXPECT_EQ(ha, "dfb7c8330918580c1608a497e9acc0d799a39f26c63cfa8b43098d033713e1a3");
  EXPECT_NE(ha, config::Sha256File(c.File("model.safetensors")));
}

TEST(DemoModel, BaseHasCuriaBShapes) {
  const Dinov2Config cfg = DemoConfig(DemoSize::kBase);
  int64_t params = 0;
  for (const TensorSpec& s : BackboneTensorSpecs(cfg)) params += NumElements(s.shape);
  EXPECT_EQ(params, 86072832);  // curia-model.md: incl. the unused mask_token
}

TEST(DemoModel, RefusesToOverwriteARealModel) {
  test::TempDir dir;
  test::CopyFile(test::GoldenPath("backbone_swiglu/config.json"), dir.File("config.json"));
  try {
    WriteDemoModel(dir.path(), DemoSize::kTiny, 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a Curia demo model; refusing to overwrite it"), std::string::npos);
  }
  EXPECT_EQ(test::ReadFile(dir.File("model.safetensors")), "");  // nothing written
}

TEST(DemoRandom, NormalHasUnitMoments) {
  DemoRandom rng(1);
  double sum = 0, ss = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double x = rng.Normal();
    sum += x;
    ss += x * x;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(ss / n, 1.0, 0.02);
}

}  // namespace
}  // namespace curia::model
