// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/model/preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "curia/config/error.h"

namespace curia::model {
namespace {

// Keys' cubic convolution kernel with a = -0.5, as PyTorch's antialiased bicubic filter (float).
float CubicFilter(float x) {
  constexpr float a = -0.5f;
  x = std::fabs(x);
  if (x < 1.0f) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2.0f) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0.0f;
}

// The triangle kernel of PyTorch's antialiased bilinear filter.
float TriangleFilter(float x) {
  x = std::fabs(x);
  return x < 1.0f ? 1.0f - x : 0.0f;
}

[[noreturn]] void Bad(const std::string& message) { throw Error(ErrorCode::kInvalidArgument, message); }

// The whole array as float values after the input path's conversion (Version A: numpy arrays go
// through int16 and /32767, tensors are used as float32; Version B: float32).
std::vector<float> ConvertValues(const TensorView& t, const PreprocessOptions& opt, int64_t* clamped) {
  const bool is_integer = !IsFloatingDType(t.dtype);
  const bool numpy_path = opt.version == ProcessorVersion::kA && opt.input_path == InputPath::kNumpy;
  const size_t n = static_cast<size_t>(t.NumElements());
  std::vector<float> out(n);
  std::vector<double> chunk(std::min<size_t>(n, 1 << 16));
  for (size_t first = 0; first < n; first += chunk.size()) {
    const size_t count = std::min(chunk.size(), n - first);
    ReadValues(t, first, count, chunk.data());
    for (size_t i = 0; i < count; ++i) {
      if (numpy_path) {
        bool c = false;
        const int16_t q = ToInt16(chunk[i], is_integer, &c);
        if (c) ++*clamped;
        out[first + i] = static_cast<float>(q) / 32767.0f;  // torchvision convert_image_dtype
      } else {
        out[first + i] = static_cast<float>(chunk[i]);  // tensor.float()
      }
    }
  }
  return out;
}

// Slice `index` along `axis` of a row-major 2-D or 3-D array, contiguous (the two other axes keep
// their order): a 2-D array is its own slice; a 3-D slice is gathered into `scratch`.
const float* SliceOf(const std::vector<float>& values, const std::vector<int64_t>& shape, int64_t axis,
                     int64_t index, std::vector<float>& scratch) {
  if (shape.size() == 2) return values.data();
  std::vector<float>& out = scratch;
  const int64_t stride[3] = {shape[1] * shape[2], shape[2], 1};
  int64_t a = axis == 0 ? 1 : 0;
  int64_t b = axis == 2 ? 1 : 2;
  const int64_t h = shape[static_cast<size_t>(a)], w = shape[static_cast<size_t>(b)];
  out.resize(static_cast<size_t>(h * w));
  const float* base = values.data() + index * stride[axis];
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) out[static_cast<size_t>(y * w + x)] = base[y * stride[a] + x * stride[b]];
  }
  return out.data();
}

void ClipBelowAir(float* values, int64_t n) {
  for (int64_t i = 0; i < n; ++i) values[i] = std::max(values[i], -1000.0f);
}

}  // namespace

int16_t ToInt16(double value, bool is_integer, bool* clamped) {
  if (is_integer) {
    // Two's complement wrap, as torch's integer cast (40000 -> -25536).
    const int64_t v = static_cast<int64_t>(value);
    return static_cast<int16_t>(static_cast<uint16_t>(static_cast<uint64_t>(v) & 0xFFFFu));
  }
  if (std::isnan(value)) {
    *clamped = true;
    return 0;
  }
  const double t = std::trunc(value);
  if (t > 32767.0 || t < -32768.0) {
    *clamped = true;
    return t > 0 ? int16_t(32767) : int16_t(-32768);
  }
  return static_cast<int16_t>(t);
}

Resizer::Axis Resizer::MakeAxis(int64_t in, int64_t out, ResizeFilter filter) {
  Axis a;
  a.identity = in == out;
  if (a.identity) return a;
  // The types follow PyTorch's _compute_weights_aa for float input (scalar_t = float, with the
  // double literals 0.5 promoting some intermediate expressions).
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  // Half the filter's interp_size (4 taps for bicubic, 2 for bilinear), widened when downsampling.
  const float half = filter == ResizeFilter::kBicubic ? 2.0f : 1.0f;
  const float support = (scale >= 1.0f) ? half * scale : half;
  const float invscale = (scale >= 1.0f) ? 1.0f / scale : 1.0f;
  a.max_taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  a.start.resize(static_cast<size_t>(out));
  a.count.resize(static_cast<size_t>(out));
  a.weights.assign(static_cast<size_t>(out * a.max_taps), 0.0f);
  for (int64_t i = 0; i < out; ++i) {
    const float center = static_cast<float>(scale * (i + 0.5));
    const int64_t xmin = std::max(static_cast<int64_t>(center - support + 0.5), int64_t(0));
    const int64_t xsize = std::min(static_cast<int64_t>(center + support + 0.5), in) - xmin;
    CURIA_CHECK(xsize >= 1 && xsize <= a.max_taps);
    float* w = &a.weights[static_cast<size_t>(i * a.max_taps)];
    float total = 0.0f;
    for (int64_t j = 0; j < xsize; ++j) {
      const float t = static_cast<float>((j + xmin - center + 0.5) * invscale);
      w[j] = filter == ResizeFilter::kBicubic ? CubicFilter(t) : TriangleFilter(t);
      total += w[j];
    }
    if (total != 0.0f) {
      for (int64_t j = 0; j < xsize; ++j) w[j] /= total;
    }
    a.start[static_cast<size_t>(i)] = xmin;
    a.count[static_cast<size_t>(i)] = xsize;
  }
  return a;
}

Resizer::Resizer(int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w, ResizeFilter filter)
    : in_h_(in_h), in_w_(in_w), out_h_(out_h), out_w_(out_w) {
  if (in_h < 1 || in_w < 1 || out_h < 1 || out_w < 1) {
    Bad("cannot resize " + std::to_string(in_h) + "x" + std::to_string(in_w) + " to " +
        std::to_string(out_h) + "x" + std::to_string(out_w) + ": empty image");
  }
  rows_ = MakeAxis(in_h, out_h, filter);
  cols_ = MakeAxis(in_w, out_w, filter);
  tmp_.resize(static_cast<size_t>(in_h * out_w));
}

void Resizer::Resize(const float* in, float* out) {
  // Width first, into a float32 buffer (or straight to the output when the height is unchanged).
  const float* src = in;
  if (!cols_.identity) {
    float* dst = rows_.identity ? out : tmp_.data();
    for (int64_t y = 0; y < in_h_; ++y) {
      const float* row = in + y * in_w_;
      float* orow = dst + y * out_w_;
      for (int64_t x = 0; x < out_w_; ++x) {
        const float* w = &cols_.weights[static_cast<size_t>(x * cols_.max_taps)];
        const float* s = row + cols_.start[static_cast<size_t>(x)];
        const int64_t n = cols_.count[static_cast<size_t>(x)];
        float t = s[0] * w[0];
        for (int64_t j = 1; j < n; ++j) t += s[j] * w[j];
        orow[x] = t;
      }
    }
    if (rows_.identity) return;
    src = tmp_.data();
  } else if (rows_.identity) {
    std::memcpy(out, in, static_cast<size_t>(in_h_ * in_w_) * sizeof(float));
    return;
  }
  // Then the height, one output row at a time (vectorisable over the row).
  for (int64_t y = 0; y < out_h_; ++y) {
    const float* w = &rows_.weights[static_cast<size_t>(y * rows_.max_taps)];
    const int64_t y0 = rows_.start[static_cast<size_t>(y)];
    const int64_t n = rows_.count[static_cast<size_t>(y)];
    float* orow = out + y * out_w_;
    const float* s0 = src + y0 * out_w_;
    for (int64_t x = 0; x < out_w_; ++x) orow[x] = s0[x] * w[0];
    for (int64_t j = 1; j < n; ++j) {
      const float* sj = src + (y0 + j) * out_w_;
      const float wj = w[j];
      for (int64_t x = 0; x < out_w_; ++x) orow[x] += sj[x] * wj;
    }
  }
}

namespace {

// One value of ToInt16Scaled (the scalar form).
inline float Int16Scaled(float v) {
  float c = v < -32768.0f ? -32768.0f : v;
  c = c > 32767.0f ? 32767.0f : c;
  c = v == v ? c : 0.0f;
  return static_cast<float>(static_cast<int32_t>(c)) / 32767.0f;
}

}  // namespace

double ToInt16Scaled(const float* in, int64_t n, float* out) {
  // ToInt16 on a float's exact double value: NaN -> 0; beyond the int16 range -> its ends; else
  // truncation toward zero. Clamping first and truncating after gives the same integers (every
  // float in (-32769, -32768] truncates to -32768, in [32767, 32768) to 32767), and the clamped
  // value fits an int32, whose conversion truncates. The compiler does not vectorise the scalar
  // form (its comparisons could trap on NaN), hence SSE2 (every x86-64): maxps gives its second
  // operand for a NaN, which the ordered mask then zeroes; cvttps2dq truncates; divps rounds as divss.
  constexpr int64_t kBlock = 1024;
  double sum = 0.0;
  alignas(16) float block[kBlock];
  for (int64_t first = 0; first < n; first += kBlock) {
    const int64_t count = std::min(kBlock, n - first);
    const float* src = in + first;
    int64_t i = 0;
#if defined(__SSE2__)
    const __m128 lo = _mm_set1_ps(-32768.0f), hi = _mm_set1_ps(32767.0f), scale = _mm_set1_ps(32767.0f);
    for (; i + 4 <= count; i += 4) {
      const __m128 v = _mm_loadu_ps(src + i);
      __m128 c = _mm_min_ps(_mm_max_ps(v, lo), hi);
      c = _mm_and_ps(c, _mm_cmpord_ps(v, v));
      _mm_store_ps(block + i, _mm_div_ps(_mm_cvtepi32_ps(_mm_cvttps_epi32(c)), scale));
    }
#endif
    for (; i < count; ++i) block[i] = Int16Scaled(src[i]);
    for (i = 0; i < count; ++i) sum += block[i];  // the order ZScore sums in
    std::memcpy(out + first, block, static_cast<size_t>(count) * sizeof(float));
  }
  return sum;
}

ZScoreStats ZScore(float* values, int64_t n, double eps) {
  if (n <= 0) return ZScoreStats{};
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += values[i];
  return ZScoreWithSum(values, n, sum, eps);
}

ZScoreStats ZScoreWithSum(float* values, int64_t n, double sum, double eps) {
  ZScoreStats st;
  if (n <= 0) return st;
  const double mean = sum / static_cast<double>(n);
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = values[i] - mean;
    ss += d * d;
  }
  // torch.std of a single value is NaN (0/0); the processor then divides by NaN as well.
  st = MakeZScoreStats(mean, n > 1 ? ss / static_cast<double>(n - 1) : std::nan(""), eps);
  ApplyZScore(values, n, st);
  return st;
}

ZScoreStats MakeZScoreStats(double mean, double variance, double eps) {
  ZScoreStats st;
  st.mean = static_cast<float>(mean);
  st.std = static_cast<float>(std::sqrt(variance));
  st.divided = !(st.std < eps);
  return st;
}

void ApplyZScore(float* values, int64_t n, const ZScoreStats& st) {
  if (st.divided) {
    for (int64_t i = 0; i < n; ++i) values[i] = (values[i] - st.mean) / st.std;
  } else {
    for (int64_t i = 0; i < n; ++i) values[i] = values[i] - st.mean;
  }
}

PreprocessResult Preprocess(const std::vector<TensorView>& images, const PreprocessOptions& opt) {
  if (images.empty()) Bad("no image to preprocess");
  if (opt.crop_size < 1 || opt.crop_size > 16384) {
    Bad("crop size " + std::to_string(opt.crop_size) + " is out of range [1, 16384]");
  }
  if (opt.num_slices && (*opt.num_slices < 1 || opt.version != ProcessorVersion::kB)) {
    Bad("num_slices must be >= 1 and is a Version B option");
  }
  const size_t rank = images[0].shape.size();
  for (size_t b = 0; b < images.size(); ++b) {
    const TensorView& t = images[b];
    const std::string which = "image " + std::to_string(b) + " ('" + t.name + "')";
    if (t.shape.size() != 2 && t.shape.size() != 3) {
      Bad(which + " has shape " + ShapeString(t.shape) + ": expected (H,W) or (H,W,S)");
    }
    if (t.shape.size() != rank) Bad(which + " mixes 2-D and 3-D images in one batch");
    for (int64_t d : t.shape) {
      if (d < 1) Bad(which + " has shape " + ShapeString(t.shape) + ": empty");
    }
  }

  const int64_t c = opt.crop_size;
  const int64_t plane = c * c;
  PreprocessResult r;
  std::vector<float> slice;

  if (opt.version == ProcessorVersion::kA) {
    const int64_t s = rank == 3 ? images[0].shape[2] : 1;
    for (const TensorView& t : images) {
      if (rank == 3 && t.shape[2] != s) Bad("volumes of one batch must have the same number of slices");
    }
    r.shape = rank == 3 ? std::vector<int64_t>{int64_t(images.size()), s, 1, c, c}
                        : std::vector<int64_t>{int64_t(images.size()), 1, c, c};
    r.pixel_values.resize(static_cast<size_t>(NumElements(r.shape)));
    for (size_t b = 0; b < images.size(); ++b) {
      const TensorView& t = images[b];
      const std::vector<float> values = ConvertValues(t, opt, &r.clamped_values);
      Resizer resizer(t.shape[0], t.shape[1], c, c);
      float* item = r.pixel_values.data() + static_cast<int64_t>(b) * s * plane;
      for (int64_t k = 0; k < s; ++k) {
        float* dst = item + k * plane;
        resizer.Resize(SliceOf(values, t.shape, 2, k, slice), dst);  // Version A slices along the last axis
        if (opt.clip_below_air) ClipBelowAir(dst, plane);
      }
      // Version A normalises whatever do_normalize says: per image, or over the whole volume.
      ZScore(item, s * plane, opt.eps);
    }
    return r;
  }

  // Version B.
  std::vector<std::vector<int32_t>> indices(images.size());
  std::vector<int64_t> axes(images.size(), 0);
  int64_t out_slices = -1;
  for (size_t b = 0; b < images.size(); ++b) {
    const TensorView& t = images[b];
    // The slice axis is argmin(shape) (first on ties); 2-D images are one slice.
    if (rank == 3) axes[b] = std::min_element(t.shape.begin(), t.shape.end()) - t.shape.begin();
    const int64_t s = rank == 3 ? t.shape[static_cast<size_t>(axes[b])] : 1;
    std::vector<int32_t>& idx = indices[b];
    if (!opt.num_slices) {
      for (int64_t i = 0; i < s; ++i) idx.push_back(static_cast<int32_t>(i));
    } else if (s >= *opt.num_slices) {
      // np.linspace(0, s-1, n, dtype=int): start + i*step, last value set to stop, truncated.
      const int64_t n = *opt.num_slices;
      const double step = n > 1 ? static_cast<double>(s - 1) / static_cast<double>(n - 1) : 0.0;
      for (int64_t i = 0; i < n; ++i) {
        double v = (i == n - 1 && n > 1) ? static_cast<double>(s - 1) : static_cast<double>(i) * step;
        idx.push_back(static_cast<int32_t>(v));
      }
    } else {
      for (int64_t i = 0; i < *opt.num_slices; ++i) idx.push_back(static_cast<int32_t>(std::min(i, s - 1)));
    }
    if (out_slices >= 0 && out_slices != int64_t(idx.size())) {
      Bad("volumes of one batch must give the same number of slices");
    }
    out_slices = static_cast<int64_t>(idx.size());
  }
  const bool flat = out_slices == 1;
  r.shape = flat ? std::vector<int64_t>{int64_t(images.size()), 1, c, c}
                 : std::vector<int64_t>{int64_t(images.size()), out_slices, 1, c, c};
  r.pixel_values.resize(static_cast<size_t>(NumElements(r.shape)));
  for (size_t b = 0; b < images.size(); ++b) {
    const TensorView& t = images[b];
    const int64_t axis = axes[b];
    const int64_t s = rank == 3 ? t.shape[static_cast<size_t>(axis)] : 1;
    const int64_t h = rank == 3 ? t.shape[axis == 0 ? 1 : 0] : t.shape[0];
    const int64_t w = rank == 3 ? t.shape[axis == 2 ? 1 : 2] : t.shape[1];
    const std::vector<float> values = ConvertValues(t, opt, &r.clamped_values);
    Resizer resizer(h, w, c, c);
    for (size_t k = 0; k < indices[b].size(); ++k) {
      const int64_t src = indices[b][k];
      float* dst = r.pixel_values.data() + (static_cast<int64_t>(b) * out_slices + int64_t(k)) * plane;
      resizer.Resize(SliceOf(values, t.shape, axis, src, slice), dst);
      if (opt.clip_below_air) ClipBelowAir(dst, plane);
      // Per slice; a flat slice is only centred (Version B's "std = 1" rule).
      if (opt.do_normalize) ZScore(dst, plane, opt.eps);
      r.slice_indices.push_back(static_cast<int32_t>(src));
      r.slice_mask.push_back(static_cast<uint8_t>(int64_t(k) < s ? 1 : 0));
    }
  }
  return r;
}

}  // namespace curia::model
