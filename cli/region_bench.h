// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// curia bench region (and the region_ratio row of `curia bench all`): slices/s of a job whose
// mask-prompted task runs on every segment of a multi-segment SEG, over slices/s of a plain 2-D job
// on the same series, measured in alternated rounds of one run. Full builds only (pool, DICOM,
// regions).
//
//   RegionBenchOptions o;                     // Curia-B shapes, 8 slices of 512x512, 10 segments
//   RegionBenchResult r = MeasureRegionRatio(o, scratch.path());
//   r.ratio;                                  // median over rounds of region / plain slices/s
#include <cstdint>
#include <string>
#include <vector>

#include "commands.h"
#include "curia/config/json.h"

namespace curia::cli {

struct RegionBenchOptions {
  std::string size = "base";  // demo model: tiny or base (Curia-B shapes)
  int64_t slices = 8;         // phantom series: slices of image x image pixels
  int64_t image = 512;
  int64_t segments = 10;      // SEG segments, each with pixels on every slice
  int64_t batch = 4;          // MaxBatch of the pool
  int64_t rounds = 3;         // rounds of (plain, region) jobs, in alternating order
};

struct RegionBenchResult {
  std::string model;                // "DEMO base (Curia-B shapes)"
  int64_t slices = 0, segments = 0;
  double plain_rate = 0, region_rate = 0;  // slices/s, medians over rounds
  double ratio = 0;                         // median of the per-round region / plain rates
  std::vector<double> ratios;               // per round
  int64_t plain_backbone_slices = 0, region_backbone_slices = 0;  // backbone passes of one job of each kind
  int64_t region_findings = 0;              // findings of one region job (one per segment)
  double seg_read_seconds = 0;              // reading the SEG onto the series (once, not timed in the rates)
};

// Writes the model, the series and its SEG under `dir`, then runs the rounds (CPU threads as set).
RegionBenchResult MeasureRegionRatio(const RegionBenchOptions& options, const std::string& dir);

// The figures of `r` (measured with `o`) as JSON, for `curia bench region --json` and `bench all`.
config::Json RegionResultJson(const RegionBenchOptions& o, const RegionBenchResult& r);

int BenchRegion(const Args& args);

}  // namespace curia::cli
