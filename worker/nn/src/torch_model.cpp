// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/nn/torch_model.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <c10/core/StreamGuard.h>

#include <filesystem>
#include <map>
#include <thread>

#include "curia/config/error.h"
#include "curia/config/json_fields.h"
#include "curia/config/log.h"
#include "curia/nn/backbone.h"
#include "curia/nn/device_input.h"
#include "curia/nn/head.h"
#include "curia/nn/tensor_io.h"

namespace curia::nn {
namespace {

// Re-throws an error with the configuration file and JSON path in front.
template <typename F>
auto AtPath(const config::CuriaSettings& s, const std::string& path, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    throw Error(e.code(), s.source + ": " + path + ": " + e.what());
  }
}

struct DeviceModel {
  std::unique_ptr<Dinov2Backbone> backbone;
  std::vector<std::unique_ptr<TaskHead>> heads;  // by task index
};

class Runner : public worker::IDeviceRunner {
 public:
  // One runner per worker thread: on a GPU each has its own stream and pinned staging buffer.
  Runner(const DeviceModel& model, const worker::ModelInfo& info)
      : model_(model), info_(info), input_(model.backbone->device(), {1, info.image_size, info.image_size}) {}

  void Run(const float* pixels, int64_t n, const std::vector<worker::SliceRequest>& requests,
           std::vector<worker::SliceResult>& results) override {
    c10::InferenceMode guard;
    const int64_t size = info_.image_size;
    results.assign(static_cast<size_t>(n), worker::SliceResult{});
    try {
      // Everything below runs on this worker's stream; the copies of results to the host
      // (ToFloatVector, .to(kCPU)) wait for it.
      const c10::OptionalStreamGuard on_stream(input_.stream());
      const at::Tensor x = input_.Upload(pixels, n);
      const BackboneOutput out = model_.backbone->Forward(x);
      // Each 2-D task once over the whole batch, then handed to the slices that asked for it.
      std::vector<at::Tensor> probabilities(model_.heads.size()), patch_probabilities(model_.heads.size());
      const int64_t grid = size / model_.backbone->config().patch_size;  // patches per side
      for (int64_t i = 0; i < n; ++i) {
        const worker::SliceRequest& request = requests[static_cast<size_t>(i)];
        worker::SliceResult& result = results[static_cast<size_t>(i)];
        if (request.cls) result.cls = ToFloatVector(out.pooler_output[i].to(at::kFloat));
        for (int t : request.tasks2d) {
          const TaskHead& head = *model_.heads[static_cast<size_t>(t)];
          const worker::TaskInfo& task = info_.tasks[static_cast<size_t>(t)];
          at::Tensor& p = probabilities[static_cast<size_t>(t)];
          if (!p.defined()) p = head.Probabilities(head.Logits2D(out)).to(at::kCPU);
          result.probabilities.push_back(ToFloatVector(p[i]));
          if (!request.heat_maps) continue;
          worker::HeatMap heat;  // stays empty for a regression head: a value has no "where"
          if (!task.regression) {
            at::Tensor& map = patch_probabilities[static_cast<size_t>(t)];
            if (!map.defined()) map = head.PatchProbabilities(out).select(2, task.positive_class).to(at::kCPU);
            heat = {grid, grid, ToFloatVector(map[i])};
          }
          result.heat_maps.push_back(std::move(heat));
        }
        for (int t : request.tasks3d) {
          const at::Tensor tokens = model_.heads[static_cast<size_t>(t)]->SliceTokens(out.encoder_output[i]);
          result.tokens.push_back({tokens.size(0), tokens.size(1), ToFloatVector(tokens)});
        }
        // 3-D mask-prompted tasks: the slice's pre-LN patch tokens under each region's mask.
        for (const worker::MaskedTask& m : request.masked3d) {
          CURIA_CHECK(static_cast<int64_t>(m.mask.size()) == size * size);
          const at::Tensor mask = at::from_blob(const_cast<float*>(m.mask.data()), {1, size, size}, at::TensorOptions().dtype(at::kFloat))
                                      .to(out.encoder_output.device());
          const at::Tensor tokens = model_.heads[static_cast<size_t>(m.task)]->SliceTokens(out.encoder_output[i], mask);
          result.masked_tokens.push_back({tokens.size(0), tokens.size(1), ToFloatVector(tokens)});
        }
      }
      RunMasked(out, requests, results);
    } catch (const c10::OutOfMemoryError& e) {
      throw Error(ErrorCode::kUnavailable, "device out of memory on a batch of " + std::to_string(n) + " slices");
    } catch (const c10::Error& e) {
      throw Error(ErrorCode::kInternal, "LibTorch error on a batch of " + std::to_string(n) +
                                            " slices: " + std::string(e.what_without_backtrace()).substr(0, 500));
    }
  }

 private:
  // The 2-D mask-prompted tasks: per task, one head pass over every (slice, region mask) of the
  // batch that asks for it, on the backbone output already computed: the backbone runs once per
  // slice, and a slice's patch tokens are read in place by all of its regions' masks (never copied
  // or repeated per region; TaskHead::MaskedLogits2D).
  void RunMasked(const BackboneOutput& out, const std::vector<worker::SliceRequest>& requests,
                 std::vector<worker::SliceResult>& results) const {
    const int64_t size = info_.image_size;
    const size_t plane = static_cast<size_t>(size * size);
    std::map<int, std::vector<std::pair<size_t, size_t>>> by_task;  // task -> (slice, entry)
    for (size_t i = 0; i < requests.size(); ++i) {
      results[i].masked_probabilities.resize(requests[i].masked2d.size());
      for (size_t k = 0; k < requests[i].masked2d.size(); ++k) by_task[requests[i].masked2d[k].task].push_back({i, k});
    }
    for (const auto& [t, entries] : by_task) {
      const TaskHead& head = *model_.heads[static_cast<size_t>(t)];
      std::vector<float> masks(entries.size() * plane);
      std::vector<int64_t> slices;
      for (size_t e = 0; e < entries.size(); ++e) {
        const std::vector<float>& m = requests[entries[e].first].masked2d[entries[e].second].mask;
        CURIA_CHECK(m.size() == plane);
        std::copy(m.begin(), m.end(), masks.begin() + static_cast<std::ptrdiff_t>(e * plane));
        slices.push_back(static_cast<int64_t>(entries[e].first));
      }
      const at::Device device = out.last_hidden_state.device();
      const at::Tensor mask =
          at::from_blob(masks.data(), {static_cast<int64_t>(entries.size()), 1, size, size}, at::TensorOptions().dtype(at::kFloat))
              .to(device);
      const at::Tensor p = head.Probabilities(head.MaskedLogits2D(out, mask, slices)).to(at::kCPU);
      for (size_t e = 0; e < entries.size(); ++e) {
        results[entries[e].first].masked_probabilities[entries[e].second] = ToFloatVector(p[static_cast<int64_t>(e)]);
      }
      bool features = false;
      for (const auto& entry : entries) features = features || requests[entry.first].masked_features;
      if (features) {
        const at::Tensor f = head.MaskedFeatures2D(out, mask, slices).to(at::kCPU);
        for (size_t e = 0; e < entries.size(); ++e) {
          auto& list = results[entries[e].first].masked_features;
          list.resize(requests[entries[e].first].masked2d.size());
          list[entries[e].second] = ToFloatVector(f[static_cast<int64_t>(e)]);
        }
      }
    }
  }

  const DeviceModel& model_;
  const worker::ModelInfo& info_;
  DeviceInput input_;
};

}  // namespace

struct TorchModel::Impl {
  worker::ModelInfo info;
  std::vector<DeviceModel> devices;
};

TorchModel::TorchModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TorchModel::~TorchModel() = default;

std::unique_ptr<TorchModel> TorchModel::Load(const config::CuriaSettings& s) {
  auto impl = std::make_unique<Impl>();
  worker::ModelInfo& info = impl->info;
  info.path = s.model.path;
  info.devices = s.model.devices;
  const Precision precision = AtPath(s, "$.Curia.Model.Precision", [&] { return ParsePrecision(s.model.precision); });
  int threads = static_cast<int>(s.model.threads);
  if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  SetIntraOpThreads(threads);

  // The processor's crop size and epsilon, when the folder has a preprocessor_config.json.
  const std::string pre_path = s.model.path + "/preprocessor_config.json";
  std::optional<int64_t> crop;
  if (std::filesystem::exists(pre_path)) {
    config::Diagnostics diag(pre_path);
    const config::Json pre = config::ParseJsonFile(pre_path);
    config::ObjectReader r(pre, "$", diag);
    crop = r.OptionalInt("crop_size", 16, 8192);
    info.eps = r.Number("eps", 1e-6, 0.0, 1.0);
    diag.ThrowIfAny();
  }

  for (size_t d = 0; d < s.model.devices.size(); ++d) {
    const std::string path = config::JsonPath("$.Curia.Model.Devices", d);
    BackboneOptions options;
    options.device = AtPath(s, path, [&] { return ParseDevice(s.model.devices[d]); });
    options.precision = precision;
    DeviceModel dm;
    dm.backbone = AtPath(s, "$.Curia.Model.Path", [&] { return Dinov2Backbone::Load(s.model.path, options); });
    impl->devices.push_back(std::move(dm));
  }
  const Dinov2Backbone& first = *impl->devices.front().backbone;
  info.backbone_digest = first.digest();
  info.demo = first.config().demo;
  info.image_size = crop.value_or(first.config().image_size);

  for (const config::TaskSettings& task : s.tasks) {
    worker::TaskInfo t;
    t.name = task.name;
    t.settings = task;
    t.head = task.head;
    for (DeviceModel& dm : impl->devices) {
      dm.heads.push_back(
          AtPath(s, config::JsonPath(task.path, "Head"), [&] { return TaskHead::Load(task.head, *dm.backbone); }));
    }
    const TaskHead& head = *impl->devices.front().heads.back();
    const model::HeadConfig& hc = head.config();
    t.is3d = hc.Is3D();
    t.regression = hc.regression;
    t.labels = hc.labels;
    t.head_digest = head.digest();
    t.mask_prompted = hc.requires_mask;
    if (hc.requires_mask && !task.region) {
      AtPath(s, config::JsonPath(task.path, "Head"), [&] {
        throw Error(ErrorCode::kInvalidArgument,
                    task.head + " is a mask-prompted head (it classifies a masked region): give the task a \"Region\" "
                                "(for example \"Region\": {\"From\": [\"SEG\", \"RTSTRUCT\"]}) so that it runs on the "
                                "segments of DICOM SEGs and the ROIs of RTSTRUCTs of its series");
      });
    }
    if (!hc.requires_mask && task.region) {
      AtPath(s, config::JsonPath(task.path, "Region"), [&] {
        throw Error(ErrorCode::kInvalidArgument, "only for mask-prompted heads; " + task.head +
                                                     " classifies whole slices or volumes (remove \"Region\")");
      });
    }
    if (hc.requires_mask && t.is3d && (hc.use_avgpool_per_slice || hc.use_avgpool_on_the_volume)) {
      AtPath(s, config::JsonPath(task.path, "Head"), [&] {
        throw Error(ErrorCode::kInvalidArgument, task.head + " is a 3-D mask-prompted head that averages patch tokens "
                                                             "(use_avgpool_per_slice / use_avgpool_on_the_volume): the "
                                                             "reference defines no masked form of that");
      });
    }
    // The positive class: a label, an index, or the second class of a two-class head.
    const std::string class_path = config::JsonPath(task.path, "Class");
    std::string labels;
    for (const auto& l : hc.labels) labels += (labels.empty() ? "\"" : ", \"") + l + "\"";
    if (hc.regression) {
      t.positive_class = -1;
    } else if (task.positive_class.empty()) {
      if (hc.requires_mask && hc.num_classes != 2) {
        t.positive_class = -1;  // the finding is the predicted class (organ recognition)
      } else if (hc.num_classes != 2) {
        throw Error(ErrorCode::kInvalidArgument, s.source + ": " + class_path + ": required for the " +
                                                     std::to_string(hc.num_classes) + "-class head " + task.head +
                                                     " (labels: " + labels + ")");
      } else {
        t.positive_class = 1;
      }
    } else {
      for (size_t i = 0; i < hc.labels.size(); ++i) {
        if (hc.labels[i] == task.positive_class) t.positive_class = static_cast<int64_t>(i);
      }
      if (t.positive_class < 0 && task.positive_class.find_first_not_of("0123456789") == std::string::npos) {
        const int64_t index = std::stoll(task.positive_class);
        if (index < hc.num_classes) t.positive_class = index;
      }
      if (t.positive_class < 0) {
        throw Error(ErrorCode::kInvalidArgument, s.source + ": " + class_path + ": \"" + task.positive_class +
                                                     "\" is not a class of " + task.head + " (labels: " + labels +
                                                     "; or an index below " + std::to_string(hc.num_classes) + ")");
      }
    }
    t.normalization = task.normalization != config::Normalization::kAuto
                          ? task.normalization
                          : (t.is3d ? config::Normalization::kPerVolume : config::Normalization::kPerSlice);
    info.tasks.push_back(std::move(t));
  }
  log::Info("model", "model " + s.model.path + " on " + std::to_string(impl->devices.size()) + " device(s), " +
                         std::to_string(info.tasks.size()) + " task(s), slices at " + std::to_string(info.image_size) +
                         "x" + std::to_string(info.image_size) + (info.demo ? " (DEMO weights)" : ""));
  return std::unique_ptr<TorchModel>(new TorchModel(std::move(impl)));
}

const worker::ModelInfo& TorchModel::info() const { return impl_->info; }

std::unique_ptr<worker::IDeviceRunner> TorchModel::CreateRunner(size_t device) {
  CURIA_CHECK(device < impl_->devices.size());
  return std::make_unique<Runner>(impl_->devices[device], impl_->info);
}

std::vector<int64_t> TorchModel::KeptSlices(int task, int64_t slices, const std::vector<bool>& masked) const {
  const TaskHead& head = *impl_->devices.front().heads.at(static_cast<size_t>(task));
  if (masked.empty()) return head.KeptSlices(slices);
  CURIA_CHECK(static_cast<int64_t>(masked.size()) == slices);
  return head.KeptMaskedSlices(masked);
}

namespace {

// The slices' tokens on `device`, as a head takes them.
std::vector<at::Tensor> SliceTensors(const std::vector<const worker::SliceTokens*>& slices, const at::Device& device) {
  std::vector<at::Tensor> tokens;
  for (const worker::SliceTokens* s : slices) {
    tokens.push_back(at::from_blob(const_cast<float*>(s->values.data()), {s->rows, s->cols}, at::TensorOptions().dtype(at::kFloat))
                         .to(device));
  }
  return tokens;
}

}  // namespace

std::vector<float> TorchModel::Run3D(int task, const std::vector<const worker::SliceTokens*>& slices) const {
  c10::InferenceMode guard;
  const TaskHead& head = *impl_->devices.front().heads.at(static_cast<size_t>(task));
  const at::Device device = ToAtDevice(impl_->devices.front().backbone->device());
  return ToFloatVector(head.Probabilities(head.VolumeLogits(SliceTensors(slices, device)))[0]);
}

worker::SliceTokens TorchModel::VolumeInput(int task, const std::vector<const worker::SliceTokens*>& slices) const {
  c10::InferenceMode guard;
  const TaskHead& head = *impl_->devices.front().heads.at(static_cast<size_t>(task));
  const at::Device device = ToAtDevice(impl_->devices.front().backbone->device());
  const at::Tensor input = head.VolumeInput(SliceTensors(slices, device)).to(at::kFloat);
  return {input.size(0), input.size(1), ToFloatVector(input)};
}

}  // namespace curia::nn
