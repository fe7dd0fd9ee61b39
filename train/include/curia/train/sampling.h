// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Seeded random draws that give the same answer on every platform: std::mt19937_64 (whose output
// the standard fixes) and our own integer draw (std::uniform_int_distribution's algorithm is left
// to the library). Used by the bootstrap (metrics.h) and the few-shot draws of `curia fewshot`.
//
//   std::mt19937_64 rng(42);
//   std::size_t i = UniformIndex(rng, 10);                          // 0..9, unbiased
//   std::vector<std::size_t> pick = SampleWithoutReplacement(rng, rows, 4);
//
// Thread safety: pure functions of their arguments (the generator is the caller's).
#include <cstddef>
#include <random>
#include <vector>

namespace curia::train {

// Uniform integer in [0, n) without modulo bias (rejection of the top partial range); n >= 1.
std::size_t UniformIndex(std::mt19937_64& rng, std::size_t n);

// k distinct elements of `from`, each k-subset equally likely, in the order drawn (a partial
// Fisher-Yates shuffle of a copy). Throws curia::Error (kInvalidArgument) when k > from.size().
std::vector<std::size_t> SampleWithoutReplacement(std::mt19937_64& rng, const std::vector<std::size_t>& from, std::size_t k);

}  // namespace curia::train
