// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Typed reading of JSON objects with errors that name the JSON path, collected so that a user sees
// every problem of a file at once rather than one per attempt.
//
//   Diagnostics diag("config.json");
//   ObjectReader r(doc, "$", diag);
//   int64_t layers = r.RequiredInt("num_hidden_layers", 1, 1000);
//   double eps = r.Number("layer_norm_eps", 1e-6, 0.0, 1.0);
//   r.RejectUnknownKeys();      // only for our own files; HF configs carry many unrelated keys
//   diag.ThrowIfAny();          // curia::Error listing "config.json: $.num_hidden_layers: ..."
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "curia/config/json.h"

namespace curia::config {

class Diagnostics {
 public:
  explicit Diagnostics(std::string source) : source_(std::move(source)) {}

  // path is a JSON path ("$.model.threads"); message says what was expected and what was found.
  void Add(const std::string& path, const std::string& message);
  bool empty() const { return messages_.empty(); }
  const std::vector<std::string>& messages() const { return messages_; }
  const std::string& source() const { return source_; }

  // Throws curia::Error(kInvalidArgument) with one line per message, if any.
  void ThrowIfAny() const;

 private:
  std::string source_;
  std::vector<std::string> messages_;
};

class ObjectReader {
 public:
  // Records an error (and reads nothing) when value is not an object.
  ObjectReader(const Json& value, std::string path, Diagnostics& diag);

  bool ok() const { return object_ != nullptr; }
  const std::string& path() const { return path_; }
  std::string PathOf(std::string_view key) const { return JsonPath(path_, key); }

  // Raw member (nullptr when absent); marks the key as known.
  const Json* Get(std::string_view key);
  bool Has(std::string_view key) const;

  // Typed members. Missing optional members give the default; a member of the wrong type or out
  // of range records an error and gives the default (or nullopt / 0 for required ones).
  std::optional<int64_t> OptionalInt(std::string_view key, int64_t min, int64_t max);
  int64_t Int(std::string_view key, int64_t fallback, int64_t min, int64_t max);
  int64_t RequiredInt(std::string_view key, int64_t min, int64_t max);
  std::optional<double> OptionalNumber(std::string_view key, double min, double max);
  double Number(std::string_view key, double fallback, double min, double max);
  double RequiredNumber(std::string_view key, double min, double max);
  std::optional<bool> OptionalBool(std::string_view key);
  bool Bool(std::string_view key, bool fallback);
  std::optional<std::string> OptionalString(std::string_view key);
  std::string String(std::string_view key, const std::string& fallback);
  std::string RequiredString(std::string_view key);
  // A string that must be one of `allowed`.
  std::string Enum(std::string_view key, const std::string& fallback,
                   const std::vector<std::string>& allowed);
  // The same, as the value the table gives the name; `fallback` must be in the table.
  template <class T>
  T EnumOf(std::string_view key, T fallback, const std::vector<std::pair<std::string, T>>& table) {
    std::vector<std::string> names;
    std::string fallback_name;
    for (const auto& [name, value] : table) {
      names.push_back(name);
      if (value == fallback && fallback_name.empty()) fallback_name = name;
    }
    const std::string chosen = Enum(key, fallback_name, names);
    for (const auto& [name, value] : table) {
      if (name == chosen) return value;
    }
    return fallback;
  }

  // Records an error for every member that no accessor asked for; with `suggest`, the message adds
  // the nearest key that was asked for ("did you mean \"Label\"?"), when one is close.
  void RejectUnknownKeys(bool suggest = false);

  Diagnostics& diagnostics() { return diag_; }

 private:
  // True when the member exists; otherwise records "required member is missing".
  bool Require(std::string_view key);

  const Json* object_;
  std::string path_;
  Diagnostics& diag_;
  std::set<std::string, std::less<>> known_;
};

}  // namespace curia::config
