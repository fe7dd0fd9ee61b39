// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/error.h"

namespace curia {

void ThrowInternal(const char* file, int line, const char* condition) {
  throw Error(ErrorCode::kInternal, std::string("internal error: ") + condition + " failed at " +
                                        file + ":" + std::to_string(line));
}

}  // namespace curia
