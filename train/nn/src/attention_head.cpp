// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/train_nn/attention_head.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/model/safetensors.h"

namespace curia::train_nn {
namespace {

constexpr double kLayerNormEps = 1e-5;  // nn.LayerNorm's default, as the reference heads use
constexpr double kPi = 3.14159265358979323846;

[[noreturn]] void Bad(const std::string& message) { throw Error(ErrorCode::kInvalidArgument, message); }

std::string BlockPrefix(const std::string& block) { return "attention_module." + block + "_attention.attention."; }

// nn.MultiheadAttention (one head, batch_first) as torch 1.13's multi_head_attention_forward
// computes it: in_proj rows [0, D) = q, [D, 2D) = k, [2D, 3D) = v; q scaled by 1/sqrt(D); a boolean
// mask true = blocked, added as -inf before the softmax; out_proj last.
at::Tensor Attention(const at::Tensor& in_w, const at::Tensor& in_b, const at::Tensor& out_w, const at::Tensor& out_b,
                     const at::Tensor& query, const at::Tensor& kv, const at::Tensor& blocked) {
  const int64_t d = query.size(-1);
  const at::Tensor q = at::linear(query, in_w.narrow(0, 0, d), in_b.narrow(0, 0, d)) / std::sqrt(static_cast<double>(d));
  const at::Tensor k = at::linear(kv, in_w.narrow(0, d, d), in_b.narrow(0, d, d));
  const at::Tensor v = at::linear(kv, in_w.narrow(0, 2 * d, d), in_b.narrow(0, 2 * d, d));
  const at::Tensor bias = at::zeros(blocked.sizes(), q.options().requires_grad(false)).masked_fill_(blocked, -INFINITY);
  const at::Tensor p = at::softmax(at::baddbmm(bias, q, k.transpose(1, 2)), -1);
  return at::linear(at::bmm(p, v), out_w, out_b);
}

// torch.optim.lr_scheduler.CosineAnnealingLR (eta_min 0) as torch 1.13 steps it: the recursive form
// of get_lr, from the learning rate of the previous step `lr` to that of step `epoch` (>= 1).
double CosineStep(double lr, double base_lr, int64_t epoch, int64_t t_max) {
  const int64_t period = 2 * t_max;
  const int64_t phase = (((epoch - 1 - t_max) % period) + period) % period;  // Python's modulo
  if (phase == 0) return lr + base_lr * (1.0 - std::cos(kPi / static_cast<double>(t_max))) / 2.0;
  return (1.0 + std::cos(kPi * static_cast<double>(epoch) / static_cast<double>(t_max))) /
         (1.0 + std::cos(kPi * static_cast<double>(epoch - 1) / static_cast<double>(t_max))) * lr;
}

}  // namespace

AttentionHead::AttentionHead(int64_t dim, int64_t outputs, const model::AttentionConfig& attention, uint64_t seed)
    : dim_(dim), outputs_(outputs), attention_(attention) {
  if (dim < 1 || outputs < 1) Bad("an attention head needs a feature size and outputs >= 1");
  if (attention.num_heads != 1) {
    Bad("num_heads " + std::to_string(attention.num_heads) +
        " is not supported: the reference passes a 3-D attention mask that torch accepts only with num_heads 1");
  }
  if (attention.num_queries < 1) Bad("num_queries must be >= 1");
  if (attention.blocks.empty()) Bad("the attention module needs at least one block (self, cross)");
  std::vector<std::string> seen;
  for (const std::string& b : attention.blocks) {
    if (b != "self" && b != "cross") Bad("attention block '" + b + "': expected \"self\" or \"cross\"");
    if (std::find(seen.begin(), seen.end(), b) != seen.end()) Bad("attention block '" + b + "' appears twice");
    seen.push_back(b);
  }
  c10::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const int64_t d = dim;
  auto add = [&](const std::string& name, at::Tensor t) { params_.emplace_back(name, t.contiguous().requires_grad_(true)); };
  auto block = [&](const std::string& kind) {
    if (std::find(seen.begin(), seen.end(), kind) == seen.end()) return;
    const std::string p = BlockPrefix(kind);
    const double xavier = std::sqrt(6.0 / static_cast<double>(d + 3 * d));  // fan_in d, fan_out 3d
    const double kaiming = 1.0 / std::sqrt(static_cast<double>(d));         // kaiming_uniform(a = sqrt 5)
    add(p + "multihead_attn.in_proj_weight", at::empty({3 * d, d}, f32).uniform_(-xavier, xavier, gen));
    add(p + "multihead_attn.in_proj_bias", at::zeros({3 * d}, f32));
    add(p + "multihead_attn.out_proj.weight", at::empty({d, d}, f32).uniform_(-kaiming, kaiming, gen));
    add(p + "multihead_attn.out_proj.bias", at::zeros({d}, f32));
    add(p + "norm.weight", at::ones({d}, f32));
    add(p + "norm.bias", at::zeros({d}, f32));
  };
  block("self");
  block("cross");
  if (attention.HasCross()) add("attention_module.cross_attention.learned_queries", at::randn({attention.num_queries, d}, gen, f32));
  add("classifier.weight", at::empty({outputs, d}, f32).normal_(0.0, 0.01, gen));
  add("classifier.bias", at::zeros({outputs}, f32));
}

at::Tensor AttentionHead::Param(const std::string& name) const {
  for (const auto& [n, t] : params_) {
    if (n == name) return t;
  }
  Bad("attention head: no parameter " + name);
}

void AttentionHead::SetWeights(const std::vector<std::pair<std::string, at::Tensor>>& named) {
  if (named.size() != params_.size()) {
    Bad("attention head: " + std::to_string(named.size()) + " tensors given for " + std::to_string(params_.size()) + " parameters");
  }
  c10::NoGradGuard no_grad;
  for (const auto& [name, value] : named) {
    at::Tensor p = Param(name);
    if (value.sizes() != p.sizes()) Bad("attention head: tensor " + name + " does not have the parameter's shape");
    p.copy_(value.to(at::kFloat));
  }
}

at::Tensor AttentionHead::Forward(const std::vector<at::Tensor>& inputs) const {
  if (inputs.empty()) Bad("attention head: no volume");
  int64_t longest = 0;
  for (const at::Tensor& in : inputs) {
    if (in.dim() != 2 || in.size(0) < 1 || in.size(1) != dim_) {
      Bad("attention head: a volume input must be (T >= 1, " + std::to_string(dim_) + ") rows");
    }
    longest = std::max(longest, in.size(0));
  }
  std::vector<at::Tensor> padded;
  for (const at::Tensor& in : inputs) {
    const at::Tensor x = in.to(at::kFloat);
    padded.push_back(x.size(0) == longest ? x : at::constant_pad_nd(x, {0, 0, 0, longest - x.size(0)}, 0.0));
  }
  at::Tensor x = at::stack(padded, 0);  // (B, T, D), zero rows past each volume's tokens
  const int64_t b = x.size(0), d = dim_;
  for (const std::string& name : attention_.blocks) {
    // Validity is recomputed from the current x at every block, as the reference does.
    at::Tensor valid;
    {
      c10::NoGradGuard no_grad;
      valid = (x != 0).any(-1);  // (B, T)
    }
    const std::string p = BlockPrefix(name);
    const at::Tensor in_w = Param(p + "multihead_attn.in_proj_weight"), in_b = Param(p + "multihead_attn.in_proj_bias");
    const at::Tensor out_w = Param(p + "multihead_attn.out_proj.weight"), out_b = Param(p + "multihead_attn.out_proj.bias");
    const at::Tensor norm_w = Param(p + "norm.weight"), norm_b = Param(p + "norm.bias");
    if (name == "self") {
      const at::Tensor blocked = valid.unsqueeze(2) != valid.unsqueeze(1);  // real <-> real, pad <-> pad
      x = at::layer_norm(x + Attention(in_w, in_b, out_w, out_b, x, x, blocked), {d}, norm_w, norm_b, kLayerNormEps);
    } else {
      const at::Tensor queries = Param("attention_module.cross_attention.learned_queries");
      const at::Tensor q = queries.unsqueeze(0).expand({b, queries.size(0), d});
      const at::Tensor blocked = valid.logical_not().unsqueeze(1).expand({b, q.size(1), x.size(1)});
      x = at::layer_norm(q + Attention(in_w, in_b, out_w, out_b, q, x, blocked), {d}, norm_w, norm_b, kLayerNormEps);
    }
  }
  return at::linear(x.mean(1), Param("classifier.weight"), Param("classifier.bias"));
}

TrainSet TrainSetFromStore(const train::FeatureStore& store, const std::vector<std::size_t>& rows) {
  if (!store.IsTokens3d()) Bad("the feature store holds \"" + store.feature + "\" features, not \"tokens3d\" volume tokens");
  if (rows.empty()) Bad("no case to train on");
  TrainSet set;
  set.regression = store.cases[rows[0]].target.has_value();
  for (std::size_t i : rows) {
    const train::FeatureCase& c = store.cases[i];
    if (c.target.has_value() != set.regression) {
      Bad("case " + c.id + (set.regression ? " has a label" : " has a target") + ": a store is either classification or regression");
    }
    if (!set.regression) set.classes.push_back(c.label);
  }
  std::sort(set.classes.begin(), set.classes.end());
  set.classes.erase(std::unique(set.classes.begin(), set.classes.end()), set.classes.end());
  if (!set.regression && set.classes.size() < 2) {
    Bad("every training case has the label '" + set.classes[0] + "': two classes at least are needed");
  }
  const auto d = static_cast<int64_t>(store.token_dim);
  for (std::size_t i : rows) {
    const auto t = static_cast<int64_t>(store.TokenCount(i));
    set.inputs.push_back(at::from_blob(const_cast<float*>(store.CaseTokens(i)), {t, d}, at::TensorOptions().dtype(at::kFloat)).clone());
    const train::FeatureCase& c = store.cases[i];
    if (set.regression) {
      set.targets.push_back(*c.target);
    } else {
      set.labels.push_back(std::lower_bound(set.classes.begin(), set.classes.end(), c.label) - set.classes.begin());
    }
  }
  return set;
}

std::vector<std::vector<std::size_t>> EpochOrders(std::size_t n, int64_t epochs, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<std::size_t>> orders;
  for (int64_t e = 0; e < epochs; ++e) {
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    for (std::size_t i = n; i > 1; --i) {  // Fisher-Yates with our own draw: the same on every platform
      const std::size_t j = static_cast<std::size_t>(rng() % i);
      std::swap(order[i - 1], order[j]);
    }
    orders.push_back(std::move(order));
  }
  return orders;
}

TrainReport Train(AttentionHead& head, const TrainSet& data, const TrainOptions& options,
                  std::vector<std::vector<std::size_t>> orders) {
  const std::size_t n = data.inputs.size();
  if (n == 0) Bad("no case to train on");
  if (options.batch < 1 || options.epochs < 1) Bad("epochs and batch must be >= 1");
  if (data.regression ? data.targets.size() != n : data.labels.size() != n) Bad("one label or target per case");
  if (data.regression && head.outputs() != 1) Bad("a regression head has one output");
  for (std::size_t i = 0; i < n; ++i) {
    const at::Tensor& x = data.inputs[i];
    if (x.dim() != 2 || x.size(0) < 1 || x.size(1) != head.dim()) {
      Bad("case " + std::to_string(i) + ": its tokens are not (T >= 1, " + std::to_string(head.dim()) + ") rows");
    }
    if (!data.regression && (data.labels[i] < 0 || data.labels[i] >= head.outputs())) {
      Bad("case " + std::to_string(i) + ": label " + std::to_string(data.labels[i]) + " is not one of the head's " +
          std::to_string(head.outputs()) + " classes");
    }
  }
  const int64_t per_epoch_floor = static_cast<int64_t>(n) / options.batch;
  if (per_epoch_floor == 0) {
    Bad(std::to_string(n) + " training cases are fewer than one batch of " + std::to_string(options.batch) +
        ": the cosine schedule over (N // batch) * epochs steps would be empty; give a smaller --batch");
  }
  if (orders.empty()) orders = EpochOrders(n, options.epochs, options.seed);
  if (static_cast<int64_t>(orders.size()) != options.epochs) Bad("one case order per epoch");
  for (const auto& order : orders) {
    std::vector<std::size_t> sorted(order);
    std::sort(sorted.begin(), sorted.end());
    bool permutation = sorted.size() == n;
    for (std::size_t i = 0; permutation && i < n; ++i) permutation = sorted[i] == i;
    if (!permutation) Bad("an epoch's case order must be a permutation of the cases");
  }
  TrainReport report;
  report.schedule_steps = per_epoch_floor * options.epochs;
  const double base_lr = options.learning_rate * static_cast<double>(options.batch) / 256.0;
  double lr = base_lr;
  std::vector<at::Tensor> params, momentum;
  for (const auto& [name, p] : head.Parameters()) params.push_back(p);
  momentum.resize(params.size());
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    const auto& order = orders[static_cast<std::size_t>(epoch)];
    double epoch_loss = 0.0;
    for (std::size_t start = 0; start < n; start += static_cast<std::size_t>(options.batch)) {
      const std::size_t end = std::min(n, start + static_cast<std::size_t>(options.batch));
      std::vector<at::Tensor> inputs;
      std::vector<int64_t> labels;
      std::vector<float> targets;
      for (std::size_t k = start; k < end; ++k) {
        inputs.push_back(data.inputs[order[k]]);
        if (data.regression) {
          targets.push_back(static_cast<float>(data.targets[order[k]]));
        } else {
          labels.push_back(data.labels[order[k]]);
        }
      }
      const at::Tensor logits = head.Forward(inputs);
      at::Tensor loss;
      if (data.regression) {
        const at::Tensor y = at::tensor(targets, at::TensorOptions().dtype(at::kFloat));
        loss = at::mse_loss(logits.reshape({-1}), y);
      } else {
        loss = at::cross_entropy_loss(logits, at::tensor(labels, at::TensorOptions().dtype(at::kLong)));
      }
      loss.backward();
      const double value = loss.item<double>();
      report.step_losses.push_back(value);
      epoch_loss += value * static_cast<double>(end - start);
      {
        c10::NoGradGuard no_grad;
        // clip_grad_norm_(max_norm): the 2-norm of the parameters' gradient norms; every gradient
        // times min(1, max_norm / (norm + 1e-6)).
        std::vector<at::Tensor> norms;
        for (const at::Tensor& p : params) norms.push_back(p.grad().norm(2));
        const at::Tensor total = at::stack(norms).norm(2);
        const at::Tensor coef = at::clamp_max(options.max_grad_norm / (total + 1e-6), 1.0);
        // torch.optim.SGD (momentum, dampening 0, no weight decay, not Nesterov).
        for (std::size_t i = 0; i < params.size(); ++i) {
          at::Tensor g = params[i].mutable_grad();
          g.mul_(coef);
          if (options.momentum != 0.0) {
            if (!momentum[i].defined()) {
              momentum[i] = g.clone();
            } else {
              momentum[i].mul_(options.momentum).add_(g);
            }
            params[i].add_(momentum[i], -lr);
          } else {
            params[i].add_(g, -lr);
          }
          params[i].mutable_grad() = at::Tensor();
        }
      }
      ++report.steps;
      lr = CosineStep(lr, base_lr, report.steps, report.schedule_steps);
    }
    report.final_epoch_loss = epoch_loss / static_cast<double>(n);
  }
  report.final_learning_rate = lr;
  return report;
}

void CheckGeometry(const train::FeatureStore& store, const model::HeadConfig& head, const std::string& source) {
  if (!store.IsTokens3d() || !store.geometry) Bad("the feature store holds \"" + store.feature + "\" features, not \"tokens3d\" volume tokens");
  const train::VolumeGeometry wanted = train::GeometryOf(head, source);
  if (wanted != *store.geometry) {
    Bad("the feature store's tokens were made for the head geometry " + store.geometry->ToString() + ", but " + source +
        " has " + wanted.ToString() + ": make the features again for this head");
  }
}

model::HeadConfig HeadConfigFor(const train::FeatureStore& store, const AttentionHead& head, const TrainSet& data) {
  if (!store.geometry) Bad("the feature store does not say the head geometry of its tokens");
  model::HeadConfig cfg;
  cfg.model_name = store.model_name;
  cfg.num_classes = head.outputs();
  cfg.regression = data.regression;
  cfg.labels = data.regression ? std::vector<std::string>{"value"} : data.classes;
  if (static_cast<int64_t>(cfg.labels.size()) != cfg.num_classes) Bad("the head's outputs and the labels differ in number");
  cfg.attention = head.attention();
  cfg.num_slices = store.geometry->num_slices;
  cfg.kernel_size = store.geometry->kernel_size;
  cfg.use_class_token = store.geometry->use_class_token;
  cfg.use_avgpool_per_slice = store.geometry->use_avgpool_per_slice;
  cfg.use_n_blocks = store.geometry->use_n_blocks;
  return cfg;
}

void WriteHead(const std::string& dir, const AttentionHead& head, const model::HeadConfig& config) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) Bad(dir + ": cannot create folder (" + ec.message() + ")");
  model::SafetensorsWriter out;
  out.SetMetadata("format", "pt");
  for (const auto& [name, p] : head.Parameters()) {
    const at::Tensor t = p.detach().to(at::kFloat).contiguous();
    out.AddFloat32(name, t.sizes().vec(), t.data_ptr<float>());
  }
  out.Write(dir + "/model.safetensors");
  config::WriteFileAtomic(dir + "/config.json", {config::Dump(model::HeadConfigToJson(config)) + "\n"});
}

}  // namespace curia::train_nn
