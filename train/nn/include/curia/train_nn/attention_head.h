// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Training a 3-D attention head (curia-model.md §5.3) on a "tokens3d" feature store, with the
// reference trainer's recipe (training.md §1): the attention module (self / cross blocks,
// single-head nn.MultiheadAttention, LayerNorm eps 1e-5, learned queries) and a linear classifier,
// SGD with momentum 0.9 and no weight decay at lr * batch / 256, CosineAnnealingLR to 0 over
// (N // batch) * epochs steps stepped per step, gradient clipping at global norm 1.0,
// cross-entropy (MSE on the raw target for regression). Batches are zero-padded to their longest
// volume, as the inference head pads (nn::TaskHead::LogitsFromInputs).
//
//   AttentionHead head(/*dim=*/768, /*outputs=*/3, attention, /*seed=*/7);
//   TrainSet data = TrainSetFromStore(store, store.Rows("train"));
//   TrainReport r = Train(head, data, TrainOptions{});
//   WriteHead("heads/covid", head, HeadConfigFor(store, head, data));
//
// Determinism: the initial weights come from a generator seeded with `seed`, the case order from
// std::mt19937_64 seeded with TrainOptions::seed; no global random state is used. The same seed on
// the same machine and the same number of intra-op threads (at::set_num_threads) gives the same
// weights. Tensors are float32 on the CPU; inputs are (T_i, D) rows.
// Thread safety: an AttentionHead is a mutable value; train one head per thread.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "curia/model/head_config.h"
#include "curia/train/feature_store.h"

namespace curia::train_nn {

class AttentionHead {
 public:
  // Fresh weights as the reference initialises them: in_proj xavier-uniform, out_proj
  // kaiming-uniform(a = sqrt 5), biases 0, LayerNorm 1 / 0, learned queries N(0, 1), classifier
  // weight N(0, 0.01) and bias 0. Throws kInvalidArgument for num_heads != 1 (the reference's 3-D
  // attention mask needs one head), unknown or repeated blocks, no block.
  AttentionHead(int64_t dim, int64_t outputs, const model::AttentionConfig& attention, uint64_t seed);

  int64_t dim() const { return dim_; }
  int64_t outputs() const { return outputs_; }
  const model::AttentionConfig& attention() const { return attention_; }

  // The trainable tensors under their model.safetensors names, in a fixed order (the self block,
  // the cross block, the learned queries, the classifier).
  const std::vector<std::pair<std::string, at::Tensor>>& Parameters() const { return params_; }
  // Replaces every parameter's values (same names and shapes; throws kInvalidArgument otherwise).
  void SetWeights(const std::vector<std::pair<std::string, at::Tensor>>& named);

  // Logits (B, C) of B volume inputs (T_i, D), zero-padded to the longest: the inference head's
  // AttentionModule and classifier, differentiable.
  at::Tensor Forward(const std::vector<at::Tensor>& inputs) const;

 private:
  at::Tensor Param(const std::string& name) const;
  int64_t dim_, outputs_;
  model::AttentionConfig attention_;
  std::vector<std::pair<std::string, at::Tensor>> params_;
};

struct TrainSet {
  std::vector<at::Tensor> inputs;  // (T_i, D) float32
  std::vector<int64_t> labels;     // classification: class index per case
  std::vector<double> targets;     // regression: the raw target per case
  bool regression = false;
  std::vector<std::string> classes;  // classification: sorted class names (index -> name)
};

// The cases `rows` of a "tokens3d" store. Classification labels are sorted class names; throws
// kInvalidArgument for another kind of store, no case, a mix of labels and targets, or a single
// class ("two classes at least").
TrainSet TrainSetFromStore(const train::FeatureStore& store, const std::vector<std::size_t>& rows);

struct TrainOptions {
  int64_t epochs = 20;
  int64_t batch = 64;
  double learning_rate = 2e-4;  // before scaling by batch / 256
  double momentum = 0.9;
  double max_grad_norm = 1.0;
  uint64_t seed = 0;  // the case order
};

struct TrainReport {
  int64_t steps = 0;
  int64_t schedule_steps = 0;  // T_max = (N // batch) * epochs
  std::vector<double> step_losses;
  double final_epoch_loss = 0.0;  // mean loss over the cases of the last epoch
  double final_learning_rate = 0.0;
};

// The case order of each epoch: a permutation of 0..n-1 per epoch (Fisher-Yates with
// std::mt19937_64(seed)).
std::vector<std::vector<std::size_t>> EpochOrders(std::size_t n, int64_t epochs, uint64_t seed);

// Trains `head` in place: every epoch walks its order in batches of `batch` (the last may be
// smaller), one optimiser step per batch. `orders`: one permutation per epoch (EpochOrders when
// empty). Throws kInvalidArgument for an empty set, a batch < 1, inputs not (T >= 1, dim), labels
// out of range.
TrainReport Train(AttentionHead& head, const TrainSet& data, const TrainOptions& options,
                  std::vector<std::vector<std::size_t>> orders = {});

// Refuses (kInvalidArgument, naming both geometries) a store whose tokens were made for another
// head geometry than `head`'s (its config.json at `source`), or a head that is not an attention head.
void CheckGeometry(const train::FeatureStore& store, const model::HeadConfig& head, const std::string& source);

// The published config of a trained head: the store's geometry, the head's attention, the labels.
model::HeadConfig HeadConfigFor(const train::FeatureStore& store, const AttentionHead& head, const TrainSet& data);

// Writes <dir>/config.json and <dir>/model.safetensors (attention_module.*, classifier.*, float32)
// as nn::TaskHead::Load reads them.
void WriteHead(const std::string& dir, const AttentionHead& head, const model::HeadConfig& config);

}  // namespace curia::train_nn
