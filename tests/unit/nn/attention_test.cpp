// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/nn/attention.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "curia/config/error.h"
#include "test_support.h"

namespace curia::nn {
namespace {

using test::ErrorMessage;

// softmax(scale q k^T) v in float64 by LibTorch.
at::Tensor Reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
  const at::Tensor qd = q.to(at::kDouble), kd = k.to(at::kDouble), vd = v.to(at::kDouble);
  return at::softmax(at::mm(qd, kd.t()) * scale, 1).mm(vd);
}

// Every head size the kernel takes, token counts around its blocks of 6 query rows and panels of 32
// keys and Curia-B's 1025, q/k/v as strided views into one (T, 3 * D) tensor as in the backbone,
// the output written into a strided (T, D) layout whose other columns stay untouched.
TEST(FusedAttention, AgreesWithLibTorchInDoublePrecision) {
  if (!FusedAttentionAvailable(64)) GTEST_SKIP() << "no AVX-512F (or no libmvec) here: the backbone uses BLAS";
  at::manual_seed(19);
  AttentionWorkspace ws;  // reused across sizes, as a thread does
  for (int64_t hd : {16, 32, 48, 64}) {
    for (int64_t tokens : {1, 5, 6, 7, 31, 32, 33, 65, 1025}) {
      const int64_t heads = 3, d = heads * hd;
      const at::Tensor qkv = at::randn({tokens, 3 * d}) * 2.0;
      at::Tensor out = at::full({tokens, d}, 7.0f);
      const int64_t head = 1;
      const at::Tensor q = qkv.narrow(1, head * hd, hd), k = qkv.narrow(1, d + head * hd, hd),
                       v = qkv.narrow(1, 2 * d + head * hd, hd);
      const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
      AttentionHead(q.data_ptr<float>(), k.data_ptr<float>(), v.data_ptr<float>(), qkv.stride(0),
                    out.data_ptr<float>() + head * hd, out.stride(0), tokens, hd, scale, ws);
      const at::Tensor expected = Reference(q, k, v, scale);
      const at::Tensor got = out.narrow(1, head * hd, hd).to(at::kDouble);
      const double worst = (got - expected).abs().max().item<double>();
      // Float32 rounding: outputs of magnitude up to ~6 here, so ~10 ulp; LibTorch's own float32 path
      // is off by up to 1.2e-5 at 1025 tokens, ours by up to 4-9 times LibTorch's 0.4-1.3e-6 at a
      // few tokens (15 unseeded runs). A wrong key, row or mask would be off by ~0.1 or more.
      const double torch_worst =
          (at::softmax(at::mm(q, k.t()) * scale, 1).mm(v).to(at::kDouble) - expected).abs().max().item<double>();
      EXPECT_LT(worst, 2e-5) << hd << " wide, " << tokens << " tokens";
      EXPECT_LT(worst, 10 * torch_worst + 2e-6) << hd << " wide, " << tokens << " tokens";
      EXPECT_TRUE(out.narrow(1, 0, hd).eq(7.0f).all().item<bool>()) << "another head's columns written";
      EXPECT_TRUE(out.narrow(1, 2 * hd, hd).eq(7.0f).all().item<bool>()) << "another head's columns written";
    }
  }
}

TEST(FusedAttention, UnsupportedHeadsAndBadSizesAreErrors) {
  AttentionWorkspace ws;
  float x[64] = {};
  for (int64_t hd : {0, 8, 24, 80, 128}) {
    EXPECT_FALSE(FusedAttentionAvailable(hd)) << hd;
    EXPECT_NE(ErrorMessage([&] { AttentionHead(x, x, x, hd, x, hd, 1, hd, 1.0f, ws); }, ErrorCode::kInvalidArgument)
                  .find("attention: no fused kernel for heads of " + std::to_string(hd)),
              std::string::npos);
  }
  if (!FusedAttentionAvailable(16)) return;
  EXPECT_EQ(ErrorMessage([&] { AttentionHead(x, x, x, 16, x, 16, 0, 16, 1.0f, ws); }, ErrorCode::kInvalidArgument),
            "attention: 0 tokens with row strides 16 and 16 for heads of 16");
  EXPECT_EQ(ErrorMessage([&] { AttentionHead(x, x, x, 8, x, 16, 2, 16, 1.0f, ws); }, ErrorCode::kInvalidArgument),
            "attention: 2 tokens with row strides 8 and 16 for heads of 16");
}

}  // namespace
}  // namespace curia::nn
