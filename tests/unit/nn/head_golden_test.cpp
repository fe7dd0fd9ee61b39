// SPDX-License-Identifier: GPL-3.0-or-later
// Task heads against the reference head code (../shared/golden/head2d, head3d and its variants),
// chained after the backbone as the node runs them. Tolerance: logits 1e-5 ("SHOULD" level).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "curia/model/mask.h"
#include "curia/model/safetensors.h"
#include "curia/nn/backbone.h"
#include "curia/nn/head.h"
#include "curia/nn/tensor_io.h"
#include "test_support.h"

namespace curia::nn {
namespace {

constexpr double kLogitTol = 1e-5;

class HeadGolden : public ::testing::Test {
 protected:
  void SetUp() override { backbone_ = Dinov2Backbone::Load(test::GoldenPath("backbone_swiglu"), BackboneOptions{}); }

  // The 3-D heads' inputs: each volume's pre-LN encoder output from our backbone.
  std::vector<at::Tensor> EncoderOutputs() {
    auto io = model::SafetensorsFile::Open(test::GoldenPath("head3d/io.safetensors"));
    const at::Tensor pixels = ToTensor(io->Get("pixel_values"));  // (2, 5, 1, 64, 64)
    std::vector<at::Tensor> out;
    for (int64_t v = 0; v < pixels.size(0); ++v) out.push_back(backbone_->Forward(pixels[v]).encoder_output);
    EXPECT_TRUE(test::AllClose(ToFloatVector(at::stack(out, 0)), io->Get("hidden_states_last"), 2e-5));
    return out;
  }

  // A head folder made of a variant's config.json and head3d's weights.
  std::string VariantDir(const std::string& variant) {
    const std::string dir = tmp_.File(variant);
    std::filesystem::create_directories(dir);
    test::CopyFile(test::GoldenPath("head3d/variants/" + variant + "/config.json"), dir + "/config.json");
    std::filesystem::create_symlink(test::GoldenPath("head3d/model.safetensors"), dir + "/model.safetensors");
    return dir;
  }

  test::TempDir tmp_;
  std::unique_ptr<Dinov2Backbone> backbone_;
};

TEST_F(HeadGolden, TwoDimensionalOnTheClsToken) {
  auto head = TaskHead::Load(test::GoldenPath("head2d"), *backbone_);
  EXPECT_FALSE(head->config().Is3D());
  auto io = model::SafetensorsFile::Open(test::GoldenPath("head2d/io_cls.safetensors"));
  const at::Tensor logits = head->Logits2D(backbone_->Forward(ToTensor(io->Get("pixel_values"))));
  EXPECT_TRUE(test::AllClose(ToFloatVector(logits), io->Get("logits"), kLogitTol));
  const at::Tensor p = head->Probabilities(logits);
  EXPECT_TRUE(at::allclose(p.sum(1), at::ones({3})));
}

TEST_F(HeadGolden, TwoDimensionalOnMaskWeightedPatchTokens) {
  auto head = TaskHead::Load(test::GoldenPath("head2d"), *backbone_);
  auto io = model::SafetensorsFile::Open(test::GoldenPath("head2d/io_mask.safetensors"));
  const at::Tensor logits =
      head->Logits2D(backbone_->Forward(ToTensor(io->Get("pixel_values"))), ToTensor(io->Get("mask")));
  EXPECT_TRUE(test::AllClose(ToFloatVector(logits), io->Get("logits"), kLogitTol));
}

// End to end: region masks at another resolution than the images (150x130 source masks for 64x64
// pixels) through model::MaskResizer (the trainer's resize, threshold and fallback), then the head's
// max-pool and weighted mean: the logits torch gives for the whole chain
// (tests/golden/mask.safetensors, tests/golden/make_mask_golden.py). Mask 1 is a thin line that
// only the fallback keeps.
TEST_F(HeadGolden, TwoDimensionalOnSourceResolutionMasks) {
  auto head = TaskHead::Load(test::GoldenPath("head2d"), *backbone_);
  auto io = model::SafetensorsFile::Open(test::GoldenPath("head2d/io_mask.safetensors"));
  auto chain = model::SafetensorsFile::Open(test::TestDataPath("golden/mask.safetensors"));
  const model::TensorView& source = chain->Get("chain.source");  // (3, 150, 130) uint8
  const int64_t b = source.shape[0], h = source.shape[1], w = source.shape[2], size = 64;
  const std::vector<float> src = model::ToFloat32(source);
  model::MaskResizer resizer(h, w, size);
  at::Tensor masks = at::empty({b, 1, size, size}, at::kFloat);
  std::vector<bool> fallback;
  for (int64_t i = 0; i < b; ++i) {
    fallback.push_back(resizer.Resize(src.data() + i * h * w, masks.data_ptr<float>() + i * size * size).fallback);
  }
  EXPECT_EQ(fallback, (std::vector<bool>{false, true, false}));
  const at::Tensor logits = head->Logits2D(backbone_->Forward(ToTensor(io->Get("pixel_values"))), masks);
  EXPECT_TRUE(test::AllClose(ToFloatVector(logits), chain->Get("chain.logits"), kLogitTol));
}

TEST_F(HeadGolden, ThreeDimensional) {
  auto head = TaskHead::Load(test::GoldenPath("head3d"), *backbone_);
  EXPECT_TRUE(head->config().Is3D());
  auto io = model::SafetensorsFile::Open(test::GoldenPath("head3d/io.safetensors"));
  const std::vector<at::Tensor> enc = EncoderOutputs();
  EXPECT_TRUE(test::AllClose(ToFloatVector(head->Logits3D(enc)), io->Get("logits"), kLogitTol));
  // The streaming pieces (as the pool uses them) give the reference's answer, one volume at a time
  // (no padding: equal windows).
  const at::Tensor expected = ToTensor(io->Get("logits"));
  for (int64_t v = 0; v < 2; ++v) {
    std::vector<at::Tensor> tokens;
    for (int64_t s : head->KeptSlices(enc[v].size(0))) tokens.push_back(head->SliceTokens(enc[v][s]));
    EXPECT_TRUE(test::AllClose(ToFloatVector(head->VolumeLogits(tokens)), ToFloatVector(expected[v]), kLogitTol)) << v;
  }
}

TEST_F(HeadGolden, ThreeDimensionalVariants) {
  const std::vector<at::Tensor> enc = EncoderOutputs();
  for (const char* variant : {"all_slices_no_kernel", "avgpool_per_slice", "avgpool_on_volume_no_attention", "even_window"}) {
    auto head = TaskHead::Load(VariantDir(variant), *backbone_);
    auto io = model::SafetensorsFile::Open(test::GoldenPath(std::string("head3d/variants/") + variant + "/io.safetensors"));
    EXPECT_TRUE(test::AllClose(ToFloatVector(head->Logits3D(enc)), io->Get("logits"), kLogitTol)) << variant;
  }
}

TEST_F(HeadGolden, ThreeDimensionalMaskWithThePaddingQuirk) {
  auto head = TaskHead::Load(VariantDir("mask_padding"), *backbone_);
  auto io = model::SafetensorsFile::Open(test::GoldenPath("head3d/variants/mask_padding/io.safetensors"));
  const at::Tensor mask = ToTensor(io->Get("mask"));  // (B, H, W, S) uint8 as the processor's volume layout
  std::vector<at::Tensor> masks;
  for (int64_t v = 0; v < 2; ++v) masks.push_back(mask[v].permute({2, 0, 1}).unsqueeze(1).to(at::kFloat));
  const std::vector<at::Tensor> enc = EncoderOutputs();
  // Batched: the padded volume is affected by the reference's padding behaviour...
  EXPECT_TRUE(test::AllClose(ToFloatVector(head->Logits3D(enc, masks)), io->Get("logits"), kLogitTol));
  // ...and alone each volume gives the unpadded answer.
  std::vector<float> alone;
  for (int64_t v = 0; v < 2; ++v) {
    for (float x : ToFloatVector(head->Logits3D({enc[v]}, {masks[v]}))) alone.push_back(x);
  }
  EXPECT_TRUE(test::AllClose(alone, io->Get("logits_each_volume_alone"), kLogitTol));
}

}  // namespace
}  // namespace curia::nn
