// SPDX-License-Identifier: GPL-3.0-or-later
// SlicePreparer (the pool's per-slice host path) against the processor's scalar building blocks
// (model::ToInt16, Resizer, ZScore) applied one after the other: the same floats, bit for bit, with
// and without the resize, and slice after slice with reused buffers.
#include "curia/pool/prepare.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

namespace curia::pool {
namespace {

// A volume of pseudo-random Hounsfield-like values, with edge values on slice 0.
class NoiseVolume : public worker::IVolumeSource {
 public:
  NoiseVolume(int64_t slices, int64_t rows, int64_t cols) : slices_(slices), rows_(rows), cols_(cols) {}
  worker::VolumeInfo Info() const override {
    worker::VolumeInfo info;
    info.slices = slices_;
    info.rows = rows_;
    info.cols = cols_;
    return info;
  }
  void ReadSlice(int64_t index, float* out) const override {
    uint32_t state = static_cast<uint32_t>(index) * 7919u + 17u;
    for (int64_t i = 0; i < rows_ * cols_; ++i) {
      state = state * 1664525u + 1013904223u;
      out[i] = (static_cast<float>(state >> 8) / 16777216.0f - 0.3f) * 5000.0f;
    }
    if (index == 0) {
      const float edges[] = {NAN, INFINITY, -INFINITY, 40000.0f, -40000.0f, -0.5f, 32767.5f, -32768.5f};
      for (size_t k = 0; k < sizeof edges / sizeof edges[0]; ++k) out[k * 3] = edges[k];
    }
  }

 private:
  int64_t slices_, rows_, cols_;
};

std::vector<float> Reference(const NoiseVolume& v, int64_t index, int64_t size) {
  const worker::VolumeInfo info = v.Info();
  std::vector<float> raw(static_cast<size_t>(info.rows * info.cols)), out(static_cast<size_t>(size * size));
  v.ReadSlice(index, raw.data());
  for (float& x : raw) {
    bool clamped = false;
    x = static_cast<float>(model::ToInt16(x, false, &clamped)) / 32767.0f;
  }
  model::Resizer(info.rows, info.cols, size, size).Resize(raw.data(), out.data());
  model::ZScore(out.data(), size * size, 1e-6);
  return out;
}

TEST(SlicePreparer, MatchesTheProcessorsStepsBitForBit) {
  constexpr int64_t kSize = 48;
  SlicePreparer prep(kSize);  // one preparer for every volume and slice: buffers are reused
  for (int64_t rows : {kSize, int64_t{32}, int64_t{64}}) {
    const NoiseVolume v(3, rows, rows == kSize ? kSize : rows + 8);
    const worker::VolumeInfo info = v.Info();
    for (int64_t k = 0; k < info.slices; ++k) {
      std::vector<float> out(static_cast<size_t>(kSize * kSize), -7.0f);
      prep.PrepareZScored(v, info.rows, info.cols, k, 1e-6, out.data());
      const std::vector<float> expected = Reference(v, k, kSize);
      EXPECT_EQ(std::memcmp(out.data(), expected.data(), out.size() * sizeof(float)), 0)
          << info.rows << "x" << info.cols << " slice " << k;
    }
  }
}

TEST(SlicePreparer, PrepareReturnsTheSumZScoreWouldTake) {
  constexpr int64_t kSize = 40;
  SlicePreparer prep(kSize);
  for (int64_t rows : {kSize, int64_t{24}}) {
    const NoiseVolume v(1, rows, rows);
    std::vector<float> out(static_cast<size_t>(kSize * kSize));
    const double sum = prep.Prepare(v, rows, rows, 0, out.data());
    double expected = 0.0;
    for (float x : out) expected += x;
    EXPECT_EQ(sum, expected) << rows;
  }
}

}  // namespace
}  // namespace curia::pool
