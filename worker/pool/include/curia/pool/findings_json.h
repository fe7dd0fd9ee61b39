// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A job's findings as JSON: what the node stores and serves (GET /curia/jobs/{id}, "Findings") and
// what `curia run --json` writes per series. Probabilities are the pool's float32 values, written
// exactly; a region finding names its segment or ROI, with its pixels per slice.
//
//   config::Json j = FindingsToJson(result.findings);   // {"Backbone", ..., "Tasks": [...], "Skipped": [...]}
#include "curia/config/json.h"
#include "curia/worker/findings.h"

namespace curia::pool {

config::Json FindingsToJson(const worker::StudyFindings& findings);

}  // namespace curia::pool
