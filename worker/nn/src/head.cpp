// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/nn/head.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <filesystem>

#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/config/log.h"
#include "curia/config/sha256.h"
#include "curia/nn/tensor_io.h"

namespace curia::nn {
namespace {

constexpr double kHeadLayerNormEps = 1e-5;  // nn.LayerNorm's default, as the reference heads use

[[noreturn]] void Bad(const std::string& message) { throw Error(ErrorCode::kInvalidArgument, message); }

std::string Shape(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

struct AttentionBlock {
  at::Tensor in_w, in_b, out_w, out_b, norm_w, norm_b;
};

}  // namespace

struct TaskHead::Impl {
  model::HeadConfig cfg;
  model::Dinov2Config backbone;
  std::string dir;
  std::string digest;
  at::Device device = at::kCPU;
  at::Tensor classifier_w, classifier_b;
  AttentionBlock self_block, cross_block;
  at::Tensor queries;  // (Q, D)

  int64_t FirstPatch() const { return 1 + backbone.num_register_tokens; }

  // nn.MultiheadAttention with one head: softmax((q Wq + bq) (k Wk + bk)^T / sqrt(D) - inf*blocked)
  // (v Wv + bv), then the output projection.
  at::Tensor Attention(const AttentionBlock& b, const at::Tensor& query, const at::Tensor& kv,
                       const at::Tensor& blocked) const {
    const int64_t d = query.size(-1);
    const at::Tensor q = at::linear(query, b.in_w.narrow(0, 0, d), b.in_b.narrow(0, 0, d)) / std::sqrt(double(d));
    const at::Tensor k = at::linear(kv, b.in_w.narrow(0, d, d), b.in_b.narrow(0, d, d));
    const at::Tensor v = at::linear(kv, b.in_w.narrow(0, 2 * d, d), b.in_b.narrow(0, 2 * d, d));
    const at::Tensor bias = at::zeros(blocked.sizes(), q.options()).masked_fill_(blocked, -INFINITY);
    const at::Tensor p = at::softmax(at::baddbmm(bias, q, k.transpose(1, 2)), -1);
    return at::linear(at::bmm(p, v), b.out_w, b.out_b);
  }

  // The reference AttentionModule over zero-padded token sequences (B, T, D) -> (B, D).
  at::Tensor AttentionModule(at::Tensor x) const {
    const int64_t b = x.size(0), d = x.size(2);
    for (const std::string& name : cfg.attention->blocks) {
      // Validity is recomputed from the current x at every block, as the reference does.
      const at::Tensor valid = (x != 0).any(-1);  // (B, T)
      if (name == "self") {
        const at::Tensor blocked = valid.unsqueeze(2) != valid.unsqueeze(1);  // real <-> real, pad <-> pad
        x = at::layer_norm(x + Attention(self_block, x, x, blocked), {d}, self_block.norm_w, self_block.norm_b,
                           kHeadLayerNormEps);
      } else {
        const at::Tensor q = queries.unsqueeze(0).expand({b, queries.size(0), d});
        const at::Tensor blocked = valid.logical_not().unsqueeze(1).expand({b, q.size(1), x.size(1)});
        x = at::layer_norm(q + Attention(cross_block, q, x, blocked), {d}, cross_block.norm_w, cross_block.norm_b,
                           kHeadLayerNormEps);
      }
    }
    return x.mean(1);
  }

  // pe[n, 0::2] = sin(n * div), pe[n, 1::2] = cos(n * div), div = exp(arange(0, D, 2) * -ln(1e4) / D),
  // computed in float32 as the reference computes it.
  at::Tensor SliceEmbedding(int64_t count, int64_t d) const {
    const auto opts = at::TensorOptions().dtype(at::kFloat).device(device);
    const at::Tensor position = at::arange(count, opts).unsqueeze(1);
    const at::Tensor div = at::exp(at::arange(0, d, 2, opts) * (-std::log(10000.0) / static_cast<double>(d)));
    at::Tensor pe = at::zeros({count, d}, opts);
    pe.slice(1, 0, d, 2).copy_(at::sin(position * div));
    pe.slice(1, 1, d, 2).copy_(at::cos(position * div));
    return pe;
  }

  // One volume's input from its kept-slice tokens (before the slice embedding): the volume mean
  // (1, D) for a volume-average head; otherwise the tokens with their slice embedding, concatenated
  // (T, D): what the attention module takes.
  at::Tensor Input(const std::vector<at::Tensor>& slices) const {
    if (slices.empty()) Bad("a 3-D head got a volume with no slice to pool");
    if (cfg.use_avgpool_on_the_volume) return at::cat(slices, 0).mean(0, /*keepdim=*/true);
    const at::Tensor pe = SliceEmbedding(static_cast<int64_t>(slices.size()), backbone.hidden_size);
    std::vector<at::Tensor> tokens;
    for (size_t n = 0; n < slices.size(); ++n) tokens.push_back(slices[n] + pe[static_cast<int64_t>(n)]);
    return at::cat(tokens, 0);
  }

  // Logits (B, C) from each volume's Input: volume means classified as they are; token rows
  // zero-padded across the batch, through the attention module, classified.
  at::Tensor FromInputs(const std::vector<at::Tensor>& inputs) const {
    const int64_t d = backbone.hidden_size;
    if (inputs.empty()) Bad("a 3-D head got no volume");
    for (const at::Tensor& in : inputs) {
      if (in.dim() != 2 || in.size(1) != d || in.size(0) < 1) {
        Bad("a 3-D head's volume input has shape " + Shape(in) + ", expected (T, " + std::to_string(d) + ") with T >= 1");
      }
      if (cfg.use_avgpool_on_the_volume && in.size(0) != 1) {
        Bad("a volume-average head's input is one row (1, " + std::to_string(d) + "), got " + Shape(in));
      }
    }
    if (cfg.use_avgpool_on_the_volume) {
      std::vector<at::Tensor> rows;
      for (const at::Tensor& in : inputs) rows.push_back(in.to(device, at::kFloat)[0]);
      return at::linear(at::stack(rows, 0), classifier_w, classifier_b);
    }
    if (!cfg.attention) Bad("head " + dir + " is not a 3-D head: it has no attention module for volume inputs");
    int64_t longest = 0;
    for (const at::Tensor& in : inputs) longest = std::max(longest, in.size(0));
    at::Tensor x = at::zeros({static_cast<int64_t>(inputs.size()), longest, d}, inputs[0].options().dtype(at::kFloat).device(device));
    for (size_t i = 0; i < inputs.size(); ++i) x[static_cast<int64_t>(i)].narrow(0, 0, inputs[i].size(0)).copy_(inputs[i]);
    return at::linear(AttentionModule(x), classifier_w, classifier_b);
  }

  // Logits (B, C) from each volume's kept-slice tokens (before the slice embedding).
  at::Tensor Pool(const std::vector<std::vector<at::Tensor>>& volumes) const {
    std::vector<at::Tensor> inputs;
    for (const auto& slices : volumes) inputs.push_back(Input(slices));
    return FromInputs(inputs);
  }

  // Patch tokens (P, D) of one slice's encoder output as a (g, g, D) grid, row-major.
  at::Tensor Patches(const at::Tensor& enc) const { return enc.narrow(0, FirstPatch(), enc.size(0) - FirstPatch()); }

  int64_t GridSide(int64_t patches) const {
    const int64_t g = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(patches))));
    if (g * g != patches) Bad("head " + dir + " needs a square patch grid, got " + std::to_string(patches) + " patches");
    return g;
  }

  // Max-pools (N, 1, H, W) weights at pixel resolution to the patch grid (N, g, g), as the
  // reference does (g = sqrt(patches), kernel = W // g): for square inputs, g = W / patch_size.
  at::Tensor PoolMask(const at::Tensor& mask) const {
    if (mask.dim() != 4 || mask.size(1) != 1 || mask.size(2) != mask.size(3) || mask.size(3) < backbone.patch_size) {
      Bad("mask has shape " + Shape(mask) + ": masks are (N, 1, H, W) with square slices of at least one patch");
    }
    const at::Tensor m = mask.to(device, at::kFloat);
    if (!at::isfinite(m).all().item<bool>() || m.min().item<float>() < 0.0f || m.max().item<float>() > 1.0f) {
      Bad("mask values must be weights in [0, 1]");
    }
    const int64_t g = mask.size(3) / backbone.patch_size;
    const int64_t k = mask.size(3) / g;
    return at::max_pool2d(m, {k, k}, {k, k}).narrow(2, 0, g).narrow(3, 0, g).squeeze(1);
  }

  void CheckMaskable() const {
    if (cfg.use_avgpool_per_slice || cfg.use_avgpool_on_the_volume) {
      Bad("head " + dir + " averages patch tokens; the reference defines no masked form of that");
    }
  }

  // The slices a volume contributes, in order, given which slices hold the mask (all of them when
  // `with_mask` is false): the window of num_slices centred on the middle slice (S // 2), or on the
  // ((n - 1) // 2)-th masked slice, wrapping below 0 as Python indexing does; slices without the
  // mask dropped.
  std::vector<int64_t> Window(const std::vector<bool>& masked, bool with_mask) const {
    const auto slices = static_cast<int64_t>(masked.size());
    std::vector<int64_t> candidates;  // slices the window may be centred on
    for (int64_t s = 0; s < slices; ++s) {
      if (masked[static_cast<size_t>(s)]) candidates.push_back(s);
    }
    if (with_mask && candidates.empty()) Bad("the mask is empty on every slice: nothing for the head to pool");
    std::vector<int64_t> window;
    if (!cfg.num_slices) {
      window = candidates;
    } else {
      const int64_t n = *cfg.num_slices;
      const int64_t centre = with_mask ? candidates[(candidates.size() - 1) / 2] : slices / 2;
      const int64_t start = centre - n / 2, end = start + n;
      if (end > slices || start < -slices) {
        Bad("the volume has " + std::to_string(slices) + " slice(s): too few for the head's window of " + std::to_string(n) +
            " slices centred on slice " + std::to_string(centre) + " (" + dir + ")");
      }
      for (int64_t i = start; i < end; ++i) window.push_back(i < 0 ? i + slices : i);
    }
    std::vector<int64_t> kept;
    for (int64_t s : window) {
      if (masked[static_cast<size_t>(s)]) kept.push_back(s);
    }
    return kept;
  }

  at::Tensor SliceTokens(const at::Tensor& enc, const at::Tensor& grid_mask) const {
    const at::Tensor e = enc.to(at::kFloat);
    at::Tensor patches = Patches(e);
    at::Tensor tokens;
    if (grid_mask.defined()) {
      tokens = patches.index({grid_mask.reshape({-1}) != 0});  // the tokens under the mask, row-major
    } else if (cfg.use_avgpool_per_slice) {
      tokens = patches.mean(0, /*keepdim=*/true);
    } else if (cfg.kernel_size && !cfg.use_avgpool_on_the_volume) {
      const int64_t g = GridSide(patches.size(0)), k = *cfg.kernel_size, d = patches.size(1);
      tokens = at::avg_pool2d(patches.reshape({g, g, d}).permute({2, 0, 1}).unsqueeze(0), {k, k}, {k, k})
                   .squeeze(0)
                   .reshape({d, -1})
                   .t();
    } else {
      tokens = patches;
    }
    if (cfg.use_class_token) tokens = at::cat({e.narrow(0, 0, 1), tokens}, 0);
    return tokens;
  }
};

TaskHead::TaskHead(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TaskHead::~TaskHead() = default;

std::unique_ptr<TaskHead> TaskHead::Load(const std::string& dir, const Dinov2Backbone& backbone) {
  const std::string config_path = dir + "/config.json";
  const std::string config_text = config::ReadTextFile(config_path);
  const model::HeadConfig cfg = model::ParseHeadConfig(config::ParseJson(config_text, config_path), config_path);
  auto file = model::SafetensorsFile::Open(dir + "/model.safetensors");
  const model::HeadWeights weights = model::CheckHeadTensors(*file, cfg, backbone.config());
  if (weights.has_backbone_copy) {
    const std::string copy = model::BackboneDigest(*file, backbone.config(), "dino.");
    if (copy != backbone.digest()) {
      Bad("head " + dir + ": its copy of the backbone (dino.*, digest " + copy.substr(0, 16) +
          ") differs from the loaded backbone " + backbone.config().source + " (digest " + backbone.digest().substr(0, 16) +
          "): the head was trained on other backbone weights; refusing it");
    }
  } else if (std::filesystem::exists(dir + "/provenance.json")) {
    // A head trained here (`curia train-head`) carries no backbone copy; its provenance names the
    // backbone its features came from.
    const config::Json prov = config::ParseJsonFile(dir + "/provenance.json");
    const config::Json* trained_on = config::Find(prov, "backbone_digest");
    if (trained_on && trained_on->isString() && trained_on->asString() != backbone.digest()) {
      Bad("head " + dir + ": provenance.json says it was trained on features of backbone digest " +
          trained_on->asString().substr(0, 16) + ", but the loaded backbone " + backbone.config().source + " has digest " +
          backbone.digest().substr(0, 16) + ": train it again on features of this backbone; refusing it");
    }
  }
  if (!weights.ignored.empty()) {
    log::Warning("model", "head " + dir + ": " + std::to_string(weights.ignored.size()) +
                              " attention_module.* tensors ignored (attention_cfg is null)");
  }
  c10::InferenceMode guard;
  auto impl = std::make_unique<Impl>();
  impl->cfg = cfg;
  impl->backbone = backbone.config();
  impl->dir = dir;
  impl->device = ToAtDevice(backbone.device());
  config::Sha256 digest;
  digest.Update(config_text);
  auto get = [&](const std::string& name) {
    const model::TensorView& t = file->Get(name);
    digest.Update(name);
    digest.Update(t.data, t.nbytes);
    return ToTensor(t).to(impl->device, at::kFloat).contiguous();
  };
  impl->classifier_w = get("classifier.weight");
  impl->classifier_b = get("classifier.bias");
  auto block = [&](const std::string& name) {
    const std::string p = "attention_module." + name + "_attention.attention.";
    return AttentionBlock{get(p + "multihead_attn.in_proj_weight"), get(p + "multihead_attn.in_proj_bias"),
                          get(p + "multihead_attn.out_proj.weight"), get(p + "multihead_attn.out_proj.bias"),
                          get(p + "norm.weight"), get(p + "norm.bias")};
  };
  if (cfg.attention) {
    const auto& blocks = cfg.attention->blocks;
    if (std::find(blocks.begin(), blocks.end(), "self") != blocks.end()) impl->self_block = block("self");
    if (cfg.attention->HasCross()) {
      impl->cross_block = block("cross");
      impl->queries = get("attention_module.cross_attention.learned_queries");
    }
  }
  impl->digest = digest.HexDigest();
  log::Info("model", "head " + dir + ": " + (cfg.Is3D() ? "3-D" : "2-D") + ", " + std::to_string(cfg.num_classes) +
                         (cfg.regression ? " output (regression)" : " classes") + (cfg.demo ? " (DEMO weights)" : ""));
  return std::unique_ptr<TaskHead>(new TaskHead(std::move(impl)));
}

const model::HeadConfig& TaskHead::config() const { return impl_->cfg; }
const std::string& TaskHead::digest() const { return impl_->digest; }

at::Tensor TaskHead::Logits2D(const BackboneOutput& out, const at::Tensor& mask) const {
  const Impl& m = *impl_;
  c10::InferenceMode guard;
  if (!mask.defined()) return at::linear(out.pooler_output.to(at::kFloat), m.classifier_w, m.classifier_b);
  const int64_t b = out.last_hidden_state.size(0);
  if (mask.dim() != 4 || mask.size(0) != b || mask.size(1) != 1) {
    Bad("mask has shape " + Shape(mask) + ", expected (" + std::to_string(b) + ", 1, H, W): one per slice");
  }
  std::vector<int64_t> slices(static_cast<size_t>(b));
  for (int64_t i = 0; i < b; ++i) slices[static_cast<size_t>(i)] = i;
  return MaskedLogits2D(out, mask, slices);
}

at::Tensor TaskHead::MaskedLogits2D(const BackboneOutput& out, const at::Tensor& masks,
                                    const std::vector<int64_t>& slices) const {
  const Impl& m = *impl_;
  c10::InferenceMode guard;
  return at::linear(MaskedFeatures2D(out, masks, slices), m.classifier_w, m.classifier_b);
}

at::Tensor TaskHead::MaskedFeatures2D(const BackboneOutput& out, const at::Tensor& masks,
                                      const std::vector<int64_t>& slices) const {
  const Impl& m = *impl_;
  c10::InferenceMode guard;
  const at::Tensor last = out.last_hidden_state.to(at::kFloat);  // a view when already float32
  const int64_t b = last.size(0), patches = last.size(1) - m.FirstPatch();
  const int64_t e = static_cast<int64_t>(slices.size());
  if (masks.dim() != 4 || masks.size(0) != e || masks.size(1) != 1) {
    Bad("masks have shape " + Shape(masks) + ", expected (" + std::to_string(e) + ", 1, H, W): one per entry of slices");
  }
  // Masks by slice, in order of first appearance.
  std::vector<int64_t> order;
  std::vector<std::vector<int64_t>> by_slice(static_cast<size_t>(b));
  for (int64_t i = 0; i < e; ++i) {
    const int64_t s = slices[static_cast<size_t>(i)];
    if (s < 0 || s >= b) Bad("mask " + std::to_string(i) + " names slice " + std::to_string(s) + " of a batch of " + std::to_string(b));
    if (by_slice[static_cast<size_t>(s)].empty()) order.push_back(s);
    by_slice[static_cast<size_t>(s)].push_back(i);
  }
  const at::Tensor pooled = m.PoolMask(masks);
  if (pooled.size(1) * pooled.size(2) != patches) {
    Bad("mask of shape " + Shape(masks) + " does not match the " + std::to_string(patches) + " patches of the image");
  }
  const at::Tensor weights = pooled.reshape({e, patches});
  const at::Tensor total = weights.sum(1);
  if ((total <= 0.0f).any().item<bool>()) {
    const int64_t first = (total <= 0.0f).nonzero()[0][0].item<int64_t>();
    Bad("the mask of slice " + std::to_string(slices[static_cast<size_t>(first)]) +
        " is empty on the patch grid: a mask head needs a region to classify");
  }
  // Each mask's weighted sum of its slice's patch tokens: (k, P) x (P, D) on the backbone's output
  // as it lies (rows of a contiguous (B, T, D) tensor), written into its rows of `feature`.
  const at::Tensor tokens = last.narrow(1, m.FirstPatch(), patches);
  at::Tensor feature = at::empty({e, last.size(2)}, last.options());
  for (int64_t s : order) {
    const std::vector<int64_t>& rows = by_slice[static_cast<size_t>(s)];
    if (rows.size() == 1) {
      feature.narrow(0, rows[0], 1).copy_(at::mm(weights.narrow(0, rows[0], 1), tokens[s]));
      continue;
    }
    const at::Tensor index = at::tensor(rows, at::TensorOptions().dtype(at::kLong)).to(last.device());
    feature.index_copy_(0, index, at::mm(weights.index_select(0, index), tokens[s]));
  }
  return feature / total.unsqueeze(1);
}

std::vector<int64_t> TaskHead::KeptSlices(int64_t slices, const at::Tensor& mask) const {
  const Impl& m = *impl_;
  c10::InferenceMode guard;
  if (!mask.defined()) return m.Window(std::vector<bool>(static_cast<size_t>(std::max<int64_t>(slices, 0)), true), false);
  if (mask.dim() != 4 || mask.size(0) != slices || mask.size(1) != 1) {
    Bad("mask has shape " + Shape(mask) + ", expected (" + std::to_string(slices) + ", 1, H, W): one per slice");
  }
  m.CheckMaskable();
  const at::Tensor any = m.PoolMask(mask).reshape({slices, -1}).ne(0).any(1).to(at::kCPU);
  std::vector<bool> masked(static_cast<size_t>(slices));
  for (int64_t s = 0; s < slices; ++s) masked[static_cast<size_t>(s)] = any[s].item<bool>();
  return m.Window(masked, true);
}

std::vector<int64_t> TaskHead::KeptMaskedSlices(const std::vector<bool>& masked) const {
  impl_->CheckMaskable();
  return impl_->Window(masked, true);
}

at::Tensor TaskHead::SliceTokens(const at::Tensor& encoder_output, const at::Tensor& mask_slice) const {
  c10::InferenceMode guard;
  const Impl& m = *impl_;
  return m.SliceTokens(encoder_output, mask_slice.defined() ? m.PoolMask(mask_slice.unsqueeze(0))[0] : at::Tensor());
}

at::Tensor TaskHead::VolumeLogits(const std::vector<at::Tensor>& slice_tokens) const {
  c10::InferenceMode guard;
  return impl_->Pool({slice_tokens});
}

at::Tensor TaskHead::VolumeInput(const std::vector<at::Tensor>& slice_tokens) const {
  c10::InferenceMode guard;
  return impl_->Input(slice_tokens);
}

at::Tensor TaskHead::VolumeLogitsFromInput(const at::Tensor& input) const {
  c10::InferenceMode guard;
  return impl_->FromInputs({input});
}

at::Tensor TaskHead::LogitsFromInputs(const std::vector<at::Tensor>& inputs) const {
  c10::InferenceMode guard;
  return impl_->FromInputs(inputs);
}

at::Tensor TaskHead::Logits3D(const std::vector<at::Tensor>& encoder_outputs, const std::vector<at::Tensor>& masks) const {
  c10::InferenceMode guard;
  if (!masks.empty() && masks.size() != encoder_outputs.size()) Bad("give one mask per volume, or none");
  std::vector<std::vector<at::Tensor>> volumes;
  for (size_t v = 0; v < encoder_outputs.size(); ++v) {
    const at::Tensor& enc = encoder_outputs[v];  // (S, T, D)
    const at::Tensor mask = masks.empty() ? at::Tensor() : masks[v];
    std::vector<at::Tensor> kept;
    for (int64_t s : KeptSlices(enc.size(0), mask)) {
      kept.push_back(SliceTokens(enc[s], mask.defined() ? mask[s] : at::Tensor()));
    }
    volumes.push_back(std::move(kept));
  }
  return impl_->Pool(volumes);
}

at::Tensor TaskHead::PatchProbabilities(const BackboneOutput& out) const {
  const Impl& m = *impl_;
  c10::InferenceMode guard;
  const at::Tensor last = out.last_hidden_state.to(at::kFloat);
  const at::Tensor patches = last.narrow(1, m.FirstPatch(), last.size(1) - m.FirstPatch());
  return Probabilities(at::linear(patches, m.classifier_w, m.classifier_b));
}

at::Tensor TaskHead::Probabilities(const at::Tensor& logits) const {
  c10::InferenceMode guard;
  const at::Tensor l = logits.to(at::kFloat);
  return impl_->cfg.regression ? l.clone() : at::softmax(l, -1);
}

}  // namespace curia::nn
