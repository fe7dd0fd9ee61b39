// SPDX-License-Identifier: GPL-3.0-or-later
// The 3-D attention-head trainer: the same weights as torch 1.13's nn.MultiheadAttention, SGD,
// CosineAnnealingLR and clip_grad_norm_ trained from the same start on the same batches
// (torch_reference.py); deterministic for a seed; it learns a separable problem; the head it
// writes loads in curia_nn and gives its own logits; `curia train-head` on a "tokens3d" store.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "curia/config/json.h"
#include "curia/model/safetensors.h"
#include "curia/nn/backbone.h"
#include "curia/nn/head.h"
#include "curia/nn/tensor_io.h"
#include "curia/train/feature_store.h"
#include "curia/train_nn/attention_head.h"
#include "test_support.h"

namespace curia::train_nn {
namespace {

constexpr int64_t kDim = 64;  // backbone_swiglu's hidden size: the written heads load on it

model::AttentionConfig Attention(std::vector<std::string> blocks = {"self", "cross"}, int64_t queries = 4) {
  model::AttentionConfig a;
  a.num_heads = 1;
  a.num_queries = queries;
  a.blocks = std::move(blocks);
  return a;
}

// n volumes of 2..5 token rows (the batches need padding): class k's rows are N(0, 1) noise plus
// 1.5 times a class direction; a regression target is the mean row's projection on a direction.
// The geometry is golden head3d's (num_slices 3, kernel 2, CLS).
train::FeatureStore Synthetic(int64_t n, int64_t classes, uint64_t seed, bool regression = false,
                              const std::string& backbone_digest = "") {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor means = at::randn({std::max<int64_t>(classes, 1), kDim}, gen);
  const at::Tensor direction = at::randn({kDim}, gen) / 8.0;
  train::FeatureStore s;
  s.backbone_digest = backbone_digest;
  s.model_name = "golden backbone_swiglu";
  s.feature = train::kTokens3dFeature;
  s.token_dim = kDim;
  train::VolumeGeometry g;
  g.num_slices = 3;
  g.kernel_size = 2;
  g.use_class_token = true;
  s.geometry = g;
  s.offsets = {0};
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = 2 + i % 4, k = classes > 0 ? i % classes : 0;
    const at::Tensor rows = (at::randn({t, kDim}, gen) + 1.5 * means[k]).contiguous();
    s.tokens.insert(s.tokens.end(), rows.data_ptr<float>(), rows.data_ptr<float>() + rows.numel());
    s.offsets.push_back(s.offsets.back() + t);
    train::FeatureCase c;
    c.id = "v" + std::to_string(i);
    if (regression) {
      c.target = rows.mean(0).dot(direction).item<double>();
    } else {
      c.label = "class" + std::to_string(k);
    }
    c.split = "train";
    s.cases.push_back(c);
  }
  return s;
}

double MaxDifference(const AttentionHead& a, const AttentionHead& b) {
  double worst = 0.0;
  for (std::size_t i = 0; i < a.Parameters().size(); ++i) {
    EXPECT_EQ(a.Parameters()[i].first, b.Parameters()[i].first);
    worst = std::max(worst, (a.Parameters()[i].second - b.Parameters()[i].second).abs().max().item<double>());
  }
  return worst;
}

at::Tensor Logits(const AttentionHead& head, const std::vector<at::Tensor>& inputs) {
  c10::NoGradGuard no_grad;
  return head.Forward(inputs);
}

TrainOptions Quick(int64_t epochs, int64_t batch, double lr, uint64_t seed) {
  TrainOptions o;
  o.epochs = epochs;
  o.batch = batch;
  o.learning_rate = lr;
  o.seed = seed;
  return o;
}

TEST(TrainAttentionHead, SameSeedSameWeightsAnotherSeedOthers) {
  const train::FeatureStore store = Synthetic(30, 3, 1);
  const TrainSet data = TrainSetFromStore(store, store.Rows(""));
  AttentionHead a(kDim, 3, Attention(), 5), b(kDim, 3, Attention(), 5), c(kDim, 3, Attention(), 6);
  AttentionHead untrained(kDim, 3, Attention(), 5);
  EXPECT_EQ(MaxDifference(a, untrained), 0.0);  // the initial weights follow the seed
  const TrainReport ra = Train(a, data, Quick(3, 8, 2.0, 5));
  const TrainReport rb = Train(b, data, Quick(3, 8, 2.0, 5));
  Train(c, data, Quick(3, 8, 2.0, 6));
  EXPECT_LE(MaxDifference(a, b), 1e-6);
  EXPECT_EQ(ra.step_losses, rb.step_losses);
  EXPECT_GT(MaxDifference(a, c), 1e-3);
  EXPECT_GT(MaxDifference(a, untrained), 1e-3);  // training moved the weights
  // 30 cases in batches of 8: 4 steps an epoch (the last of 6), the schedule over (30 // 8) * 3.
  EXPECT_EQ(ra.steps, 12);
  EXPECT_EQ(ra.schedule_steps, 9);
  // The case orders are seeded permutations, different per epoch.
  const auto orders = EpochOrders(30, 2, 5);
  EXPECT_EQ(orders, EpochOrders(30, 2, 5));
  EXPECT_NE(orders[0], orders[1]);
}

TEST(TrainAttentionHead, LearnsASeparableProblem) {
  const train::FeatureStore store = Synthetic(48, 3, 2);
  const TrainSet data = TrainSetFromStore(store, store.Rows(""));
  EXPECT_EQ(data.classes, (std::vector<std::string>{"class0", "class1", "class2"}));
  AttentionHead head(kDim, 3, Attention(), 3);
  const TrainReport r = Train(head, data, Quick(25, 8, 2.0, 3));
  const at::Tensor predicted = Logits(head, data.inputs).argmax(1);
  const at::Tensor truth = at::tensor(data.labels, at::TensorOptions().dtype(at::kLong));
  const double accuracy = predicted.eq(truth).to(at::kDouble).mean().item<double>();
  EXPECT_GE(accuracy, 0.95) << "final loss " << r.final_epoch_loss;
  EXPECT_LT(r.final_epoch_loss, 0.5 * r.step_losses.front());
  EXPECT_NEAR(r.final_learning_rate, 0.0, 1e-12);  // 48 = 6 batches of 8: the schedule ends at 0

  // Regression (MSE on the raw target): a target linear in the mean token is fitted far below its
  // variance.
  const train::FeatureStore values = Synthetic(48, 0, 2, /*regression=*/true);
  const TrainSet targets = TrainSetFromStore(values, values.Rows(""));
  const at::Tensor y = at::tensor(targets.targets, at::TensorOptions().dtype(at::kDouble));
  const double variance = (y - y.mean()).pow(2).mean().item<double>();
  AttentionHead regressor(kDim, 1, Attention(), 3);
  const TrainReport rr = Train(regressor, targets, Quick(40, 8, 2.0, 3));
  EXPECT_LT(rr.final_epoch_loss, 0.05 * variance) << "variance " << variance;
}

TEST(TrainAttentionHead, WrittenHeadLoadsAndGivesTheTrainersLogits) {
  auto backbone = nn::Dinov2Backbone::Load(test::GoldenPath("backbone_swiglu"), nn::BackboneOptions{});
  for (const bool regression : {false, true}) {
    const train::FeatureStore store = Synthetic(20, regression ? 0 : 2, 4, regression, backbone->digest());
    const TrainSet data = TrainSetFromStore(store, store.Rows("train"));
    AttentionHead head(kDim, regression ? 1 : 2, regression ? Attention({"cross"}, 2) : Attention(), 7);
    Train(head, data, Quick(4, 8, 2.0, 7));
    test::TempDir dir;
    WriteHead(dir.path(), head, HeadConfigFor(store, head, data));
    auto loaded = nn::TaskHead::Load(dir.path(), *backbone);
    const model::HeadConfig& cfg = loaded->config();
    EXPECT_TRUE(cfg.Is3D());
    EXPECT_EQ(cfg.regression, regression);
    EXPECT_EQ(cfg.labels, regression ? std::vector<std::string>{"value"} : data.classes);
    EXPECT_EQ(cfg.num_slices, std::optional<int64_t>(3));
    EXPECT_EQ(cfg.kernel_size, std::optional<int64_t>(2));
    EXPECT_TRUE(cfg.use_class_token);
    EXPECT_EQ(cfg.attention->blocks, head.attention().blocks);
    // The whole set as one zero-padded batch, and each volume alone.
    const at::Tensor ours = Logits(head, data.inputs);
    EXPECT_TRUE(test::AllClose(nn::ToFloatVector(loaded->LogitsFromInputs(data.inputs)), nn::ToFloatVector(ours), 1e-5));
    for (std::size_t i = 0; i < data.inputs.size(); ++i) {
      EXPECT_TRUE(test::AllClose(nn::ToFloatVector(loaded->VolumeLogitsFromInput(data.inputs[i])),
                                 nn::ToFloatVector(Logits(head, {data.inputs[i]})), 1e-5)) << i;
    }
  }
}

TEST(TrainAttentionHead, RefusesWhatItCannotTrain) {
  train::FeatureStore one = Synthetic(12, 1, 5);
  EXPECT_EQ(test::ErrorMessage([&] { TrainSetFromStore(one, one.Rows("")); }),
            "every training case has the label 'class0': two classes at least are needed");
  // A store made for golden head3d's geometry, and a head of another (no kernel pooling).
  const train::FeatureStore store = Synthetic(12, 2, 5);
  model::HeadConfig other = model::LoadHeadConfig(test::GoldenPath("head3d/config.json"));
  EXPECT_EQ(test::ErrorMessage([&] { CheckGeometry(store, other, "head3d/config.json"); }), "no error");
  other.kernel_size.reset();
  EXPECT_EQ(test::ErrorMessage([&] { CheckGeometry(store, other, "other/config.json"); }),
            "the feature store's tokens were made for the head geometry {\"kernel_size\":2,\"num_slices\":3,"
            "\"use_avgpool_per_slice\":false,\"use_class_token\":true,\"use_n_blocks\":1}, but other/config.json has "
            "{\"kernel_size\":null,\"num_slices\":3,\"use_avgpool_per_slice\":false,\"use_class_token\":true,"
            "\"use_n_blocks\":1}: make the features again for this head");
  model::AttentionConfig two = Attention();
  two.num_heads = 2;
  EXPECT_NE(test::ErrorMessage([&] { AttentionHead(kDim, 2, two, 0); }).find("num_heads 2 is not supported"), std::string::npos);
  const TrainSet data = TrainSetFromStore(store, store.Rows(""));
  AttentionHead head(kDim, 2, Attention(), 0);
  EXPECT_EQ(test::ErrorMessage([&] { Train(head, data, Quick(1, 16, 1.0, 0)); }),
            "12 training cases are fewer than one batch of 16: the cosine schedule over (N // batch) * epochs steps "
            "would be empty; give a smaller --batch");
  EXPECT_EQ(test::ErrorMessage([&] { Train(head, data, Quick(1, 4, 1.0, 0), {{}}); }),
            "an epoch's case order must be a permutation of the cases");
  AttentionHead narrow(32, 2, Attention(), 0);
  EXPECT_EQ(test::ErrorMessage([&] { Train(narrow, data, Quick(1, 4, 1.0, 0)); }),
            "case 0: its tokens are not (T >= 1, 32) rows");
}

bool HaveTorch() {
  static const bool have = test::RunShell("/usr/bin/python3 -c 'import torch, numpy' 2>/dev/null").status == 0;
  return have;
}

void AddInt64(model::SafetensorsWriter& w, const std::string& name, const std::vector<int64_t>& shape,
              const std::vector<int64_t>& values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(int64_t));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  w.Add(name, model::DType::kI64, shape, std::move(bytes));
}

// Trains from the same initial weights on the same batches here and in torch
// (tests/unit/train_nn/torch_reference.py): 2 epochs of 20 cases in batches of 8 (a partial batch
// each epoch, and steps past the schedule's T_max = 4, where CosineAnnealingLR climbs again).
// Measured: weights within 1.5e-8, step losses within 2.4e-7 (float32 rounding).
struct TorchCase {
  bool regression;
  model::AttentionConfig attention;
  std::string name;
};

TEST(TrainAttentionHead, MatchesTorchTrainingFromTheSameStart) {
  if (!HaveTorch()) GTEST_SKIP() << "/usr/bin/python3 cannot import torch (Debian's python3-torch)";
  const std::vector<TorchCase> cases = {{false, Attention(), "classes"}, {true, Attention({"self", "cross"}, 2), "regression"}};
  const TrainOptions options = Quick(2, 8, 2.0, 0);
  const auto orders = EpochOrders(20, 2, 10);
  test::TempDir dir;
  std::string command = "/usr/bin/python3 " + test::TestDataPath("unit/train_nn/torch_reference.py");
  for (const TorchCase& c : cases) {
    const train::FeatureStore store = Synthetic(20, c.regression ? 0 : 3, 8, c.regression);
    const TrainSet data = TrainSetFromStore(store, store.Rows(""));
    const AttentionHead head(kDim, c.regression ? 1 : 3, c.attention, 9);
    model::SafetensorsWriter in;
    for (const auto& [name, p] : head.Parameters()) {
      const at::Tensor t = p.detach().contiguous();
      in.AddFloat32(name, t.sizes().vec(), t.data_ptr<float>());
    }
    const auto rows = static_cast<int64_t>(store.tokens.size() / store.token_dim);
    in.AddFloat32("tokens", {rows, kDim}, store.tokens);
    AddInt64(in, "offsets", {21}, store.offsets);
    if (c.regression) {
      in.AddFloat32("targets", {20}, std::vector<float>(data.targets.begin(), data.targets.end()));
    } else {
      AddInt64(in, "labels", {20}, data.labels);
    }
    std::vector<int64_t> flat;
    for (const auto& order : orders) flat.insert(flat.end(), order.begin(), order.end());
    AddInt64(in, "orders", {2, 20}, flat);
    in.Write(dir.File(c.name + "-in.safetensors"));
    config::Json opt(::Json::objectValue);
    opt["lr"] = options.learning_rate;
    opt["batch"] = static_cast<Json::Int64>(options.batch);
    opt["epochs"] = static_cast<Json::Int64>(options.epochs);
    opt["momentum"] = options.momentum;
    opt["max_grad_norm"] = options.max_grad_norm;
    opt["regression"] = c.regression;
    for (const auto& b : c.attention.blocks) opt["blocks"].append(b);
    command += " " + dir.File(c.name + "-in.safetensors") + " " + dir.File(c.name + "-out.safetensors") + " '" +
               config::Dump(opt, -1) + "'";
  }
  const test::ShellResult py = test::RunShell(command);
  ASSERT_EQ(py.status, 0) << py.output;
  for (const TorchCase& c : cases) {
    SCOPED_TRACE(c.name);
    const train::FeatureStore store = Synthetic(20, c.regression ? 0 : 3, 8, c.regression);
    const TrainSet data = TrainSetFromStore(store, store.Rows(""));
    AttentionHead head(kDim, c.regression ? 1 : 3, c.attention, 9);
    const AttentionHead untrained(kDim, c.regression ? 1 : 3, c.attention, 9);
    const TrainReport r = Train(head, data, options, orders);
    auto out = model::SafetensorsFile::Open(dir.File(c.name + "-out.safetensors"));
    ASSERT_EQ(r.steps, 6);
    const std::vector<double> losses = model::ToFloat64(out->Get("losses", {6}));
    for (std::size_t i = 0; i < losses.size(); ++i) EXPECT_NEAR(r.step_losses[i], losses[i], 1e-5) << "step " << i;
    for (std::size_t i = 0; i < head.Parameters().size(); ++i) {
      const auto& [name, p] = head.Parameters()[i];
      const at::Tensor t = p.detach().contiguous();
      const std::vector<float> ours(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
      EXPECT_TRUE(test::AllClose(ours, out->Get(name, t.sizes().vec()), 1e-6)) << name;
      // Every tensor moved (none is compared at its initial value alone), the LayerNorms included.
      EXPECT_GT((p - untrained.Parameters()[i].second).abs().max().item<double>(), 1e-4) << name;
    }
  }
}

// `curia train-head` on a "tokens3d" store: the head, its provenance, the same bytes for the same
// seed, and --like refusing a head of another geometry.
TEST(TrainAttentionHead, TrainHeadCommandOnATokens3dStore) {
  auto backbone = nn::Dinov2Backbone::Load(test::GoldenPath("backbone_swiglu"), nn::BackboneOptions{});
  test::TempDir dir;
  train::WriteFeatureStore(dir.File("store"), Synthetic(24, 2, 11, false, backbone->digest()));
  const std::vector<std::string> args = {"train-head", "--features", dir.File("store"), "--epochs", "2",
                                         "--batch", "8", "--lr", "2", "--num-queries", "2"};
  auto run = [&](const std::string& out, std::vector<std::string> extra = {}, const std::string& seed = "3") {
    std::vector<std::string> a = args;
    a.insert(a.end(), {"--out", dir.File(out), "--seed", seed});
    a.insert(a.end(), extra.begin(), extra.end());
    return test::RunTool(a);
  };
  const test::ToolResult first = run("a");
  ASSERT_EQ(first.status, 0) << first.err;
  EXPECT_NE(first.out.find("attention head (2 classes) on 24 volumes, 64 features"), std::string::npos) << first.out;
  ASSERT_EQ(run("b").status, 0);
  EXPECT_EQ(test::ReadFile(dir.File("a/model.safetensors")), test::ReadFile(dir.File("b/model.safetensors")));
  const config::Json prov = config::ParseJsonFile(dir.File("a/provenance.json"));
  EXPECT_EQ(prov["backbone_digest"].asString(), backbone->digest());
  EXPECT_EQ(prov["feature_store_digest"].asString(), train::LoadFeatureStore(dir.File("store")).digest);
  EXPECT_EQ(prov["steps"].asInt(), 6);
  EXPECT_DOUBLE_EQ(prov["learning_rate_scaled"].asDouble(), 2.0 * 8 / 256);
  EXPECT_TRUE(prov["final_training_loss"].isDouble());
  auto head = nn::TaskHead::Load(dir.File("a"), *backbone);
  EXPECT_EQ(head->config().attention->num_queries, 2);
  EXPECT_EQ(prov["seed"].asInt(), 3);
  // --like: golden head3d has this store's geometry (and 4 queries); a copy without kernel pooling does not.
  ASSERT_EQ(run("d", {"--like", test::GoldenPath("head3d")}).status, 0);
  EXPECT_EQ(nn::TaskHead::Load(dir.File("d"), *backbone)->config().attention->num_queries, 4);
  std::filesystem::create_directories(dir.File("other"));
  config::Json cfg = config::ParseJsonFile(test::GoldenPath("head3d/config.json"));
  cfg["kernel_size"] = Json::Value();
  test::WriteFile(dir.File("other/config.json"), config::Dump(cfg));
  const test::ToolResult refused = run("e", {"--like", dir.File("other")});
  EXPECT_NE(refused.status, 0);
  EXPECT_NE(refused.err.find("make the features again for this head"), std::string::npos) << refused.err;
  EXPECT_FALSE(std::filesystem::exists(dir.File("e/model.safetensors")));
}

}  // namespace
}  // namespace curia::train_nn
