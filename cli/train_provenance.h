// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// What the training commands write about themselves (train_command.cpp): the time, and the fields
// every trained head's provenance.json starts with (the head is refused on another backbone by them).
#include <cstddef>
#include <string>

#include "curia/config/json.h"
#include "curia/train/feature_store.h"

namespace curia::cli {

// Now, UTC, ISO 8601: "2026-12-02T18:40:00Z".
std::string UtcNow();
// curia_version, date, backbone_digest, feature_store_digest, feature, split, cases.
config::Json ProvenanceOf(const train::FeatureStore& store, const std::string& split, std::size_t cases);

}  // namespace curia::cli
