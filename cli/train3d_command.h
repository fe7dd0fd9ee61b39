// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// `curia train-head` on a "tokens3d" feature store: the 3-D attention head (train/nn), reached from
// TrainHeadCommand when the store's kind says so. Its options are declared by AddAttentionOptions.
#include <cstddef>
#include <vector>

#include "args.h"
#include "curia/train/feature_store.h"

namespace curia::cli {

// --epochs, --batch, --lr, --seed, --num-heads, --num-queries, --blocks, --like, --threads.
void AddAttentionOptions(ArgParser& parser);
// Trains on `rows` of the store, writes the head folder (--out) and its provenance.json.
int TrainAttentionHead(const ArgParser& parser, const train::FeatureStore& store, const std::vector<std::size_t>& rows);

}  // namespace curia::cli
