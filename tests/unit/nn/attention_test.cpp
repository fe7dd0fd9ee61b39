// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/nn/attention.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
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

// Scores in the thousands (the maximum must come off before exp), and all-negative scores (the
// padded keys' zero scores must not count as the maximum): both still agree with LibTorch.
TEST(FusedAttention, LargeAndNegativeScores) {
  if (!FusedAttentionAvailable(32)) GTEST_SKIP() << "no AVX-512F (or no libmvec) here: the backbone uses BLAS";
  at::manual_seed(23);
  AttentionWorkspace ws;
  const int64_t hd = 32, tokens = 45;  // 45: the second panel of 32 keys has 13 real ones
  for (const bool negative : {false, true}) {
    at::Tensor q = at::randn({tokens, hd}) * 12.0, k = at::randn({tokens, hd}) * 12.0;
    if (negative) {  // every score far below zero: q . k = -|q||k| < 0 with k = -q direction
      q = at::rand({tokens, hd}) + 1.0;
      k = -(at::rand({tokens, hd}) + 1.0) * 8.0;
    }
    const at::Tensor v = at::randn({tokens, hd});
    at::Tensor out = at::empty({tokens, hd});
    AttentionHead(q.data_ptr<float>(), k.data_ptr<float>(), v.data_ptr<float>(), hd, out.data_ptr<float>(), hd, tokens,
                  hd, 1.0f, ws);
    const at::Tensor expected = Reference(q, k, v, 1.0);
    // Scores of ~800 carry float32 rounding of ~1e-4 into the weights: on LibTorch's own scale.
    const double torch_worst =
        (at::softmax(at::mm(q, k.t()), 1).mm(v).to(at::kDouble) - expected).abs().max().item<double>();
    const double worst = (out.to(at::kDouble) - expected).abs().max().item<double>();
    EXPECT_TRUE(out.isfinite().all().item<bool>()) << (negative ? "negative" : "large");
    EXPECT_LT(worst, 4 * torch_worst + 1e-5) << (negative ? "negative" : "large") << "; LibTorch " << torch_worst;
  }
}

// A NaN in one key reaches every query's output (each sees that key); a NaN in one query only that
// query's row; +inf in a query row makes that row NaN, as LibTorch's softmax does.
TEST(FusedAttention, NanAndInfinityFollowLibTorch) {
  if (!FusedAttentionAvailable(16)) GTEST_SKIP() << "no AVX-512F (or no libmvec) here: the backbone uses BLAS";
  AttentionWorkspace ws;
  const int64_t hd = 16, tokens = 40;
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const at::Tensor v = at::randn({tokens, hd});
  at::Tensor out = at::empty({tokens, hd});
  auto run = [&](const at::Tensor& q, const at::Tensor& k) {
    AttentionHead(q.data_ptr<float>(), k.data_ptr<float>(), v.data_ptr<float>(), hd, out.data_ptr<float>(), hd, tokens,
                  hd, 0.25f, ws);
  };
  at::Tensor q = at::randn({tokens, hd}), k = at::randn({tokens, hd});
  k[35][3] = nan;
  run(q, k);
  EXPECT_TRUE(out.isnan().all().item<bool>());
  k[35][3] = 0.5f;
  q[7][0] = nan;
  run(q, k);
  EXPECT_TRUE(out[7].isnan().all().item<bool>());
  EXPECT_EQ(out.isnan().sum().item<int64_t>(), hd);
  q[7][0] = 0.5f;
  q[20].fill_(0.0f);
  q[20][0] = inf;  // scores +inf or -inf (or NaN for a zero key component): the row is NaN
  run(q, k);
  EXPECT_TRUE(out[20].isnan().all().item<bool>());
  EXPECT_EQ(out.isnan().sum().item<int64_t>(), hd);
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
