// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/nn/tensor_io.h"

#include <ATen/ATen.h>

#include <cstring>

#include "curia/config/error.h"

namespace curia::nn {

at::Tensor ToTensor(const model::TensorView& view) {
  using model::DType;
  at::ScalarType type;
  switch (view.dtype) {
    case DType::kF64: type = at::kDouble; break;
    case DType::kF32: type = at::kFloat; break;
    case DType::kF16: type = at::kHalf; break;
    case DType::kBF16: type = at::kBFloat16; break;
    case DType::kI64: type = at::kLong; break;
    case DType::kI32: type = at::kInt; break;
    case DType::kI16: type = at::kShort; break;
    case DType::kI8: type = at::kChar; break;
    case DType::kU8: type = at::kByte; break;
    case DType::kBool: type = at::kBool; break;
    case DType::kU16: {
      // No unsigned 16-bit type in LibTorch 1.13: widen to int32.
      const std::vector<double> v = model::ToFloat64(view);
      at::Tensor t = at::empty(view.shape, at::TensorOptions().dtype(at::kInt));
      int32_t* p = t.data_ptr<int32_t>();
      for (size_t i = 0; i < v.size(); ++i) p[i] = static_cast<int32_t>(v[i]);
      return t;
    }
    default: throw Error(ErrorCode::kInvalidArgument, "tensor '" + view.name + "': unsupported dtype");
  }
  at::Tensor t = at::empty(view.shape, at::TensorOptions().dtype(type));
  CURIA_CHECK(static_cast<size_t>(t.nbytes()) == view.nbytes);
  if (view.nbytes) std::memcpy(t.data_ptr(), view.data, view.nbytes);
  return t;
}

std::vector<float> ToFloatVector(const at::Tensor& tensor) {
  const at::Tensor t = tensor.detach().to(at::kCPU, at::kFloat).contiguous();
  return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
}

at::Device ToAtDevice(const Device& d) {
  return d.is_cuda() ? at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(d.index)) : at::Device(at::kCPU);
}

void AddTensor(model::SafetensorsWriter& writer, const std::string& name, const at::Tensor& tensor) {
  at::Tensor t = tensor.detach().to(at::kCPU, at::kFloat).contiguous();
  std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
  writer.AddFloat32(name, shape, t.data_ptr<float>());
}

}  // namespace curia::nn
