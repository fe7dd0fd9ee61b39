// SPDX-License-Identifier: GPL-3.0-or-later
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/version.h>

#include <functional>

#include "curia/config/error.h"
#include "curia/model/demo_model.h"
#include "curia/nn/attention.h"
#include "curia/nn/backbone.h"
#include "curia/nn/tensor_io.h"
#include "test_support.h"

namespace curia::nn {
namespace {

using test::ErrorMessage;

TEST(Backbone, LoadErrorsNameTheFile) {
  test::TempDir dir;
  const std::string missing = ErrorMessage([&] { Dinov2Backbone::Load(dir.path(), BackboneOptions{}); },
                                      ErrorCode::kNotFound);
  EXPECT_EQ(missing, dir.File("config.json") + ": cannot open (No such file or directory)");
  test::CopyFile(test::GoldenPath("backbone_swiglu/config.json"), dir.File("config.json"));
  EXPECT_EQ(ErrorMessage([&] { Dinov2Backbone::Load(dir.path(), BackboneOptions{}); }, ErrorCode::kNotFound),
            dir.File("model.safetensors") + ": cannot open (No such file or directory)");
  // GELU weights under a SwiGLU config: the mismatch is reported tensor by tensor.
  test::CopyFile(test::GoldenPath("backbone_gelu/model.safetensors"), dir.File("model.safetensors"));
  const std::string mismatch = ErrorMessage([&] { Dinov2Backbone::Load(dir.path(), BackboneOptions{}); });
  EXPECT_NE(mismatch.find(dir.File("model.safetensors") + ": tensor 'embeddings.cls_token' has shape [1, 1, 32], "
                                                         "expected [1, 1, 64]"),
            std::string::npos)
      << mismatch;
}

TEST(Backbone, RejectsBadPixelValues) {
  auto backbone = Dinov2Backbone::Load(test::GoldenPath("backbone_swiglu"), BackboneOptions{});
  EXPECT_EQ(ErrorMessage([&] { backbone->Forward(at::zeros({1, 64, 64})); }),
            "pixel_values has shape [1, 64, 64] of Float: expected floating (B, 1, H, W) with H, W >= 16");
  EXPECT_NE(ErrorMessage([&] { backbone->Forward(at::zeros({1, 3, 64, 64})); }).find("has shape [1, 3, 64, 64]"),
            std::string::npos);
  EXPECT_NE(ErrorMessage([&] { backbone->Forward(at::zeros({1, 1, 8, 64})); }).find("H, W >= 16"), std::string::npos);
  EXPECT_NE(ErrorMessage([&] { backbone->Forward(at::zeros({1, 1, 64, 64}, at::kInt)); }).find("of Int"), std::string::npos);
}

TEST(Backbone, ThreadCountDoesNotChangeTheAnswer) {
  auto backbone = Dinov2Backbone::Load(test::GoldenPath("backbone_swiglu"), BackboneOptions{});
  const at::Tensor x = at::randn({3, 1, 64, 64}, at::TensorOptions().dtype(at::kFloat));
  SetIntraOpThreads(1);
  const at::Tensor one = backbone->Forward(x).last_hidden_state;
  SetIntraOpThreads(2);
  const at::Tensor two = backbone->Forward(x).last_hidden_state;
  EXPECT_LT((one - two).abs().max().item<float>(), 1e-5);
}

TEST(Backbone, ProfiledPassGivesTheSameAnswerAndSplitsItsTime) {
  auto backbone = Dinov2Backbone::Load(test::GoldenPath("backbone_swiglu"), BackboneOptions{});
  const at::Tensor x = at::randn({2, 1, 64, 64}, at::TensorOptions().dtype(at::kFloat));
  const at::Tensor plain = backbone->Forward(x).last_hidden_state;
  ForwardTimes times;
  const at::Tensor profiled = backbone->Forward(x, false, &times).last_hidden_state;
  EXPECT_TRUE(at::equal(plain, profiled));
  for (const double part : {times.embed, times.norms, times.projections, times.attention_products, times.mlp}) {
    EXPECT_GT(part, 0.0);
  }
  // The fused attention kernel (heads of 16 here, where the CPU has it) counts its softmax among
  // the products; otherwise the softmax has its own time.
  if (FusedAttentionAvailable(16)) {
    EXPECT_EQ(times.softmax, 0.0);
  } else {
    EXPECT_GT(times.softmax, 0.0);
  }
  const double first = times.Total();
  (void)backbone->Forward(x, false, &times);  // adds up
  EXPECT_GT(times.Total(), first);
}

TEST(Backbone, Bf16OnCpuStaysCloseToFp32) {
  test::TempDir dir;
  model::WriteDemoModel(dir.path(), model::DemoSize::kTiny, 3);
  auto fp32 = Dinov2Backbone::Load(dir.path(), BackboneOptions{});
  auto bf16 = Dinov2Backbone::Load(dir.path(), BackboneOptions{Device{}, Precision::kBf16});
  EXPECT_EQ(bf16->precision(), Precision::kBf16);
  const at::Tensor x = at::randn({2, 1, 512, 512});
  const at::Tensor a = fp32->Forward(x).pooler_output;
  const at::Tensor b = bf16->Forward(x).pooler_output;
  EXPECT_EQ(b.scalar_type(), at::kBFloat16);
  // bf16 keeps 8 significant bits: relative error of the whole vector about 1e-2.
  const double rel = ((a - b.to(at::kFloat)).norm() / a.norm()).item<double>();
  EXPECT_LT(rel, 3e-2);
  EXPECT_GT(rel, 0.0);  // it did run in reduced precision
}

TEST(Backbone, Fp16OnCpu) {
  test::TempDir dir;
  model::WriteDemoModel(dir.path(), model::DemoSize::kTiny, 3);
#if TORCH_VERSION_MAJOR < 2
  // LibTorch 1.13 has no fp16 matrix products on CPU: refused at load, not mid-study.
  const std::string msg = ErrorMessage([&] { Dinov2Backbone::Load(dir.path(), BackboneOptions{Device{}, Precision::kFp16}); },
                                  ErrorCode::kUnavailable);
  EXPECT_NE(msg.find("precision fp16 is not supported on cpu by this LibTorch"), std::string::npos) << msg;
#else
  auto fp16 = Dinov2Backbone::Load(dir.path(), BackboneOptions{Device{}, Precision::kFp16});
  auto fp32 = Dinov2Backbone::Load(dir.path(), BackboneOptions{});
  const at::Tensor x = at::randn({1, 1, 512, 512});
  const at::Tensor a = fp32->Forward(x).pooler_output;
  EXPECT_LT(((a - fp16->Forward(x).pooler_output.to(at::kFloat)).norm() / a.norm()).item<double>(), 1e-2);
#endif
}

TEST(Backbone, RegisterTokensSitBetweenClsAndPatches) {
  // A golden backbone with two register tokens added: every token but the registers is computed
  // as before the first layer, and the output has 1 + 2 + 16 tokens.
  test::TempDir dir;
  model::Dinov2Config cfg = model::LoadDinov2Config(test::GoldenPath("backbone_swiglu/config.json"));
  cfg.num_register_tokens = 2;
  test::WriteFile(dir.File("config.json"), config::Dump(model::Dinov2ConfigToJson(cfg)));
  auto golden = model::SafetensorsFile::Open(test::GoldenPath("backbone_swiglu/model.safetensors"));
  model::SafetensorsWriter w;
  for (const model::TensorView& t : golden->tensors()) {
    w.Add(t.name, t.dtype, t.shape, std::vector<uint8_t>(t.data, t.data + t.nbytes));
  }
  std::vector<float> regs(2 * 64);
  for (size_t i = 0; i < regs.size(); ++i) regs[i] = 0.01f * static_cast<float>(i);
  w.AddFloat32("embeddings.register_tokens", {1, 2, 64}, regs);
  w.Write(dir.File("model.safetensors"));
  auto with = Dinov2Backbone::Load(dir.path(), BackboneOptions{});
  auto without = Dinov2Backbone::Load(test::GoldenPath("backbone_swiglu"), BackboneOptions{});
  const at::Tensor x = at::randn({1, 1, 64, 64});
  const BackboneOutput a = with->Forward(x, true);
  const BackboneOutput b = without->Forward(x, true);
  EXPECT_EQ(a.last_hidden_state.size(1), 19);
  const at::Tensor emb = a.hidden_states[0];
  EXPECT_TRUE(at::allclose(emb.narrow(1, 1, 2), at::tensor(regs).view({1, 2, 64})));
  EXPECT_TRUE(at::allclose(emb.select(1, 0), b.hidden_states[0].select(1, 0)));
  EXPECT_TRUE(at::allclose(emb.narrow(1, 3, 16), b.hidden_states[0].narrow(1, 1, 16)));
}

}  // namespace
}  // namespace curia::nn
