// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/nn/backbone.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <vector>

#include "curia/config/error.h"
#include "curia/config/log.h"
#include "curia/model/head_config.h"
#include "curia/nn/attention.h"
#include "curia/nn/softmax.h"
#include "curia/nn/tensor_io.h"

namespace curia::nn {

namespace {

at::ScalarType ScalarTypeOf(Precision p) {
  switch (p) {
    case Precision::kFp32: return at::kFloat;
    case Precision::kBf16: return at::kBFloat16;
    case Precision::kFp16: return at::kHalf;
  }
  return at::kFloat;
}

// Runs the operations the forward pass needs once on tiny tensors, so that an unsupported
// device/precision pair fails at load time with a clear message rather than mid-study.
void ProbePrecision(const Device& device, Precision precision) {
  try {
    c10::InferenceMode guard;
    const auto opts = at::TensorOptions().device(ToAtDevice(device)).dtype(ScalarTypeOf(precision));
    at::Tensor a = at::ones({2, 4, 8}, opts);
    at::Tensor w = at::ones({8, 8}, opts);
    at::Tensor b = at::zeros({8}, opts);
    at::Tensor h = at::layer_norm(a, {8}, w.select(0, 0), b, 1e-6);
    at::Tensor y = at::addmm(b, h.view({8, 8}), w.t());
    at::Tensor s = at::_softmax(at::bmm(a, a.transpose(1, 2)), -1, false);
    y = at::silu(y) * at::gelu(y);
    (void)s;
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kUnavailable,
                std::string("precision ") + PrecisionName(precision) + " is not supported on " +
                    device.ToString() + " by this LibTorch (" + TorchVersion() +
                    "); use fp32 (or bf16 on CPU). LibTorch said: " + e.what_without_backtrace());
  }
}

}  // namespace

struct Dinov2Backbone::Impl {
  struct Layer {
    at::Tensor norm1_w, norm1_b;
    at::Tensor qkv_w, qkv_b;        // (3D, D), (3D) or undefined: query, key, value stacked
    at::Tensor attn_out_w, attn_out_b;  // LayerScale lambda1 folded in
    at::Tensor norm2_w, norm2_b;
    at::Tensor mlp_in_w, mlp_in_b;  // weights_in (2H, D) or fc1 (H, D)
    at::Tensor mlp_out_w, mlp_out_b;  // lambda2 folded in
  };

  model::Dinov2Config cfg;
  Device device;
  Precision precision = Precision::kFp32;
  at::TensorOptions options;
  at::Tensor patch_w;  // (D, C*p*p)
  at::Tensor patch_b;
  at::Tensor cls_token;  // (1, 1, D)
  at::Tensor registers;  // (1, R, D) or undefined
  at::Tensor position;   // (1, 1 + N, D), float32 on the device (interpolated in float32)
  std::vector<Layer> layers;
  at::Tensor final_w, final_b;
  int64_t num_parameters = 0;
  std::string digest;

  at::Tensor Load(const model::SafetensorsFile& file, const std::string& name) {
    at::Tensor t = ToTensor(file.Get(name)).to(at::kFloat);
    num_parameters += t.numel();
    return t;
  }
  at::Tensor Place(const at::Tensor& t) const { return t.to(options).contiguous(); }

  at::Tensor PositionEmbeddings(int64_t grid_h, int64_t grid_w, int64_t height, int64_t width) const;
  at::Tensor Embed(const at::Tensor& pixels) const;
};

// transformers' Dinov2Embeddings.interpolate_pos_encoding (the eager version the golden files were
// made with): unchanged when the patch count matches and the image is square; otherwise the patch
// grid of position embeddings is resampled with bicubic interpolation (a = -0.75, no antialiasing)
// by the scale factors ((h + 0.1) / sqrt(N), (w + 0.1) / sqrt(N)), in float32.
at::Tensor Dinov2Backbone::Impl::PositionEmbeddings(int64_t grid_h, int64_t grid_w, int64_t height,
                                                    int64_t width) const {
  const int64_t num_positions = position.size(1) - 1;
  if (grid_h * grid_w == num_positions && height == width) return position;
  const int64_t d = position.size(2);
  const double root = std::sqrt(static_cast<double>(num_positions));
  const int64_t side = static_cast<int64_t>(root);
  if (side * side != num_positions) {
    throw Error(ErrorCode::kInvalidArgument, "position embeddings of " + cfg.source + " (" +
                                                 std::to_string(num_positions) +
                                                 " patches) are not a square grid and cannot be interpolated");
  }
  const double scale_h = (static_cast<double>(grid_h) + 0.1) / root;
  const double scale_w = (static_cast<double>(grid_w) + 0.1) / root;
  const int64_t out_h = static_cast<int64_t>(static_cast<double>(side) * scale_h);
  const int64_t out_w = static_cast<int64_t>(static_cast<double>(side) * scale_w);
  if (out_h != grid_h || out_w != grid_w) {
    throw Error(ErrorCode::kInvalidArgument, "position embedding interpolation gives a " + std::to_string(out_h) +
                                                 "x" + std::to_string(out_w) + " grid for " +
                                                 std::to_string(grid_h) + "x" + std::to_string(grid_w) + " patches");
  }
  at::Tensor grid = position.narrow(1, 1, num_positions).reshape({1, side, side, d}).permute({0, 3, 1, 2});
  at::Tensor resized = at::upsample_bicubic2d(grid.to(at::kFloat), {out_h, out_w}, /*align_corners=*/false,
                                              scale_h, scale_w);
  resized = resized.permute({0, 2, 3, 1}).reshape({1, grid_h * grid_w, d});
  return at::cat({position.narrow(1, 0, 1), resized.to(position.scalar_type())}, 1);
}

at::Tensor Dinov2Backbone::Impl::Embed(const at::Tensor& x) const {
  const int64_t b = x.size(0), c = x.size(1), p = cfg.patch_size;
  const int64_t gh = x.size(2) / p, gw = x.size(3) / p;
  const int64_t n = gh * gw, d = cfg.hidden_size, r = cfg.num_register_tokens;
  // The 16x16/16 convolution as one matrix product over non-overlapping patches (a strided
  // convolution drops any remainder rows and columns, and so does this).
  at::Tensor patches = x.narrow(2, 0, gh * p)
                           .narrow(3, 0, gw * p)
                           .reshape({b, c, gh, p, gw, p})
                           .permute({0, 2, 4, 1, 3, 5})
                           .reshape({b * n, c * p * p});
  at::Tensor embedded = at::addmm(patch_b, patches, patch_w.t()).view({b, n, d});
  at::Tensor pos = PositionEmbeddings(gh, gw, x.size(2), x.size(3)).to(options);
  at::Tensor tokens = at::empty({b, 1 + r + n, d}, options);
  tokens.select(1, 0).copy_((cls_token + pos.narrow(1, 0, 1)).view({1, d}).expand({b, d}));
  at::Tensor patch_tokens = tokens.narrow(1, 1 + r, n);
  at::add_out(patch_tokens, embedded, pos.narrow(1, 1, n));
  if (r > 0) tokens.narrow(1, 1, r).copy_(registers.expand({b, r, d}));
  return tokens;
}

Dinov2Backbone::Dinov2Backbone(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Dinov2Backbone::~Dinov2Backbone() = default;

std::unique_ptr<Dinov2Backbone> Dinov2Backbone::Load(const std::string& dir, const BackboneOptions& options) {
  const model::Dinov2Config cfg = model::LoadDinov2Config(dir + "/config.json");
  auto file = model::SafetensorsFile::Open(dir + "/model.safetensors");
  return FromFile(cfg, *file, "", options);
}

std::unique_ptr<Dinov2Backbone> Dinov2Backbone::FromFile(const model::Dinov2Config& cfg,
                                                         const model::SafetensorsFile& file,
                                                         std::string_view prefix_view,
                                                         const BackboneOptions& options) {
  CheckDeviceAvailable(options.device);
  if (options.device.kind == Device::Kind::kCpu) WarnIfReferenceBlas();
  ProbePrecision(options.device, options.precision);
  model::CheckBackboneTensors(file, cfg, prefix_view);

  c10::InferenceMode guard;
  auto impl = std::make_unique<Impl>();
  impl->cfg = cfg;
  impl->device = options.device;
  impl->precision = options.precision;
  impl->options = at::TensorOptions().device(ToAtDevice(options.device)).dtype(ScalarTypeOf(options.precision));
  const std::string prefix(prefix_view);
  auto get = [&](const std::string& name) { return impl->Load(file, prefix + name); };
  const int64_t d = cfg.hidden_size;

  impl->patch_w = impl->Place(get("embeddings.patch_embeddings.projection.weight").reshape({d, -1}));
  impl->patch_b = impl->Place(get("embeddings.patch_embeddings.projection.bias"));
  impl->cls_token = impl->Place(get("embeddings.cls_token"));
  if (cfg.num_register_tokens > 0) impl->registers = impl->Place(get("embeddings.register_tokens"));
  impl->position = get("embeddings.position_embeddings").to(ToAtDevice(options.device)).contiguous();

  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    Impl::Layer l;
    l.norm1_w = impl->Place(get(p + "norm1.weight"));
    l.norm1_b = impl->Place(get(p + "norm1.bias"));
    const std::string a = p + "attention.attention.";
    l.qkv_w = impl->Place(at::cat({get(a + "query.weight"), get(a + "key.weight"), get(a + "value.weight")}, 0));
    if (cfg.qkv_bias) {
      l.qkv_b = impl->Place(at::cat({get(a + "query.bias"), get(a + "key.bias"), get(a + "value.bias")}, 0));
    }
    // x + lambda * (y W^T + b) == x + y (diag(lambda) W)^T + lambda * b: LayerScale costs nothing.
    const at::Tensor lambda1 = get(p + "layer_scale1.lambda1");
    l.attn_out_w = impl->Place(get(p + "attention.output.dense.weight") * lambda1.unsqueeze(1));
    l.attn_out_b = impl->Place(get(p + "attention.output.dense.bias") * lambda1);
    l.norm2_w = impl->Place(get(p + "norm2.weight"));
    l.norm2_b = impl->Place(get(p + "norm2.bias"));
    const std::string in = cfg.use_swiglu_ffn ? "mlp.weights_in." : "mlp.fc1.";
    const std::string out = cfg.use_swiglu_ffn ? "mlp.weights_out." : "mlp.fc2.";
    l.mlp_in_w = impl->Place(get(p + in + "weight"));
    l.mlp_in_b = impl->Place(get(p + in + "bias"));
    const at::Tensor lambda2 = get(p + "layer_scale2.lambda1");
    l.mlp_out_w = impl->Place(get(p + out + "weight") * lambda2.unsqueeze(1));
    l.mlp_out_b = impl->Place(get(p + out + "bias") * lambda2);
    impl->layers.push_back(std::move(l));
  }
  impl->digest = model::BackboneDigest(file, cfg, prefix_view);
  impl->final_w = impl->Place(get("layernorm.weight"));
  impl->final_b = impl->Place(get("layernorm.bias"));
  log::Info("model", "backbone " + cfg.source + ": " + std::to_string(cfg.num_hidden_layers) + " layers, hidden " +
                         std::to_string(d) + ", " + (cfg.use_swiglu_ffn ? "SwiGLU" : "GELU") + ", " +
                         std::to_string(impl->num_parameters) + " parameters on " + options.device.ToString() +
                         " in " + PrecisionName(options.precision) + (cfg.demo ? " (DEMO weights)" : ""));
  return std::unique_ptr<Dinov2Backbone>(new Dinov2Backbone(std::move(impl)));
}

namespace {

using Clock = std::chrono::steady_clock;

// Splits a forward pass's wall clock into ForwardTimes' parts when asked to: each Lap() waits for
// the device (reading one element back) and adds the time since the previous lap to one part.
class Laps {
 public:
  explicit Laps(ForwardTimes* times) : times_(times), last_(Clock::now()) {}
  // `done`: the part's result, read back (on a device) to wait for it.
  void Lap(double ForwardTimes::*part, const at::Tensor& done) {
    if (times_ == nullptr) return;
    if (!done.is_cpu()) (void)done.reshape({-1})[0].item<float>();
    const Clock::time_point now = Clock::now();
    times_->*part += std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }
  // As Lap, for a stretch in which threads ran two parts side by side: the wall time is shared out
  // in proportion to the threads' summed busy times in each part.
  void Lap(double ForwardTimes::*a, double busy_a, double ForwardTimes::*b, double busy_b) {
    if (times_ == nullptr) return;
    const Clock::time_point now = Clock::now();
    const double wall = std::chrono::duration<double>(now - last_).count();
    const double busy = busy_a + busy_b;
    times_->*a += busy > 0 ? wall * busy_a / busy : wall;
    times_->*b += busy > 0 ? wall * busy_b / busy : 0;
    last_ = now;
  }

 private:
  ForwardTimes* times_;
  Clock::time_point last_;
};

}  // namespace

BackboneOutput Dinov2Backbone::Forward(const at::Tensor& pixel_values, bool output_hidden_states,
                                       ForwardTimes* times) const {
  const Impl& m = *impl_;
  const model::Dinov2Config& cfg = m.cfg;
  if (pixel_values.dim() != 4 || pixel_values.size(1) != cfg.num_channels ||
      pixel_values.size(2) < cfg.patch_size || pixel_values.size(3) < cfg.patch_size ||
      !at::isFloatingType(pixel_values.scalar_type())) {
    std::string shape = "[";
    for (int64_t i = 0; i < pixel_values.dim(); ++i) shape += (i ? ", " : "") + std::to_string(pixel_values.size(i));
    throw Error(ErrorCode::kInvalidArgument,
                "pixel_values has shape " + shape + "] of " + std::string(at::toString(pixel_values.scalar_type())) +
                    ": expected floating (B, " + std::to_string(cfg.num_channels) + ", H, W) with H, W >= " +
                    std::to_string(cfg.patch_size));
  }
  c10::InferenceMode guard;
  BackboneOutput out;
  Laps step(times);
  at::Tensor x = m.Embed(pixel_values.to(m.options));
  const int64_t b = x.size(0), t = x.size(1), d = cfg.hidden_size;
  const int64_t heads = cfg.num_attention_heads, hd = cfg.HeadDim();
  const double eps = cfg.layer_norm_eps;
  at::Tensor x2 = x.view({b * t, d});  // the residual stream, updated in place
  if (output_hidden_states) out.hidden_states.push_back(x.clone());
  step.Lap(&ForwardTimes::embed, x2);

  // Buffers reused by every layer: fresh multi-megabyte allocations per layer cost page faults
  // that showed up as 30% of the CPU forward time.
  at::Tensor qkv = at::empty({b * t, 3 * d}, m.options);
  at::Tensor context = at::empty({b * t, d}, m.options);
  at::Tensor mlp = at::empty({b * t, m.layers.empty() ? 0 : m.layers[0].mlp_in_w.size(0)}, m.options);
#if TORCH_VERSION_MAJOR < 2
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  // float32 heads of 16-64 on AVX-512 take our fused kernel (curia/nn/attention.h: why), other
  // float32 heads BLAS products and our vectorised softmax (curia/nn/softmax.h), bf16 / fp16
  // LibTorch's softmax. Per thread that attention runs on (below): a workspace, or a (T, T) score
  // buffer.
  const bool own_softmax = m.options.dtype() == at::kFloat;
  const bool fused = own_softmax && FusedAttentionAvailable(hd);
  const int64_t per_thread = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), b * heads));
  std::vector<at::Tensor> scores;
  std::vector<AttentionWorkspace> workspaces(fused ? per_thread : 0);
  for (int64_t i = 0; i < (fused ? 0 : per_thread); ++i) scores.push_back(at::empty({t, t}, m.options));
#endif

  for (const Impl::Layer& l : m.layers) {
    // Attention block: q, k, v in one product; heads are strided views into it.
    at::Tensor h = at::layer_norm(x2, {d}, l.norm1_w, l.norm1_b, eps);
    step.Lap(&ForwardTimes::norms, h);
    if (l.qkv_b.defined()) {
      at::addmm_out(qkv, l.qkv_b, h, l.qkv_w.t());
    } else {
      at::mm_out(qkv, h, l.qkv_w.t());
    }
    step.Lap(&ForwardTimes::projections, qkv);
    const at::Tensor split = qkv.view({b, t, 3, heads, hd});
#if TORCH_VERSION_MAJOR >= 2
    // Fused flash / memory-efficient kernels where LibTorch has them (same scale 1/sqrt(hd)).
    const at::Tensor sdpa = at::scaled_dot_product_attention(split.select(2, 0).transpose(1, 2),
                                                             split.select(2, 1).transpose(1, 2),
                                                             split.select(2, 2).transpose(1, 2));
    context.view({b, t, heads, hd}).copy_(sdpa.transpose(1, 2));
    step.Lap(&ForwardTimes::attention_products, context);
#else
    // softmax(q k^T / sqrt(hd)) v per image and head, written straight into the merged-heads
    // layout: the (image, head) pairs run on LibTorch's threads, each pair on one thread, through
    // the fused kernel or as two one-threaded BLAS products and a softmax in that thread's own (T,
    // T) score buffer. Measured on 2 cores: products with an inner or outer dimension of 64 reach
    // ~0.6 of the large-product rate when BLAS splits each one over the threads, ~0.9 on one thread
    // each on a Zen 5, ~0.5 on an Ice Lake Xeon, where the fused kernel is faster; docs/performance.md.
    const at::Tensor merged = context.view({b, t, heads, hd});
    std::vector<double> busy_products(per_thread, 0.0), busy_softmax(per_thread, 0.0);
    at::parallel_for(0, b * heads, 1, [&](int64_t begin, int64_t end) {
      c10::InferenceMode thread_guard;  // thread-local: LibTorch's threads do not inherit it
      const size_t slot = std::min(static_cast<size_t>(at::get_thread_num()), static_cast<size_t>(per_thread - 1));
      Clock::time_point mark = Clock::now();
      auto lap = [&](double* busy) {
        if (times == nullptr) return;
        const Clock::time_point now = Clock::now();
        *busy += std::chrono::duration<double>(now - mark).count();
        mark = now;
      };
      for (int64_t pair = begin; pair < end; ++pair) {
        const int64_t i = pair / heads, j = pair % heads;
        const at::Tensor q = split[i].select(1, 0).select(1, j);  // (T, hd), row stride 3D
        const at::Tensor k = split[i].select(1, 1).select(1, j);
        const at::Tensor v = split[i].select(1, 2).select(1, j);
        at::Tensor dst = merged[i].select(1, j);  // (T, hd), row stride D
        if (fused) {  // scores, softmax and scores x v together: all counted as products
          AttentionHead(q.data_ptr<float>(), k.data_ptr<float>(), v.data_ptr<float>(), q.stride(0),
                        dst.data_ptr<float>(), dst.stride(0), t, hd, static_cast<float>(scale), workspaces[slot]);
          lap(&busy_products[slot]);
          continue;
        }
        at::Tensor& s = scores[slot];
        at::addmm_out(s, s, q, k.t(), /*beta=*/0.0, /*alpha=*/scale);
        lap(&busy_products[slot]);
        if (own_softmax) {
          SoftmaxRows(s.data_ptr<float>(), t, t, s.stride(0));
        } else {
          at::_softmax_out(s, s, -1, false);
        }
        lap(&busy_softmax[slot]);
        at::mm_out(dst, s, v);
        lap(&busy_products[slot]);
      }
    });
    step.Lap(&ForwardTimes::attention_products,
             std::accumulate(busy_products.begin(), busy_products.end(), 0.0), &ForwardTimes::softmax,
             std::accumulate(busy_softmax.begin(), busy_softmax.end(), 0.0));
#endif
    x2.add_(l.attn_out_b);
    x2.addmm_(context, l.attn_out_w.t());
    step.Lap(&ForwardTimes::projections, x2);

    // MLP block.
    h = at::layer_norm(x2, {d}, l.norm2_w, l.norm2_b, eps);
    step.Lap(&ForwardTimes::norms, h);
    at::addmm_out(mlp, l.mlp_in_b, h, l.mlp_in_w.t());
    at::Tensor act;
    if (cfg.use_swiglu_ffn) {
      const int64_t hidden = mlp.size(1) / 2;
      act = mlp.narrow(1, 0, hidden);
      at::silu_(act);
      act.mul_(mlp.narrow(1, hidden, hidden));
    } else {
      act = at::gelu_(mlp);  // exact erf form
    }
    x2.add_(l.mlp_out_b);
    x2.addmm_(act, l.mlp_out_w.t());
    step.Lap(&ForwardTimes::mlp, x2);
    if (output_hidden_states) out.hidden_states.push_back(x.clone());
  }
  out.encoder_output = output_hidden_states ? out.hidden_states.back() : x;
  out.last_hidden_state = at::layer_norm(x, {d}, m.final_w, m.final_b, eps);
  out.pooler_output = out.last_hidden_state.select(1, 0);
  step.Lap(&ForwardTimes::norms, out.last_hidden_state);
  return out;
}

const model::Dinov2Config& Dinov2Backbone::config() const { return impl_->cfg; }
const Device& Dinov2Backbone::device() const { return impl_->device; }
Precision Dinov2Backbone::precision() const { return impl_->precision; }
int64_t Dinov2Backbone::num_parameters() const { return impl_->num_parameters; }
const std::string& Dinov2Backbone::digest() const { return impl_->digest; }

}  // namespace curia::nn
