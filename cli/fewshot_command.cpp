// SPDX-License-Identifier: GPL-3.0-or-later
// curia fewshot: learning curves of a linear head on a feature store. For each k, R seeded draws of k
// training cases per class, a logistic regression fitted on each draw, its AUROC, balanced accuracy
// and accuracy on the fixed test split; fewshot.json and fewshot.png (docs/training.md).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <sstream>

#include "commands.h"
#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/report/image.h"
#include "curia/report/plot.h"
#include "curia/train/feature_store.h"
#include "curia/train/logistic.h"
#include "curia/train/metrics.h"
#include "curia/train/sampling.h"
#include "version.h"

namespace curia::cli {
namespace {

constexpr std::size_t kAll = 0;  // the k that stands for "every training case"

std::vector<std::size_t> ParseKs(const std::string& text) {
  std::vector<std::size_t> ks;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item == "all") {
      ks.push_back(kAll);
      continue;
    }
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || end == item.c_str() || *end != '\0' || v < 1 || v > 1000000) {
      throw UsageError("--k: '" + item + "' is not a positive whole number (or \"all\")");
    }
    ks.push_back(static_cast<std::size_t>(v));
  }
  if (ks.empty()) throw UsageError("--k: no values");
  std::vector<std::size_t> sorted = ks;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) throw UsageError("--k: a value is given twice");
  return ks;
}

struct Summary {
  std::vector<double> values;
  double mean = 0.0, sd = 0.0, min = 0.0, max = 0.0;
};

Summary Summarise(const std::vector<double>& v) {
  Summary s;
  s.values = v;
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    double ss = 0.0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.sd = std::sqrt(ss / static_cast<double>(v.size() - 1));
  }
  return s;
}

config::Json SummaryJson(const Summary& s) {
  config::Json j(::Json::objectValue);
  j["mean"] = s.mean;
  j["sd"] = s.sd;
  j["min"] = s.min;
  j["max"] = s.max;
  config::Json values(::Json::arrayValue);
  for (double v : s.values) values.append(v);
  j["values"] = values;
  return j;
}

std::string F3(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

}  // namespace

int FewshotCommand(const Args& args) {
  ArgParser p("curia fewshot",
              "Learning curves: how a linear head's quality grows with the number of labelled cases. For\n"
              "each k, --repeats seeded draws of k training cases per class (without replacement), an L2\n"
              "logistic regression fitted on each draw with the fixed --C, and its AUROC (one-vs-rest macro\n"
              "for more than two classes), balanced accuracy and accuracy on the whole test split. C is\n"
              "fixed, not cross-validated: with one case per class there is nothing to cross-validate on.\n"
              "Writes fewshot.json (each repeat's values, mean, SD, min, max per k) and fewshot.png.\n"
              "Classification stores only.");
  p.Option("--features", "DIR", "feature store (features.safetensors + index.json)", true)
      .Option("--out", "DIR", "folder to write fewshot.json and fewshot.png into", true)
      .Option("--train-split", "NAME", "the cases drawn from", false, "train")
      .Option("--test-split", "NAME", "the fixed cases every fit is evaluated on", false, "test")
      .Option("--k", "K,K,...", "cases per class, or \"all\" (default: 1, 2, 4, ... up to the smallest class, and all)",
              false, "")
      .Option("--repeats", "R", "draws per k", false, "5")
      .Option("--seed", "N", "seed of the draws (the same seed gives the same curves)", false, "42")
      .Option("--C", "C", "inverse regularisation strength of every fit", false, "1.0")
      .Flag("--balanced", "class weights n / (K n_k) (scikit-learn's \"balanced\")");
  if (!p.Parse(args)) return 0;
  const int repeats = static_cast<int>(p.GetInt("--repeats", 1, 1000));
  const uint64_t seed = static_cast<uint64_t>(p.GetInt("--seed", 0, INT64_MAX));
  char* end = nullptr;
  const std::string c_text = p.Get("--C");  // kept: `end` points into it
  const double c = std::strtod(c_text.c_str(), &end);
  if (*end != '\0' || !(c > 0.0) || !std::isfinite(c)) throw UsageError("--C: '" + p.Get("--C") + "' is not a positive number");
  std::vector<std::size_t> ks = p.Get("--k").empty() ? std::vector<std::size_t>{} : ParseKs(p.Get("--k"));

  const std::string features = p.Get("--features");
  const train::FeatureStore store = train::LoadFeatureStore(features);
  const std::string train_split = p.Get("--train-split"), test_split = p.Get("--test-split");
  const std::vector<std::size_t> train_rows = store.Rows(train_split), test_rows = store.Rows(test_split);
  if (train_rows.empty()) throw Error(ErrorCode::kInvalidArgument, features + ": no cases in training split '" + train_split + "'");
  if (test_rows.empty()) throw Error(ErrorCode::kInvalidArgument, features + ": no cases in test split '" + test_split + "'");
  if (train_split == test_split) {
    throw UsageError("--train-split and --test-split are both '" + train_split + "': the test cases must be others");
  }
  for (std::size_t i : train_rows) {
    if (store.cases[i].target) {
      throw Error(ErrorCode::kInvalidArgument, features + ": case " + store.cases[i].id +
                                                   " has a numeric target: fewshot takes classification stores only "
                                                   "(labels), not regression");
    }
  }
  std::vector<std::string> classes;
  for (std::size_t i : train_rows) classes.push_back(store.cases[i].label);
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  if (classes.size() < 2) {
    throw Error(ErrorCode::kInvalidArgument, "every case of training split '" + train_split + "' has the label '" +
                                                 classes[0] + "': two classes at least are needed");
  }
  const int num_classes = static_cast<int>(classes.size());
  auto class_of = [&](std::size_t i) { return static_cast<int>(std::lower_bound(classes.begin(), classes.end(), store.cases[i].label) - classes.begin()); };
  std::vector<std::vector<std::size_t>> per_class(classes.size());
  for (std::size_t i : train_rows) per_class[class_of(i)].push_back(i);
  std::vector<int> y_test;
  std::vector<std::size_t> test_counts(classes.size(), 0);
  for (std::size_t i : test_rows) {
    const std::string& label = store.cases[i].label;
    if (store.cases[i].target || !std::binary_search(classes.begin(), classes.end(), label)) {
      throw Error(ErrorCode::kInvalidArgument,
                  "test case " + store.cases[i].id + ": " +
                      (store.cases[i].target ? std::string("has a numeric target, not a label")
                                             : "class '" + label + "' has no case in training split '" + train_split + "'"));
    }
    y_test.push_back(class_of(i));
    ++test_counts[y_test.back()];
  }
  for (std::size_t k = 0; k < classes.size(); ++k) {
    if (test_counts[k] == 0) {
      throw Error(ErrorCode::kInvalidArgument, "class '" + classes[k] + "' has no case in test split '" + test_split +
                                                   "': its AUROC cannot be measured");
    }
  }
  std::size_t smallest = per_class[0].size(), smallest_class = 0;
  for (std::size_t k = 1; k < per_class.size(); ++k) {
    if (per_class[k].size() < smallest) smallest = per_class[k].size(), smallest_class = k;
  }
  if (ks.empty()) {
    bool all_equal = true;
    for (const auto& rows : per_class) all_equal = all_equal && rows.size() == smallest;
    std::size_t k = 1;
    for (; k <= smallest; k *= 2) ks.push_back(k);
    // "all" unless it is the last k already (every class exactly that large).
    if (!(all_equal && k / 2 == smallest)) ks.push_back(kAll);
  }
  for (std::size_t k : ks) {
    if (k != kAll && k > smallest) {
      throw UsageError("--k " + std::to_string(k) + ": class '" + classes[smallest_class] + "' has only " +
                       std::to_string(smallest) + " case(s) in training split '" + train_split + "'");
    }
  }
  std::stable_sort(ks.begin(), ks.end(), [](std::size_t a, std::size_t b) { return (a == kAll ? SIZE_MAX : a) < (b == kAll ? SIZE_MAX : b); });

  const train::Matrix x_test = store.features.SelectRows(test_rows);
  train::LogisticOptions options;
  options.c = c;
  options.class_weight = p.IsSet("--balanced") ? train::ClassWeight::kBalanced : train::ClassWeight::kNone;

  config::Json out(::Json::objectValue);
  out["curia_version"] = CURIA_VERSION_STRING;
  out["features"] = features;
  out["feature_store_digest"] = store.digest;
  out["backbone_digest"] = store.backbone_digest;
  out["train_split"] = train_split;
  out["test_split"] = test_split;
  out["C"] = c;
  out["class_weight"] = p.IsSet("--balanced") ? "balanced" : "none";
  out["seed"] = static_cast<Json::UInt64>(seed);
  out["repeats"] = repeats;
  config::Json labels(::Json::arrayValue);
  for (std::size_t k = 0; k < classes.size(); ++k) {
    labels.append(classes[k]);
    out["train_cases_per_class"][classes[k]] = static_cast<Json::UInt64>(per_class[k].size());
    out["test_cases_per_class"][classes[k]] = static_cast<Json::UInt64>(test_counts[k]);
  }
  out["labels"] = labels;
  config::Json points(::Json::arrayValue);

  struct Point {
    std::size_t k;
    double x;  // position on the plot: k, or the mean training cases per class for "all"
    Summary auroc, balanced, accuracy;
  };
  std::vector<Point> plotted;
  std::cout << "k        repeats  AUROC mean (min-max)     balanced accuracy mean (min-max)\n";
  for (std::size_t k : ks) {
    const int draws = k == kAll ? 1 : repeats;  // every draw of "all" is the same fit
    std::vector<double> aurocs, balanced, accuracies;
    for (int r = 0; r < draws; ++r) {
      // One generator per (seed, k, repeat): a k's draws do not depend on the other ks asked for.
      std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                        static_cast<std::uint32_t>(k), static_cast<std::uint32_t>(r)};
      std::mt19937_64 rng(seq);
      std::vector<std::size_t> rows;
      for (const auto& members : per_class) {
        const std::vector<std::size_t> drawn = k == kAll ? members : train::SampleWithoutReplacement(rng, members, k);
        rows.insert(rows.end(), drawn.begin(), drawn.end());
      }
      std::vector<int> y;
      for (std::size_t i : rows) y.push_back(class_of(i));
      const train::LogisticModel model = train::FitLogistic(store.features.SelectRows(rows), y, num_classes, options);
      const train::Matrix prob = model.PredictProba(x_test);
      const std::vector<int> predicted = model.Predict(x_test);
      aurocs.push_back(train::RocAucOvrMacro(y_test, prob));
      balanced.push_back(train::BalancedAccuracy(y_test, predicted, num_classes));
      accuracies.push_back(train::Accuracy(y_test, predicted));
    }
    Point pt{k, 0.0, Summarise(aurocs), Summarise(balanced), Summarise(accuracies)};
    // "all" is drawn one log2 step right of the largest k (its cases per class differ between
    // classes; fewshot.json has its count).
    pt.x = k == kAll ? (plotted.empty() ? 1.0 : plotted.back().x * 2.0) : static_cast<double>(k);
    config::Json j(::Json::objectValue);
    if (k == kAll) {
      j["k"] = "all";
      j["train_cases"] = static_cast<Json::UInt64>(train_rows.size());
    } else {
      j["k"] = static_cast<Json::UInt64>(k);
      j["train_cases"] = static_cast<Json::UInt64>(k * classes.size());
    }
    j["repeats"] = draws;
    j["auroc"] = SummaryJson(pt.auroc);
    j["balanced_accuracy"] = SummaryJson(pt.balanced);
    j["accuracy"] = SummaryJson(pt.accuracy);
    points.append(j);
    const std::string name = k == kAll ? "all" : std::to_string(k);
    std::cout << name << std::string(9 - std::min<std::size_t>(8, name.size()), ' ') << draws << std::string(draws < 10 ? 8 : 7, ' ')
              << F3(pt.auroc.mean) << " (" << F3(pt.auroc.min) << "-" << F3(pt.auroc.max) << ")      "
              << F3(pt.balanced.mean) << " (" << F3(pt.balanced.min) << "-" << F3(pt.balanced.max) << ")\n";
    plotted.push_back(pt);
  }
  out["points"] = points;

  // The figure: mean AUROC and balanced accuracy against k (log2), bars from min to max.
  report::Chart chart;
  chart.title = "Few-shot learning curve: mean of " + std::to_string(repeats) + (repeats == 1 ? " draw" : " draws") +
                ", bars min-max";
  chart.x.label = "Training cases per class (log2 scale)";
  chart.x.log2 = true;
  chart.y.label = "On test split '" + test_split + "'";
  double xmin = plotted.front().x, xmax = plotted.front().x, ymin = 0.5;
  for (const Point& pt : plotted) {
    xmin = std::min(xmin, pt.x);
    xmax = std::max(xmax, pt.x);
    ymin = std::min({ymin, pt.auroc.min, pt.balanced.min});
    chart.x.ticks.push_back(pt.x);
    chart.x.tick_labels.push_back(pt.k == kAll ? "all" : std::to_string(pt.k));
  }
  chart.x.min = xmin / 1.5;
  chart.x.max = xmax * 1.5;
  chart.y.min = std::floor(ymin * 10.0) / 10.0;
  chart.y.max = 1.0;
  report::Series auroc, bacc;
  auroc.label = num_classes == 2 ? "AUROC" : "AUROC (OvR macro)";
  bacc.label = "balanced accuracy";
  for (const Point& pt : plotted) {
    auroc.x.push_back(pt.x);
    auroc.y.push_back(pt.auroc.mean);
    auroc.y_low.push_back(pt.auroc.min);
    auroc.y_high.push_back(pt.auroc.max);
    bacc.x.push_back(pt.x * 1.06);  // a little to the right, so that the bars do not overlap
    bacc.y.push_back(pt.balanced.mean);
    bacc.y_low.push_back(pt.balanced.min);
    bacc.y_high.push_back(pt.balanced.max);
  }
  auroc.markers = bacc.markers = true;
  chart.series = {auroc, bacc};

  const std::string dir = p.Get("--out");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir)) {
    throw Error(ErrorCode::kInvalidArgument, dir + ": cannot create the output folder" + (ec ? " (" + ec.message() + ")" : ""));
  }
  config::WriteFileAtomic(dir + "/fewshot.json", {config::Dump(out) + "\n"});
  report::WritePng(report::RenderChart(chart), dir + "/fewshot.png");
  std::cout << "learning curves written to " << dir << ": fewshot.json, fewshot.png\n";
  return 0;
}

}  // namespace curia::cli
