// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/json_fields.h"

#include <cmath>
#include <limits>

#include "curia/config/error.h"
#include "curia/config/hints.h"

namespace curia::config {
namespace {

std::string RangeText(int64_t min, int64_t max) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  if (min == kMin && max == kMax) return "an integer";
  if (max == kMax) return "an integer >= " + std::to_string(min);
  if (min == kMin) return "an integer <= " + std::to_string(max);
  return "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
}

std::string RangeText(double min, double max) {
  bool open_hi = max == std::numeric_limits<double>::max();
  bool open_lo = min == std::numeric_limits<double>::lowest();
  if (open_hi && open_lo) return "a number";
  if (open_hi) return "a number >= " + NumberText(min);
  if (open_lo) return "a number <= " + NumberText(max);
  return "a number in [" + NumberText(min) + ", " + NumberText(max) + "]";
}

}  // namespace

void Diagnostics::Add(const std::string& path, const std::string& message) {
  messages_.push_back(path + ": " + message);
}

void Diagnostics::ThrowIfAny() const {
  if (messages_.empty()) return;
  std::string text;
  for (size_t i = 0; i < messages_.size(); ++i) {
    if (i) text += '\n';
    text += source_ + ": " + messages_[i];
  }
  throw Error(ErrorCode::kInvalidArgument, text);
}

ObjectReader::ObjectReader(const Json& value, std::string path, Diagnostics& diag)
    : object_(value.isObject() ? &value : nullptr), path_(std::move(path)), diag_(diag) {
  if (!object_) diag_.Add(path_, "expected an object, found " + Describe(value));
}

const Json* ObjectReader::Get(std::string_view key) {
  known_.emplace(key);
  return object_ ? Find(*object_, key) : nullptr;
}

bool ObjectReader::Has(std::string_view key) const { return object_ && Find(*object_, key); }

bool ObjectReader::Require(std::string_view key) {
  known_.emplace(key);
  if (Has(key)) return true;
  if (object_) diag_.Add(PathOf(key), "required member is missing");
  return false;
}

std::optional<int64_t> ObjectReader::OptionalInt(std::string_view key, int64_t min, int64_t max) {
  const Json* v = Get(key);
  if (!v) return std::nullopt;
  if (!v->isInt64() || v->asInt64() < min || v->asInt64() > max) {
    diag_.Add(PathOf(key), "expected " + RangeText(min, max) + ", found " + Describe(*v));
    return std::nullopt;
  }
  return v->asInt64();
}

int64_t ObjectReader::Int(std::string_view key, int64_t fallback, int64_t min, int64_t max) {
  return OptionalInt(key, min, max).value_or(fallback);
}

int64_t ObjectReader::RequiredInt(std::string_view key, int64_t min, int64_t max) {
  return Require(key) ? OptionalInt(key, min, max).value_or(0) : 0;
}

std::optional<double> ObjectReader::OptionalNumber(std::string_view key, double min, double max) {
  const Json* v = Get(key);
  if (!v) return std::nullopt;
  if (!v->isNumeric() || !(v->asDouble() >= min && v->asDouble() <= max)) {
    diag_.Add(PathOf(key), "expected " + RangeText(min, max) + ", found " + Describe(*v));
    return std::nullopt;
  }
  return v->asDouble();
}

double ObjectReader::Number(std::string_view key, double fallback, double min, double max) {
  return OptionalNumber(key, min, max).value_or(fallback);
}

double ObjectReader::RequiredNumber(std::string_view key, double min, double max) {
  return Require(key) ? OptionalNumber(key, min, max).value_or(0.0) : 0.0;
}

std::optional<bool> ObjectReader::OptionalBool(std::string_view key) {
  const Json* v = Get(key);
  if (!v) return std::nullopt;
  if (!v->isBool()) {
    diag_.Add(PathOf(key), "expected true or false, found " + Describe(*v));
    return std::nullopt;
  }
  return v->asBool();
}

bool ObjectReader::Bool(std::string_view key, bool fallback) {
  return OptionalBool(key).value_or(fallback);
}

std::optional<std::string> ObjectReader::OptionalString(std::string_view key) {
  const Json* v = Get(key);
  if (!v) return std::nullopt;
  if (!v->isString()) {
    diag_.Add(PathOf(key), "expected a string, found " + Describe(*v));
    return std::nullopt;
  }
  return v->asString();
}

std::string ObjectReader::String(std::string_view key, const std::string& fallback) {
  return OptionalString(key).value_or(fallback);
}

std::string ObjectReader::RequiredString(std::string_view key) {
  return Require(key) ? OptionalString(key).value_or(std::string()) : std::string();
}

std::string ObjectReader::Enum(std::string_view key, const std::string& fallback,
                               const std::vector<std::string>& allowed) {
  std::optional<std::string> v = OptionalString(key);
  if (!v) return fallback;
  for (const auto& a : allowed) {
    if (*v == a) return *v;
  }
  std::string list;
  for (size_t i = 0; i < allowed.size(); ++i) list += (i ? ", \"" : "\"") + allowed[i] + "\"";
  diag_.Add(PathOf(key), "expected one of " + list + ", found " + Describe(Json(*v)));
  return fallback;
}

void ObjectReader::RejectUnknownKeys(bool suggest) {
  if (!object_) return;
  const std::vector<std::string> known(known_.begin(), known_.end());
  // In file order, as a user reads the file.
  for (const auto& [key, value] : MembersInFileOrder(*object_)) {
    if (known_.find(key) != known_.end()) continue;
    const std::string near = suggest ? Nearest(key, known) : "";
    diag_.Add(PathOf(key), near.empty() ? "unknown key" : "unknown key; did you mean \"" + near + "\"?");
  }
}

}  // namespace curia::config
