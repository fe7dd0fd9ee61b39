// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Unconstrained minimisation of a smooth function by limited-memory BFGS (Nocedal & Wright,
// Numerical Optimization, 2nd ed., algorithms 7.4 and 7.5) with a line search that enforces the
// strong Wolfe conditions (algorithms 3.5 and 3.6, cubic interpolation in the zoom phase).
//
//   std::vector<double> x(n, 0.0);
//   LbfgsResult r = MinimiseLbfgs([](const std::vector<double>& x, std::vector<double>& g) {
//     ...; return f;   // fills g with the gradient at x
//   }, x, LbfgsOptions{});
//
// Our own rather than a library: Debian 12 has liblbfgs-dev (1.10, whose last upstream release
// dates from 2010) and dlib (a large library pulled in for one routine); the trainer's problems are
// small, convex and smooth, and one page of code that we test against scikit-learn is the lighter
// dependency.
//
// Stops when the largest gradient component is at most `gradient_tolerance` (scikit-learn's and
// SciPy's `gtol`), when the line search can make no more progress (round-off; then `converged`
// tells whether the gradient is small anyway), or after `max_iterations`; optionally (off by default)
// also by SciPy L-BFGS-B's relative-decrease rule, (f_k - f_k+1) <= ftol * max(|f_k|, |f_k+1|, 1).
// Thread safety: a pure function of its arguments (the objective is called on the caller's thread).
#include <functional>
#include <string>
#include <vector>

namespace curia::train {

// Returns f(x) and writes the gradient into `gradient` (sized like x by the caller).
using Objective = std::function<double(const std::vector<double>& x, std::vector<double>& gradient)>;

struct LbfgsOptions {
  int max_iterations = 10000;
  double gradient_tolerance = 1e-10;  // on max |g_i|
  int history = 10;                   // correction pairs kept (SciPy's L-BFGS-B uses 10 too)
  // SciPy's `ftol` (its default 2.2e-9 is what scikit-learn's LogisticRegression leaves); 0 = off.
  // Off by default: it can stop long before the gradient is small (docs/training.md).
  double relative_decrease_tolerance = 0.0;
};

struct LbfgsResult {
  double value = 0.0;          // f at the returned x
  double gradient_max = 0.0;   // max |g_i| there
  int iterations = 0;
  int evaluations = 0;
  bool converged = false;      // gradient_max <= gradient_tolerance
  std::string stop_reason;     // "gradient", "no progress", "relative decrease" or "iterations"
};

// Minimises `f` from `x` (updated in place).
LbfgsResult MinimiseLbfgs(const Objective& f, std::vector<double>& x, const LbfgsOptions& options = {});

}  // namespace curia::train
