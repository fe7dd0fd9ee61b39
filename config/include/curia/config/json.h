// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A small, strict JSON value with a parser and a writer. Strict means: RFC 8259 grammar only (no
// comments, no trailing commas, no NaN), valid UTF-8, no duplicate object keys, a nesting limit.
// Errors name the source and the line and column. Object members keep their file order.
//
//   curia::config::Json doc = curia::config::Json::Parse(text, "config.json");
//   if (const Json* v = doc.Find("hidden_size"); v && v->IsInteger()) size = v->AsInt64();
//   Json out = Json::Object{}; out["answer"] = 42; std::string s = out.Dump();
//
// Thread safety: a const Json may be read from many threads.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace curia::config {

class Json {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;

  Json() = default;
  Json(std::nullptr_t) {}
  Json(bool value) : type_(Type::kBool), bool_(value) {}
  Json(int value) : Json(static_cast<int64_t>(value)) {}
  Json(int64_t value);
  Json(uint64_t value);
  Json(double value);
  Json(const char* value) : type_(Type::kString), string_(value) {}
  Json(std::string value) : type_(Type::kString), string_(std::move(value)) {}
  Json(std::string_view value) : type_(Type::kString), string_(value) {}
  Json(Array value) : type_(Type::kArray), array_(std::move(value)) {}
  Json(Object value) : type_(Type::kObject), object_(std::move(value)) {}

  // Parses a whole document. Throws curia::Error(kInvalidArgument) "<source>:<line>:<col>: ...".
  static Json Parse(std::string_view text, std::string_view source);

  Type type() const { return type_; }
  static const char* TypeName(Type type);
  // For messages: "a string", "an integer", "a number", ...
  std::string Describe() const;

  bool IsNull() const { return type_ == Type::kNull; }
  bool IsBool() const { return type_ == Type::kBool; }
  bool IsNumber() const { return type_ == Type::kNumber; }
  // A number written without fraction or exponent (or with an integral value) that fits int64.
  bool IsInteger() const { return type_ == Type::kNumber && integral_; }
  bool IsString() const { return type_ == Type::kString; }
  bool IsArray() const { return type_ == Type::kArray; }
  bool IsObject() const { return type_ == Type::kObject; }

  // Accessors throw curia::Error(kInvalidArgument) on a type mismatch; check the type first where
  // the input is untrusted and a better message can be given.
  bool AsBool() const;
  double AsDouble() const;
  int64_t AsInt64() const;
  const std::string& AsString() const;
  const Array& AsArray() const;
  const Object& AsObject() const;
  Array& MutableArray();
  Object& MutableObject();

  // Object lookup; nullptr when absent or when this is not an object.
  const Json* Find(std::string_view key) const;
  // Object member, appended (as null) when absent. Turns a null value into an empty object.
  // A linear search: to build an object with many members, append to a Json::Object instead.
  Json& operator[](std::string_view key);
  // Appends to an array. Turns a null value into an empty array.
  void PushBack(Json value);

  // indent < 0: one line; otherwise pretty-printed with that many spaces per level.
  std::string Dump(int indent = 2) const;

 private:
  void DumpTo(std::string& out, int indent, int depth) const;

  Type type_ = Type::kNull;
  bool bool_ = false;
  bool integral_ = false;
  int64_t int_ = 0;
  double number_ = 0.0;
  std::string string_;
  Array array_;
  Object object_;
};

// JSON path of a member or element, for messages: JsonPath("$", "model") == "$.model",
// JsonPath("$.rules", 2) == "$.rules[2]".
std::string JsonPath(const std::string& base, std::string_view key);
std::string JsonPath(const std::string& base, size_t index);

// `text` without its // and /* */ comments (outside strings), as Orthanc's configuration files
// allow; newlines are kept so that parse errors give the file's line numbers.
std::string StripJsonComments(std::string_view text);

// Reads a whole file; throws curia::Error(kNotFound / kInvalidArgument) naming the path.
std::string ReadTextFile(const std::string& path);
// Writes `parts` one after another into a temporary file beside `path`, then renames it over
// `path`: readers see the old file or the whole new one, never a part. Throws
// curia::Error(kInvalidArgument) naming the path and the system's reason.
void WriteFileAtomic(const std::string& path, const std::vector<std::string_view>& parts);
Json ParseJsonFile(const std::string& path);

}  // namespace curia::config
