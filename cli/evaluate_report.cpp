// SPDX-License-Identifier: GPL-3.0-or-later
// The report folder of `curia evaluate` (evaluate_report.h): report.html, roc.png, calibration.png.
#include "evaluate_report.h"
#include "train_provenance.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <sstream>

#include "curia/config/text.h"
#include "curia/report/image.h"
#include "curia/report/plot.h"
#include "curia/train/metrics.h"
#include "version.h"

namespace curia::cli {

using config::HtmlEscape;

namespace {

const config::Json* Member(const config::Json& j, const char* key) { return config::Find(j, key); }

bool Has(const config::Json& j, const char* key) {
  const config::Json* m = Member(j, key);
  return m && !m->isNull();
}

// "0.912 (95 % CI 0.871-0.950, bootstrap)" from a value and an interval member, if present.
std::string WithInterval(const config::Json& m, const char* value, const char* interval, const char* method) {
  std::string s = Fixed3(m[value].asDouble());
  if (Has(m, interval) && m[interval].size() == 2) {
    s += " <span class=\"ci\">(95&nbsp;% CI " + Fixed3(m[interval][0].asDouble()) + "&ndash;" +
         Fixed3(m[interval][1].asDouble()) + ", " + method + ")</span>";
  }
  return s;
}

std::string Row(const std::string& name, const std::string& value, const std::string& note = "") {
  return "<tr><th>" + name + "</th><td>" + value + "</td><td class=\"note\">" + note + "</td></tr>\n";
}

void RocFigure(const std::string& dir, const config::Json& metrics, const EvaluationData& d) {
  report::Chart c;
  c.x = {"False positive rate (1 - specificity)", 0.0, 1.0};
  c.y = {"True positive rate (sensitivity)", 0.0, 1.0};
  c.diagonal = true;
  c.height = 720;
  const std::size_t k = d.labels.size();
  if (k == 2) {
    std::vector<double> p1(d.y.size());
    for (std::size_t i = 0; i < d.y.size(); ++i) p1[i] = d.probabilities(i, 1);
    const train::RocCurvePoints roc = train::RocCurve(d.y, p1);
    c.title = "ROC curve, positive class '" + d.labels[1] + "': AUROC " + Fixed3(metrics["auroc"].asDouble());
    report::Series s;
    s.label = "ROC (" + std::to_string(d.y.size()) + " cases)";
    s.x = roc.fpr;
    s.y = roc.tpr;
    c.series.push_back(s);
    if (Has(metrics, "at_threshold")) {
      const config::Json& t = metrics["at_threshold"];
      report::Series op;
      op.label = "threshold " + report::TickText(t["threshold"].asDouble());
      op.x = {1.0 - t["specificity"].asDouble()};
      op.y = {t["sensitivity"].asDouble()};
      op.line = false;
      op.markers = true;
      c.series.push_back(op);
    }
  } else {
    c.title = "ROC curves, one class vs the rest: macro AUROC " + Fixed3(metrics["auroc"].asDouble());
    for (std::size_t cls = 0; cls < k; ++cls) {
      std::vector<int> yk(d.y.size());
      std::vector<double> pk(d.y.size());
      for (std::size_t i = 0; i < d.y.size(); ++i) {
        yk[i] = d.y[i] == static_cast<int>(cls) ? 1 : 0;
        pk[i] = d.probabilities(i, cls);
      }
      const train::RocCurvePoints roc = train::RocCurve(yk, pk);
      report::Series s;
      s.label = d.labels[cls] + " (AUROC " + Fixed3(train::RocAuc(yk, pk)) + ")";
      s.x = roc.fpr;
      s.y = roc.tpr;
      c.series.push_back(s);
    }
  }
  report::WritePng(report::RenderChart(c), dir + "/roc.png");
}

void CalibrationFigure(const std::string& dir, const config::Json& metrics, const EvaluationData& d) {
  report::Chart c;
  c.title = "Calibration (10 bins): predicted vs observed '" + d.labels[1] + "'";
  c.x = {"Mean predicted probability of '" + d.labels[1] + "'", 0.0, 1.0};
  c.y = {"Observed fraction of '" + d.labels[1] + "'", 0.0, 1.0};
  c.diagonal = true;
  c.height = 720;
  report::Series s;
  s.label = "bins with cases";
  s.markers = true;
  for (const auto& bin : metrics["calibration"]) {
    if (bin["count"].asUInt64() == 0) continue;
    s.x.push_back(bin["mean_predicted"].asDouble());
    s.y.push_back(bin["fraction_positive"].asDouble());
  }
  c.series.push_back(s);
  report::WritePng(report::RenderChart(c), dir + "/calibration.png");
}

void RegressionFigure(const std::string& dir, const config::Json& metrics, const EvaluationData& d) {
  report::Chart c;
  c.title = "Predicted against true value: MAE " + Fixed3(metrics["mae"].asDouble()) + ", R^2 " +
            Fixed3(metrics["r2"].asDouble());
  double lo = d.truth[0], hi = d.truth[0];
  for (std::size_t i = 0; i < d.truth.size(); ++i) {
    lo = std::min({lo, d.truth[i], d.predicted[i]});
    hi = std::max({hi, d.truth[i], d.predicted[i]});
  }
  const double pad = hi > lo ? (hi - lo) * 0.05 : 1.0;
  c.x = {"True value", lo - pad, hi + pad};
  c.y = {"Predicted value", lo - pad, hi + pad};
  c.diagonal = true;
  c.height = 720;
  report::Series s;
  s.label = std::to_string(d.truth.size()) + " cases";
  s.x = d.truth;
  s.y = d.predicted;
  s.line = false;
  s.markers = true;
  c.series.push_back(s);
  report::WritePng(report::RenderChart(c), dir + "/regression.png");
}

constexpr const char* kStyle = R"(
body { font-family: sans-serif; max-width: 60em; margin: 1em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.note { color: #555; font-size: 0.9em; border: none; }
.ci { color: #555; }
.ruo { background: #fff4d6; border: 1px solid #d9a400; padding: 0.5em; }
.warnings { background: #fde8e8; border: 2px solid #c00; padding: 0.5em 1em; }
.warnings h2 { border: none; margin-top: 0; color: #a00; }
img { max-width: 100%; border: 1px solid #ddd; }
.mono { font-family: monospace; font-size: 0.9em; word-break: break-all; }
)";

}  // namespace

std::string Fixed3(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

std::vector<std::string> WriteEvaluationReport(const std::string& dir, const config::Json& m, const EvaluationData& d,
                                               const std::string& metrics_name) {
  std::vector<std::string> figures;
  const bool have_auroc = !d.regression && Has(m, "auroc");
  if (have_auroc) {
    RocFigure(dir, m, d);
    figures.push_back("roc.png");
  }
  if (!d.regression && d.labels.size() == 2 && Has(m, "calibration")) {
    CalibrationFigure(dir, m, d);
    figures.push_back("calibration.png");
  }
  if (d.regression && !d.truth.empty()) {
    RegressionFigure(dir, m, d);
    figures.push_back("regression.png");
  }

  std::ostringstream h;
  const std::string head = HtmlEscape(m["head"].asString());
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>Evaluation of " << head
    << "</title>\n<style>" << kStyle << "</style></head><body>\n";
  h << "<h1>Evaluation of the head <span class=\"mono\">" << head << "</span></h1>\n";
  h << "<p class=\"ruo\"><b>Research use only.</b> These figures describe this head on these cases; they are "
       "not a validation for clinical use.</p>\n";
  if (m["warnings"].size() > 0) {
    h << "<div class=\"warnings\"><h2>Warnings (" << m["warnings"].size() << ")</h2><ul>\n";
    for (const auto& w : m["warnings"]) h << "<li>" << HtmlEscape(w.asString()) << "</li>\n";
    h << "</ul></div>\n";
  }

  h << "<h2>What was evaluated</h2>\n<table>\n";
  h << Row("Task", d.regression ? "regression (a number per case)"
                                : "classification, " + std::to_string(d.labels.size()) + " classes");
  h << Row("Head", "<span class=\"mono\">" + head + "</span>");
  h << Row("Split", "<b>" + HtmlEscape(m["split"].asString()) + "</b>",
           "the cases evaluated; they must not have been used to train the head or choose its threshold");
  h << Row("Cases", std::to_string(m["cases"].asUInt64()));
  h << Row("Feature store digest", "<span class=\"mono\">" + HtmlEscape(m["feature_store_digest"].asString()) + "</span>");
  h << Row("Backbone digest", "<span class=\"mono\">" + HtmlEscape(m["backbone_digest"].asString()) + "</span>");
  h << "</table>\n";

  if (d.regression) {
    h << "<h2>Regression</h2>\n<table>\n";
    h << Row("Mean absolute error (MAE)", Fixed3(m["mae"].asDouble()), "in the target's units");
    h << Row("Root mean squared error (RMSE)", Fixed3(m["rmse"].asDouble()), "in the target's units; weighs large errors more");
    h << Row("R&sup2;", Fixed3(m["r2"].asDouble()), "1 = perfect, 0 = no better than the mean of the truth");
    h << "</table>\n";
    if (!figures.empty()) {
      h << "<figure><img src=\"regression.png\" alt=\"predicted against true value\">\n<figcaption>Each case's "
           "predicted value against its true value; on the grey diagonal the prediction is exact.</figcaption></figure>\n";
    }
  } else {
    h << "<h3>Cases per class</h3>\n<table><tr><th>class</th><th>cases</th></tr>\n";
    for (const auto& l : d.labels) {
      h << "<tr><td>" << HtmlEscape(l) << "</td><td class=\"num\">" << m["cases_per_class"][l].asUInt64() << "</td></tr>\n";
    }
    h << "</table>\n";

    const std::string resamples = Has(m, "bootstrap") ? std::to_string(m["bootstrap"]["resamples"].asInt()) : "";
    h << "<h2>Discrimination and accuracy</h2>\n<table>\n";
    if (have_auroc) {
      std::string v = WithInterval(m, "auroc", "auroc_ci95_bootstrap", "bootstrap");
      if (Has(m, "auroc_ci95_delong")) {
        v += " <span class=\"ci\">(DeLong " + Fixed3(m["auroc_ci95_delong"][0].asDouble()) + "&ndash;" +
             Fixed3(m["auroc_ci95_delong"][1].asDouble()) + ")</span>";
      }
      h << Row(d.labels.size() == 2 ? "AUROC" : "AUROC (one-vs-rest, macro)", v,
               "0.5 = chance, 1 = every positive case scored above every negative one");
    }
    h << Row("Balanced accuracy", WithInterval(m, "balanced_accuracy", "balanced_accuracy_ci95_bootstrap", "bootstrap"),
             "mean of the per-class sensitivities at the most probable class");
    h << Row("Accuracy", WithInterval(m, "accuracy", "accuracy_ci95_bootstrap", "bootstrap"),
             "depends on the class mix of this split");
    h << Row(d.labels.size() == 2 ? "Brier score" : "Brier score (multi-class)", Fixed3(m["brier"].asDouble()),
             "mean squared error of the probabilities; 0 is perfect");
    h << "</table>\n";
    if (!resamples.empty()) {
      h << "<p class=\"note\">Bootstrap intervals: " << resamples
        << " stratified resamples (percentile), seed " << m["bootstrap"]["seed"].asUInt64() << ".</p>\n";
    }

    if (Has(m, "at_threshold")) {
      const config::Json& t = m["at_threshold"];
      h << "<h2>At the operating threshold</h2>\n";
      h << "<p>A case is called <b>" << HtmlEscape(t["positive_class"].asString()) << "</b> when its probability of '"
        << HtmlEscape(t["positive_class"].asString()) << "' is at least <b>" << report::TickText(t["threshold"].asDouble())
        << "</b>. Where this threshold came from: <b>" << HtmlEscape(t["source"].asString()) << "</b>.</p>\n<table>\n";
      const std::string pos = HtmlEscape(d.labels[1]), neg = HtmlEscape(d.labels[0]);
      const auto tp = t["tp"].asUInt64(), fn = t["fn"].asUInt64(), tn = t["tn"].asUInt64(), fp = t["fp"].asUInt64();
      h << Row("Sensitivity", WithInterval(t, "sensitivity", "sensitivity_ci95_wilson", "Wilson"),
               std::to_string(tp) + " of " + std::to_string(tp + fn) + " cases of '" + pos + "' called '" + pos + "'");
      h << Row("Specificity", WithInterval(t, "specificity", "specificity_ci95_wilson", "Wilson"),
               std::to_string(tn) + " of " + std::to_string(tn + fp) + " cases of '" + neg + "' called '" + neg + "'");
      h << "</table>\n";
    }

    h << "<h2>Confusion matrix</h2>\n<p>Rows: the true class; columns: the predicted class (the most probable";
    h << (d.labels.size() == 2 ? ", not the threshold above" : "") << ").</p>\n<table><tr><th>true \\ predicted</th>";
    for (const auto& l : d.labels) h << "<th>" << HtmlEscape(l) << "</th>";
    h << "</tr>\n";
    for (std::size_t r = 0; r < d.labels.size(); ++r) {
      h << "<tr><th>" << HtmlEscape(d.labels[r]) << "</th>";
      for (std::size_t c = 0; c < d.labels.size(); ++c) {
        h << "<td class=\"num\">" << m["confusion_matrix"][static_cast<int>(r)][static_cast<int>(c)].asUInt64() << "</td>";
      }
      h << "</tr>\n";
    }
    h << "</table>\n";

    if (Has(m, "calibration")) {
      h << "<h2>Calibration</h2>\n<p>Cases grouped by their predicted probability of '" << HtmlEscape(d.labels[1])
        << "' (10 equal bins); in a well calibrated head the observed fraction matches the mean prediction.</p>\n";
      h << "<table><tr><th>bin</th><th>cases</th><th>mean predicted</th><th>observed fraction</th></tr>\n";
      for (const auto& bin : m["calibration"]) {
        h << "<tr><td>" << Fixed3(bin["lower"].asDouble()) << "&ndash;" << Fixed3(bin["upper"].asDouble())
          << "</td><td class=\"num\">" << bin["count"].asUInt64() << "</td>";
        if (bin["count"].asUInt64() > 0) {
          h << "<td class=\"num\">" << Fixed3(bin["mean_predicted"].asDouble()) << "</td><td class=\"num\">"
            << Fixed3(bin["fraction_positive"].asDouble()) << "</td>";
        } else {
          h << "<td></td><td></td>";
        }
        h << "</tr>\n";
      }
      h << "</table>\n";
    }

    if (!figures.empty()) h << "<h2>Figures</h2>\n";
    for (const auto& f : figures) {
      const bool roc = f == "roc.png";
      h << "<figure><img src=\"" << f << "\" alt=\"" << (roc ? "ROC curve" : "reliability diagram") << "\">\n<figcaption>"
        << (roc ? "ROC curve: each point is a threshold; the grey diagonal is chance."
                : "Reliability diagram of the bins above; the grey diagonal is perfect calibration. Bins with few "
                  "cases scatter widely.")
        << "</figcaption></figure>\n";
    }
  }
  h << "<p class=\"note\">Written by curia " CURIA_VERSION_STRING " on " << UtcNow()
    << ". The numbers are those of " << HtmlEscape(metrics_name)
    << " in this folder.</p>\n</body></html>\n";
  config::WriteFileAtomic(dir + "/report.html", {h.str()});
  return figures;
}

}  // namespace curia::cli
