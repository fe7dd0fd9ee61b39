// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Every DCMTK condition is checked; a failure throws with what was being done.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/ofstd/ofcond.h>

#include <string>

#include "curia/config/error.h"

namespace curia::dicomsr {

inline void Check(const OFCondition& cond, const std::string& what) {
  if (cond.bad()) throw Error(ErrorCode::kInternal, what + ": " + cond.text());
}

}  // namespace curia::dicomsr
