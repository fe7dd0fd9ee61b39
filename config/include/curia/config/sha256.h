// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// SHA-256 (FIPS 180-4). Used for the digests of weight files recorded with every result and in
// the SR, and for deterministic identifiers.
//
//   Sha256 h; h.Update(data, size); std::string hex = h.HexDigest();
//   std::string file_digest = Sha256File("/models/curia/model.safetensors");
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace curia::config {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  void Update(std::string_view text) { Update(text.data(), text.size()); }
  // Finishes the hash; the object must not be updated afterwards.
  std::array<uint8_t, 32> Digest();
  std::string HexDigest();

 private:
  void Block(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

std::string Sha256Hex(std::string_view data);
// Hashes a file in chunks; throws curia::Error(kNotFound) naming the path.
std::string Sha256File(const std::string& path);

}  // namespace curia::config
