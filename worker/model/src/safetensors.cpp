// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include "curia/config/error.h"
#include "curia/config/json.h"

namespace curia::model {
namespace {

using config::Json;

// The reference implementation refuses headers above 100 MB; so do we.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DTypeInfo {
  DType dtype;
  const char* code;
  size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::kF64, "F64", 8}, {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2}, {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},
    {DType::kI16, "I16", 2}, {DType::kI8, "I8", 1}, {DType::kU8, "U8", 1},
    {DType::kU16, "U16", 2}, {DType::kBool, "BOOL", 1},
};

const DTypeInfo& Info(DType dtype) {
  for (const auto& i : kDTypes) {
    if (i.dtype == dtype) return i;
  }
  CURIA_CHECK(false);
  return kDTypes[0];
}

[[noreturn]] void Invalid(const std::string& path, const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, path + ": " + message);
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      bits = sign | (uint32_t(127 - 15 - e) << 23) | ((mant & 0x3FF) << 13);
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

template <typename Out>
void ConvertRange(const TensorView& t, size_t first, size_t n, Out* out) {
  CURIA_CHECK(first + n <= static_cast<size_t>(t.NumElements()));
  const size_t s = DTypeSize(t.dtype);
  const uint8_t* p = t.data + first * s;
  for (size_t i = 0; i < n; ++i, p += s) {
    switch (t.dtype) {
      case DType::kF64: out[i] = static_cast<Out>(Load<double>(p)); break;
      case DType::kF32: out[i] = static_cast<Out>(Load<float>(p)); break;
      case DType::kF16: out[i] = static_cast<Out>(HalfToFloat(Load<uint16_t>(p))); break;
      case DType::kBF16: {
        uint32_t bits = uint32_t(Load<uint16_t>(p)) << 16;
        float f;
        std::memcpy(&f, &bits, 4);
        out[i] = static_cast<Out>(f);
        break;
      }
      case DType::kI64: out[i] = static_cast<Out>(Load<int64_t>(p)); break;
      case DType::kI32: out[i] = static_cast<Out>(Load<int32_t>(p)); break;
      case DType::kI16: out[i] = static_cast<Out>(Load<int16_t>(p)); break;
      case DType::kI8: out[i] = static_cast<Out>(Load<int8_t>(p)); break;
      case DType::kU8: out[i] = static_cast<Out>(*p); break;
      case DType::kU16: out[i] = static_cast<Out>(Load<uint16_t>(p)); break;
      case DType::kBool: out[i] = static_cast<Out>(*p != 0); break;
    }
  }
}

template <typename Out>
std::vector<Out> Convert(const TensorView& t) {
  std::vector<Out> out(static_cast<size_t>(t.NumElements()));
  ConvertRange(t, 0, out.size(), out.data());
  return out;
}

}  // namespace

const char* DTypeName(DType dtype) { return Info(dtype).code; }
size_t DTypeSize(DType dtype) { return Info(dtype).size; }

std::optional<DType> ParseDType(std::string_view code) {
  for (const auto& i : kDTypes) {
    if (code == i.code) return i.dtype;
  }
  return std::nullopt;
}

bool IsFloatingDType(DType dtype) {
  return dtype == DType::kF64 || dtype == DType::kF32 || dtype == DType::kF16 ||
         dtype == DType::kBF16;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t NumElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<float> ToFloat32(const TensorView& tensor) { return Convert<float>(tensor); }
std::vector<double> ToFloat64(const TensorView& tensor) { return Convert<double>(tensor); }

void ReadValues(const TensorView& tensor, size_t first, size_t count, double* out) {
  ConvertRange(tensor, first, count, out);
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw Error(ErrorCode::kNotFound, path + ": cannot open (" + std::strerror(errno) + ")");
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    Invalid(path, "not a regular file");
  }
  file->size_ = static_cast<size_t>(st.st_size);
  if (file->size_ > 0) {
    void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw Error(ErrorCode::kUnavailable, path + ": cannot map (" + std::strerror(err) + ")");
    }
    file->map_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  file->Parse();
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), size_);
}

void SafetensorsFile::Parse() {
  if (size_ < 8) {
    Invalid(path_, "truncated: " + std::to_string(size_) +
                       " bytes, a safetensors file starts with an 8-byte header length");
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | map_[i];
  if (header_len > kMaxHeaderBytes) {
    Invalid(path_, "header length " + std::to_string(header_len) +
                       " bytes is implausible (limit 100 MB): not a safetensors file, or corrupt");
  }
  if (header_len > size_ - 8) {
    Invalid(path_, "truncated: the header needs " + std::to_string(header_len) +
                       " bytes but the file has only " + std::to_string(size_ - 8) +
                       " after the length field");
  }
  std::string_view header(reinterpret_cast<const char*>(map_ + 8), header_len);
  Json doc;
  try {
    doc = config::ParseJson(header, path_ + " (header)");
  } catch (const Error& e) {
    Invalid(path_, std::string("header is not valid JSON: ") + e.what());
  }
  if (!doc.isObject()) Invalid(path_, "header is " + config::Describe(doc) + ", expected a JSON object");

  const uint8_t* data = map_ + 8 + header_len;
  const uint64_t data_size = size_ - 8 - header_len;
  struct Span {
    uint64_t begin, end;
    size_t index;
  };
  std::vector<Span> spans;
  // In file order: tensors() lists them as the file does.
  for (const auto& [name, entry_p] : config::MembersInFileOrder(doc)) {
    const Json& entry = *entry_p;
    if (name == "__metadata__") {
      if (!entry.isObject()) Invalid(path_, "__metadata__ is " + config::Describe(entry) + ", expected an object");
      for (auto it = entry.begin(); it != entry.end(); ++it) {
        const std::string k = it.name();
        const Json& v = *it;
        if (!v.isString()) {
          Invalid(path_, "__metadata__ value '" + k + "' is " + config::Describe(v) + ", expected a string");
        }
        metadata_[k] = v.asString();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "': ";
    if (!entry.isObject()) Invalid(path_, where + "entry is " + config::Describe(entry) + ", expected an object");
    const Json* dtype_j = config::Find(entry, "dtype");
    const Json* shape_j = config::Find(entry, "shape");
    const Json* offsets_j = config::Find(entry, "data_offsets");
    for (const std::string& k : entry.getMemberNames()) {
      if (k != "dtype" && k != "shape" && k != "data_offsets") Invalid(path_, where + "unknown key '" + k + "'");
    }
    if (!dtype_j || !dtype_j->isString()) Invalid(path_, where + "missing or non-string 'dtype'");
    std::optional<DType> dtype = ParseDType(dtype_j->asString());
    if (!dtype) {
      Invalid(path_, where + "unknown dtype '" + dtype_j->asString() +
                         "' (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, U16, BOOL)");
    }
    if (!shape_j || !shape_j->isArray()) Invalid(path_, where + "missing or non-array 'shape'");
    TensorView t;
    t.name = name;
    t.dtype = *dtype;
    uint64_t numel = 1;
    for (const Json& d : *shape_j) {
      if (!d.isInt64() || d.asInt64() < 0) {
        Invalid(path_, where + "shape entries must be non-negative integers, found " + config::Describe(d));
      }
      uint64_t dim = static_cast<uint64_t>(d.asInt64());
      if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / 16 / dim) {
        Invalid(path_, where + "shape " + config::Dump(*shape_j, -1) + " is too large");
      }
      numel *= dim;
      t.shape.push_back(d.asInt64());
    }
    if (!offsets_j || !offsets_j->isArray() || offsets_j->size() != 2 ||
        !(*offsets_j)[0].isInt64() || !(*offsets_j)[1].isInt64() ||
        (*offsets_j)[0].asInt64() < 0 ||
        (*offsets_j)[1].asInt64() < (*offsets_j)[0].asInt64()) {
      Invalid(path_, where + "'data_offsets' must be [begin, end] with 0 <= begin <= end");
    }
    const uint64_t begin = static_cast<uint64_t>((*offsets_j)[0].asInt64());
    const uint64_t end = static_cast<uint64_t>((*offsets_j)[1].asInt64());
    const uint64_t need = numel * DTypeSize(*dtype);
    if (end - begin != need) {
      Invalid(path_, where + "shape " + ShapeString(t.shape) + " of " + DTypeName(*dtype) +
                         " needs " + std::to_string(need) + " bytes but data_offsets [" +
                         std::to_string(begin) + ", " + std::to_string(end) + "] hold " +
                         std::to_string(end - begin));
    }
    if (end > data_size) {
      Invalid(path_, where + "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                         "] run past the end of the data (" + std::to_string(data_size) +
                         " bytes): the file is truncated or corrupt");
    }
    t.data = data + begin;
    t.nbytes = static_cast<size_t>(need);
    spans.push_back({begin, end, tensors_.size()});
    tensors_.push_back(std::move(t));
  }

  // The data must be covered exactly: no holes, no overlaps, nothing after the last tensor.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    const Span& s = spans[i];
    const std::string& name = tensors_[s.index].name;
    if (s.begin < expected) {
      Invalid(path_, "tensor '" + name + "': data overlaps tensor '" +
                         tensors_[spans[i - 1].index].name + "'");
    }
    if (s.begin > expected) {
      Invalid(path_, "tensor '" + name + "': " + std::to_string(s.begin - expected) +
                         " unindexed bytes before its data (offset " + std::to_string(s.begin) + ")");
    }
    expected = s.end;
  }
  if (expected != data_size) {
    Invalid(path_, std::to_string(data_size - expected) +
                       " bytes of data after the last tensor: the file is corrupt");
  }
  std::vector<TensorView> ordered;
  ordered.reserve(tensors_.size());
  for (const Span& s : spans) ordered.push_back(std::move(tensors_[s.index]));
  tensors_ = std::move(ordered);
  for (size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
}

const TensorView* SafetensorsFile::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorView& SafetensorsFile::Get(std::string_view name) const {
  const TensorView* t = Find(name);
  if (!t) throw Error(ErrorCode::kNotFound, path_ + ": tensor '" + std::string(name) + "' is missing");
  return *t;
}

const TensorView& SafetensorsFile::Get(std::string_view name, const std::vector<int64_t>& shape) const {
  const TensorView& t = Get(name);
  if (t.shape != shape) {
    Invalid(path_, "tensor '" + t.name + "' has shape " + ShapeString(t.shape) + ", expected " +
                       ShapeString(shape));
  }
  return t;
}

void SafetensorsWriter::Add(std::string name, DType dtype, std::vector<int64_t> shape,
                            std::vector<uint8_t> bytes) {
  for (int64_t d : shape) {
    if (d < 0) throw Error(ErrorCode::kInvalidArgument, "tensor '" + name + "': negative dimension");
  }
  if (bytes.size() != static_cast<size_t>(NumElements(shape)) * DTypeSize(dtype)) {
    throw Error(ErrorCode::kInvalidArgument, "tensor '" + name + "': " + std::to_string(bytes.size()) +
                                                 " bytes do not match shape " + ShapeString(shape));
  }
  if (name == "__metadata__" || entries_.count(name)) {
    throw Error(ErrorCode::kInvalidArgument, "tensor '" + name + "' added twice or reserved name");
  }
  entries_.emplace(std::move(name), Entry{dtype, std::move(shape), std::move(bytes)});
}

void SafetensorsWriter::AddFloat32(std::string name, std::vector<int64_t> shape, const float* data) {
  std::vector<uint8_t> bytes(static_cast<size_t>(NumElements(shape)) * 4);
  if (!bytes.empty()) std::memcpy(bytes.data(), data, bytes.size());
  Add(std::move(name), DType::kF32, std::move(shape), std::move(bytes));
}

void SafetensorsWriter::AddFloat32(std::string name, std::vector<int64_t> shape,
                                   const std::vector<float>& data) {
  if (static_cast<int64_t>(data.size()) != NumElements(shape)) {
    throw Error(ErrorCode::kInvalidArgument, "tensor '" + name + "': " + std::to_string(data.size()) +
                                                 " values do not match shape " + ShapeString(shape));
  }
  AddFloat32(std::move(name), std::move(shape), data.data());
}

void SafetensorsWriter::SetMetadata(const std::string& key, const std::string& value) {
  metadata_[key] = value;
}

void SafetensorsWriter::Write(const std::string& path) const {
  // The header is composed here rather than as a Json::Value: JsonCpp writes an object's members in
  // key order, and the format's own order (dtype, shape, data_offsets; metadata first) keeps the
  // bytes of every file we wrote before JsonCpp, demo weights included (their digest is pinned).
  // Names and metadata strings are escaped by JsonCpp.
  const auto quoted = [](const std::string& s) { return config::Dump(Json(s), -1); };
  std::string text = "{";
  if (!metadata_.empty()) {
    text += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata_) {
      text += (first ? "" : ",") + quoted(k) + ":" + quoted(v);
      first = false;
    }
    text += "}";
  }
  uint64_t offset = 0;
  for (const auto& [name, e] : entries_) {
    if (text.size() > 1) text += ",";
    text += quoted(name) + ":{\"dtype\":" + quoted(DTypeName(e.dtype)) + ",\"shape\":[";
    for (size_t i = 0; i < e.shape.size(); ++i) text += (i ? "," : "") + std::to_string(e.shape[i]);
    text += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + e.bytes.size()) + "]}";
    offset += e.bytes.size();
  }
  text += "}";
  while (text.size() % 8) text += ' ';
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(uint64_t(text.size()) >> (8 * i));

  std::vector<std::string_view> parts = {{reinterpret_cast<const char*>(len), 8}, text};
  for (const auto& [name, e] : entries_) {
    (void)name;
    parts.emplace_back(reinterpret_cast<const char*>(e.bytes.data()), e.bytes.size());
  }
  config::WriteFileAtomic(path, parts);
}

}  // namespace curia::model
