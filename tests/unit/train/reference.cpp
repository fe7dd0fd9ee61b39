// SPDX-License-Identifier: GPL-3.0-or-later
#include "reference.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace curia::train::test {

Dataset MakeClasses(const std::vector<int>& counts, std::size_t dims, double separation, std::uint64_t seed) {
  Normal rng(seed);
  std::vector<std::vector<double>> means(counts.size(), std::vector<double>(dims));
  for (auto& m : means) {
    for (double& v : m) v = separation * rng.Next();
  }
  std::vector<double> scale(dims), offset(dims);
  for (std::size_t j = 0; j < dims; ++j) {
    scale[j] = 0.5 + 1.5 * rng.Uniform();
    offset[j] = 2.0 * rng.Next();
  }
  // Interleave the classes (round robin while cases remain) so that folds see mixed order.
  Dataset d;
  std::size_t total = 0;
  for (int c : counts) total += static_cast<std::size_t>(c);
  d.x = Matrix(total, dims);
  std::vector<int> left(counts);
  std::size_t row = 0;
  while (row < total) {
    for (std::size_t k = 0; k < counts.size(); ++k) {
      if (left[k] == 0) continue;
      --left[k];
      for (std::size_t j = 0; j < dims; ++j) d.x(row, j) = offset[j] + scale[j] * (means[k][j] + rng.Next());
      d.y.push_back(static_cast<int>(k));
      ++row;
    }
  }
  return d;
}

config::Json ToJson(const Matrix& x) {
  config::Json out(::Json::arrayValue);
  for (std::size_t i = 0; i < x.rows(); ++i) {
    config::Json row(::Json::arrayValue);
    for (std::size_t j = 0; j < x.cols(); ++j) row.append(x(i, j));
    out.append(row);
  }
  return out;
}

config::Json ToJson(const std::vector<int>& v) {
  config::Json out(::Json::arrayValue);
  for (int x : v) out.append(x);
  return out;
}

config::Json ToJson(const std::vector<double>& v) {
  config::Json out(::Json::arrayValue);
  for (double x : v) out.append(x);
  return out;
}

Matrix MatrixFromJson(const config::Json& rows) {
  Matrix m(rows.size(), rows.size() > 0 ? rows[0].size() : 0);
  for (::Json::ArrayIndex i = 0; i < rows.size(); ++i) {
    for (::Json::ArrayIndex j = 0; j < rows[i].size(); ++j) m(i, j) = rows[i][j].asDouble();
  }
  return m;
}

std::vector<double> VectorFromJson(const config::Json& v) {
  std::vector<double> out;
  for (const auto& x : v) out.push_back(x.asDouble());
  return out;
}

bool HaveSklearn() {
  static const bool have = curia::test::RunShell("/usr/bin/python3 -c 'import sklearn' 2>/dev/null").status == 0;
  return have;
}

bool HaveProc() {
  static const bool have =
      curia::test::RunShell("/usr/bin/Rscript -e 'suppressPackageStartupMessages(library(pROC))' 2>/dev/null").status == 0;
  return have;
}

config::Json Sklearn(const config::Json& tasks) {
  curia::test::TempDir dir;
  config::Json request(::Json::objectValue);
  request["tasks"] = tasks;
  curia::test::WriteFile(dir.File("request.json"), config::Dump(request, -1));
  const curia::test::ShellResult r =
      curia::test::RunShell("/usr/bin/python3 " + curia::test::TestDataPath("unit/train/sklearn_reference.py") + " " +
                            dir.File("request.json") + " " + dir.File("response.json"));
  if (r.status != 0) {
    ADD_FAILURE() << "sklearn_reference.py failed:\n" << r.output;
    return config::Json();
  }
  return config::ParseJsonFile(dir.File("response.json"));
}

}  // namespace curia::train::test
