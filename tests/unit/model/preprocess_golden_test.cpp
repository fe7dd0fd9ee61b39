// SPDX-License-Identifier: GPL-3.0-or-later
// Every preprocessing case of ../shared/golden/prepro against Curia's reference processor, through
// model::Preprocess (the function `curia preprocess` calls). Tolerances from the golden README
// ("SHOULD" level): pixel_values 2e-5, numpy-path resize intermediates 1e-6, tensor-path 5e-3.
#include <gtest/gtest.h>

#include <regex>

#include "curia/model/preprocess.h"
#include "curia/model/safetensors.h"
#include "test_support.h"

namespace curia::model {
namespace {

constexpr double kPixelTol = 2e-5;
constexpr double kResizedNumpyTol = 1e-6;
constexpr double kResizedTensorTol = 5e-3;

struct VersionACase {
  const char* file;
  bool tensor_input;
};

void PrintTo(const VersionACase& c, std::ostream* os) { *os << c.file; }

class VersionA : public ::testing::TestWithParam<VersionACase> {};

std::vector<TensorView> Inputs(const SafetensorsFile& f) {
  if (const TensorView* t = f.Find("input")) return {*t};
  return {f.Get("input_0"), f.Get("input_1")};
}

TEST_P(VersionA, MatchesTheReference) {
  const VersionACase& c = GetParam();
  auto f = SafetensorsFile::Open(test::GoldenPath(std::string("prepro/") + c.file + ".safetensors"));
  const std::vector<TensorView> inputs = Inputs(*f);
  int checked = 0;
  const std::regex pixel_name("pixel_values_([0-9]+)(_clip)?");
  for (const TensorView& expected : f->tensors()) {
    std::smatch m;
    if (!std::regex_match(expected.name, m, pixel_name)) continue;
    PreprocessOptions opt;
    opt.crop_size = std::stoi(m[1]);
    opt.clip_below_air = m[2].matched;
    opt.input_path = c.tensor_input ? InputPath::kTensor : InputPath::kNumpy;
    const PreprocessResult r = Preprocess(inputs, opt);
    EXPECT_EQ(r.shape, expected.shape) << expected.name;
    EXPECT_TRUE(test::AllClose(r.pixel_values, expected, kPixelTol)) << c.file << " " << expected.name;
    ++checked;
    // Where the clipped output is not stored, the README says it is identical (numpy path: the
    // clamp at -1000 cannot fire on values divided by 32767).
    if (!opt.clip_below_air && !f->Find(expected.name + "_clip")) {
      ASSERT_FALSE(c.tensor_input);
      opt.clip_below_air = true;
      EXPECT_TRUE(test::AllClose(Preprocess(inputs, opt).pixel_values, expected, kPixelTol))
          << c.file << " " << expected.name << " with clip_below_air";
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);

  // The resize intermediate: step 1-2 conversion, then the antialiased bicubic resize.
  if (const TensorView* resized = f->Find("resized_64")) {
    const TensorView& in = inputs[0];
    std::vector<float> values;
    for (double v : ToFloat64(in)) {
      bool clamped = false;
      values.push_back(c.tensor_input ? static_cast<float>(v)
                                      : static_cast<float>(ToInt16(v, !IsFloatingDType(in.dtype), &clamped)) / 32767.0f);
    }
    Resizer resizer(in.shape[0], in.shape[1], 64, 64);
    std::vector<float> out(64 * 64);
    resizer.Resize(values.data(), out.data());
    EXPECT_TRUE(test::AllClose(out, *resized, c.tensor_input ? kResizedTensorTol : kResizedNumpyTol)) << c.file;
  }
  // The processor's own int16 cast.
  if (const TensorView* cast = f->Find("to_tensor_int16")) {
    const TensorView& in = inputs[0];
    std::vector<float> got;
    for (double v : ToFloat64(in)) {
      bool clamped = false;
      got.push_back(ToInt16(v, !IsFloatingDType(in.dtype), &clamped));
      EXPECT_FALSE(clamped);
    }
    EXPECT_TRUE(test::AllClose(got, *cast, 0.0)) << c.file;
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, VersionA,
                         ::testing::Values(VersionACase{"ct512_identity", false},
                                           VersionACase{"ct224_float_upsample", false},
                                           VersionACase{"ct90x96_mild_downsample", false},
                                           VersionACase{"ct333x417_nonsquare", false},
                                           VersionACase{"ct40x52_nonsquare_upsample", false},
                                           VersionACase{"constant_air", false},
                                           VersionACase{"float_truncation", false},
                                           VersionACase{"int32_wrap", false},
                                           VersionACase{"batch_list", false},
                                           VersionACase{"volume_hws", false},
                                           VersionACase{"tensor_path_fovpad", true},
                                           VersionACase{"numpy_path_fovpad", false}),
                         [](const ::testing::TestParamInfo<VersionACase>& info) { return std::string(info.param.file); });

struct VersionBCase {
  const char* file;
  const char* suffix;  // "32" or "32_clip"
  int num_slices;      // 0 = none
};

void PrintTo(const VersionBCase& c, std::ostream* os) { *os << c.file << " " << c.suffix; }

class VersionB : public ::testing::TestWithParam<VersionBCase> {};

TEST_P(VersionB, MatchesTheReference) {
  const VersionBCase& c = GetParam();
  auto f = SafetensorsFile::Open(test::GoldenPath(std::string("prepro/") + c.file + ".safetensors"));
  PreprocessOptions opt;
  opt.version = ProcessorVersion::kB;
  opt.crop_size = 32;
  opt.clip_below_air = std::string(c.suffix).find("clip") != std::string::npos;
  if (c.num_slices) opt.num_slices = c.num_slices;
  const PreprocessResult r = Preprocess({f->Get("input")}, opt);
  const TensorView& expected = f->Get(std::string("pixel_values_") + c.suffix);
  EXPECT_EQ(r.shape, expected.shape);
  EXPECT_TRUE(test::AllClose(r.pixel_values, expected, kPixelTol));
  if (const TensorView* mask = f->Find(std::string("slice_mask_") + c.suffix)) {
    std::vector<float> got(r.slice_mask.begin(), r.slice_mask.end());
    EXPECT_TRUE(test::AllClose(got, *mask, 0.0));
    std::vector<float> idx(r.slice_indices.begin(), r.slice_indices.end());
    EXPECT_TRUE(test::AllClose(idx, f->Get(std::string("slice_indices_") + c.suffix), 0.0));
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, VersionB,
                         ::testing::Values(VersionBCase{"versionB_2d", "32", 0}, VersionBCase{"versionB_2d", "32_clip", 0},
                                           VersionBCase{"versionB_volume", "32_clip", 0},
                                           VersionBCase{"versionB_volume_num_slices8", "32", 8},
                                           VersionBCase{"versionB_volume_num_slices3", "32", 3}),
                         [](const ::testing::TestParamInfo<VersionBCase>& info) {
                           return std::string(info.param.file) + "_" + info.param.suffix;
                         });

}  // namespace
}  // namespace curia::model
