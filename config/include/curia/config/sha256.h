// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// SHA-256 (FIPS 180-4), computed by OpenSSL's EVP digest API. Used for the digests of weight files
// recorded with every result and in the SR, and for deterministic identifiers.
//
//   Sha256 h; h.Update(data, size); std::string hex = h.HexDigest();
//   std::string file_digest = Sha256File("/models/curia/model.safetensors");  // streamed, 1 MiB at a time
//
// Ownership: a Sha256 owns its OpenSSL context (copying copies the state, moving moves it).
// Thread safety: one object per thread; the free functions may run on many threads at once.
// OpenSSL stays out of this header: callers need not include or link it.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace curia::config {

class Sha256 {
 public:
  Sha256();
  Sha256(const Sha256& other);
  Sha256& operator=(const Sha256& other);
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  ~Sha256();

  void Update(const void* data, size_t size);
  void Update(std::string_view text) { Update(text.data(), text.size()); }
  // The digest of everything passed to Update so far (Update may continue afterwards).
  std::array<uint8_t, 32> Digest();
  std::string HexDigest();

 private:
  struct Context;  // holds OpenSSL's EVP_MD_CTX
  std::unique_ptr<Context> context_;
};

std::string Sha256Hex(std::string_view data);
// Hashes a file in chunks; throws curia::Error(kNotFound) naming the path.
std::string Sha256File(const std::string& path);

}  // namespace curia::config
