// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// curia bench host: slices/s per CPU thread of everything the pool does for a slice except the
// model (host_bench.cpp).
#include "commands.h"

namespace curia::cli {

int BenchHost(const Args& args);

}  // namespace curia::cli
