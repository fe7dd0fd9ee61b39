// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// curia bench all: the benchmark table of design.md section 5 in one run (bench_all.cpp).
#include "commands.h"

namespace curia::cli {

int BenchAll(const Args& args);

}  // namespace curia::cli
