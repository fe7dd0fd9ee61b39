// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The worker pool's model (worker::IModel) in LibTorch: the backbone on every configured device,
// and every configured task's head, checked against the backbone and the task settings.
//
//   auto model = TorchModel::Load(settings);      // errors name the JSON path of the culprit
//   pool = std::make_unique<pool::WorkerPool>(*model, settings.model);
#include <memory>
#include <vector>

#include "curia/config/settings.h"
#include "curia/worker/model.h"

namespace curia::nn {

class TorchModel : public worker::IModel {
 public:
  // Loads everything; throws curia::Error naming the configuration file and JSON path of the
  // setting at fault ("curia.json: $.Curia.Tasks.ich.Head: ...").
  static std::unique_ptr<TorchModel> Load(const config::CuriaSettings& settings);
  ~TorchModel() override;

  const worker::ModelInfo& info() const override;
  std::unique_ptr<worker::IDeviceRunner> CreateRunner(size_t device) override;
  std::vector<int64_t> KeptSlices(int task, int64_t slices, const std::vector<bool>& masked) const override;
  std::vector<float> Run3D(int task, const std::vector<const worker::SliceTokens*>& slices) const override;
  worker::SliceTokens VolumeInput(int task, const std::vector<const worker::SliceTokens*>& slices) const override;

 private:
  struct Impl;
  explicit TorchModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace curia::nn
