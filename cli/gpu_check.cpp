// SPDX-License-Identifier: GPL-3.0-or-later
#include "gpu_check.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

#include "curia/config/error.h"
#include "curia/model/demo_model.h"
#include "curia/model/dinov2_config.h"
#include "curia/model/safetensors.h"
#include "curia/nn/tensor_io.h"

namespace curia::cli {

using nn::BackboneOutput;
using nn::Dinov2Backbone;
using nn::ToTensor;
namespace {

// transformers' Dinov2Model, eager attention, every tensor float64 on the CPU.
class Float64Dinov2 {
 public:
  Float64Dinov2(const model::Dinov2Config& cfg, const model::SafetensorsFile& file) : cfg_(cfg), file_(file) {
    const int64_t d = cfg.hidden_size;
    patch_w_ = Get("embeddings.patch_embeddings.projection.weight");
    patch_b_ = Get("embeddings.patch_embeddings.projection.bias");
    cls_ = Get("embeddings.cls_token");
    if (cfg.num_register_tokens > 0) registers_ = Get("embeddings.register_tokens");
    position_ = Get("embeddings.position_embeddings");
    for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) {
      const std::string p = "encoder.layer." + std::to_string(i) + ".";
      const std::string a = p + "attention.attention.";
      Layer l;
      l.norm1_w = Get(p + "norm1.weight");
      l.norm1_b = Get(p + "norm1.bias");
      for (const char* which : {"query", "key", "value"}) {
        l.w.push_back(Get(a + which + ".weight"));
        l.b.push_back(cfg.qkv_bias ? Get(a + which + ".bias") : at::zeros({d}, at::kDouble));
      }
      l.out_w = Get(p + "attention.output.dense.weight");
      l.out_b = Get(p + "attention.output.dense.bias");
      l.lambda1 = Get(p + "layer_scale1.lambda1");
      l.norm2_w = Get(p + "norm2.weight");
      l.norm2_b = Get(p + "norm2.bias");
      const std::string in = cfg.use_swiglu_ffn ? "mlp.weights_in." : "mlp.fc1.";
      const std::string out = cfg.use_swiglu_ffn ? "mlp.weights_out." : "mlp.fc2.";
      l.in_w = Get(p + in + "weight");
      l.in_b = Get(p + in + "bias");
      l.mlp_out_w = Get(p + out + "weight");
      l.mlp_out_b = Get(p + out + "bias");
      l.lambda2 = Get(p + "layer_scale2.lambda1");
      layers_.push_back(std::move(l));
    }
    final_w_ = Get("layernorm.weight");
    final_b_ = Get("layernorm.bias");
  }

  // One image (1, C, H, W) float64 -> last_hidden_state (1, T, D).
  at::Tensor Forward(const at::Tensor& pixels) const {
    const int64_t d = cfg_.hidden_size, heads = cfg_.num_attention_heads, hd = cfg_.HeadDim();
    const int64_t p = cfg_.patch_size;
    const int64_t gh = pixels.size(2) / p, gw = pixels.size(3) / p;
    at::Tensor patches = at::conv2d(pixels, patch_w_, patch_b_, {p, p});  // (1, D, gh, gw)
    patches = patches.flatten(2).transpose(1, 2);                          // (1, N, D)
    at::Tensor x = at::cat({cls_, patches}, 1) + Positions(gh, gw, pixels.size(2), pixels.size(3));
    if (registers_.defined()) x = at::cat({x.narrow(1, 0, 1), registers_, x.narrow(1, 1, gh * gw)}, 1);
    const int64_t t = x.size(1);
    const double eps = cfg_.layer_norm_eps;
    for (const Layer& l : layers_) {
      at::Tensor h = at::layer_norm(x, {d}, l.norm1_w, l.norm1_b, eps);
      auto split = [&](int which) {
        return Linear(h, l.w[static_cast<size_t>(which)], l.b[static_cast<size_t>(which)])
            .view({1, t, heads, hd})
            .transpose(1, 2);  // (1, heads, T, hd)
      };
      const at::Tensor q = split(0), k = split(1), v = split(2);
      const at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(hd));
      const at::Tensor context = at::matmul(at::softmax(scores, -1), v).transpose(1, 2).reshape({1, t, d});
      x = x + Linear(context, l.out_w, l.out_b) * l.lambda1;
      h = at::layer_norm(x, {d}, l.norm2_w, l.norm2_b, eps);
      at::Tensor hidden = Linear(h, l.in_w, l.in_b);
      if (cfg_.use_swiglu_ffn) {
        const std::vector<at::Tensor> halves = hidden.chunk(2, -1);
        hidden = at::silu(halves[0]) * halves[1];
      } else {
        hidden = at::gelu(hidden);  // exact erf form
      }
      x = x + Linear(hidden, l.mlp_out_w, l.mlp_out_b) * l.lambda2;
    }
    return at::layer_norm(x, {d}, final_w_, final_b_, eps);
  }

 private:
  struct Layer {
    at::Tensor norm1_w, norm1_b, out_w, out_b, lambda1, norm2_w, norm2_b, in_w, in_b, mlp_out_w, mlp_out_b, lambda2;
    std::vector<at::Tensor> w, b;  // query, key, value
  };

  at::Tensor Get(const std::string& name) const { return ToTensor(file_.Get(name)).to(at::kDouble); }
  static at::Tensor Linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
    return at::matmul(x, w.t()) + b;
  }

  // The same resampling rule as the backbone (transformers' interpolate_pos_encoding as the golden
  // files were made: bicubic, scale factors (grid + 0.1) / sqrt(N)), here in float64.
  at::Tensor Positions(int64_t gh, int64_t gw, int64_t height, int64_t width) const {
    const int64_t n = position_.size(1) - 1, d = position_.size(2);
    if (gh * gw == n && height == width) return position_;
    const double root = std::sqrt(static_cast<double>(n));
    const int64_t side = static_cast<int64_t>(root);
    const double scale_h = (static_cast<double>(gh) + 0.1) / root, scale_w = (static_cast<double>(gw) + 0.1) / root;
    if (side * side != n || static_cast<int64_t>(static_cast<double>(side) * scale_h) != gh ||
        static_cast<int64_t>(static_cast<double>(side) * scale_w) != gw) {
      throw Error(ErrorCode::kInvalidArgument, "reference: position embeddings of " + cfg_.source +
                                                   " cannot be interpolated to a " + std::to_string(gh) + "x" +
                                                   std::to_string(gw) + " patch grid");
    }
    at::Tensor grid = position_.narrow(1, 1, n).reshape({1, side, side, d}).permute({0, 3, 1, 2});
    at::Tensor resized = at::upsample_bicubic2d(grid, {gh, gw}, /*align_corners=*/false, scale_h, scale_w);
    resized = resized.permute({0, 2, 3, 1}).reshape({1, gh * gw, d});
    return at::cat({position_.narrow(1, 0, 1), resized}, 1);
  }

  const model::Dinov2Config& cfg_;
  const model::SafetensorsFile& file_;
  at::Tensor patch_w_, patch_b_, cls_, registers_, position_, final_w_, final_b_;
  std::vector<Layer> layers_;
};

// Per image ||a - b|| / ||b||, worst image; and max |a - b|. NaN when a is not finite.
void Compare(const at::Tensor& actual, const at::Tensor& expected, double& rel, double& max_abs) {
  const at::Tensor a = actual.to(at::kCPU).to(at::kDouble).reshape({actual.size(0), -1});
  const at::Tensor b = expected.reshape({expected.size(0), -1});
  const at::Tensor diff = a - b;
  if (!at::isfinite(a).all().item<bool>()) {
    rel = max_abs = std::numeric_limits<double>::quiet_NaN();
    return;
  }
  rel = (diff.pow(2).sum(1).sqrt() / b.pow(2).sum(1).sqrt()).max().item<double>();
  max_abs = diff.abs().max().item<double>();
}

}  // namespace

struct BackboneReference::Impl {
  at::Tensor pixels;       // (B, C, H, W) float32, CPU
  at::Tensor last_hidden;  // (B, T, D) float64
  at::Tensor pooler;       // (B, D) float64
  double seconds = 0;
};

BackboneReference::BackboneReference(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BackboneReference::~BackboneReference() = default;

std::unique_ptr<BackboneReference> BackboneReference::Compute(const std::string& dir, int64_t batch, int64_t height,
                                                              int64_t width, uint64_t seed) {
  const model::Dinov2Config cfg = model::LoadDinov2Config(dir + "/config.json");
  auto file = model::SafetensorsFile::Open(dir + "/model.safetensors");
  model::CheckBackboneTensors(*file, cfg);
  if (batch < 1 || height < cfg.patch_size || width < cfg.patch_size) {
    throw Error(ErrorCode::kInvalidArgument, "reference: needs at least one image of at least one patch (" +
                                                 std::to_string(cfg.patch_size) + " pixels)");
  }
  c10::InferenceMode guard;
  auto impl = std::make_unique<Impl>();
  impl->pixels = at::empty({batch, cfg.num_channels, height, width}, at::kFloat);
  model::DemoRandom rng(seed);
  float* px = impl->pixels.data_ptr<float>();
  for (int64_t i = 0; i < impl->pixels.numel(); ++i) px[i] = static_cast<float>(rng.Normal());

  const Float64Dinov2 reference(cfg, *file);
  const auto start = std::chrono::steady_clock::now();
  std::vector<at::Tensor> outputs;
  for (int64_t i = 0; i < batch; ++i) {  // one image at a time: the float64 attention scores are large
    outputs.push_back(reference.Forward(impl->pixels.narrow(0, i, 1).to(at::kDouble)));
  }
  impl->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  impl->last_hidden = at::cat(outputs, 0);
  impl->pooler = impl->last_hidden.select(1, 0);
  return std::unique_ptr<BackboneReference>(new BackboneReference(std::move(impl)));
}

AccuracyResult BackboneReference::Check(const Dinov2Backbone& backbone) const {
  c10::InferenceMode guard;
  const BackboneOutput out = backbone.Forward(impl_->pixels);
  AccuracyResult r;
  Compare(out.last_hidden_state, impl_->last_hidden, r.last_hidden_rel, r.last_hidden_max_abs);
  Compare(out.pooler_output, impl_->pooler, r.pooler_rel, r.pooler_max_abs);
  return r;
}

double BackboneReference::seconds() const { return impl_->seconds; }
int64_t BackboneReference::batch() const { return impl_->pixels.size(0); }
int64_t BackboneReference::tokens() const { return impl_->last_hidden.size(1); }

std::string ErrorMessageOf(const std::function<void()>& f) {
  std::string message;
  try {
    f();
    return "";
  } catch (const c10::Error& e) {
    message = e.what_without_backtrace();
  } catch (const std::exception& e) {
    message = e.what();
  }
  const size_t eol = message.find('\n');
  if (eol != std::string::npos) message.resize(eol);
  return message.empty() ? "unknown error" : message;
}

}  // namespace curia::cli
