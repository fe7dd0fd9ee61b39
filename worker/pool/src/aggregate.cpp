// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/pool/aggregate.h"

#include <algorithm>
#include <functional>
#include <string>
#include <utility>

#include "curia/config/error.h"

namespace curia::pool {
namespace {

using worker::TaskFinding;
using worker::TaskInfo;

// What a finding says of its task, before any result.
TaskFinding Describe(const TaskInfo& task) {
  TaskFinding out;
  out.task = task.name;
  out.head = task.head;
  out.head_digest = task.head_digest;
  out.is3d = task.is3d;
  out.regression = task.regression;
  out.labels = task.labels;
  out.positive_class = task.positive_class;
  out.positive_label = task.positive_class >= 0 ? task.labels.at(static_cast<size_t>(task.positive_class)) : "";
  out.aggregation = task.settings.aggregate;
  out.threshold = task.settings.threshold;
  out.finding = task.settings.finding;
  if (task.settings.finding_site) {
    out.has_finding_site = true;
    out.finding_site = *task.settings.finding_site;
  }
  return out;
}

void Decide(const TaskInfo& task, TaskFinding& out) { out.present = !task.regression && out.probability >= out.threshold; }

}  // namespace

size_t ScoreIndex(const TaskInfo& task) {
  return task.positive_class >= 0 ? static_cast<size_t>(task.positive_class) : 0;
}

bool BetterKeySlice(float score, int64_t slice, float best_score, int64_t best_slice) {
  return score > best_score || (score == best_score && slice < best_slice);
}

SliceAggregate AggregateSlices(const std::vector<float>& slice_scores, config::Aggregation how, int64_t top_k) {
  if (slice_scores.empty()) throw Error(ErrorCode::kInvalidArgument, "no slice scores to aggregate");
  if (how == config::Aggregation::kTopKMean && top_k < 1) {
    throw Error(ErrorCode::kInvalidArgument, "top-k-mean needs TopK >= 1, not " + std::to_string(top_k));
  }
  SliceAggregate a;
  a.key_slice = 0;
  for (size_t s = 1; s < slice_scores.size(); ++s) {
    const auto key = static_cast<size_t>(a.key_slice);
    if (BetterKeySlice(slice_scores[s], static_cast<int64_t>(s), slice_scores[key], a.key_slice)) {
      a.key_slice = static_cast<int64_t>(s);
    }
  }
  std::vector<float> sorted = slice_scores;
  std::sort(sorted.begin(), sorted.end(), std::greater<float>());
  size_t k = sorted.size();
  if (how == config::Aggregation::kMax) k = 1;
  if (how == config::Aggregation::kTopKMean) k = std::min(sorted.size(), static_cast<size_t>(top_k));
  double sum = 0;
  for (size_t i = 0; i < k; ++i) sum += sorted[i];
  a.probability = sum / static_cast<double>(k);
  return a;
}

TaskFinding Aggregate2D(const TaskInfo& task, const std::vector<std::vector<float>>& slice_outputs) {
  if (slice_outputs.empty()) throw Error(ErrorCode::kInvalidArgument, "task " + task.name + ": no slice was scored");
  TaskFinding out = Describe(task);
  const size_t index = ScoreIndex(task);
  out.slice_scores.resize(slice_outputs.size());
  for (size_t s = 0; s < slice_outputs.size(); ++s) out.slice_scores[s] = slice_outputs[s].at(index);
  const SliceAggregate a = AggregateSlices(out.slice_scores, task.settings.aggregate, task.settings.top_k);
  out.probability = a.probability;
  out.key_slice = a.key_slice;
  out.class_probabilities = slice_outputs[static_cast<size_t>(a.key_slice)];
  Decide(task, out);
  return out;
}

TaskFinding Aggregate3D(const TaskInfo& task, std::vector<float> class_probabilities, std::vector<int64_t> pooled_slices) {
  if (pooled_slices.empty()) throw Error(ErrorCode::kInvalidArgument, "task " + task.name + ": no slice was pooled");
  TaskFinding out = Describe(task);
  out.probability = class_probabilities.at(ScoreIndex(task));
  out.class_probabilities = std::move(class_probabilities);
  out.key_slice = pooled_slices[pooled_slices.size() / 2];
  out.pooled_slices = std::move(pooled_slices);
  Decide(task, out);
  return out;
}

}  // namespace curia::pool
