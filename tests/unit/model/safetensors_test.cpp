// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/model/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include "curia/config/error.h"
#include "test_support.h"

namespace curia::model {
namespace {

using test::TempDir;

// A safetensors file with the given header text and data bytes.
std::string Raw(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + header + data;
}

// The error message of opening `bytes` as a file called `name`, or "" when it opens.
std::string OpenError(const TempDir& dir, const std::string& name, const std::string& bytes,
                      ErrorCode expected = ErrorCode::kInvalidArgument) {
  const std::string path = dir.File(name);
  test::WriteFile(path, bytes);
  try {
    SafetensorsFile::Open(path);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), expected) << e.what();
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << "message must start with the file: " << msg;
    return msg.substr(path.size() + 2);
  }
  return "";
}

TEST(Safetensors, ReadsTheGoldenFiles) {
  auto f = SafetensorsFile::Open(test::GoldenPath("backbone_swiglu/model.safetensors"));
  EXPECT_EQ(f->tensors().size(), 43u);
  const TensorView& w = f->Get("layernorm.weight", {64});
  EXPECT_EQ(w.dtype, DType::kF32);
  EXPECT_EQ(ToFloat32(w).size(), 64u);
  auto prepro = SafetensorsFile::Open(test::GoldenPath("prepro/int32_wrap.safetensors"));
  EXPECT_EQ(prepro->Get("input").dtype, DType::kI32);
  EXPECT_EQ(prepro->Get("to_tensor_int16").dtype, DType::kI16);
}

TEST(Safetensors, WriterRoundTripsEveryDtype) {
  TempDir dir;
  SafetensorsWriter w;
  w.AddFloat32("b.float", {2, 2}, std::vector<float>{1.5f, -2.0f, 0.0f, 3.25f});
  // F16: 1.0 = 0x3C00, -2.0 = 0xC000, 65504 = 0x7BFF, smallest subnormal 2^-24 = 0x0001.
  w.Add("a.half", DType::kF16, {4}, {0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00});
  // BF16: 1.0 = 0x3F80, -0.5 = 0xBF00.
  w.Add("c.bf16", DType::kBF16, {2}, {0x80, 0x3F, 0x00, 0xBF});
  w.Add("d.int16", DType::kI16, {2}, {0x00, 0x80, 0xFF, 0x7F});
  w.Add("e.empty", DType::kF32, {0, 3}, {});
  w.SetMetadata("format", "pt");
  w.Write(dir.File("x.safetensors"));
  auto f = SafetensorsFile::Open(dir.File("x.safetensors"));
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(ToFloat32(f->Get("b.float")), (std::vector<float>{1.5f, -2.0f, 0.0f, 3.25f}));
  EXPECT_EQ(ToFloat32(f->Get("a.half")), (std::vector<float>{1.0f, -2.0f, 65504.0f, 5.9604645e-8f}));
  EXPECT_EQ(ToFloat32(f->Get("c.bf16")), (std::vector<float>{1.0f, -0.5f}));
  EXPECT_EQ(ToFloat64(f->Get("d.int16")), (std::vector<double>{-32768.0, 32767.0}));
  EXPECT_EQ(f->Get("e.empty").NumElements(), 0);
  // Tensors are stored in sorted-name order, and the header is padded to 8 bytes.
  EXPECT_EQ(f->tensors().front().name, "a.half");
  const std::string bytes = test::ReadFile(dir.File("x.safetensors"));
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
}

TEST(Safetensors, MissingTensorAndWrongShapeNameFileAndTensor) {
  const std::string path = test::GoldenPath("backbone_swiglu/model.safetensors");
  auto f = SafetensorsFile::Open(path);
  try {
    f->Get("encoder.layer.9.norm1.weight");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_EQ(std::string(e.what()), path + ": tensor 'encoder.layer.9.norm1.weight' is missing");
  }
  try {
    f->Get("layernorm.weight", {768});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": tensor 'layernorm.weight' has shape [64], expected [768]");
  }
}

TEST(Safetensors, RejectsMissingAndTruncatedFiles) {
  TempDir dir;
  EXPECT_EQ(OpenError(dir, "none.safetensors", ""),
            "truncated: 0 bytes, a safetensors file starts with an 8-byte header length");
  EXPECT_EQ(OpenError(dir, "short.safetensors", "abc"),
            "truncated: 3 bytes, a safetensors file starts with an 8-byte header length");
  std::string huge(8, '\xFF');
  EXPECT_NE(OpenError(dir, "huge.safetensors", huge + "{}").find("is implausible"), std::string::npos);
  EXPECT_EQ(OpenError(dir, "cut_header.safetensors", Raw("{\"a\":1}", "").substr(0, 12)),
            "truncated: the header needs 7 bytes but the file has only 4 after the length field");
  // A real model cut short: the tensor whose data is cut is named.
  const std::string model = test::ReadFile(test::GoldenPath("backbone_swiglu/model.safetensors"));
  const std::string msg = OpenError(dir, "cut.safetensors", model.substr(0, model.size() - 1000));
  EXPECT_NE(msg.find("tensor '"), std::string::npos) << msg;
  EXPECT_NE(msg.find("run past the end of the data"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  try {
    SafetensorsFile::Open(dir.File("does-not-exist.safetensors"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
}

TEST(Safetensors, RejectsCorruptHeaders) {
  TempDir dir;
  const std::string f32x2(8, '\0');
  EXPECT_EQ(OpenError(dir, "json.safetensors", Raw("{\"w\": {\"dtype\": \"F32\",", f32x2)).rfind(
                "header is not valid JSON: ", 0),
            0u);
  EXPECT_EQ(OpenError(dir, "array.safetensors", Raw("[1, 2]  ", "")), "header is an array, expected a JSON object");
  EXPECT_EQ(OpenError(dir, "dtype.safetensors",
                      Raw(R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", "xx")),
            "tensor 'w': unknown dtype 'F8_E4M3' (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, U16, BOOL)");
  EXPECT_EQ(OpenError(dir, "size.safetensors",
                      Raw(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f32x2)),
            "tensor 'w': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8");
  EXPECT_EQ(OpenError(dir, "shape.safetensors",
                      Raw(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f32x2)),
            "tensor 'w': shape entries must be non-negative integers, found -2");
  EXPECT_EQ(OpenError(dir, "offsets.safetensors",
                      Raw(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", f32x2)),
            "tensor 'w': 'data_offsets' must be [begin, end] with 0 <= begin <= end");
  EXPECT_EQ(OpenError(dir, "key.safetensors",
                      Raw(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", f32x2)),
            "tensor 'w': unknown key 'x'");
  EXPECT_EQ(OpenError(dir, "meta.safetensors", Raw(R"({"__metadata__":{"a":1}})", "")),
            "__metadata__ value 'a' is 1, expected a string");
}

TEST(Safetensors, RejectsOverlapsGapsAndTrailingBytes) {
  TempDir dir;
  const std::string data16(16, '\0');
  EXPECT_EQ(OpenError(dir, "overlap.safetensors",
                      Raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                          data16.substr(0, 12))),
            "tensor 'b': data overlaps tensor 'a'");
  EXPECT_EQ(OpenError(dir, "gap.safetensors",
                      Raw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                          data16)),
            "tensor 'b': 4 unindexed bytes before its data (offset 8)");
  EXPECT_EQ(OpenError(dir, "trailing.safetensors",
                      Raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data16)),
            "8 bytes of data after the last tensor: the file is corrupt");
}

TEST(Safetensors, WriterRejectsInconsistentTensors) {
  SafetensorsWriter w;
  EXPECT_THROW(w.Add("x", DType::kF32, {3}, std::vector<uint8_t>(8)), Error);
  w.AddFloat32("x", {1}, std::vector<float>{1.0f});
  EXPECT_THROW(w.AddFloat32("x", {1}, std::vector<float>{1.0f}), Error);
  EXPECT_THROW(w.AddFloat32("y", {2}, std::vector<float>{1.0f}), Error);
}

}  // namespace
}  // namespace curia::model
