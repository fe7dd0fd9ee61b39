// SPDX-License-Identifier: GPL-3.0-or-later
// curia train-head and curia evaluate: a linear head trained on a feature store (train/feature_store.h)
// and its metrics on a held-out split. The arithmetic is curia::train's (docs/training.md).
#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>

#include "commands.h"
#include "evaluate_report.h"
#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/model/head_config.h"
#include "curia/model/safetensors.h"
#include "curia/train/cross_validation.h"
#include "curia/train/feature_store.h"
#include "curia/train/metrics.h"
#include "curia/train/ridge.h"
#include "curia/train/ridge_cv.h"
#include "train3d_command.h"
#include "train_provenance.h"
#include "version.h"

namespace curia::cli {
namespace {

constexpr const char* kDefaultAlphaGrid = "0.01,0.1,1,10,100,1000";

std::vector<double> ParseGrid(const std::string& text, const std::string& option = "--grid") {
  std::vector<double> grid;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    if (item.empty() || end == item.c_str() || *end != '\0' || !(v > 0.0) || !std::isfinite(v)) {
      throw UsageError(option + ": '" + item + "' is not a positive number");
    }
    grid.push_back(v);
  }
  if (grid.empty()) throw UsageError(option + ": no values");
  return grid;
}


config::Json ToJson(const std::vector<double>& v) {
  config::Json out(::Json::arrayValue);
  for (double x : v) out.append(x);
  return out;
}

// Class names sorted (as scikit-learn orders classes), and each case's class index.
std::vector<std::string> Classes(const train::FeatureStore& s, const std::vector<std::size_t>& rows) {
  std::vector<std::string> names;
  for (std::size_t i : rows) names.push_back(s.cases[i].label);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

config::Json IntervalJson(const train::Interval& i) {
  config::Json j(::Json::arrayValue);
  j.append(i.lower);
  j.append(i.upper);
  return j;
}

void WriteHead(const std::string& dir, const model::HeadConfig& head, const train::Matrix& w, const std::vector<double>& b) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(ErrorCode::kInvalidArgument, dir + ": cannot create folder (" + ec.message() + ")");
  std::vector<float> weight(w.values().begin(), w.values().end());
  std::vector<float> bias(b.begin(), b.end());
  model::SafetensorsWriter out;
  out.SetMetadata("format", "pt");
  out.AddFloat32("classifier.weight", {static_cast<int64_t>(w.rows()), static_cast<int64_t>(w.cols())}, weight);
  out.AddFloat32("classifier.bias", {static_cast<int64_t>(b.size())}, bias);
  out.Write(dir + "/model.safetensors");
  config::WriteFileAtomic(dir + "/config.json", {config::Dump(model::HeadConfigToJson(head)) + "\n"});
}

}  // namespace

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

config::Json ProvenanceOf(const train::FeatureStore& store, const std::string& split, std::size_t cases) {
  config::Json prov(::Json::objectValue);
  prov["curia_version"] = CURIA_VERSION_STRING;
  prov["date"] = UtcNow();
  prov["backbone_digest"] = store.backbone_digest;
  prov["feature_store_digest"] = store.digest;
  prov["feature"] = store.feature;
  prov["split"] = split;
  prov["cases"] = static_cast<Json::UInt64>(cases);
  return prov;
}

int TrainHeadCommand(const Args& args) {
  ArgParser p("curia train-head",
              "Trains a linear head on a feature store's training split: L2 logistic regression (L-BFGS,\n"
              "float64, as scikit-learn's LogisticRegression) with C chosen by stratified k-fold\n"
              "cross-validation (grouped by the cases' \"group\" when they have one), refitted on every\n"
              "training case; or, for stores with numeric targets, ridge regression with alpha chosen by\n"
              "k-fold cross-validation (R², grouped by \"group\" as above) or given with --alpha. Writes a head folder\n"
              "in the published layout (config.json, model.safetensors) and provenance.json.");
  p.Option("--features", "DIR", "feature store (features.safetensors + index.json)", true)
      .Option("--out", "DIR", "head folder to write", true)
      .Option("--split", "NAME", "the cases to train on (\"\" = every case)", false, "train")
      .Option("--grid", "C,C,...", "candidate values of C", false, "0.0001,0.001,0.01,0.1,1,10,100")
      .Option("--folds", "K", "cross-validation folds", false, "5")
      .Option("--alpha-grid", "A,A,...", std::string("regression stores: candidate values of alpha (default ") +
                                             kDefaultAlphaGrid + ")")
      .Option("--alpha", "A", "regression stores: fit this alpha, no cross-validation (not with --alpha-grid)")
      .Flag("--balanced", "class weights n / (K n_k) (scikit-learn's \"balanced\")");
  AddAttentionOptions(p);  // "tokens3d" stores: a 3-D attention head (train3d_command.cpp)
  if (!p.Parse(args)) return 0;
  const train::FeatureStore store = train::LoadFeatureStore(p.Get("--features"));
  const std::vector<std::size_t> rows = store.Rows(p.Get("--split"));
  if (rows.empty()) {
    throw Error(ErrorCode::kInvalidArgument, p.Get("--features") + ": no cases in split '" + p.Get("--split") + "'");
  }
  if (store.IsTokens3d()) return TrainAttentionHead(p, store, rows);
  const train::Matrix x = store.features.SelectRows(rows);
  const bool regression = store.cases[rows[0]].target.has_value();
  model::HeadConfig head;
  head.model_name = store.model_name;
  // Trained on a segment's masked patch tokens (`curia features --like` a mask head): a mask-prompted
  // head, which the node runs on regions only.
  head.requires_mask = store.feature == "region";
  config::Json prov = ProvenanceOf(store, p.Get("--split"), rows.size());
  train::Matrix w;
  std::vector<double> b;
  if (regression) {
    std::vector<double> y;
    for (std::size_t i : rows) {
      if (!store.cases[i].target) throw Error(ErrorCode::kInvalidArgument, "case " + store.cases[i].id + " has a label, not a target");
      y.push_back(*store.cases[i].target);
    }
    if (p.Has("--alpha") && p.Has("--alpha-grid")) throw UsageError("--alpha and --alpha-grid: give one of them");
    train::RidgeModel m;
    prov["method"] = "ridge";
    if (p.Has("--alpha")) {
      char* end = nullptr;
      const std::string alpha_text = p.Get("--alpha");  // kept: `end` points into it
      const double alpha = std::strtod(alpha_text.c_str(), &end);
      if (p.Get("--alpha").empty() || *end != '\0' || !(alpha >= 0.0) || !std::isfinite(alpha)) {
        throw UsageError("--alpha: expected a number >= 0");
      }
      m = train::FitRidge(x, y, alpha);
      prov["alpha"] = alpha;
      std::cout << "ridge on " << rows.size() << " cases, " << x.cols() << " features, alpha " << alpha << "\n";
    } else {
      train::RidgeCrossValidationOptions cv;
      cv.grid = ParseGrid(p.Has("--alpha-grid") ? p.Get("--alpha-grid") : kDefaultAlphaGrid, "--alpha-grid");
      cv.folds = static_cast<int>(p.GetInt("--folds", 2, 100));
      bool grouped = false;
      for (std::size_t i : rows) grouped = grouped || !store.cases[i].group.empty();
      if (grouped) {
        for (std::size_t i : rows) {
          // a case without a group is its own
          cv.groups.push_back(store.cases[i].group.empty() ? "case:" + store.cases[i].id : store.cases[i].group);
        }
      }
      const train::RidgeCrossValidationResult r = train::CrossValidateRidge(x, y, cv);
      m = r.model;
      prov["folds"] = cv.folds;
      prov["grouped"] = grouped;
      prov["cross_validation"] = grouped ? "GroupKFold" : "KFold";
      prov["alpha_grid"] = ToJson(cv.grid);
      prov["cv_mean_r2"] = ToJson(r.mean_r2);
      prov["alpha"] = r.best_alpha;
      std::cout << "ridge on " << rows.size() << " cases, " << x.cols() << " features; alpha = " << r.best_alpha
                << " (cross-validated R² " << r.mean_r2[r.best_index] << ", " << cv.folds << " folds"
                << (grouped ? ", grouped" : "") << ")\n";
      for (std::size_t g = 0; g < cv.grid.size(); ++g) {
        std::cout << "  alpha " << cv.grid[g] << ": mean R² " << r.mean_r2[g] << (g == r.best_index ? "  <- chosen" : "")
                  << "\n";
      }
    }
    w = train::Matrix(1, x.cols());
    for (std::size_t j = 0; j < x.cols(); ++j) w(0, j) = m.weights[j];
    b = {m.intercept};
    head.num_classes = 1;
    head.regression = true;
    head.labels = {"value"};
  } else {
    const std::vector<std::string> classes = Classes(store, rows);
    std::vector<int> y;
    std::vector<std::string> groups;
    bool grouped = false;
    for (std::size_t i : rows) {
      const std::string& label = store.cases[i].label;
      if (label.empty()) throw Error(ErrorCode::kInvalidArgument, "case " + store.cases[i].id + " has a target, not a label");
      y.push_back(static_cast<int>(std::lower_bound(classes.begin(), classes.end(), label) - classes.begin()));
      groups.push_back(store.cases[i].group);
      grouped = grouped || !store.cases[i].group.empty();
    }
    if (classes.size() < 2) {
      throw Error(ErrorCode::kInvalidArgument, "every training case has the label '" + classes[0] + "': two classes at least are needed");
    }
    train::CrossValidationOptions cv;
    cv.grid = ParseGrid(p.Get("--grid"));
    cv.folds = static_cast<int>(p.GetInt("--folds", 2, 100));
    cv.logistic.class_weight = p.IsSet("--balanced") ? train::ClassWeight::kBalanced : train::ClassWeight::kNone;
    if (grouped) {
      for (std::size_t k = 0; k < groups.size(); ++k) {
        if (groups[k].empty()) groups[k] = "case:" + store.cases[rows[k]].id;  // a case without a group is its own
      }
      cv.groups = groups;
    }
    const train::CrossValidationResult r =
        train::CrossValidateLogistic(x, y, static_cast<int>(classes.size()), cv);
    w = r.model.SoftmaxWeights(&b);
    head.num_classes = static_cast<int64_t>(classes.size());
    head.labels = classes;
    prov["method"] = "logistic regression (L2, L-BFGS)";
    prov["class_weight"] = p.IsSet("--balanced") ? "balanced" : "none";
    prov["folds"] = cv.folds;
    prov["grouped"] = grouped;
    prov["grid"] = ToJson(cv.grid);
    prov["cv_mean_accuracy"] = ToJson(r.mean_accuracy);
    prov["C"] = r.best_c;
    prov["optimiser"]["iterations"] = r.model.optimisation.iterations;
    prov["optimiser"]["gradient_max"] = r.model.optimisation.gradient_max;
    prov["optimiser"]["stop"] = r.model.optimisation.stop_reason;
    config::Json labels(::Json::arrayValue);
    for (const auto& c : classes) labels.append(c);
    prov["labels"] = labels;
    std::cout << "logistic regression on " << rows.size() << " cases, " << x.cols() << " features, "
              << classes.size() << " classes; C = " << r.best_c << " (cross-validated accuracy "
              << r.mean_accuracy[r.best_index] << ", " << cv.folds << " folds" << (grouped ? ", grouped" : "") << ")\n";
  }
  WriteHead(p.Get("--out"), head, w, b);
  config::WriteFileAtomic(p.Get("--out") + "/provenance.json", {config::Dump(prov) + "\n"});
  std::cout << "head written to " << p.Get("--out") << "\n";
  return 0;
}

int EvaluateCommand(const Args& args) {
  ArgParser p("curia evaluate",
              "Evaluates a linear head (config.json + model.safetensors) on a feature store's split:\n"
              "classification: accuracy, balanced accuracy, AUROC (binary with DeLong's 95 % interval;\n"
              "one-vs-rest macro for more classes) with stratified bootstrap intervals, confusion matrix,\n"
              "Brier score, and for two classes sensitivity/specificity (Wilson) at a threshold and a\n"
              "10-bin calibration table; regression: MAE, RMSE, R². Writes a report folder: metrics.json,\n"
              "report.html (the figures and tables on one page), roc.png and, for two classes,\n"
              "calibration.png; regression.png (predicted against true) for regression heads.");
  p.Option("--head", "DIR", "head folder", true)
      .Option("--features", "DIR", "feature store", true)
      .Option("--split", "NAME", "the cases to evaluate (\"\" = every case)", false, "test")
      .Option("--out", "DIR", "report folder to write (metrics.json, report.html and its PNG figures); a path "
              "ending in .json names the metrics file, the report going beside it", true)
      .Option("--threshold", "P", "binary: positive when P(class 1) >= P; default: Youden's on --threshold-split", false, "")
      .Option("--threshold-split", "NAME", "binary: the split that fixes the Youden threshold", false, "validation")
      .Option("--seed", "N", "bootstrap seed", false, "42")
      .Option("--resamples", "N", "bootstrap resamples", false, "2000");
  if (!p.Parse(args)) return 0;
  const model::HeadConfig head = model::LoadHeadConfig(p.Get("--head") + "/config.json");
  if (head.Is3D()) throw Error(ErrorCode::kInvalidArgument, p.Get("--head") + ": a 3-D head; evaluate takes linear heads only");
  const auto file = model::SafetensorsFile::Open(p.Get("--head") + "/model.safetensors");
  const train::FeatureStore store = train::LoadFeatureStore(p.Get("--features"));
  const int64_t d = static_cast<int64_t>(store.features.cols());
  const std::vector<double> weight = model::ToFloat64(file->Get("classifier.weight", {head.num_classes, d}));
  const std::vector<double> bias = model::ToFloat64(file->Get("classifier.bias", {head.num_classes}));
  const std::size_t k = static_cast<std::size_t>(head.num_classes);
  auto logits = [&](const std::vector<std::size_t>& rows) {
    train::Matrix z(rows.size(), k);
    for (std::size_t r = 0; r < rows.size(); ++r) {
      const double* xi = store.features.Row(rows[r]);
      for (std::size_t c = 0; c < k; ++c) {
        double s = bias[c];
        for (std::size_t j = 0; j < static_cast<std::size_t>(d); ++j) s += weight[c * static_cast<std::size_t>(d) + j] * xi[j];
        z(r, c) = s;
      }
    }
    return z;
  };
  auto softmax = [&](train::Matrix z) {
    for (std::size_t i = 0; i < z.rows(); ++i) {
      double m = z(i, 0), sum = 0.0;
      for (std::size_t c = 1; c < k; ++c) m = std::max(m, z(i, c));
      for (std::size_t c = 0; c < k; ++c) sum += (z(i, c) = std::exp(z(i, c) - m));
      for (std::size_t c = 0; c < k; ++c) z(i, c) /= sum;
    }
    return z;
  };
  const std::vector<std::size_t> rows = store.Rows(p.Get("--split"));
  if (rows.empty()) throw Error(ErrorCode::kInvalidArgument, p.Get("--features") + ": no cases in split '" + p.Get("--split") + "'");
  config::Json out(::Json::objectValue);
  out["head"] = p.Get("--head");
  out["split"] = p.Get("--split");
  out["cases"] = static_cast<Json::UInt64>(rows.size());
  out["feature_store_digest"] = store.digest;
  out["backbone_digest"] = store.backbone_digest;
  const uint64_t seed = static_cast<uint64_t>(p.GetInt("--seed", 0, INT64_MAX));
  const int resamples = static_cast<int>(p.GetInt("--resamples", 1, 1000000));
  config::Json warnings(::Json::arrayValue);
  EvaluationData data;
  data.regression = head.regression;
  data.labels = head.labels;

  if (head.regression) {
    const train::Matrix z = logits(rows);
    std::vector<double> truth, predicted;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      const auto& t = store.cases[rows[r]].target;
      if (!t) throw Error(ErrorCode::kInvalidArgument, "case " + store.cases[rows[r]].id + " has no target");
      truth.push_back(*t);
      predicted.push_back(z(r, 0));
    }
    const train::RegressionMetrics m = train::RegressionScores(truth, predicted);
    data.truth = truth;
    data.predicted = predicted;
    out["mae"] = m.mae;
    out["rmse"] = m.rmse;
    out["r2"] = m.r2;
  } else {
    auto class_of = [&](std::size_t i) {
      const auto it = std::find(head.labels.begin(), head.labels.end(), store.cases[i].label);
      if (it == head.labels.end()) {
        throw Error(ErrorCode::kInvalidArgument, "case " + store.cases[i].id + ": label '" + store.cases[i].label +
                                                     "' is not one of the head's labels");
      }
      return static_cast<int>(it - head.labels.begin());
    };
    std::vector<int> y;
    for (std::size_t i : rows) y.push_back(class_of(i));
    const train::Matrix prob = softmax(logits(rows));
    data.y = y;
    data.probabilities = prob;
    out["bootstrap"]["resamples"] = resamples;
    out["bootstrap"]["seed"] = static_cast<Json::UInt64>(seed);
    std::vector<int> predicted(rows.size(), 0);
    for (std::size_t r = 0; r < rows.size(); ++r) {
      for (std::size_t c = 1; c < k; ++c) {
        if (prob(r, c) > prob(r, static_cast<std::size_t>(predicted[r]))) predicted[r] = static_cast<int>(c);
      }
    }
    config::Json counts(::Json::objectValue);
    for (std::size_t c = 0; c < k; ++c) {
      const auto n = static_cast<Json::UInt64>(std::count(y.begin(), y.end(), static_cast<int>(c)));
      counts[head.labels[c]] = n;
      if (n < 10) warnings.append("class '" + head.labels[c] + "' has " + std::to_string(n) + " case(s), fewer than 10: the intervals are wide and the figures unreliable");
    }
    out["cases_per_class"] = counts;
    auto subset = [&](const std::vector<std::size_t>& idx, std::vector<int>* yy, train::Matrix* pp, std::vector<int>* pred) {
      *pp = train::Matrix(idx.size(), k);
      for (std::size_t r = 0; r < idx.size(); ++r) {
        yy->push_back(y[idx[r]]);
        if (pred) pred->push_back(predicted[idx[r]]);
        for (std::size_t c = 0; c < k; ++c) (*pp)(r, c) = prob(idx[r], c);
      }
    };
    auto boot = [&](const std::function<double(const std::vector<int>&, const train::Matrix&, const std::vector<int>&)>& f) {
      return IntervalJson(train::StratifiedBootstrapInterval(y, [&](const std::vector<std::size_t>& idx) {
        std::vector<int> yy, pred;
        train::Matrix pp;
        subset(idx, &yy, &pp, &pred);
        return f(yy, pp, pred);
      }, resamples, seed));
    };
    const int kk = static_cast<int>(k);
    out["accuracy"] = train::Accuracy(y, predicted);
    out["accuracy_ci95_bootstrap"] = boot([](const auto& yy, const auto&, const auto& pred) { return train::Accuracy(yy, pred); });
    out["balanced_accuracy"] = train::BalancedAccuracy(y, predicted, kk);
    out["balanced_accuracy_ci95_bootstrap"] =
        boot([kk](const auto& yy, const auto&, const auto& pred) { return train::BalancedAccuracy(yy, pred, kk); });
    bool all_present = true;
    for (std::size_t c = 0; c < k; ++c) all_present = all_present && std::count(y.begin(), y.end(), static_cast<int>(c)) > 0;
    if (all_present) {
      out["auroc"] = train::RocAucOvrMacro(y, prob);
      out["auroc_ci95_bootstrap"] = boot([](const auto& yy, const auto& pp, const auto&) { return train::RocAucOvrMacro(yy, pp); });
    } else {
      warnings.append("AUROC not computed: a class has no case in this split");
    }
    config::Json confusion(::Json::arrayValue);
    for (const auto& row : train::ConfusionMatrix(y, predicted, kk)) {
      config::Json r(::Json::arrayValue);
      for (std::size_t v : row) r.append(static_cast<Json::UInt64>(v));
      confusion.append(r);
    }
    out["confusion_matrix"] = confusion;  // rows: true class, columns: predicted, in the order of "labels"
    config::Json labels(::Json::arrayValue);
    for (const auto& l : head.labels) labels.append(l);
    out["labels"] = labels;
    if (k == 2) {
      std::vector<double> p1(rows.size());
      for (std::size_t r = 0; r < rows.size(); ++r) p1[r] = prob(r, 1);
      out["brier"] = train::BrierScore(y, p1);
      if (all_present) {
        const train::AucInterval dl = train::DeLongInterval(y, p1);
        out["auroc_ci95_delong"] = IntervalJson(dl.ci);
      }
      // The threshold: given, or Youden's on another split (never on the cases evaluated).
      double threshold = 0.5;
      std::string source = "default 0.5";
      if (!p.Get("--threshold").empty()) {
        const std::string text = p.Get("--threshold");
        char* end = nullptr;
        threshold = std::strtod(text.c_str(), &end);
        if (*end != '\0' || !(threshold >= 0.0 && threshold <= 1.0)) {
          throw UsageError("--threshold: '" + text + "' is not a probability in [0, 1]");
        }
        source = "given";
      } else {
        const std::vector<std::size_t> vrows = store.Rows(p.Get("--threshold-split"));
        if (!vrows.empty() && p.Get("--threshold-split") != p.Get("--split")) {
          std::vector<int> vy;
          for (std::size_t i : vrows) vy.push_back(class_of(i));
          const train::Matrix vp = softmax(logits(vrows));
          std::vector<double> vp1(vrows.size());
          for (std::size_t r = 0; r < vrows.size(); ++r) vp1[r] = vp(r, 1);
          threshold = train::YoudenThreshold(vy, vp1).threshold;
          source = "Youden on split '" + p.Get("--threshold-split") + "'";
        } else {
          warnings.append("no '" + p.Get("--threshold-split") + "' split: sensitivity and specificity at P = 0.5");
        }
      }
      const train::ThresholdMetrics t = train::AtThreshold(y, p1, threshold);
      config::Json th(::Json::objectValue);
      th["threshold"] = threshold;
      th["source"] = source;
      th["positive_class"] = head.labels[1];
      th["sensitivity"] = t.sensitivity;
      th["sensitivity_ci95_wilson"] = IntervalJson(t.sensitivity_ci);
      th["specificity"] = t.specificity;
      th["specificity_ci95_wilson"] = IntervalJson(t.specificity_ci);
      th["tp"] = static_cast<Json::UInt64>(t.tp);
      th["fn"] = static_cast<Json::UInt64>(t.fn);
      th["tn"] = static_cast<Json::UInt64>(t.tn);
      th["fp"] = static_cast<Json::UInt64>(t.fp);
      out["at_threshold"] = th;
      config::Json cal(::Json::arrayValue);
      for (const auto& bin : train::CalibrationTable(y, p1, 10)) {
        config::Json j(::Json::objectValue);
        j["lower"] = bin.lower;
        j["upper"] = bin.upper;
        j["count"] = static_cast<Json::UInt64>(bin.count);
        if (bin.count > 0) {
          j["mean_predicted"] = bin.mean_predicted;
          j["fraction_positive"] = bin.fraction_positive;
        }
        cal.append(j);
      }
      out["calibration"] = cal;
    } else {
      out["brier"] = train::BrierScoreMulticlass(y, prob);
    }
  }
  out["warnings"] = warnings;
  // --out names the report folder; a path ending in ".json" (the form of earlier versions) names the
  // metrics file, and the report goes beside it.
  std::string dir = p.Get("--out");
  std::string metrics_name = "metrics.json";
  if (dir.size() > 5 && dir.compare(dir.size() - 5, 5, ".json") == 0) {
    const std::filesystem::path file(dir);
    metrics_name = file.filename().string();
    dir = file.has_parent_path() ? file.parent_path().string() : ".";
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir)) {
    throw Error(ErrorCode::kInvalidArgument, dir + ": cannot create the report folder" + (ec ? " (" + ec.message() + ")" : ""));
  }
  config::WriteFileAtomic(dir + "/" + metrics_name, {config::Dump(out) + "\n"});
  const std::vector<std::string> figures = WriteEvaluationReport(dir, out, data, metrics_name);
  for (const auto& w : warnings) std::cerr << "warning: " << w.asString() << "\n";
  std::cout << "report written to " << dir << ": " << metrics_name << ", report.html";
  for (const auto& f : figures) std::cout << ", " << f;
  std::cout << "\n";
  return 0;
}

}  // namespace curia::cli
