// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/nn/device_input.h"

#include <ATen/ATen.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "curia/config/error.h"
#include "curia/nn/tensor_io.h"

namespace curia::nn {

DeviceInput::DeviceInput(const Device& device, const std::vector<int64_t>& slice_shape)
    : device_(device), shape_{0} {
  CURIA_CHECK(!slice_shape.empty());
  for (int64_t v : slice_shape) slice_values_ *= v;
  CURIA_CHECK(slice_values_ > 0);
  shape_.insert(shape_.end(), slice_shape.begin(), slice_shape.end());
  if (device_.is_cuda()) {
    const c10::impl::VirtualGuardImpl cuda(c10::DeviceType::CUDA);
    stream_ = cuda.getStreamFromGlobalPool(ToAtDevice(device_), /*isHighPriority=*/false);
    copied_ = std::make_unique<c10::Event>(c10::DeviceType::CUDA);
  }
}

DeviceInput::~DeviceInput() {
  // The staging buffer may still be the source of a copy in flight.
  if (copied_) WaitForLastCopy();
}

void DeviceInput::WaitForLastCopy() {
  if (!copied_->was_marked_for_recording()) return;
  // c10::Event has no blocking wait in every LibTorch version; a copy of one batch takes
  // milliseconds, so polling costs nothing measurable.
  while (!copied_->query()) std::this_thread::sleep_for(std::chrono::microseconds(50));
}

at::Tensor DeviceInput::Upload(const float* pixels, int64_t n) {
  CURIA_CHECK(n > 0);
  shape_[0] = n;
  if (!stream_) {
    return at::from_blob(const_cast<float*>(pixels), shape_, at::TensorOptions().dtype(at::kFloat));
  }
  WaitForLastCopy();
  if (!staging_.defined() || staging_.size(0) < n) {
    staging_ = at::empty(shape_, at::TensorOptions().dtype(at::kFloat).pinned_memory(true));
  }
  const c10::OptionalStreamGuard on_stream(stream_);  // the copy and its event on this worker's stream
  at::Tensor host = staging_.narrow(0, 0, n);
  std::memcpy(host.data_ptr<float>(), pixels, static_cast<size_t>(n * slice_values_) * sizeof(float));
  at::Tensor on_device = host.to(ToAtDevice(device_), at::kFloat, /*non_blocking=*/true);
  copied_->record(*stream_);
  return on_device;
}

}  // namespace curia::nn
