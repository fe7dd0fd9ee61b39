// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/train/lbfgs.h"

#include <algorithm>
#include <cmath>
#include <deque>

#include "curia/config/error.h"

namespace curia::train {
namespace {

constexpr double kC1 = 1e-4;  // sufficient decrease
constexpr double kC2 = 0.9;   // curvature (the usual value for quasi-Newton directions)
constexpr int kMaxLineSearchSteps = 60;
constexpr double kRelativeNoise = 1e-12;  // |f| times this bounds f's round-off generously

double Dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double MaxAbs(const std::vector<double>& v) {
  double m = 0.0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

// The minimiser of the cubic through (a, fa, da) and (b, fb, db), kept inside the interval away
// from its ends; bisection when the cubic has no usable minimum.
double CubicStep(double a, double fa, double da, double b, double fb, double db) {
  const double lo = std::min(a, b);
  const double hi = std::max(a, b);
  const double margin = 0.1 * (hi - lo);
  const double d1 = da + db - 3.0 * (fa - fb) / (a - b);
  const double disc = d1 * d1 - da * db;
  double t = 0.5 * (a + b);
  if (disc >= 0.0) {
    const double d2 = std::copysign(std::sqrt(disc), b - a);
    const double denom = db - da + 2.0 * d2;
    if (denom != 0.0) {
      const double c = b - (b - a) * (db + d2 - d1) / denom;
      if (std::isfinite(c)) t = c;
    }
  }
  return std::clamp(t, lo + margin, hi - margin);
}

struct Point {
  double step = 0.0;
  double value = 0.0;
  double slope = 0.0;  // directional derivative
};

}  // namespace

LbfgsResult MinimiseLbfgs(const Objective& f, std::vector<double>& x, const LbfgsOptions& options) {
  if (options.history < 1 || options.max_iterations < 0 || !(options.gradient_tolerance >= 0.0) ||
      !(options.relative_decrease_tolerance >= 0.0)) {
    throw Error(ErrorCode::kInvalidArgument, "L-BFGS: history must be >= 1, max_iterations >= 0, tolerances >= 0");
  }
  const std::size_t n = x.size();
  LbfgsResult result;
  std::vector<double> g(n, 0.0);
  double fx = f(x, g);
  ++result.evaluations;
  if (!std::isfinite(fx)) throw Error(ErrorCode::kInvalidArgument, "L-BFGS: the objective is not finite at the start");

  std::deque<std::vector<double>> s_hist;
  std::deque<std::vector<double>> y_hist;
  std::deque<double> rho_hist;
  std::vector<double> direction(n), x_trial(n), g_trial(n), alpha(static_cast<std::size_t>(options.history));

  result.stop_reason = "iterations";
  while (true) {
    result.gradient_max = MaxAbs(g);
    if (result.gradient_max <= options.gradient_tolerance) {
      result.stop_reason = "gradient";
      break;
    }
    if (result.iterations >= options.max_iterations) break;

    // Two-loop recursion: direction = -H g.
    direction = g;
    const std::size_t m = s_hist.size();
    for (std::size_t k = m; k-- > 0;) {
      alpha[k] = rho_hist[k] * Dot(s_hist[k], direction);
      for (std::size_t i = 0; i < n; ++i) direction[i] -= alpha[k] * y_hist[k][i];
    }
    if (m > 0) {
      const double gamma = Dot(s_hist[m - 1], y_hist[m - 1]) / Dot(y_hist[m - 1], y_hist[m - 1]);
      for (double& d : direction) d *= gamma;
    }
    for (std::size_t k = 0; k < m; ++k) {
      const double beta = rho_hist[k] * Dot(y_hist[k], direction);
      for (std::size_t i = 0; i < n; ++i) direction[i] += s_hist[k][i] * (alpha[k] - beta);
    }
    for (double& d : direction) d = -d;
    double slope0 = Dot(g, direction);
    if (!(slope0 < 0.0)) {  // not a descent direction (round-off): restart from steepest descent
      s_hist.clear();
      y_hist.clear();
      rho_hist.clear();
      for (std::size_t i = 0; i < n; ++i) direction[i] = -g[i];
      slope0 = Dot(g, direction);
    }
    // First iteration: a step of unit length in x; afterwards the quasi-Newton step 1.
    double step = m == 0 ? std::min(1.0, 1.0 / std::sqrt(Dot(direction, direction))) : 1.0;

    // Line search (strong Wolfe). `Evaluate` leaves x_trial and g_trial at the last point tried.
    double trial_value = fx;
    auto evaluate = [&](double a) {
      for (std::size_t i = 0; i < n; ++i) x_trial[i] = x[i] + a * direction[i];
      Point p;
      p.step = a;
      p.value = f(x_trial, g_trial);
      trial_value = p.value;
      p.slope = Dot(g_trial, direction);
      ++result.evaluations;
      return p;
    };
    const Point start{0.0, fx, slope0};
    // Sufficient decrease: Armijo, or (near the minimum, where f changes by less than its round-off)
    // Hager and Zhang's approximate Wolfe condition, which judges the step by its slope alone:
    // f(a) <= f(0) + eps |f(0)| and f'(a) <= (2 c1 - 1) f'(0) (SIAM J. Optim. 16, 2005).
    const double f_noise = kRelativeNoise * std::max(1.0, std::fabs(fx));
    auto decrease_ok = [&](const Point& p) {
      if (!std::isfinite(p.value) || !std::isfinite(p.slope)) return false;
      return p.value <= fx + kC1 * p.step * slope0 ||
             (p.value <= fx + f_noise && p.slope <= (2.0 * kC1 - 1.0) * slope0);
    };
    auto accept = [&](const Point& p) { return decrease_ok(p) && std::fabs(p.slope) <= -kC2 * slope0; };

    bool accepted = false;
    Point lo = start;
    Point hi;
    bool bracketed = false;
    Point prev = start;
    for (int k = 0; k < kMaxLineSearchSteps && !bracketed && !accepted; ++k) {
      const Point p = evaluate(step);
      if (!decrease_ok(p)) {
        lo = prev;
        hi = p;
        bracketed = true;
      } else if (accept(p)) {
        accepted = true;
      } else if (p.slope >= 0.0) {
        lo = p;
        hi = prev;
        bracketed = true;
      } else {
        prev = p;
        step *= 2.0;
      }
    }
    // Zoom: lo satisfies the decrease condition with its slope pointing towards hi.
    for (int k = 0; bracketed && !accepted && k < kMaxLineSearchSteps; ++k) {
      if (std::fabs(hi.step - lo.step) <= 1e-16 * std::max(1.0, std::fabs(lo.step))) break;
      const double a = std::isfinite(hi.value) && std::isfinite(hi.slope)
                           ? CubicStep(lo.step, lo.value, lo.slope, hi.step, hi.value, hi.slope)
                           : 0.5 * (lo.step + hi.step);
      const Point p = evaluate(a);
      if (accept(p)) {
        accepted = true;
      } else if (!decrease_ok(p)) {
        hi = p;
      } else {
        if (p.slope * (hi.step - lo.step) >= 0.0) hi = lo;
        lo = p;
      }
    }
    if (!accepted) {
      // No Wolfe point: take the best point with sufficient decrease if there is one.
      if (lo.step > 0.0 && lo.value < fx && std::isfinite(lo.slope)) {
        evaluate(lo.step);
      } else {
        if (!s_hist.empty()) {
          // The quasi-Newton direction can be nearly orthogonal to the gradient once the curvature
          // pairs are dominated by round-off: forget them and try steepest descent before giving up.
          s_hist.clear();
          y_hist.clear();
          rho_hist.clear();
          continue;
        }
        result.stop_reason = "no progress";
        break;
      }
    }

    // Update the history with s = x_trial - x, y = g_trial - g.
    std::vector<double> s(n), y(n);
    for (std::size_t i = 0; i < n; ++i) {
      s[i] = x_trial[i] - x[i];
      y[i] = g_trial[i] - g[i];
    }
    const double sy = Dot(s, y);
    x.swap(x_trial);
    g.swap(g_trial);
    const double f_before = fx;
    fx = trial_value;
    ++result.iterations;
    const bool small_decrease =
        options.relative_decrease_tolerance > 0.0 &&
        f_before - fx <= options.relative_decrease_tolerance * std::max({std::fabs(f_before), std::fabs(fx), 1.0});
    if (sy > 1e-300) {
      if (static_cast<int>(s_hist.size()) == options.history) {
        s_hist.pop_front();
        y_hist.pop_front();
        rho_hist.pop_front();
      }
      s_hist.push_back(std::move(s));
      y_hist.push_back(std::move(y));
      rho_hist.push_back(1.0 / sy);
    }
    if (small_decrease) {
      result.gradient_max = MaxAbs(g);
      result.stop_reason = result.gradient_max <= options.gradient_tolerance ? "gradient" : "relative decrease";
      break;
    }
  }
  result.value = fx;
  result.converged = result.gradient_max <= options.gradient_tolerance;
  return result;
}

}  // namespace curia::train
