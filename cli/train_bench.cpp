// SPDX-License-Identifier: GPL-3.0-or-later
// curia bench train: a 5-fold cross-validated L2 logistic regression over a grid of C values, then
// the refit on every case, timed with our trainer (curia::train::CrossValidateLogistic) and with
// scikit-learn's GridSearchCV(LogisticRegression(solver="lbfgs"), cv=StratifiedKFold(k)) on the
// same data, in rounds whose order alternates (ours first, then scikit-learn's first, ...);
// train_ratio = the median of the rounds' ratios, reported with their spread.
#include "train_bench.h"

#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "args.h"
#include "bench_util.h"
#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/train/cross_validation.h"
#include "scratch_dir.h"
#include "version.h"

namespace curia::cli {
namespace {

// The scikit-learn side: reads the data file, times GridSearchCV(...).fit alone (the interpreter's
// start and the imports are outside the clock) and prints one JSON line.
constexpr const char* kSklearnScript = R"PY(
import json, sys, time, warnings
import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
path, n, d, folds, tol, max_iter, grid, threads = sys.argv[1:9]
n, d, folds, tol, max_iter, threads = int(n), int(d), int(folds), float(tol), int(max_iter), int(threads)
grid = [float(v) for v in grid.split(",")]
raw = np.fromfile(path, dtype="<f8")
x, y = raw[: n * d].reshape(n, d), raw[n * d :].astype(np.int64)
search = GridSearchCV(LogisticRegression(penalty="l2", solver="lbfgs", tol=tol, max_iter=max_iter),
                      {"C": grid}, cv=StratifiedKFold(n_splits=folds))
limits = None
if threads > 0:  # the same thread budget as ours: BLAS (and OpenMP) limited to `threads`
    from threadpoolctl import threadpool_limits
    limits = threadpool_limits(limits=threads)
blas = ""
try:
    from threadpoolctl import threadpool_info
    blas = ", ".join("%s %s threads" % (p.get("internal_api"), p.get("num_threads")) for p in threadpool_info())
except Exception:
    pass
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", ConvergenceWarning)
    start = time.perf_counter()
    search.fit(x, y)
    seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "best_index": int(search.best_index_),
                  "mean_accuracy": search.cv_results_["mean_test_score"].tolist(),
                  "refit_iterations": int(search.best_estimator_.n_iter_.max()),
                  "convergence_warnings": sum(1 for w in caught if issubclass(w.category, ConvergenceWarning)),
                  "sklearn": sklearn.__version__, "numpy": np.__version__, "blas": blas}))
)PY";

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs a shell command; its standard output, and the exit status in *status.
std::string Capture(const std::string& command, int* status) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw Error(ErrorCode::kUnavailable, "cannot run " + command);
  char buf[4096];
  std::size_t got = 0;
  while ((got = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, got);
  const int rc = ::pclose(pipe);
  *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
  return out;
}

std::vector<double> ParseList(const std::string& text) {
  std::vector<double> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    if (item.empty() || *end != '\0' || !(v > 0.0) || !std::isfinite(v)) {
      throw UsageError("--grid: '" + item + "' is not a positive number");
    }
    out.push_back(v);
  }
  if (out.empty()) throw UsageError("--grid: no values");
  return out;
}

// Seeded synthetic features that look like a backbone's: per-feature offsets and scales, two classes
// (about 40 % positive) whose means differ a little in every feature.
void MakeData(std::size_t n, std::size_t d, train::Matrix* x, std::vector<int>* y) {
  std::mt19937_64 rng(2026);
  auto uniform = [&] { return (static_cast<double>(rng() >> 11) + 0.5) * (1.0 / 9007199254740992.0); };
  auto normal = [&] {
    const double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  };
  std::vector<double> offset(d), scale(d), shift(d);
  for (std::size_t j = 0; j < d; ++j) {
    offset[j] = 2.0 * normal();
    scale[j] = 0.5 + 1.5 * uniform();
    shift[j] = 0.1 * normal();
  }
  *x = train::Matrix(n, d);
  y->assign(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    (*y)[i] = uniform() < 0.4 ? 1 : 0;
    for (std::size_t j = 0; j < d; ++j) (*x)(i, j) = offset[j] + scale[j] * (normal() + ((*y)[i] ? shift[j] : 0.0));
  }
}

}  // namespace

int BenchTrain(const Args& args) {
  ArgParser p("curia bench train",
              "Times a cross-validated L2 logistic head: k-fold StratifiedKFold choice of C over a grid, then\n"
              "the refit on every case, with our trainer and, in the same run on the same data (written to a\n"
              "temporary file), scikit-learn's GridSearchCV(LogisticRegression(solver=\"lbfgs\")) under\n"
              "--python; in rounds whose order alternates (A B, B A, ...), train_ratio = the median of the\n"
              "rounds' ratios ours / scikit-learn's, with their spread (target <= 1). scikit-learn's time is\n"
              "GridSearchCV.fit alone (time.perf_counter; the interpreter's start and the imports excluded).\n"
              "Both sides stop by the same rules: tol on the largest gradient component, max_iter, and SciPy\n"
              "L-BFGS-B's relative decrease of f, ftol 2.2e-9 (its default, which scikit-learn's\n"
              "LogisticRegression leaves; our trainer applies it only when asked, as here). Ours is also timed\n"
              "once with the gradient rule alone (train-head's way). Skipped, saying so, without scikit-learn.");
  p.Option("--cases", "N", "cases (rows)", false, "1000")
      .Option("--features", "D", "features per case", false, "768")
      .Option("--folds", "K", "cross-validation folds", false, "5")
      .Option("--grid", "C,C,...", "candidate values of C", false, "0.0001,0.001,0.01,0.1,1,10,100")
      .Option("--tol", "T", "stop when the largest gradient component is at most T (both sides)", false, "0.0001")
      .Option("--max-iter", "N", "iteration limit of each fit (both sides)", false, "1000")
      .Option("--ftol", "F", "our side: SciPy's relative-decrease stop (0: gradient and max_iter alone)", false,
              "2.220446049250313e-09")
      .Option("--rounds", "N", "rounds, the order alternated; median and spread of their ratios", false, "5")
      .Option("--threads", "N", "threads on each side: ours for the fold x C fits, scikit-learn's BLAS and OpenMP\n"
                                "                          (threadpoolctl); 0: ours one per hardware thread, scikit-learn's its\n"
                                "                          defaults (OpenBLAS's busy-waiting threads can be far slower on a\n"
                                "                          loaded machine, which would flatter ours)", false, "1")
      .Option("--python", "EXE", "the python with scikit-learn", false, "/usr/bin/python3")
      .Option("--json", "FILE", "also write the figures as JSON");
  if (!p.Parse(args)) return 0;
  const std::size_t n = static_cast<std::size_t>(p.GetInt("--cases", 10, 1000000));
  const std::size_t d = static_cast<std::size_t>(p.GetInt("--features", 1, 100000));
  const int folds = static_cast<int>(p.GetInt("--folds", 2, 100));
  const std::vector<double> grid = ParseList(p.Get("--grid"));
  char* end = nullptr;
  const std::string tol_text = p.Get("--tol"), ftol_text = p.Get("--ftol");  // kept: `end` points into them
  const double tol = std::strtod(tol_text.c_str(), &end);
  if (*end != '\0' || !(tol > 0.0) || !std::isfinite(tol)) throw UsageError("--tol: expected a positive number");
  const int max_iter = static_cast<int>(p.GetInt("--max-iter", 1, 10000000));
  const double ftol = std::strtod(ftol_text.c_str(), &end);
  if (*end != '\0' || !(ftol >= 0.0) || !std::isfinite(ftol)) throw UsageError("--ftol: expected a number >= 0");
  const int rounds = static_cast<int>(p.GetInt("--rounds", 1, 100));
  const int threads_option = static_cast<int>(p.GetInt("--threads", 0, 1024));
  const int threads =
      threads_option > 0 ? threads_option : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::string python = p.Get("--python");

  std::cout << "Training time against scikit-learn (curia " CURIA_VERSION_STRING ")\n"
            << "  problem   " << n << " cases x " << d << " features, 2 classes, " << folds << "-fold StratifiedKFold, "
            << grid.size() << " values of C (" << p.Get("--grid") << "), then the refit\n"
            << "  stopping  tol " << p.Get("--tol") << " (largest gradient component), max_iter " << max_iter
            << ", ftol " << p.Get("--ftol") << " (relative decrease of f) on both sides\n"
            << "  threads   " << (threads_option > 0 ? std::to_string(threads_option) + " on each side"
                                                     : std::to_string(threads) + " for ours, scikit-learn's defaults")
            << "\n"
            << std::flush;

  int status = 0;
  Capture(Quote(python) + " -c 'import sklearn' 2>/dev/null", &status);
  if (status != 0) {
    const std::string reason = python + " cannot import sklearn (packaging/install-deps.sh installs python3-sklearn)";
    std::cout << "  skipped: " << reason << "\n";
    if (p.Has("--json")) {
      config::Json j(::Json::objectValue);
      j["benchmark"] = "train";
      j["skipped"] = reason;
      WriteJsonFile(p.Get("--json"), j);
    }
    return 0;
  }

  train::Matrix x;
  std::vector<int> y;
  MakeData(n, d, &x, &y);
  ScratchDir scratch("curia-bench-train");
  const std::string data_file = scratch.path() + "/data.f64";
  const std::string script_file = scratch.path() + "/sklearn_train.py";
  {
    std::ofstream out(data_file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(x.values().data()), static_cast<std::streamsize>(x.values().size() * sizeof(double)));
    for (int v : y) {
      const double f = v;
      out.write(reinterpret_cast<const char*>(&f), sizeof f);
    }
    std::ofstream script(script_file);
    script << kSklearnScript;
    if (!out || !script) throw Error(ErrorCode::kUnavailable, scratch.path() + ": cannot write the benchmark's data");
  }
  const std::string command = Quote(python) + " " + Quote(script_file) + " " + Quote(data_file) + " " +
                              std::to_string(n) + " " + std::to_string(d) + " " + std::to_string(folds) + " " +
                              Quote(p.Get("--tol")) + " " + std::to_string(max_iter) + " " + Quote(p.Get("--grid")) + " " +
                              std::to_string(threads_option);

  train::CrossValidationOptions cv;
  cv.grid = grid;
  cv.folds = folds;
  cv.threads = threads;
  cv.logistic.tolerance = tol;
  cv.logistic.max_iterations = max_iter;
  cv.logistic.relative_decrease_tolerance = ftol;
  std::vector<double> ours_s, sklearn_s;
  train::CrossValidationResult ours;
  config::Json sk;
  std::vector<double> ratios;
  for (int r = 0; r < rounds; ++r) {
    auto run_ours = [&] {
      const auto start = std::chrono::steady_clock::now();
      ours = train::CrossValidateLogistic(x, y, 2, cv);
      ours_s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    };
    auto run_sklearn = [&] {
      const std::string text = Capture(command, &status);
      if (status != 0) throw Error(ErrorCode::kUnavailable, "the scikit-learn side failed (exit status " + std::to_string(status) + ")");
      sk = config::ParseJson(text, "scikit-learn's answer");
      sklearn_s.push_back(sk["seconds"].asDouble());
    };
    // A B, B A, ...: a drift of the machine's speed hits both sides.
    if (r % 2 == 0) {
      run_ours();
      run_sklearn();
    } else {
      run_sklearn();
      run_ours();
    }
    ratios.push_back(ours_s.back() / sklearn_s.back());
    std::cout << "  round " << r + 1 << (r % 2 == 0 ? " (ours first)  " : " (sklearn first)") << " ours "
              << Fixed(ours_s.back(), 3) << " s, scikit-learn " << Fixed(sklearn_s.back(), 3) << " s, ratio "
              << Fixed(ratios.back(), 3) << "\n"
              << std::flush;
  }
  // Ours once more with the gradient rule alone, as `curia train-head` stops (reported, not the ratio).
  train::CrossValidationOptions gradient_only = cv;
  gradient_only.logistic.relative_decrease_tolerance = 0.0;
  auto start = std::chrono::steady_clock::now();
  const train::CrossValidationResult ours_gradient = train::CrossValidateLogistic(x, y, 2, gradient_only);
  const double gradient_only_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double ours_median = Median(ours_s), sklearn_median = Median(sklearn_s);
  const double ratio = Median(ratios);
  double worst_accuracy = 0.0;
  for (std::size_t g = 0; g < grid.size(); ++g) {
    worst_accuracy = std::max(worst_accuracy, std::fabs(ours.mean_accuracy[g] - sk["mean_accuracy"][static_cast<int>(g)].asDouble()));
  }
  const bool same_c = static_cast<int>(ours.best_index) == sk["best_index"].asInt();
  std::cout << "  ours      " << Fixed(ours_median, 3) << " s (median of " << rounds << "; " << threads
            << " thread(s) over the fold x C fits), C = " << ours.best_c << ", refit " << ours.model.optimisation.iterations
            << " iterations\n"
            << "  sklearn   " << Fixed(sklearn_median, 3) << " s (median; scikit-learn " << sk["sklearn"].asString()
            << ", numpy " << sk["numpy"].asString() << ", " << sk["blas"].asString() << "), C = "
            << grid[static_cast<std::size_t>(sk["best_index"].asInt())] << ", refit " << sk["refit_iterations"].asInt()
            << " iterations, " << sk["convergence_warnings"].asInt() << " ConvergenceWarning(s)\n"
            << "  ours, gradient rule alone (no ftol): " << Fixed(gradient_only_s, 3) << " s (one run), C = "
            << ours_gradient.best_c << ", refit " << ours_gradient.model.optimisation.iterations << " iterations\n"
            << "  agreement same C: " << (same_c ? "yes" : "NO") << "; mean accuracies differ by at most "
            << Fixed(worst_accuracy, 4) << "\n"
            << "  ratio     ours / scikit-learn = " << Fixed(ratio, 3) << " (median of the rounds' ratios, spread "
            << Spread(ratios) << ")   [train_ratio] (target <= 1.0: "
            << (ratio <= 1.0 ? "met" : "NOT met") << ")\n";
  if (p.Has("--json")) {
    config::Json j(::Json::objectValue);
    j["benchmark"] = "train";
    j["curia_version"] = CURIA_VERSION_STRING;
    j["cases"] = static_cast<Json::UInt64>(n);
    j["features"] = static_cast<Json::UInt64>(d);
    j["folds"] = folds;
    for (double c : grid) j["grid"].append(c);
    j["tol"] = tol;
    j["max_iter"] = max_iter;
    j["ftol"] = ftol;
    j["rounds"] = rounds;
    j["threads"] = threads;
    for (double s : ours_s) j["ours_rounds_s"].append(s);
    for (double s : sklearn_s) j["sklearn_rounds_s"].append(s);
    j["ours_seconds"] = ours_median;
    j["sklearn_seconds"] = sklearn_median;
    for (double v : ratios) j["ratios"].append(v);
    j["train_ratio"] = ratio;
    j["ours_gradient_only_seconds"] = gradient_only_s;
    j["ours_refit_iterations"] = ours.model.optimisation.iterations;
    j["ours_refit_stop"] = ours.model.optimisation.stop_reason;
    j["ours_best_c"] = ours.best_c;
    j["sklearn_best_c"] = grid[static_cast<std::size_t>(sk["best_index"].asInt())];
    j["same_c"] = same_c;
    j["mean_accuracy_max_difference"] = worst_accuracy;
    j["sklearn"] = sk;
    WriteJsonFile(p.Get("--json"), j);
  }
  return 0;
}

}  // namespace curia::cli
