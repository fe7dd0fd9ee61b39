// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// safetensors files (https://huggingface.co/docs/safetensors): a little-endian u64 header length,
// a JSON header {"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {...}} and the raw
// row-major data. Reading memory-maps the file and validates everything before any tensor is
// handed out: header length and JSON, dtypes, shapes against byte sizes, offsets inside the file,
// no gaps or overlaps. Every error names the file and, where there is one, the tensor.
// Our own reader: Debian 12 packages no C++ safetensors library, and the format is this small.
//
//   auto file = SafetensorsFile::Open("model/model.safetensors");
//   const TensorView& w = file->Get("layernorm.weight", {768});   // checks the shape
//   std::vector<float> values = ToFloat32(w);
//
//   SafetensorsWriter out;
//   out.AddFloat32("pooler_output", {2, 768}, data);
//   out.Write("out.safetensors");      // atomic: temporary file, then rename
//
// Thread safety: an open SafetensorsFile is immutable and may be read from many threads. Views
// point into the mapping and live as long as the SafetensorsFile.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace curia::model {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kU16, kBool };

const char* DTypeName(DType dtype);  // safetensors code: "F32", "BF16", ...
size_t DTypeSize(DType dtype);
std::optional<DType> ParseDType(std::string_view code);
bool IsFloatingDType(DType dtype);

std::string ShapeString(const std::vector<int64_t>& shape);  // "[2, 1, 64, 64]"
int64_t NumElements(const std::vector<int64_t>& shape);

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // may be unaligned: read with memcpy or the converters below
  size_t nbytes = 0;

  int64_t NumElements() const { return model::NumElements(shape); }
};

// Element-wise conversions of any dtype (F16/BF16 exactly, integers by value, bool as 0/1).
std::vector<float> ToFloat32(const TensorView& tensor);
std::vector<double> ToFloat64(const TensorView& tensor);
// Elements [first, first + count) in row-major order, for large tensors read in chunks.
void ReadValues(const TensorView& tensor, size_t first, size_t count, double* out);

class SafetensorsFile {
 public:
  // Throws curia::Error: kNotFound when the file cannot be opened, kInvalidArgument when it is not
  // a valid safetensors file.
  static std::unique_ptr<SafetensorsFile> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  size_t file_size() const { return size_; }
  // In data order (ascending offsets).
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  const TensorView* Find(std::string_view name) const;
  // Throws kNotFound "<path>: tensor '<name>' is missing".
  const TensorView& Get(std::string_view name) const;
  // Also checks the shape: "<path>: tensor '<name>' has shape [..], expected [..]".
  const TensorView& Get(std::string_view name, const std::vector<int64_t>& shape) const;

 private:
  SafetensorsFile() = default;
  void Parse();

  std::string path_;
  const uint8_t* map_ = nullptr;
  size_t size_ = 0;
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

class SafetensorsWriter {
 public:
  // bytes.size() must equal NumElements(shape) * DTypeSize(dtype); names must be unique.
  void Add(std::string name, DType dtype, std::vector<int64_t> shape, std::vector<uint8_t> bytes);
  void AddFloat32(std::string name, std::vector<int64_t> shape, const float* data);
  void AddFloat32(std::string name, std::vector<int64_t> shape, const std::vector<float>& data);
  void SetMetadata(const std::string& key, const std::string& value);

  // Writes tensors in sorted-name order, header padded to 8 bytes, to a temporary file in the same
  // folder which then replaces `path`. Throws curia::Error naming the path on any I/O failure.
  void Write(const std::string& path) const;

 private:
  struct Entry {
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace curia::model
