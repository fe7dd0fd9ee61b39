// SPDX-License-Identifier: GPL-3.0-or-later
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "curia/config/error.h"
#include "curia/model/safetensors.h"
#include "curia/nn/head.h"
#include "curia/nn/tensor_io.h"
#include "test_support.h"

namespace curia::nn {
namespace {

using test::ErrorMessage;

TEST(TaskHead, RefusesAHeadTrainedOnOtherBackboneWeights) {
  // The base backbone with one weight changed: head2d's dino.* copy no longer matches it.
  test::TempDir dir;
  test::CopyFile(test::GoldenPath("backbone_swiglu/config.json"), dir.File("config.json"));
  auto golden = model::SafetensorsFile::Open(test::GoldenPath("backbone_swiglu/model.safetensors"));
  model::SafetensorsWriter w;
  for (const model::TensorView& t : golden->tensors()) {
    std::vector<uint8_t> bytes(t.data, t.data + t.nbytes);
    if (t.name == "layernorm.bias") bytes[0] ^= 1;
    w.Add(t.name, t.dtype, t.shape, std::move(bytes));
  }
  w.Write(dir.File("model.safetensors"));
  auto backbone = Dinov2Backbone::Load(dir.path(), BackboneOptions{});
  const std::string msg = ErrorMessage([&] { TaskHead::Load(test::GoldenPath("head2d"), *backbone); });
  EXPECT_NE(msg.find("head " + test::GoldenPath("head2d") + ": its copy of the backbone (dino.*, digest"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("the head was trained on other backbone weights; refusing it"), std::string::npos) << msg;
}

TEST(TaskHead, RefusesAHeadWhoseShapesDoNotFitTheBackbone) {
  auto gelu = Dinov2Backbone::Load(test::GoldenPath("backbone_gelu"), BackboneOptions{});  // hidden 32
  const std::string msg = ErrorMessage([&] { TaskHead::Load(test::GoldenPath("head2d"), *gelu); });
  EXPECT_NE(msg.find("tensor 'classifier.weight' has shape [5, 64], expected [5, 32]"), std::string::npos) << msg;
}

TEST(TaskHead, HeadOnlyCheckpointsLoadWithoutABackboneCopy) {
  test::TempDir dir;
  test::CopyFile(test::GoldenPath("head2d/config.json"), dir.File("config.json"));
  auto golden = model::SafetensorsFile::Open(test::GoldenPath("head2d/model.safetensors"));
  model::SafetensorsWriter w;
  for (const model::TensorView& t : golden->tensors()) {
    if (t.name.rfind("dino.", 0) != 0) w.Add(t.name, t.dtype, t.shape, std::vector<uint8_t>(t.data, t.data + t.nbytes));
  }
  w.Write(dir.File("model.safetensors"));
  auto backbone = Dinov2Backbone::Load(test::GoldenPath("backbone_swiglu"), BackboneOptions{});
  auto head = TaskHead::Load(dir.path(), *backbone);
  auto full = TaskHead::Load(test::GoldenPath("head2d"), *backbone);
  EXPECT_EQ(head->digest(), full->digest());  // the version is the head's own weights and config
}

TEST(TaskHead, WindowFollowsPythonIndexingAndRefusesShortVolumes) {
  auto backbone = Dinov2Backbone::Load(test::GoldenPath("backbone_swiglu"), BackboneOptions{});
  auto head = TaskHead::Load(test::GoldenPath("head3d"), *backbone);  // num_slices 3
  EXPECT_EQ(head->KeptSlices(5), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(head->KeptSlices(4), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(head->KeptSlices(3), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_NE(ErrorMessage([&] { head->KeptSlices(2); }).find("the volume has 2 slice(s): too few for the head's window of 3 slices"),
            std::string::npos);
  // With a mask the window centres on the middle masked slice; unmasked slices drop out.
  at::Tensor mask = at::zeros({9, 1, 64, 64});
  for (int64_t s : {5, 6, 8}) mask[s][0][20][20] = 1.0f;
  EXPECT_EQ(head->KeptSlices(9, mask), (std::vector<int64_t>{5, 6}));  // window 5..7 around slice 6
  EXPECT_NE(ErrorMessage([&] { head->KeptSlices(9, at::zeros({9, 1, 64, 64})); }).find("the mask is empty on every slice"),
            std::string::npos);
  EXPECT_EQ(ErrorMessage([&] { head->KeptSlices(9, mask * 2); }), "mask values must be weights in [0, 1]");
}

TEST(TaskHead, EmptyOrMisshapenMasksAreRefused) {
  auto backbone = Dinov2Backbone::Load(test::GoldenPath("backbone_swiglu"), BackboneOptions{});
  auto head = TaskHead::Load(test::GoldenPath("head2d"), *backbone);
  const BackboneOutput out = backbone->Forward(at::randn({2, 1, 64, 64}));
  at::Tensor mask = at::zeros({2, 1, 64, 64});
  mask[0][0][10][10] = 1.0f;
  EXPECT_EQ(ErrorMessage([&] { head->Logits2D(out, mask); }),
            "the mask of slice 1 is empty on the patch grid: a mask head needs a region to classify");
  EXPECT_EQ(ErrorMessage([&] { head->Logits2D(out, at::ones({3, 1, 64, 64})); }),
            "mask has shape [3, 1, 64, 64], expected (2, 1, H, W): one per slice");
}

}  // namespace
}  // namespace curia::nn
