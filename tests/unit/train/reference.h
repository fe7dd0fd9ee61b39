// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The trainer tests' data and references: seeded synthetic features, and scikit-learn's (Debian's
// python3-sklearn through /usr/bin/python3) and R pROC's (/usr/bin/Rscript) answers on the same data.
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "curia/config/json.h"
#include "curia/train/matrix.h"

namespace curia::train::test {

// Standard normal numbers from std::mt19937_64 by Box-Muller (portable, unlike std::normal_distribution).
class Normal {
 public:
  explicit Normal(std::uint64_t seed) : rng_(seed) {}
  double Next() {
    const double u1 = (static_cast<double>(rng_() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    const double u2 = (static_cast<double>(rng_() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
  double Uniform() { return (static_cast<double>(rng_() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

 private:
  std::mt19937_64 rng_;
};

struct Dataset {
  Matrix x;
  std::vector<int> y;
};

// `counts[k]` cases of class k, `dims` features: N(0, 1) noise around a class mean drawn per class
// with spread `separation`, features given different scales and offsets (as real features have).
Dataset MakeClasses(const std::vector<int>& counts, std::size_t dims, double separation, std::uint64_t seed);

config::Json ToJson(const Matrix& x);
config::Json ToJson(const std::vector<int>& v);
config::Json ToJson(const std::vector<double>& v);
Matrix MatrixFromJson(const config::Json& rows);
std::vector<double> VectorFromJson(const config::Json& v);

// Runs tests/unit/train/sklearn_reference.py on {"tasks": tasks}; the list of results. Fails the test
// (ADD_FAILURE) and returns null when Python or scikit-learn is missing or the script fails.
config::Json Sklearn(const config::Json& tasks);

// Whether /usr/bin/python3 can import sklearn (the tests skip, saying so, when it cannot).
bool HaveSklearn();
bool HaveProc();

}  // namespace curia::train::test
