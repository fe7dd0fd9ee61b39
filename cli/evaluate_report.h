// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The report folder of `curia evaluate`: report.html (one self-contained page for a reader who is
// not a statistician: what was evaluated, on how many cases, the warnings first, the figures with
// their intervals and tables) and its figures, roc.png and calibration.png (curia::report). The page
// shows the numbers of metrics.json, which the caller has computed and writes beside it.
#include <string>
#include <vector>

#include "curia/config/json.h"
#include "curia/train/matrix.h"

namespace curia::cli {

struct EvaluationData {
  bool regression = false;
  std::vector<std::string> labels;  // the head's classes, in its order
  std::vector<int> y;               // classification: true class of each case
  train::Matrix probabilities;      // classification: one row a case, one column a class
  std::vector<double> truth, predicted;  // regression
};

// Writes report.html, and roc.png (when every class has a case) and calibration.png (two classes),
// or for regression heads regression.png (predicted against true), into `dir`, which exists. Returns the names of the figures written.
// `metrics_name`: the metrics file's name in `dir`, which the page names as its source.
std::vector<std::string> WriteEvaluationReport(const std::string& dir, const config::Json& metrics,
                                               const EvaluationData& data, const std::string& metrics_name = "metrics.json");

// "0.912" (3 decimals), the form the page prints its figures in.
std::string Fixed3(double v);

}  // namespace curia::cli
