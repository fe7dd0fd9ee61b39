// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/model/dinov2_config.h"

#include <gtest/gtest.h>

#include <functional>

#include "curia/config/error.h"
#include "curia/model/safetensors.h"
#include "test_support.h"

namespace curia::model {
namespace {

using test::ErrorMessage;

TEST(Dinov2Config, ReadsTheGoldenConfigs) {
  const Dinov2Config s = LoadDinov2Config(test::GoldenPath("backbone_swiglu/config.json"));
  EXPECT_EQ(s.hidden_size, 64);
  EXPECT_EQ(s.num_hidden_layers, 2);
  EXPECT_EQ(s.num_attention_heads, 4);
  EXPECT_EQ(s.patch_size, 16);
  EXPECT_EQ(s.image_size, 64);
  EXPECT_EQ(s.num_channels, 1);
  EXPECT_TRUE(s.use_swiglu_ffn);
  EXPECT_TRUE(s.qkv_bias);
  EXPECT_DOUBLE_EQ(s.layer_norm_eps, 1e-6);
  EXPECT_EQ(s.MlpHiddenSize(), 176);  // README: Hs is 176 for D=64
  EXPECT_EQ(s.NumPositions(), 17);
  EXPECT_FALSE(s.demo);
  const Dinov2Config g = LoadDinov2Config(test::GoldenPath("backbone_gelu/config.json"));
  EXPECT_FALSE(g.use_swiglu_ffn);
  EXPECT_EQ(g.MlpHiddenSize(), 128);  // int(32 * 4)
  EXPECT_EQ(LoadDinov2Config(test::GoldenPath("backbone_swiglu_img96/config.json")).MlpHiddenSize(), 88);
  Dinov2Config base;
  EXPECT_EQ(base.MlpHiddenSize(), 2048);  // Curia-B: weights_in 768 -> 2 x 2048
}

TEST(Dinov2Config, RefusesAHeadConfigWithAHint) {
  const std::string path = test::GoldenPath("head2d/config.json");
  const std::string msg = ErrorMessage([&] { LoadDinov2Config(path); });
  EXPECT_NE(msg.find(path + ": $.model_type: \"dinov2_custom_classifier\" is not a DINOv2 backbone"), std::string::npos)
      << msg;
}

TEST(Dinov2Config, ReportsEveryBadFieldWithItsPath) {
  const config::Json doc = config::ParseJson(
      R"({"model_type": "dinov2", "hidden_size": "768", "num_attention_heads": 5, "num_hidden_layers": 0,
          "patch_size": 16, "image_size": 8, "use_swiglu_ffn": false, "hidden_act": "relu"})",
      "config.json");
  const std::string msg = ErrorMessage([&] { ParseDinov2Config(doc, "config.json"); });
  EXPECT_NE(msg.find("config.json: $.hidden_size: expected an integer in [1, 1048576], found \"768\""), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("config.json: $.num_hidden_layers: expected an integer in [1, 1000], found 0"), std::string::npos);
  EXPECT_NE(msg.find("config.json: $.image_size: 8 is smaller than patch_size 16"), std::string::npos);
  EXPECT_NE(msg.find("config.json: $.hidden_act: \"relu\" is not supported"), std::string::npos);
  const config::Json heads = config::ParseJson(
      R"({"model_type": "dinov2", "hidden_size": 64, "num_attention_heads": 5, "num_hidden_layers": 1,
          "patch_size": 16, "image_size": 64})",
      "c.json");
  EXPECT_NE(ErrorMessage([&] { ParseDinov2Config(heads, "c.json"); })
                .find("$.num_attention_heads: 5 does not divide hidden_size 64"),
            std::string::npos);
  EXPECT_NE(ErrorMessage([&] { ParseDinov2Config(config::ParseJson("{}", "e.json"), "e.json"); })
                .find("e.json: $.model_type: required member is missing"),
            std::string::npos);
}

TEST(Dinov2Config, JsonRoundTrip) {
  Dinov2Config c;
  c.demo = true;
  c.num_register_tokens = 4;
  const Dinov2Config back = ParseDinov2Config(Dinov2ConfigToJson(c), "round-trip");
  EXPECT_EQ(back.hidden_size, c.hidden_size);
  EXPECT_EQ(back.num_register_tokens, 4);
  EXPECT_TRUE(back.demo);
  EXPECT_EQ(back.MlpHiddenSize(), c.MlpHiddenSize());
}

// Rewrites the golden backbone with one change and checks the message.
class BackboneTensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_ = LoadDinov2Config(test::GoldenPath("backbone_swiglu/config.json"));
    golden_ = SafetensorsFile::Open(test::GoldenPath("backbone_swiglu/model.safetensors"));
  }
  // Copies every tensor but `drop`, then lets `edit` add more; returns the path.
  std::string Variant(const std::string& name, const std::string& drop,
                      const std::function<void(SafetensorsWriter&)>& edit) {
    SafetensorsWriter w;
    for (const TensorView& t : golden_->tensors()) {
      if (t.name == drop) continue;
      w.Add(t.name, t.dtype, t.shape, std::vector<uint8_t>(t.data, t.data + t.nbytes));
    }
    if (edit) edit(w);
    const std::string path = dir_.File(name);
    w.Write(path);
    return path;
  }
  std::string Problems(const std::string& path, const Dinov2Config& cfg) {
    auto f = SafetensorsFile::Open(path);
    return ErrorMessage([&] { CheckBackboneTensors(*f, cfg); });
  }

  test::TempDir dir_;
  Dinov2Config cfg_;
  std::unique_ptr<SafetensorsFile> golden_;
};

TEST_F(BackboneTensorsTest, GoldenPassesAndMaskTokenIsOptional) {
  EXPECT_NO_THROW(CheckBackboneTensors(*golden_, cfg_));
  const std::string path = Variant("no_mask.safetensors", "embeddings.mask_token", nullptr);
  EXPECT_NO_THROW(CheckBackboneTensors(*SafetensorsFile::Open(path), cfg_));
}

TEST_F(BackboneTensorsTest, MissingTensor) {
  const std::string path = Variant("missing.safetensors", "encoder.layer.1.norm2.bias", nullptr);
  EXPECT_EQ(Problems(path, cfg_), path + ": tensor 'encoder.layer.1.norm2.bias' is missing");
}

TEST_F(BackboneTensorsTest, UnexpectedTensor) {
  const std::string path = Variant("extra.safetensors", "", [](SafetensorsWriter& w) {
    w.AddFloat32("encoder.layer.2.norm1.weight", {64}, std::vector<float>(64, 1.0f));
  });
  EXPECT_NE(Problems(path, cfg_).find(path + ": unexpected tensor 'encoder.layer.2.norm1.weight' (not part of a Dinov2 "
                                             "backbone with SwiGLU (use_swiglu_ffn true), 2 layers"),
            std::string::npos);
}

TEST_F(BackboneTensorsTest, WrongShapeAndDtype) {
  const std::string path = Variant("shape.safetensors", "layernorm.weight", [](SafetensorsWriter& w) {
    w.AddFloat32("layernorm.weight", {65}, std::vector<float>(65, 1.0f));
  });
  EXPECT_NE(Problems(path, cfg_).find(path + ": tensor 'layernorm.weight' has shape [65], expected [64]"),
            std::string::npos);
  const std::string path2 = Variant("dtype.safetensors", "layernorm.bias", [](SafetensorsWriter& w) {
    w.Add("layernorm.bias", DType::kI32, {64}, std::vector<uint8_t>(256));
  });
  EXPECT_EQ(Problems(path2, cfg_), path2 + ": tensor 'layernorm.bias' has dtype I32, expected F32, F16 or BF16");
}

TEST_F(BackboneTensorsTest, ConfigThatDoesNotFitTheWeightsListsEveryProblem) {
  Dinov2Config gelu = cfg_;
  gelu.use_swiglu_ffn = false;
  const std::string msg = Problems(test::GoldenPath("backbone_swiglu/model.safetensors"), gelu);
  EXPECT_NE(msg.find("tensor 'encoder.layer.0.mlp.fc1.weight' is missing"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unexpected tensor 'encoder.layer.0.mlp.weights_in.weight'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unexpected tensor 'encoder.layer.1.mlp.weights_out.bias'"), std::string::npos) << msg;
}

TEST_F(BackboneTensorsTest, HeadCheckpointWithPrefix) {
  auto head = SafetensorsFile::Open(test::GoldenPath("head2d/model.safetensors"));
  EXPECT_NO_THROW(CheckBackboneTensors(*head, cfg_, "dino."));  // classifier.* is the caller's business
  EXPECT_NE(ErrorMessage([&] { CheckBackboneTensors(*head, cfg_); }).find("tensor 'embeddings.cls_token' is missing"),
            std::string::npos);
}

}  // namespace
}  // namespace curia::model
