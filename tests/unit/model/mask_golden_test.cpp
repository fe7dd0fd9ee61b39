// SPDX-License-Identifier: GPL-3.0-or-later
// Region masks to head input against the reference trainer's transform run with torch's own
// functions: tests/golden/mask.safetensors, written by tests/golden/make_mask_golden.py. The resized
// values at the golden README's resize tolerance (1e-6, values in [0, 1]); the thresholded masks
// exactly (a value of exactly 0.5 must stay out: the reference's "> 0.5" is strict).
#include <gtest/gtest.h>

#include "curia/model/mask.h"
#include "curia/model/safetensors.h"
#include "test_support.h"

namespace curia::model {
namespace {

constexpr double kResizedTol = 1e-6;

const SafetensorsFile& Golden() {
  static const std::unique_ptr<SafetensorsFile> f =
      SafetensorsFile::Open(test::TestDataPath("golden/mask.safetensors"));
  return *f;
}

std::vector<uint8_t> Bytes(const TensorView& t) {
  std::vector<uint8_t> out;
  for (double v : ToFloat64(t)) out.push_back(static_cast<uint8_t>(v));
  return out;
}

struct Case {
  const char* name;
  bool fallback;  // what the generator printed: pinned so that a regenerated file cannot drop the case
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class MaskGolden : public ::testing::TestWithParam<Case> {};

TEST_P(MaskGolden, MatchesTheTrainer) {
  const std::string name = GetParam().name;
  const TensorView& source = Golden().Get(name + ".source");
  const TensorView& expected = Golden().Get(name + ".mask");
  const bool stack = source.shape.size() == 3;
  const int64_t size = expected.shape[3];
  const int64_t slices = stack ? source.shape[0] : 1;
  const int64_t h = source.shape[stack ? 1 : 0], w = source.shape[stack ? 2 : 1];
  ASSERT_EQ(expected.shape, (std::vector<int64_t>{slices, 1, size, size}));

  MaskResizer resizer(h, w, size);
  const std::vector<uint8_t> src = Bytes(source);
  std::vector<float> out(static_cast<size_t>(slices * size * size));
  const MaskThreshold t = stack ? resizer.ResizeStack(src.data(), slices, out.data()) : resizer.Resize(src.data(), out.data());
  EXPECT_TRUE(test::AllClose(out, expected, 0.0)) << name;
  EXPECT_EQ(t.fallback, Golden().Get(name + ".fallback").data[0] != 0) << name;
  EXPECT_EQ(t.fallback, GetParam().fallback) << name;
  double ones = 0;
  for (double v : ToFloat64(expected)) ones += v;
  EXPECT_EQ(t.pixels, static_cast<int64_t>(ones));
  EXPECT_FLOAT_EQ(t.threshold, t.fallback ? 0.5f * t.max : 0.5f);

  // The float path and the tool's entry point give the same masks.
  std::vector<float> fsrc(src.begin(), src.end());
  std::vector<float> out2(out.size());
  if (stack) {
    resizer.ResizeStack(fsrc.data(), slices, out2.data());
  } else {
    resizer.Resize(fsrc.data(), out2.data());
  }
  EXPECT_EQ(out2, out);
  EXPECT_EQ(PrepareHeadMask(source, size), out);

  // The worker pool's form of a stack, slice by slice: the stack's threshold from each slice's
  // largest resized value, then each slice with it.
  if (stack) {
    const int64_t plane = size * size;
    std::vector<float> scratch(static_cast<size_t>(plane)), out3(out.size());
    float max = 0;
    for (int64_t s = 0; s < slices; ++s) max = std::max(max, resizer.ResizedMax(src.data() + s * h * w, scratch.data()));
    const MaskThreshold st = StackThreshold(max, "m");
    EXPECT_EQ(st.fallback, t.fallback) << name;
    EXPECT_EQ(st.threshold, t.threshold) << name;
    int64_t pixels = 0;
    for (int64_t s = 0; s < slices; ++s) pixels += resizer.ResizeAt(src.data() + s * h * w, st.threshold, out3.data() + s * plane);
    EXPECT_EQ(out3, out) << name;
    EXPECT_EQ(pixels, t.pixels) << name;
  }

  // The resize alone (2-D cases store it).
  if (const TensorView* resized = Golden().Find(name + ".resized")) {
    std::vector<float> values(static_cast<size_t>(size * size));
    resizer.ResizeValues(fsrc.data(), values.data());
    EXPECT_TRUE(test::AllClose(values, *resized, kResizedTol)) << name;
    float max = 0;
    for (float v : values) max = std::max(max, v);
    EXPECT_EQ(t.max, max);
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, MaskGolden,
                         ::testing::Values(Case{"disc_200x280_to_64", false}, Case{"tiny_256_to_64", true},
                                           Case{"thin_line_192x150_to_64", true}, Case{"half_128_to_64", false},
                                           Case{"upsample_40x52_to_96", false}, Case{"same_64", false},
                                           Case{"stack_mixed_4x100x90_to_64", false},
                                           Case{"stack_fallback_3x160x120_to_64", true}),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

// The end-to-end case's masks (its logits are checked with the head in tests/unit/nn).
TEST(MaskGolden, ChainMasks) {
  const TensorView& source = Golden().Get("chain.source");
  const TensorView& expected = Golden().Get("chain.mask");
  const int64_t b = source.shape[0], h = source.shape[1], w = source.shape[2], size = expected.shape[3];
  MaskResizer resizer(h, w, size);
  const std::vector<uint8_t> src = Bytes(source);
  std::vector<float> out(static_cast<size_t>(b * size * size));
  for (int64_t i = 0; i < b; ++i) resizer.Resize(src.data() + i * h * w, out.data() + i * size * size);
  EXPECT_TRUE(test::AllClose(out, expected, 0.0));
}

TEST(Mask, EmptyRegionIsRefused) {
  MaskResizer resizer(50, 60, 64);
  std::vector<uint8_t> zeros(50 * 60, 0);
  std::vector<float> out(64 * 64);
  const std::string message = test::ErrorMessage([&] { resizer.Resize(zeros.data(), out.data()); });
  EXPECT_NE(message.find("the region mask is empty (no pixel of the region is set)"), std::string::npos) << message;
  std::vector<uint8_t> stack(3 * 50 * 60, 0);
  std::vector<float> out3(3 * 64 * 64);
  EXPECT_NE(test::ErrorMessage([&] { resizer.ResizeStack(stack.data(), 3, out3.data()); })
                .find("the region mask of 3 slices is empty"),
            std::string::npos);
}

TEST(Mask, StackThresholdOfAnEmptyStackIsRefused) {
  EXPECT_NE(test::ErrorMessage([] { StackThreshold(0.0f, "the region mask"); })
                .find("the region mask is empty (no pixel of the region is set)"),
            std::string::npos);
  EXPECT_EQ(StackThreshold(0.5f, "m").threshold, 0.25f);
  EXPECT_TRUE(StackThreshold(0.5f, "m").fallback);
  EXPECT_EQ(StackThreshold(0.75f, "m").threshold, 0.5f);
  MaskResizer resizer(50, 60, 64);
  std::vector<uint8_t> zeros(50 * 60, 0);
  std::vector<float> out(64 * 64, 7.0f);
  EXPECT_EQ(resizer.ResizedMax(zeros.data(), out.data()), 0.0f);
  EXPECT_EQ(resizer.ResizeAt(zeros.data(), 0.5f, out.data()), 0);  // an empty slice of a stack is no error
  EXPECT_EQ(out, std::vector<float>(64 * 64, 0.0f));
}

TEST(Mask, ThresholdIsStrictAndFallsBackToHalfTheMaximum) {
  std::vector<float> v = {0.5f, 0.50000006f, 0.2f, 0.0f};
  MaskThreshold t = ThresholdMask(v.data(), 4, "m");
  EXPECT_EQ(v, (std::vector<float>{0, 1, 0, 0}));
  EXPECT_FALSE(t.fallback);
  EXPECT_EQ(t.pixels, 1);

  v = {0.3f, 0.15f, 0.16f, 0.0f};
  t = ThresholdMask(v.data(), 4, "m");
  EXPECT_EQ(v, (std::vector<float>{1, 0, 1, 0}));  // > 0.15, strictly
  EXPECT_TRUE(t.fallback);
  EXPECT_FLOAT_EQ(t.threshold, 0.15f);
  EXPECT_FLOAT_EQ(t.max, 0.3f);

  v = {-1.0f, -2.0f};
  EXPECT_NE(test::ErrorMessage([&] { ThresholdMask(v.data(), 2, "m"); }).find("m is empty"), std::string::npos);
}

TEST(Mask, BadShapesAreRefused) {
  TensorView t;
  t.name = "m";
  t.dtype = DType::kU8;
  t.shape = {2, 3, 4, 5};
  EXPECT_NE(test::ErrorMessage([&] { PrepareHeadMask(t, 64); }).find("expected (H,W) or (S,H,W)"), std::string::npos);
  EXPECT_NE(test::ErrorMessage([] { MaskResizer(0, 10, 64); }).find("empty image"), std::string::npos);
}

}  // namespace
}  // namespace curia::model
