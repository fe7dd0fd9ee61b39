// SPDX-License-Identifier: GPL-3.0-or-later
// curia train-head on a "tokens3d" feature store: a 3-D attention head with the reference
// trainer's recipe (train/nn, docs/training.md).
#include "train3d_command.h"
#include "train_provenance.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <ctime>
#include <iostream>
#include <sstream>

#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/model/head_config.h"
#include "curia/train_nn/attention_head.h"
#include "version.h"

namespace curia::cli {
namespace {

double PositiveNumber(const ArgParser& p, const std::string& name) {
  const std::string text = p.Get(name);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(v > 0.0) || !std::isfinite(v)) throw UsageError(name + ": '" + text + "' is not a positive number");
  return v;
}

std::vector<std::string> Blocks(const std::string& text) {
  std::vector<std::string> blocks;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item != "self" && item != "cross") throw UsageError("--blocks: '" + item + "' is not self or cross");
    blocks.push_back(item);
  }
  if (blocks.empty()) throw UsageError("--blocks: no block");
  return blocks;
}

}  // namespace

void AddAttentionOptions(ArgParser& p) {
  p.Option("--epochs", "N", "3-D stores: epochs", false, "20")
      .Option("--batch", "N", "3-D stores: cases per step (the learning rate is scaled by batch / 256)", false, "64")
      .Option("--lr", "X", "3-D stores: SGD learning rate before scaling", false, "0.0002")
      .Option("--seed", "N", "3-D stores: seed of the initial weights and the case order", false, "0")
      .Option("--num-heads", "N", "3-D stores: attention heads (the reference runs 1 only)", false, "1")
      .Option("--num-queries", "N", "3-D stores: learned queries of the cross block", false, "4")
      .Option("--blocks", "LIST", "3-D stores: attention blocks in order", false, "self,cross")
      .Option("--like", "DIR", "3-D stores: a head folder whose geometry and attention_cfg to take (refused when the "
                               "store was made for another geometry)", false, "")
      .Option("--threads", "N", "3-D stores: intra-op threads (same seed and threads: same weights)", false, "1");
}

int TrainAttentionHead(const ArgParser& p, const train::FeatureStore& store, const std::vector<std::size_t>& rows) {
  model::AttentionConfig attention;
  attention.num_heads = p.GetInt("--num-heads", 1, 4096);
  attention.num_queries = p.GetInt("--num-queries", 1, 100000);
  attention.blocks = Blocks(p.Get("--blocks"));
  if (!p.Get("--like").empty()) {
    const std::string source = p.Get("--like") + "/config.json";
    const model::HeadConfig like = model::LoadHeadConfig(source);
    train_nn::CheckGeometry(store, like, source);
    attention = *like.attention;
  }
  train_nn::TrainOptions options;
  options.epochs = p.GetInt("--epochs", 1, 1000000);
  options.batch = p.GetInt("--batch", 1, 1000000);
  options.learning_rate = PositiveNumber(p, "--lr");
  options.seed = static_cast<uint64_t>(p.GetInt("--seed", 0, INT64_MAX));
  const int threads = static_cast<int>(p.GetInt("--threads", 1, 1024));
  at::set_num_threads(threads);

  const train_nn::TrainSet data = train_nn::TrainSetFromStore(store, rows);
  const int64_t outputs = data.regression ? 1 : static_cast<int64_t>(data.classes.size());
  train_nn::AttentionHead head(static_cast<int64_t>(store.token_dim), outputs, attention, options.seed);
  const model::HeadConfig config = train_nn::HeadConfigFor(store, head, data);
  std::cout << "attention head (" << (data.regression ? "regression" : std::to_string(outputs) + " classes") << ") on "
            << rows.size() << " volumes, " << store.token_dim << " features; " << options.epochs << " epochs, batch "
            << options.batch << ", lr " << options.learning_rate << " x " << options.batch << "/256" << std::endl;
  const train_nn::TrainReport report = train_nn::Train(head, data, options);
  train_nn::WriteHead(p.Get("--out"), head, config);

  config::Json prov = ProvenanceOf(store, p.Get("--split"), rows.size());
  prov["method"] = "attention head (self/cross attention + linear), SGD";
  prov["loss"] = data.regression ? "mean squared error on the raw target" : "cross-entropy";
  prov["epochs"] = static_cast<Json::Int64>(options.epochs);
  prov["batch"] = static_cast<Json::Int64>(options.batch);
  prov["learning_rate"] = options.learning_rate;
  prov["learning_rate_scaled"] = options.learning_rate * static_cast<double>(options.batch) / 256.0;
  prov["momentum"] = options.momentum;
  prov["weight_decay"] = 0.0;
  prov["max_grad_norm"] = options.max_grad_norm;
  prov["schedule"] = "CosineAnnealingLR to 0, stepped per step";
  prov["schedule_steps"] = static_cast<Json::Int64>(report.schedule_steps);
  prov["steps"] = static_cast<Json::Int64>(report.steps);
  prov["seed"] = static_cast<Json::UInt64>(options.seed);
  prov["threads"] = threads;
  prov["final_training_loss"] = report.final_epoch_loss;
  prov["final_step_loss"] = report.step_losses.back();
  prov["head_config"] = config::ParseJson(store.geometry->ToString(), "geometry");
  if (!data.regression) {
    config::Json labels(::Json::arrayValue);
    for (const auto& c : data.classes) labels.append(c);
    prov["labels"] = labels;
  }
  config::WriteFileAtomic(p.Get("--out") + "/provenance.json", {config::Dump(prov) + "\n"});
  std::cout << report.steps << " steps, final training loss " << report.final_epoch_loss << " (last epoch)\n"
            << "head written to " << p.Get("--out") << "\n";
  return 0;
}

}  // namespace curia::cli
