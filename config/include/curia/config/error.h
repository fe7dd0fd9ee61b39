// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// curia::Error: the one exception type of the project. It carries a small code so that the
// Orthanc boundary (plugin/) and the command-line tool can turn it into an error code or an exit
// status with a lookup table, and a message that is complete on its own (file, tensor, JSON path).
//
//   throw curia::Error(curia::ErrorCode::kInvalidArgument, "model.safetensors: tensor 'x': ...");
//
// Expected per-study outcomes are values, not exceptions; invariant violations use CURIA_CHECK.
#include <stdexcept>
#include <string>

namespace curia {

enum class ErrorCode {
  kInvalidArgument,  // bad input or configuration: the caller can fix it
  kNotFound,         // a file, tensor or resource that should exist does not
  kUnavailable,      // a device or service is missing or busy: retrying later may help
  kInternal,         // a bug: an invariant did not hold
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// Throws kInternal with the location. For invariants, not for input validation.
[[noreturn]] void ThrowInternal(const char* file, int line, const char* condition);

}  // namespace curia

#define CURIA_CHECK(condition) \
  do {                         \
    if (!(condition)) ::curia::ThrowInternal(__FILE__, __LINE__, #condition); \
  } while (false)
