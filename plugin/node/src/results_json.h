// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Jobs and their results as the JSON the store keeps and the REST API serves.
#include "curia/config/json.h"
#include "curia/storage/store.h"
#include "curia/worker/findings.h"

namespace curia::node::internal {

config::Json TimingsToJson(const worker::JobTimings& timings);
// A job as GET /curia/jobs lists it; with `detail` (GET /curia/jobs/{id}) also its findings,
// timings, outputs, exports and audit trail (the study's own events among them), read from `store`.
config::Json JobJson(storage::Store& store, const storage::JobRow& job, bool detail);

}  // namespace curia::node::internal
