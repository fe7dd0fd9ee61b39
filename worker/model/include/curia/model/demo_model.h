// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Deterministic random DINOv2 backbones in the exact Hugging Face layout (config.json,
// model.safetensors, preprocessor_config.json), clearly marked as demo models: config.json carries
// "curia_demo": true and a notice, and a README says the output is meaningless. Used by the tests,
// the demo and the benchmarks; the real Curia weights are never bundled.
//
//   WriteDemoModel("/tmp/demo", DemoSize::kTiny, /*seed=*/0);
//   Dinov2Config cfg = DemoConfig(DemoSize::kBase);   // Curia-B shapes
#include <cstdint>
#include <string>
#include <vector>

#include "curia/model/dinov2_config.h"

namespace curia::model {

enum class DemoSize {
  kTiny,  // hidden 64, 2 layers, 4 heads, SwiGLU, 512x512 input: fast enough for every test
  kBase,  // Curia-B shapes: hidden 768, 12 layers, 12 heads, SwiGLU, 512x512, 1 channel
};

DemoSize ParseDemoSize(const std::string& text);  // "tiny" | "base"
Dinov2Config DemoConfig(DemoSize size);

// Writes the three files into `dir` (created if needed), and one subfolder per demo head, in the
// layout of raidium/curia's heads (for the tiny size with the dino.* backbone copy, as published):
//   demo-2d    2-D head on the CLS token, 2 classes ("no finding", "finding")
//   demo-mask  2-D mask-prompted head on the mask-weighted patch tokens, 3 classes
//   demo-3d    3-D head: window of 5 slices, 4x4-pooled patch tokens + CLS, self + cross attention
// Refuses (curia::Error kInvalidArgument) to overwrite a folder whose config.json is not itself a
// demo model's.
void WriteDemoModel(const std::string& dir, DemoSize size, uint64_t seed);

// The demo tasks, as the text of a "Tasks" object of the Curia configuration: "demo-finding" (the
// demo-2d head, max over slices) and "demo-3d-finding" (the demo-3d head). They name the demo
// model's heads, so they are valid only with a demo model. One definition for `curia run` (no
// --config) and `curia init` (no --model).
std::string DemoTasksJson();
// The demo region task, as more members of that "Tasks" object: "demo-region" (the demo-mask head on
// every SEG segment and RTSTRUCT ROI of a series: its predicted class per region). For `curia run`
// (no --config), which reads the SEGs and RTSTRUCTs of its folder; `curia init` leaves it out.
std::string DemoRegionTasksJson();
// True when `dir`/config.json is a demo model's (written by WriteDemoModel).
bool IsDemoModel(const std::string& dir);

// Deterministic generator (SplitMix64 + Box-Muller): the same seed gives the same weights on any
// machine and LibTorch version.
class DemoRandom {
 public:
  explicit DemoRandom(uint64_t seed) : state_(seed) {}
  uint64_t NextU64();
  double Uniform();  // [0, 1)
  double Normal();   // N(0, 1)

 private:
  uint64_t state_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace curia::model
