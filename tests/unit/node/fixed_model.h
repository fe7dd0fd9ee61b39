// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A small deterministic worker::IModel for the node's tests: one 2-D classification task whose
// "present" probability is a fixed number on every slice. It stands in for the LibTorch model
// (nn::TorchModel, a slow build) because these tests are about the node's logic (queue, leases,
// results, exports), not numerics; the real model's numbers are tested in nn_test (against the
// Python reference) and with the worker pool in pool_test. The real worker pool runs here.
#include <memory>
#include <string>
#include <vector>

#include "curia/config/error.h"
#include "curia/config/settings.h"
#include "curia/worker/model.h"

namespace curia::test {

class FixedModel : public worker::IModel {
 public:
  // `task` comes from the settings the node runs with (its finding code, threshold, ...).
  FixedModel(const config::TaskSettings& task, float probability) : FixedModel(std::vector<config::TaskSettings>{task}, probability) {}
  // Every task of the settings; a task with a "Region" is a mask-prompted head (issue 17), whose
  // probability is the same fixed number for every (slice, region).
  FixedModel(const std::vector<config::TaskSettings>& tasks, float probability) : probability_(probability) {
    info_.path = "fixed-model";
    info_.backbone_digest = "fixed-backbone-digest";
    info_.image_size = 16;
    info_.devices = {"cpu"};
    for (const config::TaskSettings& task : tasks) {
      worker::TaskInfo t;
      t.name = task.name;
      t.normalization = config::Normalization::kPerSlice;
      t.labels = {"absent", "present"};
      t.positive_class = 1;
      t.head = task.head;
      t.head_digest = "fixed-head-digest";
      t.settings = task;
      t.mask_prompted = task.region.has_value();
      info_.tasks.push_back(t);
    }
  }
  const worker::ModelInfo& info() const override { return info_; }
  std::unique_ptr<worker::IDeviceRunner> CreateRunner(size_t) override { return std::make_unique<Runner>(probability_); }
  std::vector<int64_t> KeptSlices(int, int64_t, const std::vector<bool>&) const override {
    throw Error(ErrorCode::kInternal, "FixedModel has no 3-D task");
  }
  std::vector<float> Run3D(int, const std::vector<const worker::SliceTokens*>&) const override {
    throw Error(ErrorCode::kInternal, "FixedModel has no 3-D task");
  }

 private:
  struct Runner : worker::IDeviceRunner {
    explicit Runner(float p) : probability(p) {}
    void Run(const float*, int64_t n, const std::vector<worker::SliceRequest>& requests,
             std::vector<worker::SliceResult>& results) override {
      results.assign(static_cast<size_t>(n), {});
      for (int64_t i = 0; i < n; ++i) {
        for (size_t k = 0; k < requests[static_cast<size_t>(i)].tasks2d.size(); ++k) {
          results[static_cast<size_t>(i)].probabilities.push_back({1 - probability, probability});
        }
        for (size_t k = 0; k < requests[static_cast<size_t>(i)].masked2d.size(); ++k) {
          results[static_cast<size_t>(i)].masked_probabilities.push_back({1 - probability, probability});
        }
      }
    }
    float probability;
  };
  float probability_;
  worker::ModelInfo info_;
};

}  // namespace curia::test
