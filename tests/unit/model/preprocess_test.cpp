// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/model/preprocess.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>
#include <functional>

#include "curia/config/error.h"
#include "test_support.h"

namespace curia::model {
namespace {

TensorView View(const std::vector<int16_t>& data, std::vector<int64_t> shape) {
  TensorView v;
  v.name = "image";
  v.dtype = DType::kI16;
  v.shape = std::move(shape);
  v.data = reinterpret_cast<const uint8_t*>(data.data());
  v.nbytes = data.size() * 2;
  return v;
}

using test::ErrorMessage;

TEST(ToInt16, FollowsTorchsCast) {
  bool clamped = false;
  EXPECT_EQ(ToInt16(40000, true, &clamped), -25536);  // integers wrap
  EXPECT_EQ(ToInt16(60500, true, &clamped), -5036);
  EXPECT_EQ(ToInt16(-0.5, false, &clamped), 0);  // floats truncate toward zero
  EXPECT_EQ(ToInt16(-1023.9, false, &clamped), -1023);
  EXPECT_EQ(ToInt16(3070.99, false, &clamped), 3070);
  EXPECT_FALSE(clamped);
  EXPECT_EQ(ToInt16(1e10, false, &clamped), 32767);  // undefined in torch: we clamp and say so
  EXPECT_TRUE(clamped);
  clamped = false;
  EXPECT_EQ(ToInt16(std::nan(""), false, &clamped), 0);
  EXPECT_TRUE(clamped);
}

// The pool's vectorised numpy path against the scalar definition, bit for bit, on values at every
// edge: int16 range ends, halves either side of them, negative fractions, infinities, NaN.
TEST(ToInt16Scaled, MatchesToInt16BitForBitAndSumsInOrder) {
  std::vector<float> in = {0.0f, -0.0f, 0.5f, -0.5f, -1023.9f, 3070.99f, 32766.5f, 32767.0f, 32767.5f, 32768.0f,
                           -32767.5f, -32768.0f, -32768.5f, -32769.0f, 1e10f, -1e10f, INFINITY, -INFINITY, NAN,
                           -2000.25f, 1.0e-30f, -1.0e-30f};
  uint32_t state = 12345;
  for (int i = 0; i < 5000; ++i) {  // more than one internal block, random values over the range and past it
    state = state * 1664525u + 1013904223u;
    in.push_back((static_cast<float>(state >> 8) / 16777216.0f - 0.5f) * 90000.0f);
  }
  std::vector<float> out(in.size()), expected(in.size());
  double expected_sum = 0.0;
  for (size_t i = 0; i < in.size(); ++i) {
    bool clamped = false;
    expected[i] = static_cast<float>(ToInt16(in[i], false, &clamped)) / 32767.0f;
    expected_sum += expected[i];
  }
  const double sum = ToInt16Scaled(in.data(), static_cast<int64_t>(in.size()), out.data());
  for (size_t i = 0; i < in.size(); ++i) {
    ASSERT_EQ(std::memcmp(&out[i], &expected[i], sizeof(float)), 0) << "value " << in[i] << " at " << i;
  }
  EXPECT_EQ(sum, expected_sum);
  // In place gives the same.
  std::vector<float> same = in;
  ToInt16Scaled(same.data(), static_cast<int64_t>(same.size()), same.data());
  EXPECT_EQ(std::memcmp(same.data(), expected.data(), same.size() * sizeof(float)), 0);
}

TEST(ZScore, WithSumIsZScoreBitForBit) {
  std::vector<float> a(1000);
  for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(static_cast<float>(i) * 0.37f) * 3.0f + 0.1f;
  std::vector<float> b = a;
  double sum = 0.0;
  for (float v : b) sum += v;
  const ZScoreStats x = ZScore(a.data(), static_cast<int64_t>(a.size()), 1e-6);
  const ZScoreStats y = ZScoreWithSum(b.data(), static_cast<int64_t>(b.size()), sum, 1e-6);
  EXPECT_EQ(x.mean, y.mean);
  EXPECT_EQ(x.std, y.std);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

TEST(Resizer, IdentityIsABitExactCopy) {
  std::vector<float> in(6 * 5);
  for (size_t i = 0; i < in.size(); ++i) in[i] = std::sin(static_cast<float>(i)) * 1000.0f;
  std::vector<float> out(in.size());
  Resizer(6, 5, 6, 5).Resize(in.data(), out.data());
  EXPECT_EQ(out, in);
}

TEST(Resizer, ConstantStaysConstantInBothDirections) {
  for (auto [ih, iw, oh, ow] : {std::array<int64_t, 4>{40, 52, 64, 64}, {333, 417, 64, 64}, {7, 3, 5, 11}}) {
    std::vector<float> in(static_cast<size_t>(ih * iw), 0.25f), out(static_cast<size_t>(oh * ow));
    Resizer(ih, iw, oh, ow).Resize(in.data(), out.data());
    for (float v : out) EXPECT_NEAR(v, 0.25f, 1e-6);
  }
}

TEST(ZScore, UnbiasedStdAndTheEpsRule) {
  std::vector<float> v = {1, 2, 3, 4};
  const ZScoreStats s = ZScore(v.data(), 4, 1e-6);
  EXPECT_FLOAT_EQ(s.mean, 2.5f);
  EXPECT_FLOAT_EQ(s.std, std::sqrt(5.0f / 3.0f));  // N-1
  EXPECT_TRUE(s.divided);
  std::vector<float> flat = {0.5f, 0.5f, 0.5f};
  EXPECT_FALSE(ZScore(flat.data(), 3, 1e-6).divided);  // std < eps: only centred
  for (float x : flat) EXPECT_EQ(x, 0.0f);
}

TEST(Preprocess, ShapesFollowTheProcessor) {
  std::vector<int16_t> slice(20 * 30, 7), volume(20 * 30 * 4);
  for (size_t i = 0; i < volume.size(); ++i) volume[i] = static_cast<int16_t>(i % 97);
  PreprocessOptions opt;
  opt.crop_size = 16;
  EXPECT_EQ(Preprocess({View(slice, {20, 30})}, opt).shape, (std::vector<int64_t>{1, 1, 16, 16}));
  EXPECT_EQ(Preprocess({View(slice, {20, 30}), View(slice, {20, 30})}, opt).shape,
            (std::vector<int64_t>{2, 1, 16, 16}));
  const PreprocessResult vol = Preprocess({View(volume, {20, 30, 4})}, opt);
  EXPECT_EQ(vol.shape, (std::vector<int64_t>{1, 4, 1, 16, 16}));
  // One z-score over the whole volume: mean 0 and unbiased std 1 over all values.
  double sum = 0, ss = 0;
  for (float x : vol.pixel_values) sum += x;
  const double mean = sum / vol.pixel_values.size();
  for (float x : vol.pixel_values) ss += (x - mean) * (x - mean);
  EXPECT_NEAR(mean, 0.0, 1e-5);
  EXPECT_NEAR(ss / (vol.pixel_values.size() - 1), 1.0, 1e-4);
}

TEST(Preprocess, BadInputsGetSpecificErrors) {
  std::vector<int16_t> data(2 * 3 * 4 * 5, 1), slice(4 * 5, 1);
  PreprocessOptions opt;
  opt.crop_size = 8;
  EXPECT_EQ(ErrorMessage([&] { Preprocess({View(data, {2, 3, 4, 5})}, opt); }),
            "image 0 ('image') has shape [2, 3, 4, 5]: expected (H,W) or (H,W,S)");
  EXPECT_EQ(ErrorMessage([&] { Preprocess({View(slice, {4, 5}), View(data, {4, 5, 6})}, opt); }),
            "image 1 ('image') mixes 2-D and 3-D images in one batch");
  EXPECT_EQ(ErrorMessage([&] { Preprocess({View(slice, {0, 5})}, opt); }), "image 0 ('image') has shape [0, 5]: empty");
  EXPECT_EQ(ErrorMessage([&] { Preprocess({View(data, {4, 5, 6}), View(data, {4, 6, 5})}, opt); }),
            "volumes of one batch must have the same number of slices");
  EXPECT_EQ(ErrorMessage([&] { Preprocess({}, opt); }), "no image to preprocess");
  opt.crop_size = 0;
  EXPECT_EQ(ErrorMessage([&] { Preprocess({View(slice, {4, 5})}, opt); }), "crop size 0 is out of range [1, 16384]");
}

TEST(Preprocess, OutOfRangeFloatsAreCountedNotWrapped) {
  std::vector<float> values = {0.0f, 1e6f, -1e6f, 12.7f};
  TensorView v;
  v.name = "image";
  v.dtype = DType::kF32;
  v.shape = {2, 2};
  v.data = reinterpret_cast<const uint8_t*>(values.data());
  v.nbytes = 16;
  PreprocessOptions opt;
  opt.crop_size = 2;
  EXPECT_EQ(Preprocess({v}, opt).clamped_values, 2);
}

}  // namespace
}  // namespace curia::model
