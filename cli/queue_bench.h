// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// curia bench queue: job claims per second of the node's durable queue (storage::Store) with
// several concurrent claimers, SQLite or PostgreSQL, and a check that every job was claimed and
// completed exactly once (queue_bench.cpp).
#include "commands.h"

namespace curia::cli {

int BenchQueue(const Args& args);

}  // namespace curia::cli
