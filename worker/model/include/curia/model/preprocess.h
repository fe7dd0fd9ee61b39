// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Curia's image processor (CuriaImageProcessor, curia_image_processor.py), step for step, on CPU in
// float32. Version A is the processor published with raidium/curia:
//   numpy input:  value -> int16 (truncation toward zero; integers wrap) -> /32767
//   tensor input: value as float32 (no int16, no /32767)
//   -> antialiased bicubic resize to crop x crop (Keys a = -0.5, width first, renormalised edges)
//   -> clamp_min(-1000) if clip_below_air -> z-score (unbiased std; std < eps gives x - mean)
// A 2-D image (H,W) is z-scored alone; a 3-D array (H,W,S) is cut along its last axis and z-scored
// as one stack. Version B (a second public revision) is float-only, slices along argmin(shape),
// optionally resamples to num_slices and z-scores each slice.
//
//   PreprocessOptions opt; opt.crop_size = 512;
//   PreprocessResult r = Preprocess({image_view}, opt);   // r.shape == {1, 1, 512, 512}
//
// The building blocks (Resizer, ZScore) are what the worker pool uses per slice.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "curia/model/safetensors.h"

namespace curia::model {

// The antialiased filters of torch's interpolate: Keys' cubic (a = -0.5, support 2) for the images,
// the triangle (support 1) for the region masks (model/mask.h). Both widen by the scale when
// downsampling.
enum class ResizeFilter { kBicubic, kBilinear };

// Resamples one float32 image exactly as torch.nn.functional.interpolate(mode="bicubic" or
// "bilinear", align_corners=False, antialias=True) does on CPU. Weights are computed once per
// geometry, so a Resizer is cheap to reuse; Resize() uses an internal buffer: one Resizer per thread.
class Resizer {
 public:
  Resizer(int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w, ResizeFilter filter = ResizeFilter::kBicubic);
  // in: in_h*in_w row-major floats; out: room for out_h*out_w floats. in and out may not overlap.
  void Resize(const float* in, float* out);

 private:
  struct Axis {
    std::vector<int64_t> start;  // first input index per output index
    std::vector<int64_t> count;  // number of taps
    std::vector<float> weights;  // max_taps per output index, normalised
    int64_t max_taps = 0;
    bool identity = false;
  };
  static Axis MakeAxis(int64_t in, int64_t out, ResizeFilter filter);

  int64_t in_h_, in_w_, out_h_, out_w_;
  Axis rows_, cols_;
  std::vector<float> tmp_;
};

struct ZScoreStats {
  float mean = 0.0f;
  float std = 0.0f;  // unbiased (N-1)
  bool divided = false;  // false when std < eps: the values were only centred
};

// In place, over n values: (x - mean) / std with the unbiased std, or x - mean when std < eps
// (Version A's rule). Mean and std are accumulated in double and rounded to float32, as torch's
// CPU reductions give them.
ZScoreStats ZScore(float* values, int64_t n, double eps);
// The same when the first pass is done: `sum` is the values' sum accumulated in double in index
// order (as ZScore's own first pass gives it), so a caller that writes the values can sum them as
// it goes. Same results as ZScore, bit for bit.
ZScoreStats ZScoreWithSum(float* values, int64_t n, double sum, double eps);
// The pieces, for statistics gathered elsewhere (the pool's per-volume pass): the float32 mean and
// std from a mean and unbiased variance in double, with the eps rule; and their application.
ZScoreStats MakeZScoreStats(double mean, double variance, double eps);
void ApplyZScore(float* values, int64_t n, const ZScoreStats& stats);

enum class ProcessorVersion { kA, kB };
enum class InputPath { kNumpy, kTensor };

struct PreprocessOptions {
  int64_t crop_size = 512;
  bool clip_below_air = false;
  double eps = 1e-6;
  ProcessorVersion version = ProcessorVersion::kA;
  InputPath input_path = InputPath::kNumpy;  // Version A only
  bool do_normalize = true;                  // Version B only (Version A always normalises)
  std::optional<int64_t> num_slices;         // Version B only
};

struct PreprocessResult {
  std::vector<int64_t> shape;  // (B,1,c,c) for 2-D images, (B,S,1,c,c) for volumes
  std::vector<float> pixel_values;
  std::vector<uint8_t> slice_mask;     // Version B: (B,S) 1 = real slice, 0 = padding
  std::vector<int32_t> slice_indices;  // Version B: (B,S) source slice of each output slice
  int64_t clamped_values = 0;  // numpy path: float values outside int16 that were clamped
};

// The processor's __call__ on a list of images: each a 2-D (H,W) or a 3-D (H,W,S) array, all of the
// same rank (volumes of one batch with the same S). Throws curia::Error(kInvalidArgument) naming the
// image for bad ranks, empty images or mismatched batches.
PreprocessResult Preprocess(const std::vector<TensorView>& images, const PreprocessOptions& options);

// Numpy path, step 1: one value through torch's `.to(torch.int16)`. Integers wrap modulo 2^16 as
// torch does; floats truncate toward zero, and (where torch is undefined) out-of-range floats are
// clamped to the int16 range and *clamped is set.
int16_t ToInt16(double value, bool is_integer, bool* clamped);
// Numpy path, steps 1 and 2 for a float slice: out[i] = ToInt16(in[i], false, &c) / 32767.0f,
// bit for bit, in a loop the compiler vectorises (in and out may be the same array). Returns the
// sum of the outputs accumulated in double in index order (ZScoreWithSum's `sum`).
double ToInt16Scaled(const float* in, int64_t n, float* out);

}  // namespace curia::model
