// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// How a worker hands host slices to its device (includes ATen: worker/nn and the tool's model
// commands only).
//
//   DeviceInput input(device, {1, 512, 512});
//   c10::OptionalStreamGuard on_stream(input.stream());   // the worker's own stream, if any
//   at::Tensor x = input.Upload(pixels, n);                // (n, 1, 512, 512) float32 on the device
//   ... forward on x; results copied to the host wait for this stream only ...
//
// On a CUDA device each DeviceInput has its own stream from LibTorch's pool, so that two workers
// of one GPU (Model.WorkersPerDevice) overlap one's copies with the other's kernels, and a page-
// locked (pinned) staging buffer, reused from batch to batch and grown when a larger batch comes:
// the host copies the slices into it and the device pulls them with an asynchronous copy on the
// worker's stream. Before the buffer is overwritten, Upload waits for the previous copy (not for
// the computation that followed it). On the CPU, Upload wraps the caller's buffer: no copy.
//
// The stream and event calls go through c10's device-generic interfaces, so this builds against a
// CPU-only LibTorch; the CUDA part runs only where LibTorch has CUDA.
//
// Thread safety: one DeviceInput per worker thread.
#include <ATen/core/Tensor.h>
#include <c10/core/Event.h>
#include <c10/core/Stream.h>
#include <c10/util/Optional.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "curia/nn/device.h"

namespace curia::nn {

class DeviceInput {
 public:
  // `slice_shape`: the shape of one slice, channels first, e.g. {1, 512, 512}.
  DeviceInput(const Device& device, const std::vector<int64_t>& slice_shape);
  ~DeviceInput();
  DeviceInput(const DeviceInput&) = delete;
  DeviceInput& operator=(const DeviceInput&) = delete;

  // The worker's stream on a CUDA device; nullopt on the CPU (LibTorch's default).
  c10::optional<c10::Stream> stream() const { return stream_; }
  // Whether uploads go through pinned memory and an asynchronous copy.
  bool pinned() const { return stream_.has_value(); }

  // `n` slices of float32 values in `slice_shape` order, as a (n, slice_shape...) float32 tensor on
  // the device. Enqueued on stream() on a CUDA device: call it with that stream current (see above).
  // On the CPU the tensor wraps `pixels`, which must stay alive and unchanged while it is used.
  at::Tensor Upload(const float* pixels, int64_t n);

 private:
  void WaitForLastCopy();

  Device device_;
  std::vector<int64_t> shape_;  // (n, slice_shape...): n set by each Upload
  int64_t slice_values_ = 1;
  c10::optional<c10::Stream> stream_;
  at::Tensor staging_;                 // pinned host memory, capacity >= the largest batch so far
  std::unique_ptr<c10::Event> copied_;  // recorded after each asynchronous copy
};

}  // namespace curia::nn
