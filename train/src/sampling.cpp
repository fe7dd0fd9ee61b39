// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/train/sampling.h"

#include <cstdint>
#include <string>
#include <utility>

#include "curia/config/error.h"

namespace curia::train {

std::size_t UniformIndex(std::mt19937_64& rng, std::size_t n) {
  const std::uint64_t range = static_cast<std::uint64_t>(n);
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  std::uint64_t v;
  do {
    v = rng();
  } while (v >= limit);
  return static_cast<std::size_t>(v % range);
}

std::vector<std::size_t> SampleWithoutReplacement(std::mt19937_64& rng, const std::vector<std::size_t>& from, std::size_t k) {
  if (k > from.size()) {
    throw Error(ErrorCode::kInvalidArgument,
                "cannot draw " + std::to_string(k) + " of " + std::to_string(from.size()) + " without replacement");
  }
  std::vector<std::size_t> pool = from;
  for (std::size_t i = 0; i < k; ++i) std::swap(pool[i], pool[i + UniformIndex(rng, pool.size() - i)]);
  pool.resize(k);
  return pool;
}

}  // namespace curia::train
