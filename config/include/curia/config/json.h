// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// JSON is JsonCpp's Json::Value (the library Orthanc uses, so that a configuration file Orthanc
// accepts is read with the same dialect), plus the few helpers JsonCpp 1.9.5 lacks: a parser
// front end with our settings and messages, a writer call, a lookup by string_view, a description
// of a value for messages, and an object's members in file order.
//
//   const curia::config::Json doc = curia::config::ParseJson(text, "config.json");
//   if (const Json* v = Find(doc, "hidden_size"); v && v->isInt64()) size = v->asInt64();
//   Json out(::Json::objectValue); out["answer"] = 42; std::string s = Dump(out);
//
// Reading: JsonCpp's strict mode: duplicate object keys are refused, nesting is limited
// (kMaxJsonDepth), nothing may follow the value, NaN/Infinity, trailing commas, single quotes and
// numbers out of the double range are refused; a UTF-8 byte order mark is skipped. JsonCpp stays
// lenient where Orthanc is too: strings are not checked for valid UTF-8 or raw control characters,
// "01" reads as 1, and a comment before an object key passes even in kStrict. Errors are
// curia::Error(kInvalidArgument) "<source>:<line>:<column>: <JsonCpp's message>".
// Integers keep their exact value (int64 and uint64); check isInt64()/isUInt64() before asInt64().
// Objects are std::map (keys sorted); MembersInFileOrder gives a parsed object's file order.
// JsonCpp's as*() accessors convert between types (asString() of a number is its text) and throw
// Json::LogicError where they cannot: check the type first on untrusted input.
//
// Thread safety: a const Json may be read from many threads.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <json/value.h>

namespace curia::config {

using Json = ::Json::Value;

// The deepest nesting of arrays and objects ParseJson accepts.
inline constexpr int kMaxJsonDepth = 200;

enum class JsonDialect {
  kStrict,   // JSON (model files, REST bodies, Orthanc's answers, stored results)
  kOrthanc,  // also // and /* */ comments, as Orthanc's configuration files have them
};

// Parses a whole document. Throws curia::Error(kInvalidArgument) "<source>:<line>:<col>: ...".
Json ParseJson(std::string_view text, const std::string& source, JsonDialect dialect = JsonDialect::kStrict);
// ReadTextFile + ParseJson, the path being the source.
Json ParseJsonFile(const std::string& path, JsonDialect dialect = JsonDialect::kStrict);

// indent < 0: one line; otherwise pretty-printed with that many spaces per level (JsonCpp's
// layout: short arrays of scalars on one line, "[ 1, 2 ]"). Strings are written as UTF-8 (only
// control characters, '"' and '\\' escaped); doubles with 17 significant digits (exact round
// trip: 0.1 is written 0.10000000000000001); object members in key order. Throws
// curia::Error(kInvalidArgument) for a non-finite number, which JSON cannot hold.
std::string Dump(const Json& value, int indent = 2);

// Object member; nullptr when absent or when `value` is not an object.
const Json* Find(const Json& value, std::string_view key);

// For messages: "null", "true", 42, "a string" (quoted, shortened), "an array", "an object".
std::string Describe(const Json& value);

// The shortest text that reads back as `v`, for messages: 2.0 -> "2", 0.1 -> "0.1".
std::string NumberText(double v);

// An object's members ordered by their place in the parsed text (JsonCpp keeps offsets); members
// built in code (offset 0) come first, in key order. Empty when `value` is not an object.
std::vector<std::pair<std::string, const Json*>> MembersInFileOrder(const Json& value);

// JSON path of a member or element, for messages: JsonPath("$", "model") == "$.model",
// JsonPath("$.rules", 2) == "$.rules[2]".
std::string JsonPath(const std::string& base, std::string_view key);
std::string JsonPath(const std::string& base, size_t index);

// Reads a whole file; throws curia::Error(kNotFound / kInvalidArgument) naming the path.
std::string ReadTextFile(const std::string& path);
// Writes `parts` one after another into a temporary file beside `path`, then renames it over
// `path`: readers see the old file or the whole new one, never a part. Throws
// curia::Error(kInvalidArgument) naming the path and the system's reason.
void WriteFileAtomic(const std::string& path, const std::vector<std::string_view>& parts);

}  // namespace curia::config
