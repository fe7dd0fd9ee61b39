// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/error.h"

namespace curia {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kInternal: return "internal error";
  }
  return "unknown error";
}

void ThrowInternal(const char* file, int line, const char* condition) {
  throw Error(ErrorCode::kInternal, std::string("internal error: ") + condition + " failed at " +
                                        file + ":" + std::to_string(line));
}

}  // namespace curia
