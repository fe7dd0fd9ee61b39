// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// From a task head's outputs to a study-level finding: pure functions, no threads, no model.
//
//   TaskFinding f = Aggregate2D(task, per_slice);   // per_slice[s] = slice s's class probabilities
//   TaskFinding g = Aggregate3D(task, head_output, pooled_slices);
//
// 2-D tasks: each slice's score is its positive-class probability (a regression head's value); the
// study's probability is their max, mean, or mean of the top k (Aggregate / TopK of the task; all
// slices when there are fewer than k), summed in double in descending order. The key slice is the
// slice of the highest score, the first among equals. 3-D tasks: the head's output on the pooled
// window, the key slice at the window's centre. A classification finding is present when its
// probability >= Threshold; a regression finding never is.
#include <cstdint>
#include <vector>

#include "curia/config/task.h"
#include "curia/worker/findings.h"
#include "curia/worker/model.h"

namespace curia::pool {

// The index of the output a task is scored on: its positive class, or a regression head's value (0).
size_t ScoreIndex(const worker::TaskInfo& task);

// Whether `slice` with `score` is a better key slice than `best_slice` with `best_score`: a higher
// score, or the same score on an earlier slice. (The pool keeps the best slice's heat map with it.)
bool BetterKeySlice(float score, int64_t slice, float best_score, int64_t best_slice);

struct SliceAggregate {
  double probability = 0;
  int64_t key_slice = -1;
};

// The study-level probability and key slice from every slice's score, slice order. Throws
// curia::Error (kInvalidArgument) when there is no score, or for top-k-mean with top_k < 1.
SliceAggregate AggregateSlices(const std::vector<float>& slice_scores, config::Aggregation how, int64_t top_k);

// A 2-D task's finding from every slice's outputs (slice -> classes, or the value). Throws
// curia::Error (kInvalidArgument) when there is no slice, std::out_of_range when a slice lacks the
// scored output. The heat map is left empty (the pool adds the key slice's).
worker::TaskFinding Aggregate2D(const worker::TaskInfo& task, const std::vector<std::vector<float>>& slice_outputs);

// A 2-D mask-prompted task's finding on one region: `slice_outputs[i]` are the class probabilities
// on slice `slices[i]`; `region.slice_pixels` the region's area per slice of the volume. Each class
// is aggregated over the slices as the task's Region.Aggregation says (default mean); the finding's
// probability is the positive class's, or, for a multi-class head without a configured class
// (positive_class -1), the predicted class's (the highest aggregate; positive_class/label then name
// it). The key slice is the one with the largest region area (the first among equals). For heads of
// more than two classes region.predicted_class is set, and region.agreement compares it with the
// region's label and type code meaning (case-insensitive): "agrees", "disagrees", or "" when
// neither names a class of the head. slice_scores stay empty (the region's slices are in
// region.slice_pixels). Throws curia::Error (kInvalidArgument) when there is no slice.
worker::TaskFinding AggregateRegion(const worker::TaskInfo& task, worker::RegionReference region,
                                    const std::vector<int64_t>& slices,
                                    const std::vector<std::vector<float>>& slice_outputs);

// A 3-D mask-prompted task's finding on one region: the head's output on the window it pooled
// around the region (`pooled_slices`, window order). As AggregateRegion, but the class
// probabilities are the head's own; the key slice is the pooled slice with the largest region area
// and region.slices_used counts the pooled slices. Throws curia::Error (kInvalidArgument) when no
// slice was pooled.
worker::TaskFinding AggregateRegion3D(const worker::TaskInfo& task, worker::RegionReference region,
                                      std::vector<float> class_probabilities, std::vector<int64_t> pooled_slices);

// A 3-D task's finding from its head's output on `pooled_slices` (window order). Throws
// curia::Error (kInvalidArgument) when no slice was pooled, std::out_of_range when the output lacks
// the scored class.
worker::TaskFinding Aggregate3D(const worker::TaskInfo& task, std::vector<float> class_probabilities,
                                std::vector<int64_t> pooled_slices);

}  // namespace curia::pool
