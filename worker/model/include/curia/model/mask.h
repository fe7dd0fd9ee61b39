// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Region masks as the reference trainer turns them into head input (raidium-med/curia trainer.py at
// 8b4afa3a, make_mask_transform / AdaptativeResizeMask), on CPU in float32:
//   source mask (H,W) on the series grid, values as given (0 outside, 1 inside)
//   -> antialiased bilinear resize to size x size (torch interpolate, align_corners=False,
//      antialias=True: the triangle filter of model::Resizer)
//   -> 1 where value > 0.5; if that leaves nothing, 1 where value > 0.5 * max(resized)
//   -> 0/1 floats, which the head max-pools to its patch grid (nn::TaskHead).
// 2-D heads threshold each slice alone; 3-D heads get the stack of per-slice masks with ONE
// threshold over the whole stack (the trainer resizes the (1,S,H,W) tensor in one call), so a slice
// whose region vanishes stays empty and the head's window skips it.
//
//   MaskResizer r(rows, cols, 512);                      // per source geometry; cheap to reuse
//   std::vector<float> m(512 * 512);
//   MaskThreshold t = r.Resize(slice_mask, m.data());    // t.fallback: the 0.5 threshold left nothing
//
// The reference resizes the mask's values as they are (no binarisation first): give 0/1 masks, not
// label values. It reads masks as uint16, so fractions are its callers' business too (the region
// readers threshold fractional SEGs before this). The image and its mask must have the same
// orientation (model::ApplyOrientation works on uint8 masks as on pixels) before this step.
//
// Thread safety: a MaskResizer has scratch buffers: one per thread. ThresholdMask is pure.
#include <cstdint>
#include <string>
#include <vector>

#include "curia/model/preprocess.h"
#include "curia/model/safetensors.h"

namespace curia::model {

// What the threshold did.
struct MaskThreshold {
  float max = 0.0f;        // largest resized value
  float threshold = 0.5f;  // values above it are in the mask: 0.5, or 0.5 * max after the fallback
  bool fallback = false;   // no value was above 0.5
  int64_t pixels = 0;      // pixels in the result (never 0: an empty result throws)
};

// In place over n resized values: 1 where value > 0.5, else 0; when no value is above 0.5, 1 where
// value > 0.5 * max. Throws curia::Error(kInvalidArgument) naming `what` when the result is empty
// (an empty or all-negative source mask): the heads cannot average over no patch.
MaskThreshold ThresholdMask(float* values, int64_t n, const std::string& what);

// ThresholdMask's threshold for values whose largest is `max`: 0.5, or 0.5 * max when no value is
// above 0.5 (fallback set). Throws as ThresholdMask when nothing would be kept (max <= 0).
MaskThreshold StackThreshold(float max, const std::string& what);

class MaskResizer {
 public:
  // Source slices of in_h x in_w pixels to size x size (the model's crop size). Throws
  // kInvalidArgument for empty sizes.
  MaskResizer(int64_t in_h, int64_t in_w, int64_t size);

  int64_t size() const { return size_; }

  // 2-D heads: one slice, in_h*in_w row-major values -> size*size floats (0 or 1) in `out`.
  MaskThreshold Resize(const uint8_t* in, float* out);
  MaskThreshold Resize(const float* in, float* out);
  // 3-D heads: `slices` consecutive slices (S, in_h, in_w) -> (S, 1, size, size) in `out`, thresholded
  // as one stack.
  MaskThreshold ResizeStack(const uint8_t* in, int64_t slices, float* out);
  MaskThreshold ResizeStack(const float* in, int64_t slices, float* out);
  // The bilinear step alone: size*size resized values, no threshold.
  void ResizeValues(const float* in, float* out) { resizer_.Resize(in, out); }

  // ResizeStack slice by slice, for callers that never hold the whole stack at model size (the
  // worker pool): first the stack's threshold from every slice's largest resized value
  // (StackThreshold over ResizedMax), then each slice on its own with that threshold (ResizeAt).
  // Gives exactly ResizeStack's slices. `out` needs size*size floats of scratch for ResizedMax.
  float ResizedMax(const uint8_t* in, float* out);
  // One slice of a stack with the stack's threshold: 1 where the resized value > threshold, else 0;
  // the number of ones (0 is not an error here: a slice of the stack may be empty).
  int64_t ResizeAt(const uint8_t* in, float threshold, float* out);

 private:
  const float* AsFloat(const uint8_t* in);

  int64_t in_h_, in_w_, size_;
  Resizer resizer_;
  std::vector<float> scratch_;
};

// For tools and tests: a (H,W) mask gives (1,1,size,size), an (S,H,W) stack (S,1,size,size) with
// the 3-D rule; any dtype the safetensors reader takes. Throws kInvalidArgument (naming the tensor)
// for other ranks and empty results.
std::vector<float> PrepareHeadMask(const TensorView& mask, int64_t size, MaskThreshold* info = nullptr);

}  // namespace curia::model
