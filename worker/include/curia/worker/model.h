// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The model as the worker pool sees it: a backbone with task heads on one or more devices. The
// LibTorch implementation lives in worker/nn (nn::TorchModel); the pool only moves host buffers.
//
// Per device worker, the pool creates one runner and sends it batches of preprocessed slices; each
// slice says which outputs it is for (2-D task probabilities, 3-D task tokens, and for each region
// mask on it the 2-D mask-prompted task probabilities or the 3-D mask-prompted task tokens). 3-D
// tasks pool their slices' tokens once every slice of the window is through (Run3D). The backbone
// runs once per slice of a batch, whatever the number of tasks and regions on it.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "curia/config/error.h"
#include "curia/config/task.h"
#include "curia/worker/findings.h"

namespace curia::worker {

struct TaskInfo {
  std::string name;
  bool is3d = false;
  bool regression = false;
  config::Normalization normalization = config::Normalization::kPerSlice;  // resolved (never kAuto)
  std::vector<std::string> labels;
  int64_t positive_class = -1;
  std::string head;
  std::string head_digest;
  // A mask-prompted head (it classifies a region; settings.region says which): it runs on region
  // masks (SliceRequest::masked2d), never on whole slices. Multi-class mask heads without a
  // configured class report their predicted class: positive_class is then -1.
  bool mask_prompted = false;
  config::TaskSettings settings;
};

struct ModelInfo {
  std::string path;
  std::string backbone_digest;
  bool demo = false;
  int64_t image_size = 512;  // slices are preprocessed to image_size x image_size
  double eps = 1e-6;         // z-score epsilon (preprocessor_config.json)
  std::vector<std::string> devices;
  std::vector<TaskInfo> tasks;

  int FindTask(const std::string& name) const {
    for (size_t i = 0; i < tasks.size(); ++i) {
      if (tasks[i].name == name) return static_cast<int>(i);
    }
    return -1;
  }
};

// A 3-D task's share of one slice: (rows, cols) float tokens.
struct SliceTokens {
  int64_t rows = 0, cols = 0;
  std::vector<float> values;
};

// A mask-prompted task on one slice with one region's mask: image_size x image_size floats, 0 or 1,
// in the slice's orientation, as model::MaskResizer makes them (the reference trainer's transform:
// each slice thresholded alone for a 2-D head, the region's slices as one stack for a 3-D head);
// never empty.
struct MaskedTask {
  int task = 0;
  std::vector<float> mask;
};

// What one preprocessed slice of a batch is for.
struct SliceRequest {
  std::vector<int> tasks2d;  // 2-D tasks to score on this slice
  std::vector<int> tasks3d;  // 3-D tasks that need this slice's tokens
  bool heat_maps = false;    // also the 2-D tasks' patch heat maps
  std::vector<MaskedTask> masked2d;  // 2-D mask-prompted tasks, one entry per (task, region)
  std::vector<MaskedTask> masked3d;  // 3-D mask-prompted tasks whose window holds this slice, the same
  bool cls = false;  // also the slice's backbone features: the post-LN CLS token (pooler_output)
  bool masked_features = false;  // also each masked2d entry's feature (the masked mean of the patch tokens)
};

struct SliceResult {
  std::vector<std::vector<float>> probabilities;  // per entry of tasks2d: class probabilities (or the value)
  std::vector<HeatMap> heat_maps;                 // per entry of tasks2d, when requested
  std::vector<SliceTokens> tokens;                // per entry of tasks3d
  std::vector<std::vector<float>> masked_probabilities;  // per entry of masked2d: class probabilities
  std::vector<SliceTokens> masked_tokens;                // per entry of masked3d: the tokens under the mask
  std::vector<float> cls;                                // when requested: the post-LN CLS, float32 (D)
  std::vector<std::vector<float>> masked_features;       // when requested: per entry of masked2d (D)
};

class IDeviceRunner {
 public:
  virtual ~IDeviceRunner() = default;
  // pixels: n slices, (n, 1, image_size, image_size) float32, row-major, on the host. Fills
  // results[i] for requests[i]. Called from one device worker thread at a time. Throws curia::Error
  // (kUnavailable for device memory exhaustion, so the pool can retry with a smaller batch).
  virtual void Run(const float* pixels, int64_t n, const std::vector<SliceRequest>& requests,
                   std::vector<SliceResult>& results) = 0;
};

class IModel {
 public:
  virtual ~IModel() = default;
  virtual const ModelInfo& info() const = 0;
  // One runner per device worker; `device` indexes info().devices.
  virtual std::unique_ptr<IDeviceRunner> CreateRunner(size_t device) = 0;
  // The slices a 3-D task pools from a volume of `slices` slices (its window), in window order.
  // `masked`: empty for a task on the whole volume; for a 3-D mask-prompted task on a region, one
  // flag per slice: whether the region's mask, as the head gets it (MaskedTask::mask), is non-empty
  // there (the window is then centred on the region). Throws curia::Error (kInvalidArgument) when
  // the volume is too short or the mask empty. Thread-safe.
  virtual std::vector<int64_t> KeptSlices(int task, int64_t slices, const std::vector<bool>& masked) const = 0;
  // A 3-D task's class probabilities (or value) from its kept slices' tokens in window order.
  // Thread-safe; runs on the device of runner 0.
  virtual std::vector<float> Run3D(int task, const std::vector<const SliceTokens*>& slices) const = 0;
  // A 3-D task's attention-module input (rows = tokens, cols = features) from the same tokens: what
  // `curia features` stores for training a 3-D head (nn::TaskHead::VolumeInput). Thread-safe. Models
  // that cannot give it throw curia::Error(kInvalidArgument).
  virtual SliceTokens VolumeInput(int task, const std::vector<const SliceTokens*>& slices) const;
};

inline SliceTokens IModel::VolumeInput(int task, const std::vector<const SliceTokens*>& slices) const {
  (void)task;
  (void)slices;
  throw Error(ErrorCode::kInvalidArgument, "this model does not give 3-D heads' volume inputs");
}

}  // namespace curia::worker
