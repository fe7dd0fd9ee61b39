// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Backbone throughput measured against the machine's own limit: the FLOP rate of the backbone
// divided by the FLOP rate of a plain LibTorch matrix product of the backbone's dominant shape, on
// the same device, precision and threads, in the same run.
#include <cstdint>
#include <ostream>

#include "curia/model/flops.h"
#include "curia/nn/backbone.h"

namespace curia::cli {

struct BackboneBenchResult {
  int64_t batch = 0, height = 0, width = 0, iterations = 0;
  double seconds_per_batch = 0;  // median over the timed iterations
  double images_per_second = 0;
  double flops_per_image = 0;
  double backbone_flops_per_second = 0;
  model::GemmShape gemm{};
  double gemm_seconds = 0;         // the best of gemm_runs
  double gemm_median_seconds = 0;  // their median, for the spread
  int64_t gemm_runs = 0;
  double gemm_flops_per_second = 0;
  double ratio = 0;  // backbone FLOP rate / matrix-product FLOP rate
  // With host_input: the worker's path, from slices in ordinary host memory through DeviceInput
  // (pinned staging and an asynchronous copy on the worker's stream on a GPU) to the pooled
  // features back on the host. host_input_ratio = seconds_per_batch / host_seconds_per_batch:
  // 1 when moving the batch in and out costs nothing next to the forward pass.
  double host_seconds_per_batch = 0;  // median; 0 when not measured
  double host_input_ratio = 0;
  // Where one more (profiled) forward pass spent its time, per part; `profiled_seconds` its wall
  // clock (the laps wait for the device, so it can exceed seconds_per_batch on a GPU).
  nn::ForwardTimes split;
  double profiled_seconds = 0;
};

// One warm-up pass of each, then `iterations` rounds: one timed forward pass of random pixels,
// then the matrix product repeated for about a third of that time (at least 3 times). The
// backbone's median pass against the product's best run; then one profiled pass (`split`).
// With host_input, each round also times the worker's path (above).
BackboneBenchResult BenchBackbone(const nn::Dinov2Backbone& backbone, int64_t batch, int64_t height, int64_t width,
                                  int iterations, bool host_input = false);

// The profiled pass's time split: per part its share of the time and, for the products, its FLOP
// rate next to the reference matrix product's (`flops`: one image's FLOPs by part).
void PrintTimeSplit(std::ostream& out, const BackboneBenchResult& r, const model::BackboneFlops& flops);

}  // namespace curia::cli
