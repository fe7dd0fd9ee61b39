// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/json.h"

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <unordered_set>

#include <unistd.h>

#include "curia/config/error.h"

namespace curia::config {
namespace {

constexpr int kMaxDepth = 200;

class Parser {
 public:
  Parser(std::string_view text, std::string_view source) : text_(text), source_(source) {}

  Json ParseDocument() {
    // A UTF-8 byte order mark is tolerated (some editors write one).
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
    SkipSpace();
    Json value = ParseValue(0);
    SkipSpace();
    if (pos_ != text_.size()) Fail("unexpected characters after the JSON value");
    return value;
  }

 private:
  [[noreturn]] void Fail(const std::string& message) const { FailAt(pos_, message); }

  [[noreturn]] void FailAt(size_t at, const std::string& message) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw Error(ErrorCode::kInvalidArgument, std::string(source_) + ":" + std::to_string(line) +
                                                 ":" + std::to_string(col) + ": " + message);
  }

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }

  void SkipSpace() {
    while (!AtEnd()) {
      char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos_;
      } else {
        break;
      }
    }
  }

  void Expect(char c) {
    if (Peek() != c) Fail(std::string("expected '") + c + "'" + Found());
    ++pos_;
  }

  std::string Found() const {
    if (AtEnd()) return ", found the end of the input";
    unsigned char c = static_cast<unsigned char>(text_[pos_]);
    if (c >= 0x20 && c < 0x7f) return std::string(", found '") + static_cast<char>(c) + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%02x", c);
    return std::string(", found byte ") + buf;
  }

  Json ParseValue(int depth) {
    if (depth > kMaxDepth) Fail("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    char c = Peek();
    switch (c) {
      case '{': return ParseObject(depth);
      case '[': return ParseArray(depth);
      case '"': return Json(ParseString());
      case 't': ExpectWord("true"); return Json(true);
      case 'f': ExpectWord("false"); return Json(false);
      case 'n': ExpectWord("null"); return Json();
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber();
        Fail("expected a JSON value" + Found());
    }
  }

  void ExpectWord(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) Fail("expected a JSON value" + Found());
    pos_ += word.size();
  }

  Json ParseObject(int depth) {
    Expect('{');
    Json::Object members;
    SkipSpace();
    if (Peek() == '}') {
      ++pos_;
      return Json(std::move(members));
    }
    std::unordered_set<std::string> seen;
    while (true) {
      SkipSpace();
      if (Peek() != '"') Fail("expected a quoted object key" + Found());
      size_t key_pos = pos_;
      std::string key = ParseString();
      // A set, not a scan of `members`: an object with many keys must not take quadratic time.
      if (!seen.insert(key).second) FailAt(key_pos, "duplicate key \"" + key + "\"");
      SkipSpace();
      Expect(':');
      SkipSpace();
      Json value = ParseValue(depth + 1);
      members.emplace_back(std::move(key), std::move(value));
      SkipSpace();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == '}') {
        ++pos_;
        return Json(std::move(members));
      }
      Fail("expected ',' or '}' in object" + Found());
    }
  }

  Json ParseArray(int depth) {
    Expect('[');
    Json::Array items;
    SkipSpace();
    if (Peek() == ']') {
      ++pos_;
      return Json(std::move(items));
    }
    while (true) {
      SkipSpace();
      items.push_back(ParseValue(depth + 1));
      SkipSpace();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == ']') {
        ++pos_;
        return Json(std::move(items));
      }
      Fail("expected ',' or ']' in array" + Found());
    }
  }

  static void AppendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  uint32_t ParseHex4() {
    if (pos_ + 4 > text_.size()) Fail("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        FailAt(pos_ - 1, "invalid hexadecimal digit in \\u escape");
      }
    }
    return v;
  }

  // Copies one UTF-8 encoded code point starting at pos_, validating it.
  void CopyUtf8(std::string& out) {
    const auto* s = reinterpret_cast<const unsigned char*>(text_.data());
    size_t n = text_.size();
    unsigned char c = s[pos_];
    int len;
    uint32_t cp;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      Fail("invalid UTF-8 byte in string");
    }
    if (pos_ + len > n) Fail("truncated UTF-8 sequence in string");
    for (int i = 1; i < len; ++i) {
      unsigned char cc = s[pos_ + i];
      if ((cc & 0xC0) != 0x80) Fail("invalid UTF-8 sequence in string");
      cp = (cp << 6) | (cc & 0x3F);
    }
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      Fail("invalid UTF-8 sequence in string");
    }
    out.append(text_.data() + pos_, static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
  }

  std::string ParseString() {
    Expect('"');
    std::string out;
    while (true) {
      if (AtEnd()) Fail("unterminated string");
      char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) Fail("control character in string (escape it)");
      if (c != '\\') {
        CopyUtf8(out);
        continue;
      }
      ++pos_;
      if (AtEnd()) Fail("unterminated escape in string");
      char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = ParseHex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (text_.substr(pos_, 2) != "\\u") Fail("unpaired UTF-16 surrogate in \\u escape");
            pos_ += 2;
            uint32_t low = ParseHex4();
            if (low < 0xDC00 || low > 0xDFFF) Fail("invalid UTF-16 surrogate pair in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            Fail("unpaired UTF-16 surrogate in \\u escape");
          }
          AppendUtf8(out, cp);
          break;
        }
        default: FailAt(pos_ - 1, std::string("invalid escape '\\") + e + "' in string");
      }
    }
  }

  Json ParseNumber() {
    size_t start = pos_;
    bool integral = true;
    if (Peek() == '-') ++pos_;
    if (Peek() == '0') {
      ++pos_;
    } else if (Peek() >= '1' && Peek() <= '9') {
      while (Peek() >= '0' && Peek() <= '9') ++pos_;
    } else {
      Fail("invalid number");
    }
    if (Peek() == '.') {
      integral = false;
      ++pos_;
      if (!(Peek() >= '0' && Peek() <= '9')) Fail("invalid number: digit expected after '.'");
      while (Peek() >= '0' && Peek() <= '9') ++pos_;
    }
    if (Peek() == 'e' || Peek() == 'E') {
      integral = false;
      ++pos_;
      if (Peek() == '+' || Peek() == '-') ++pos_;
      if (!(Peek() >= '0' && Peek() <= '9')) Fail("invalid number: digit expected in exponent");
      while (Peek() >= '0' && Peek() <= '9') ++pos_;
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    if (integral) {
      int64_t v = 0;
      auto r = std::from_chars(first, last, v);
      if (r.ec == std::errc() && r.ptr == last) return Json(v);
    }
    double d = 0;
    auto r = std::from_chars(first, last, d);
    if (r.ec == std::errc::result_out_of_range || !std::isfinite(d)) {
      FailAt(start, "number out of range");
    }
    if (r.ec != std::errc() || r.ptr != last) FailAt(start, "invalid number");
    return Json(d);
  }

  std::string_view text_;
  std::string_view source_;
  size_t pos_ = 0;
};

void AppendEscaped(std::string& out, const std::string& s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

[[noreturn]] void TypeMismatch(const char* wanted, const Json& got) {
  throw Error(ErrorCode::kInvalidArgument,
              std::string("JSON value is ") + got.Describe() + ", expected " + wanted);
}

}  // namespace

Json::Json(int64_t value)
    : type_(Type::kNumber), integral_(true), int_(value), number_(static_cast<double>(value)) {}

Json::Json(uint64_t value) : type_(Type::kNumber), number_(static_cast<double>(value)) {
  if (value <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    integral_ = true;
    int_ = static_cast<int64_t>(value);
  }
}

Json::Json(double value) : type_(Type::kNumber), number_(value) {
  // An integral double within int64 range counts as an integer (2.0 == 2).
  if (std::isfinite(value) && std::trunc(value) == value && std::fabs(value) < 9.2e18) {
    integral_ = true;
    int_ = static_cast<int64_t>(value);
  }
}

Json Json::Parse(std::string_view text, std::string_view source) {
  return Parser(text, source).ParseDocument();
}

const char* Json::TypeName(Type type) {
  switch (type) {
    case Type::kNull: return "null";
    case Type::kBool: return "a boolean";
    case Type::kNumber: return "a number";
    case Type::kString: return "a string";
    case Type::kArray: return "an array";
    case Type::kObject: return "an object";
  }
  return "?";
}

std::string Json::Describe() const {
  switch (type_) {
    case Type::kNull: return "null";
    case Type::kBool: return bool_ ? "true" : "false";
    case Type::kNumber: return Dump(-1);
    case Type::kString: {
      std::string s;
      AppendEscaped(s, string_.size() > 60 ? string_.substr(0, 57) + "..." : string_);
      return s;
    }
    default: return TypeName(type_);
  }
}

bool Json::AsBool() const {
  if (!IsBool()) TypeMismatch("a boolean", *this);
  return bool_;
}
double Json::AsDouble() const {
  if (!IsNumber()) TypeMismatch("a number", *this);
  return number_;
}
int64_t Json::AsInt64() const {
  if (!IsInteger()) TypeMismatch("an integer", *this);
  return int_;
}
const std::string& Json::AsString() const {
  if (!IsString()) TypeMismatch("a string", *this);
  return string_;
}
const Json::Array& Json::AsArray() const {
  if (!IsArray()) TypeMismatch("an array", *this);
  return array_;
}
const Json::Object& Json::AsObject() const {
  if (!IsObject()) TypeMismatch("an object", *this);
  return object_;
}
Json::Array& Json::MutableArray() {
  if (IsNull()) type_ = Type::kArray;
  if (!IsArray()) TypeMismatch("an array", *this);
  return array_;
}
Json::Object& Json::MutableObject() {
  if (IsNull()) type_ = Type::kObject;
  if (!IsObject()) TypeMismatch("an object", *this);
  return object_;
}

const Json* Json::Find(std::string_view key) const {
  if (!IsObject()) return nullptr;
  for (const auto& m : object_) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

Json& Json::operator[](std::string_view key) {
  Object& obj = MutableObject();
  for (auto& m : obj) {
    if (m.first == key) return m.second;
  }
  obj.emplace_back(std::string(key), Json());
  return obj.back().second;
}

void Json::PushBack(Json value) { MutableArray().push_back(std::move(value)); }

std::string Json::Dump(int indent) const {
  std::string out;
  DumpTo(out, indent, 0);
  return out;
}

void Json::DumpTo(std::string& out, int indent, int depth) const {
  auto newline = [&](int d) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent * d), ' ');
  };
  switch (type_) {
    case Type::kNull: out += "null"; break;
    case Type::kBool: out += bool_ ? "true" : "false"; break;
    case Type::kNumber: {
      char buf[40];
      std::to_chars_result r;
      if (integral_) {
        r = std::to_chars(buf, buf + sizeof buf, int_);
      } else if (!std::isfinite(number_)) {
        throw Error(ErrorCode::kInvalidArgument, "cannot write a non-finite number as JSON");
      } else {
        r = std::to_chars(buf, buf + sizeof buf, number_);
      }
      out.append(buf, r.ptr);
      break;
    }
    case Type::kString: AppendEscaped(out, string_); break;
    case Type::kArray:
      if (array_.empty()) {
        out += "[]";
        break;
      }
      out += '[';
      for (size_t i = 0; i < array_.size(); ++i) {
        if (i) out += ',';
        newline(depth + 1);
        array_[i].DumpTo(out, indent, depth + 1);
      }
      newline(depth);
      out += ']';
      break;
    case Type::kObject:
      if (object_.empty()) {
        out += "{}";
        break;
      }
      out += '{';
      for (size_t i = 0; i < object_.size(); ++i) {
        if (i) out += ',';
        newline(depth + 1);
        AppendEscaped(out, object_[i].first);
        out += indent < 0 ? ":" : ": ";
        object_[i].second.DumpTo(out, indent, depth + 1);
      }
      newline(depth);
      out += '}';
      break;
  }
}

std::string JsonPath(const std::string& base, std::string_view key) {
  bool plain = !key.empty() && (std::isalpha(static_cast<unsigned char>(key[0])) || key[0] == '_');
  for (char c : key) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) plain = false;
  }
  if (plain) return base + "." + std::string(key);
  std::string quoted;
  AppendEscaped(quoted, std::string(key));
  return base + "[" + quoted + "]";
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

Json ParseJsonFile(const std::string& path) { return Json::Parse(ReadTextFile(path), path); }

std::string StripJsonComments(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
      out += c;
    } else if (c == '/' && i + 1 < text.size() && text[i + 1] == '/') {
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
    } else if (c == '/' && i + 1 < text.size() && text[i + 1] == '*') {
      const size_t end = text.find("*/", i + 2);
      const size_t stop = end == std::string_view::npos ? text.size() : end + 2;
      for (size_t k = i; k < stop; ++k) out += text[k] == '\n' ? '\n' : ' ';
      i = stop - 1;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace curia::config
