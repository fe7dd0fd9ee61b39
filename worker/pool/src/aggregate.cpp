// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/pool/aggregate.h"

#include <algorithm>
#include <cctype>
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

namespace {
std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

namespace {

// The region's part of a region finding whose class_probabilities are set: the predicted class
// (named as the positive class for a multi-class head without a configured one), the key slice
// (the largest region area among `slices`, the first among equals), and the predicted class's
// agreement with the region's label or code. The caller sets the probability and decides.
void FinishRegion(const TaskInfo& task, worker::RegionReference region, const std::vector<int64_t>& slices,
                  int64_t slices_used, TaskFinding& out) {
  const std::vector<float>& p = out.class_probabilities;
  size_t predicted = 0;
  for (size_t c = 1; c < p.size(); ++c) {
    if (p[c] > p[predicted]) predicted = c;
  }
  if (!task.regression && task.positive_class < 0) {
    out.positive_class = static_cast<int64_t>(predicted);
    out.positive_label = predicted < task.labels.size() ? task.labels[predicted] : "";
  }
  out.key_slice = slices.front();
  for (int64_t s : slices) {
    const auto area = [&](int64_t slice) {
      return slice >= 0 && static_cast<size_t>(slice) < region.slice_pixels.size() ? region.slice_pixels[static_cast<size_t>(slice)] : 0;
    };
    if (area(s) > area(out.key_slice) || (area(s) == area(out.key_slice) && s < out.key_slice)) out.key_slice = s;
  }
  region.slices_used = slices_used;
  if (!task.regression && task.labels.size() > 2 && predicted < task.labels.size()) {
    region.predicted_class = task.labels[predicted];
    const std::string label = Lower(region.label), meaning = Lower(region.type.meaning);
    bool named = false;
    for (const std::string& l : task.labels) named = named || Lower(l) == label || (!meaning.empty() && Lower(l) == meaning);
    const std::string predicted_class = Lower(region.predicted_class);
    region.agreement = !named ? ""
                       : (predicted_class == label || (!meaning.empty() && predicted_class == meaning)) ? "agrees"
                                                                                                      : "disagrees";
  }
  out.region = std::move(region);
}

}  // namespace

TaskFinding AggregateRegion(const TaskInfo& task, worker::RegionReference region, const std::vector<int64_t>& slices,
                            const std::vector<std::vector<float>>& slice_outputs) {
  if (slices.empty() || slices.size() != slice_outputs.size()) {
    throw Error(ErrorCode::kInvalidArgument, "task " + task.name + ": region " + std::to_string(region.number) +
                                                 " has no scored slice");
  }
  const config::RegionSelection how = task.settings.region.value_or(config::RegionSelection{});
  TaskFinding out = Describe(task);
  out.aggregation = how.aggregate;
  const size_t classes = slice_outputs.front().size();
  out.class_probabilities.resize(classes);
  std::vector<float> column(slices.size());
  for (size_t c = 0; c < classes; ++c) {
    for (size_t s = 0; s < slices.size(); ++s) column[s] = slice_outputs[s].at(c);
    out.class_probabilities[c] = static_cast<float>(AggregateSlices(column, how.aggregate, how.top_k).probability);
  }
  FinishRegion(task, std::move(region), slices, static_cast<int64_t>(slices.size()), out);
  // Summed in double like AggregateSlices (the class columns above are rounded to float).
  const size_t scored = out.positive_class >= 0 ? static_cast<size_t>(out.positive_class) : 0;  // a value: 0
  for (size_t s = 0; s < slices.size(); ++s) column[s] = slice_outputs[s].at(scored);
  out.probability = AggregateSlices(column, how.aggregate, how.top_k).probability;
  Decide(task, out);
  return out;
}

TaskFinding AggregateRegion3D(const TaskInfo& task, worker::RegionReference region, std::vector<float> class_probabilities,
                              std::vector<int64_t> pooled_slices) {
  if (pooled_slices.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "task " + task.name + ": region " + std::to_string(region.number) +
                                                 " has no pooled slice");
  }
  TaskFinding out = Describe(task);
  out.class_probabilities = std::move(class_probabilities);
  std::vector<int64_t> unique = pooled_slices;
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  FinishRegion(task, std::move(region), pooled_slices, static_cast<int64_t>(unique.size()), out);
  out.probability = out.class_probabilities.at(out.positive_class >= 0 ? static_cast<size_t>(out.positive_class) : 0);
  out.pooled_slices = std::move(pooled_slices);
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
