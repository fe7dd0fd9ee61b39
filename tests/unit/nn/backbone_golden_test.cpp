// SPDX-License-Identifier: GPL-3.0-or-later
// The backbone against transformers' Dinov2Model (../shared/golden/backbone_*), through
// Dinov2Backbone::Load + Forward as `curia forward` uses them. Tolerances ("SHOULD" level of the
// golden README): last_hidden_state and pooler_output 1e-5, hidden_states 2e-5.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "curia/model/safetensors.h"
#include "curia/nn/backbone.h"
#include "curia/nn/tensor_io.h"
#include "test_support.h"

namespace curia::nn {
namespace {

constexpr double kOutputTol = 1e-5;
constexpr double kHiddenTol = 2e-5;

class Golden : public ::testing::TestWithParam<const char*> {};

TEST_P(Golden, MatchesTransformers) {
  const std::string dir = test::GoldenPath(GetParam());
  SetIntraOpThreads(1);
  auto backbone = Dinov2Backbone::Load(dir, BackboneOptions{});
  auto io = model::SafetensorsFile::Open(dir + "/io.safetensors");
  const at::Tensor pixels = ToTensor(io->Get("pixel_values"));
  const BackboneOutput out = backbone->Forward(pixels, /*output_hidden_states=*/true);
  EXPECT_TRUE(test::AllClose(ToFloatVector(out.last_hidden_state), io->Get("last_hidden_state"), kOutputTol));
  EXPECT_TRUE(test::AllClose(ToFloatVector(out.pooler_output), io->Get("pooler_output"), kOutputTol));
  ASSERT_EQ(out.hidden_states.size(), static_cast<size_t>(backbone->config().num_hidden_layers + 1));
  EXPECT_TRUE(test::AllClose(ToFloatVector(at::stack(out.hidden_states, 0)), io->Get("hidden_states"), kHiddenTol));

  // Without hidden states the same numbers come out, and each image alone gives what it gives in
  // the batch (up to the blocking of the matrix products).
  const BackboneOutput plain = backbone->Forward(pixels);
  EXPECT_TRUE(at::equal(plain.encoder_output, out.hidden_states.back()));  // the last layer, before the LN
  EXPECT_TRUE(test::AllClose(ToFloatVector(plain.last_hidden_state), io->Get("last_hidden_state"), kOutputTol));
  const BackboneOutput second = backbone->Forward(pixels.narrow(0, 1, 1));
  EXPECT_TRUE(test::AllClose(ToFloatVector(second.last_hidden_state), ToFloatVector(plain.last_hidden_state.narrow(0, 1, 1)), kOutputTol));

  // On two threads the (image, head) pairs of the attention are shared out between them.
  SetIntraOpThreads(2);
  const BackboneOutput threaded = backbone->Forward(pixels);
  SetIntraOpThreads(1);
  EXPECT_TRUE(test::AllClose(ToFloatVector(threaded.last_hidden_state), io->Get("last_hidden_state"), kOutputTol));
}

INSTANTIATE_TEST_SUITE_P(Backbones, Golden,
                         ::testing::Values("backbone_swiglu", "backbone_gelu", "backbone_swiglu_img96"));

// Position-embedding interpolation: tests/golden/interpolation.safetensors, written by
// tests/golden/make_interpolation_golden.py from PyTorch's bicubic interpolation.
TEST(Interpolation, MatchesThePyTorchReference) {
  auto backbone = Dinov2Backbone::Load(test::GoldenPath("backbone_swiglu"), BackboneOptions{});
  auto io = model::SafetensorsFile::Open(test::TestDataPath("golden/interpolation.safetensors"));
  for (const char* name : {"nonsquare_96x80", "smaller_48x48", "same_count_32x128"}) {
    const std::string prefix = std::string(name) + ".";
    const BackboneOutput out = backbone->Forward(ToTensor(io->Get(prefix + "pixel_values")));
    EXPECT_TRUE(test::AllClose(ToFloatVector(out.last_hidden_state), io->Get(prefix + "last_hidden_state"), kOutputTol)) << name;
    EXPECT_TRUE(test::AllClose(ToFloatVector(out.encoder_output), io->Get(prefix + "hidden_states_last"), kHiddenTol)) << name;
  }
}

// Weights stored as F16 or BF16 load (converted exactly) and give the fp32 answer up to the
// rounding of the stored weights.
TEST(ReducedPrecisionWeights, LoadAndStayClose) {
  const std::string src = test::GoldenPath("backbone_swiglu");
  auto golden = model::SafetensorsFile::Open(src + "/model.safetensors");
  auto io = model::SafetensorsFile::Open(src + "/io.safetensors");
  for (const char* dtype : {"F16", "BF16"}) {
    test::TempDir dir;
    test::CopyFile(src + "/config.json", dir.File("config.json"));
    model::SafetensorsWriter w;
    for (const model::TensorView& t : golden->tensors()) {
      at::Tensor v = ToTensor(t).to(std::string(dtype) == "F16" ? at::kHalf : at::kBFloat16).contiguous();
      const auto* p = static_cast<const uint8_t*>(v.data_ptr());
      w.Add(t.name, *model::ParseDType(dtype), t.shape, std::vector<uint8_t>(p, p + v.nbytes()));
    }
    w.Write(dir.File("model.safetensors"));
    auto backbone = Dinov2Backbone::Load(dir.path(), BackboneOptions{});
    const BackboneOutput out = backbone->Forward(ToTensor(io->Get("pixel_values")));
    EXPECT_TRUE(test::AllClose(ToFloatVector(out.last_hidden_state), io->Get("last_hidden_state"),
                               std::string(dtype) == "F16" ? 1e-2 : 1e-1))
        << dtype;
  }
}

}  // namespace
}  // namespace curia::nn
