// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/model/head_config.h"

#include <gtest/gtest.h>

#include <functional>

#include "curia/config/error.h"
#include "curia/model/safetensors.h"
#include "test_support.h"

namespace curia::model {
namespace {

using test::ErrorMessage;

HeadConfig Parse(const std::string& json) { return ParseHeadConfig(config::ParseJson(json, "h.json"), "h.json"); }

TEST(HeadConfig, ReadsTheGoldenHeads) {
  const HeadConfig h2 = LoadHeadConfig(test::GoldenPath("head2d/config.json"));
  EXPECT_EQ(h2.num_classes, 5);
  EXPECT_FALSE(h2.Is3D());
  EXPECT_EQ(h2.labels, (std::vector<std::string>{"LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3", "LABEL_4"}));
  const HeadConfig h3 = LoadHeadConfig(test::GoldenPath("head3d/config.json"));
  EXPECT_TRUE(h3.Is3D());
  EXPECT_EQ(*h3.num_slices, 3);
  EXPECT_EQ(*h3.kernel_size, 2);
  EXPECT_EQ(h3.attention->blocks, (std::vector<std::string>{"self", "cross"}));
  EXPECT_EQ(h3.attention->num_queries, 4);
}

TEST(HeadConfig, LabelsFromId2Label) {
  const HeadConfig h = Parse(R"({"model_type": "dinov2_custom_classifier", "num_classes": 2,
                                 "id2label": {"1": "hemorrhage", "0": "normal"}})");
  EXPECT_EQ(h.labels, (std::vector<std::string>{"normal", "hemorrhage"}));
  EXPECT_EQ(ErrorMessage([] { Parse(R"({"model_type": "dinov2_custom_classifier", "num_classes": 3,
                                   "id2label": {"0": "a", "1": "b"}})"); }),
            "h.json: $.id2label: has 2 labels but num_classes is 3");
  EXPECT_EQ(ErrorMessage([] { Parse(R"({"model_type": "dinov2_custom_classifier", "num_classes": 2,
                                   "id2label": {"0": "a", "2": "b"}})"); }),
            "h.json: $.id2label[\"2\"]: key must be a class index in [0, 1], each once");
}

TEST(HeadConfig, RefusesWhatTheReferenceCannotRun) {
  EXPECT_NE(ErrorMessage([] { Parse(R"({"model_type": "dinov2_custom_classifier", "num_classes": 2, "use_n_blocks": 4})"); })
                .find("$.use_n_blocks: only 1 is supported"),
            std::string::npos);
  EXPECT_NE(ErrorMessage([] { Parse(R"({"model_type": "dinov2_custom_classifier", "num_classes": 2,
                                   "attention_cfg": {"num_heads": 8, "num_queries": 4, "block": ["self"]}})"); })
                .find("$.attention_cfg.num_heads: 8 is not supported"),
            std::string::npos);
  EXPECT_NE(ErrorMessage([] { Parse(R"({"model_type": "dinov2_custom_classifier", "num_classes": 2,
                                   "attention_cfg": {"num_heads": 1, "block": ["self", "mix"]}})"); })
                .find("$.attention_cfg.block[1]: expected \"self\" or \"cross\", found \"mix\""),
            std::string::npos);
  EXPECT_NE(ErrorMessage([] { Parse(R"({"model_type": "dinov2", "num_classes": 2})"); })
                .find("$.model_type: \"dinov2\" is not a Curia task head"),
            std::string::npos);
}

TEST(HeadTensors, HeadOnATooSmallBackboneIsRefusedWithBothSizes) {
  const Dinov2Config small = LoadDinov2Config(test::GoldenPath("backbone_gelu/config.json"));  // hidden 32
  const HeadConfig head = LoadHeadConfig(test::GoldenPath("head2d/config.json"));
  auto file = SafetensorsFile::Open(test::GoldenPath("head2d/model.safetensors"));
  const std::string msg = ErrorMessage([&] { CheckHeadTensors(*file, head, small); });
  EXPECT_NE(msg.find(file->path() + ": tensor 'classifier.weight' has shape [5, 64], expected [5, 32]: the head was "
                                    "trained on features of size 64 but the backbone"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("its backbone copy (dino.*) does not fit the backbone"), std::string::npos) << msg;
}

TEST(HeadTensors, ClassCountMustMatchTheClassifier) {
  const Dinov2Config backbone = LoadDinov2Config(test::GoldenPath("backbone_swiglu/config.json"));
  HeadConfig head = LoadHeadConfig(test::GoldenPath("head2d/config.json"));
  head.num_classes = 4;
  auto file = SafetensorsFile::Open(test::GoldenPath("head2d/model.safetensors"));
  EXPECT_NE(ErrorMessage([&] { CheckHeadTensors(*file, head, backbone); })
                .find("tensor 'classifier.bias' has shape [5], expected [4]: 5 outputs but config.json says num_classes 4"),
            std::string::npos);
}

TEST(HeadTensors, BackboneCopyDigestMatchesTheBaseBackbone) {
  const Dinov2Config backbone = LoadDinov2Config(test::GoldenPath("backbone_swiglu/config.json"));
  auto base = SafetensorsFile::Open(test::GoldenPath("backbone_swiglu/model.safetensors"));
  auto head = SafetensorsFile::Open(test::GoldenPath("head3d/model.safetensors"));
  const HeadWeights w = CheckHeadTensors(*head, LoadHeadConfig(test::GoldenPath("head3d/config.json")), backbone);
  EXPECT_TRUE(w.has_backbone_copy);
  EXPECT_EQ(BackboneDigest(*head, backbone, "dino."), BackboneDigest(*base, backbone));
  auto other = SafetensorsFile::Open(test::GoldenPath("backbone_swiglu_img96/model.safetensors"));
  EXPECT_NE(BackboneDigest(*other, backbone), BackboneDigest(*base, backbone));
}

}  // namespace
}  // namespace curia::model
