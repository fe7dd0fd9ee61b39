// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/model/mask.h"

#include <algorithm>
#include <cmath>

#include "curia/config/error.h"

namespace curia::model {
namespace {

[[noreturn]] void Bad(const std::string& message) { throw Error(ErrorCode::kInvalidArgument, message); }

// 1 where value > threshold, else 0; the count of ones.
int64_t Binarise(float* values, int64_t n, float threshold) {
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bool in = values[i] > threshold;
    values[i] = in ? 1.0f : 0.0f;
    count += in;
  }
  return count;
}

}  // namespace

MaskThreshold ThresholdMask(float* values, int64_t n, const std::string& what) {
  MaskThreshold t;
  if (n <= 0) Bad(what + ": no pixels");
  // torch.max propagates NaN; a NaN mask then keeps nothing, which the emptiness check reports.
  t.max = values[0];
  for (int64_t i = 0; i < n && !std::isnan(t.max); ++i) {
    if (std::isnan(values[i]) || values[i] > t.max) t.max = values[i];
  }
  int64_t above = 0;
  for (int64_t i = 0; i < n; ++i) above += values[i] > t.threshold;
  if (above == 0) {
    // The trainer's fallback: the mask vanished at 0.5 (a region thinner than the downsampling).
    t.fallback = true;
    t.threshold = t.max * 0.5f;
  }
  t.pixels = Binarise(values, n, t.threshold);
  if (t.pixels == 0) {
    Bad(what + " is empty" + (t.max > 0.0f ? "" : " (no pixel of the region is set)") +
        ": a mask head needs a region to classify");
  }
  return t;
}

MaskThreshold StackThreshold(float max, const std::string& what) {
  MaskThreshold t;
  t.max = max;
  if (!(max > t.threshold)) {
    t.fallback = true;
    t.threshold = max * 0.5f;
  }
  if (!(max > t.threshold)) {
    Bad(what + " is empty" + (max > 0.0f ? "" : " (no pixel of the region is set)") + ": a mask head needs a region to classify");
  }
  return t;
}

MaskResizer::MaskResizer(int64_t in_h, int64_t in_w, int64_t size)
    : in_h_(in_h), in_w_(in_w), size_(size), resizer_(in_h, in_w, size, size, ResizeFilter::kBilinear) {
  scratch_.resize(static_cast<size_t>(in_h * in_w));
}

const float* MaskResizer::AsFloat(const uint8_t* in) {
  std::transform(in, in + in_h_ * in_w_, scratch_.begin(), [](uint8_t v) { return static_cast<float>(v); });
  return scratch_.data();
}

MaskThreshold MaskResizer::Resize(const float* in, float* out) {
  resizer_.Resize(in, out);
  return ThresholdMask(out, size_ * size_, "the region mask");
}

MaskThreshold MaskResizer::Resize(const uint8_t* in, float* out) { return Resize(AsFloat(in), out); }

float MaskResizer::ResizedMax(const uint8_t* in, float* out) {
  const int64_t n = in_h_ * in_w_;
  if (std::none_of(in, in + n, [](uint8_t v) { return v != 0; })) return 0.0f;  // resizing zeros gives zeros
  resizer_.Resize(AsFloat(in), out);
  return *std::max_element(out, out + size_ * size_);
}

int64_t MaskResizer::ResizeAt(const uint8_t* in, float threshold, float* out) {
  resizer_.Resize(AsFloat(in), out);
  return Binarise(out, size_ * size_, threshold);
}

MaskThreshold MaskResizer::ResizeStack(const float* in, int64_t slices, float* out) {
  if (slices < 1) Bad("the region mask has no slice");
  const int64_t plane = size_ * size_;
  for (int64_t s = 0; s < slices; ++s) resizer_.Resize(in + s * in_h_ * in_w_, out + s * plane);
  return ThresholdMask(out, slices * plane, "the region mask of " + std::to_string(slices) + " slices");
}

MaskThreshold MaskResizer::ResizeStack(const uint8_t* in, int64_t slices, float* out) {
  if (slices < 1) Bad("the region mask has no slice");
  const int64_t plane = size_ * size_;
  for (int64_t s = 0; s < slices; ++s) resizer_.Resize(AsFloat(in + s * in_h_ * in_w_), out + s * plane);
  return ThresholdMask(out, slices * plane, "the region mask of " + std::to_string(slices) + " slices");
}

std::vector<float> PrepareHeadMask(const TensorView& mask, int64_t size, MaskThreshold* info) {
  const size_t rank = mask.shape.size();
  if (rank != 2 && rank != 3) {
    Bad("mask '" + mask.name + "' has shape " + ShapeString(mask.shape) + ": expected (H,W) or (S,H,W)");
  }
  if (mask.NumElements() < 1) Bad("mask '" + mask.name + "' has shape " + ShapeString(mask.shape) + ": empty");
  const int64_t slices = rank == 3 ? mask.shape[0] : 1;
  const int64_t h = mask.shape[rank - 2], w = mask.shape[rank - 1];
  const std::vector<float> source = ToFloat32(mask);
  MaskResizer resizer(h, w, size);
  std::vector<float> out(static_cast<size_t>(slices * size * size));
  MaskThreshold t;
  try {
    t = resizer.ResizeStack(source.data(), slices, out.data());
  } catch (const Error& e) {
    Bad("mask '" + mask.name + "': " + e.what());
  }
  if (info) *info = t;
  return out;
}

}  // namespace curia::model
