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

// Several masks per slice, as the worker runs regions: every (slice, mask) pair of the golden batch
// (each slice with every slice's mask, in a shuffled order) on one backbone pass gives the logits the
// reference gives for that slice repeated with that mask (golden io_mask: the diagonal; the other
// pairs: Logits2D on a batch that repeats the slice), without copying the slice's tokens per mask.
TEST_F(HeadGolden, SeveralMasksPerSliceOnOneBackbonePass) {
  auto head = TaskHead::Load(test::GoldenPath("head2d"), *backbone_);
  auto io = model::SafetensorsFile::Open(test::GoldenPath("head2d/io_mask.safetensors"));
  const at::Tensor pixels = ToTensor(io->Get("pixel_values")), mask = ToTensor(io->Get("mask")).to(at::kFloat);
  const int64_t b = pixels.size(0);
  ASSERT_GE(b, 2);
  const BackboneOutput out = backbone_->Forward(pixels);
  std::vector<int64_t> slices, masks_of;
  for (int64_t k = 0; k < b; ++k) {
    for (int64_t s = b - 1; s >= 0; --s) {
      slices.push_back(s);
      masks_of.push_back((s + k) % b);
    }
  }
  const at::Tensor index = at::tensor(masks_of, at::TensorOptions().dtype(at::kLong));
  const at::Tensor logits = head->MaskedLogits2D(out, mask.index_select(0, index), slices);
  ASSERT_EQ(logits.size(0), static_cast<int64_t>(slices.size()));
  const at::Tensor golden = ToTensor(io->Get("logits"));
  for (size_t e = 0; e < slices.size(); ++e) {
    const int64_t s = slices[e], m = masks_of[e];
    const at::Tensor row = logits[static_cast<int64_t>(e)];
    if (s == m) {
      EXPECT_TRUE(test::AllClose(ToFloatVector(row), ToFloatVector(golden[s]), kLogitTol)) << "slice " << s;
    }
    BackboneOutput one;
    one.last_hidden_state = out.last_hidden_state.narrow(0, s, 1);
    one.pooler_output = out.pooler_output.narrow(0, s, 1);
    EXPECT_TRUE(test::AllClose(ToFloatVector(row), ToFloatVector(head->Logits2D(one, mask.narrow(0, m, 1))[0]), 1e-6))
        << "slice " << s << " with mask " << m;
  }
  EXPECT_NE(test::ErrorMessage([&] { head->MaskedLogits2D(out, mask.narrow(0, 0, 1), {b}); }).find("names slice"),
            std::string::npos);
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

  // The worker pool's form: the window from where the mask lies alone (KeptMaskedSlices), each
  // kept slice's tokens under its mask, one volume at a time.
  std::vector<float> streamed;
  for (int64_t v = 0; v < 2; ++v) {
    const at::Tensor any = masks[v].flatten(1).ne(0).any(1);
    std::vector<bool> masked;
    for (int64_t s = 0; s < any.size(0); ++s) masked.push_back(any[s].item<bool>());
    const std::vector<int64_t> kept = head->KeptMaskedSlices(masked);
    EXPECT_EQ(kept, head->KeptSlices(enc[v].size(0), masks[v]));
    std::vector<at::Tensor> tokens;
    for (int64_t s : kept) tokens.push_back(head->SliceTokens(enc[v][s], masks[v][s]));
    for (float x : ToFloatVector(head->VolumeLogits(tokens))) streamed.push_back(x);
  }
  EXPECT_TRUE(test::AllClose(streamed, io->Get("logits_each_volume_alone"), kLogitTol));
}


// VolumeLogits split in two (VolumeInput, then the attention module and classifier): the same
// numbers bit for bit, and batched with padding the reference's answer.
TEST_F(HeadGolden, VolumeInputThenLogitsIsVolumeLogits) {
  auto head = TaskHead::Load(VariantDir("mask_padding"), *backbone_);
  auto io = model::SafetensorsFile::Open(test::GoldenPath("head3d/variants/mask_padding/io.safetensors"));
  const at::Tensor mask = ToTensor(io->Get("mask"));
  const std::vector<at::Tensor> enc = EncoderOutputs();
  std::vector<at::Tensor> inputs;
  for (int64_t v = 0; v < 2; ++v) {
    const at::Tensor m = mask[v].permute({2, 0, 1}).unsqueeze(1).to(at::kFloat);
    std::vector<at::Tensor> tokens;
    int64_t rows = 0;
    for (int64_t s : head->KeptSlices(enc[v].size(0), m)) {
      tokens.push_back(head->SliceTokens(enc[v][s], m[s]));
      rows += tokens.back().size(0);
    }
    const at::Tensor input = head->VolumeInput(tokens);
    ASSERT_EQ(input.sizes(), (std::vector<int64_t>{rows, 64}));
    // The first slice's embedding is sin(0) = 0, cos(0) = 1 on alternate features.
    const at::Tensor pe0 = input.narrow(0, 0, tokens[0].size(0)) - tokens[0];
    EXPECT_TRUE(at::allclose(pe0.select(1, 0), at::zeros({tokens[0].size(0)})));
    EXPECT_TRUE(at::allclose(pe0.select(1, 1), at::ones({tokens[0].size(0)})));
    EXPECT_TRUE(at::equal(head->VolumeLogitsFromInput(input), head->VolumeLogits(tokens))) << v;
    inputs.push_back(input);
  }
  EXPECT_NE(inputs[0].size(0), inputs[1].size(0));  // the batch is padded
  std::vector<at::Tensor> masks;
  for (int64_t v = 0; v < 2; ++v) masks.push_back(mask[v].permute({2, 0, 1}).unsqueeze(1).to(at::kFloat));
  EXPECT_TRUE(at::equal(head->LogitsFromInputs(inputs), head->Logits3D(enc, masks)));
  EXPECT_TRUE(test::AllClose(ToFloatVector(head->LogitsFromInputs(inputs)), io->Get("logits"), kLogitTol));
  EXPECT_NE(test::ErrorMessage([&] { head->VolumeLogitsFromInput(at::zeros({3, 32})); }).find("expected (T, 64)"), std::string::npos);

  auto flat = TaskHead::Load(test::GoldenPath("head2d"), *backbone_);
  EXPECT_NE(test::ErrorMessage([&] { flat->VolumeLogitsFromInput(inputs[0]); }).find("is not a 3-D head"), std::string::npos);

  // A volume-average head: its input is the volume mean (1, D).
  auto avg = TaskHead::Load(VariantDir("avgpool_on_volume_no_attention"), *backbone_);
  std::vector<at::Tensor> tokens;
  for (int64_t s : avg->KeptSlices(enc[0].size(0))) tokens.push_back(avg->SliceTokens(enc[0][s]));
  const at::Tensor mean = avg->VolumeInput(tokens);
  EXPECT_EQ(mean.sizes(), (std::vector<int64_t>{1, 64}));
  EXPECT_TRUE(at::equal(avg->VolumeLogitsFromInput(mean), avg->VolumeLogits(tokens)));
}

}  // namespace
}  // namespace curia::nn
