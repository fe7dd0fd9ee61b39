// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/json.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include <json/reader.h>
#include <json/writer.h>
#include <unistd.h>

#include "curia/config/error.h"

namespace curia::config {
namespace {

// "* Line 3, Column 1\n  Missing '}' or object member name\n..." (CharReader's text; 1.9.5 has no
// structured errors in its public interface) -> "3:1: Missing '}' or object member name".
std::string FirstError(const std::string& errors) {
  int line = 0, column = 0;
  if (std::sscanf(errors.c_str(), "* Line %d, Column %d", &line, &column) != 2) return errors;
  const size_t text = errors.find("\n  ");
  const size_t stop = text == std::string::npos ? std::string::npos : errors.find('\n', text + 3);
  std::string message = text == std::string::npos ? errors : errors.substr(text + 3, stop - text - 3);
  return std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

// JsonCpp writes NaN as null and infinities as 1e+9999, which no reader gives back: refuse them.
void CheckFinite(const Json& value) {
  if (value.type() == ::Json::realValue && !std::isfinite(value.asDouble())) {
    throw Error(ErrorCode::kInvalidArgument, "cannot write a non-finite number as JSON");
  }
  if (value.isArray() || value.isObject()) {
    for (const Json& child : value) CheckFinite(child);
  }
}

}  // namespace

Json ParseJson(std::string_view text, const std::string& source, JsonDialect dialect) {
  ::Json::CharReaderBuilder builder;
  ::Json::CharReaderBuilder::strictMode(&builder.settings_);  // no comments or trailing commas, no duplicate keys
  builder["allowComments"] = dialect == JsonDialect::kOrthanc;
  builder["collectComments"] = false;
  builder["strictRoot"] = false;  // any value may be the document, as RFC 8259 says
  builder["skipBom"] = true;      // some editors write one
  builder["stackLimit"] = kMaxJsonDepth;
  const std::unique_ptr<::Json::CharReader> reader(builder.newCharReader());
  const char* begin = text.empty() ? "" : text.data();
  Json root;
  std::string errors;
  bool ok = false;
  try {
    ok = reader->parse(begin, begin + text.size(), &root, &errors);
  } catch (const ::Json::Exception& e) {
    // The reader throws for its stack limit (and for keys of 1 GiB or more).
    const bool deep = std::string(e.what()).find("stackLimit") != std::string::npos;
    throw Error(ErrorCode::kInvalidArgument,
                source + ": " + (deep ? "nesting deeper than " + std::to_string(kMaxJsonDepth) + " levels" : e.what()));
  }
  if (!ok) throw Error(ErrorCode::kInvalidArgument, source + ":" + FirstError(errors));
  return root;
}

Json ParseJsonFile(const std::string& path, JsonDialect dialect) {
  return ParseJson(ReadTextFile(path), path, dialect);
}

std::string Dump(const Json& value, int indent) {
  CheckFinite(value);
  ::Json::StreamWriterBuilder builder;
  builder["indentation"] = indent < 0 ? std::string() : std::string(static_cast<size_t>(indent), ' ');
  builder["commentStyle"] = "None";
  builder["enableYAMLCompatibility"] = indent >= 0;  // "key": value rather than "key" : value
  builder["emitUTF8"] = true;
  builder["precision"] = 17;
  const std::string text = ::Json::writeString(builder, value);
  if (indent < 0) return text;
  // JsonCpp puts a member's object or multi-line array on a line of its own ("key": \n  {);
  // join them as JSON is usually written ("key": {). A raw newline never occurs inside a string
  // (the writer escapes it), so ": \n" is always between tokens.
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 3, ": \n") == 0) {
      size_t next = i + 3;
      while (next < text.size() && text[next] == ' ') ++next;
      if (next < text.size() && (text[next] == '{' || text[next] == '[')) {
        out += ": ";
        i = next - 1;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

const Json* Find(const Json& value, std::string_view key) {
  if (!value.isObject()) return nullptr;
  const char* begin = key.empty() ? "" : key.data();
  return value.find(begin, begin + key.size());
}

std::string Describe(const Json& value) {
  switch (value.type()) {
    case ::Json::nullValue: return "null";
    case ::Json::booleanValue: return value.asBool() ? "true" : "false";
    case ::Json::intValue:
    case ::Json::uintValue: return Dump(value, -1);
    case ::Json::realValue: return NumberText(value.asDouble());
    case ::Json::stringValue: {
      const std::string s = value.asString();
      return Dump(Json(s.size() > 60 ? s.substr(0, 57) + "..." : s), -1);
    }
    case ::Json::arrayValue: return "an array";
    case ::Json::objectValue: return "an object";
  }
  return "?";
}

std::string NumberText(double v) {
  char buf[32];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::vector<std::pair<std::string, const Json*>> MembersInFileOrder(const Json& value) {
  std::vector<std::pair<std::string, const Json*>> members;
  if (!value.isObject()) return members;
  members.reserve(value.size());
  for (auto it = value.begin(); it != value.end(); ++it) members.emplace_back(it.name(), &*it);
  std::stable_sort(members.begin(), members.end(), [](const auto& a, const auto& b) {
    return a.second->getOffsetStart() < b.second->getOffsetStart();
  });
  return members;
}

std::string JsonPath(const std::string& base, std::string_view key) {
  bool plain = !key.empty() && (std::isalpha(static_cast<unsigned char>(key[0])) || key[0] == '_');
  for (char c : key) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) plain = false;
  }
  if (plain) return base + "." + std::string(key);
  return base + "[" + Dump(Json(std::string(key)), -1) + "]";
}

std::string JsonPath(const std::string& base, size_t index) {
  return base + "[" + std::to_string(index) + "]";
}

std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(ErrorCode::kNotFound, path + ": cannot open (" + std::strerror(errno) + ")");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(ErrorCode::kInvalidArgument, path + ": read error");
  return ss.str();
}

void WriteFileAtomic(const std::string& path, const std::vector<std::string_view>& parts) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw Error(ErrorCode::kInvalidArgument, path + ": cannot create (" + std::strerror(errno) + ")");
  bool ok = true;
  for (std::string_view part : parts) {
    if (ok && !part.empty()) ok = std::fwrite(part.data(), 1, part.size(), f) == part.size();
  }
  int err = errno;
  if (std::fclose(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    std::remove(tmp.c_str());
    throw Error(ErrorCode::kInvalidArgument, path + ": write failed (" + std::strerror(err) + ")");
  }
}

}  // namespace curia::config
