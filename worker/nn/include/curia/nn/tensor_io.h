// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Bridges between safetensors views and ATen tensors (includes ATen: use in worker/nn and the
// tool's model commands only).
//
//   at::Tensor x = ToTensor(file->Get("pixel_values"));          // copy, same dtype, CPU
//   AddTensor(writer, "last_hidden_state", out.last_hidden_state); // converted to float32, CPU
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <string>
#include <vector>

#include "curia/model/safetensors.h"
#include "curia/nn/device.h"

namespace curia::nn {

// Copies the view into a new CPU tensor of the matching dtype (F16, BF16 and the integer types
// included).
at::Tensor ToTensor(const model::TensorView& view);

// The tensor's values as float32 on the host, row-major (any device, any floating dtype).
std::vector<float> ToFloatVector(const at::Tensor& tensor);

// LibTorch's name for a configured device.
at::Device ToAtDevice(const Device& device);

// Adds a tensor to a writer as float32 (any device, any floating dtype).
void AddTensor(model::SafetensorsWriter& writer, const std::string& name, const at::Tensor& tensor);

}  // namespace curia::nn
