// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/sha256.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "curia/config/error.h"

namespace curia::config {
namespace {

// OpenSSL reports failures (out of memory, a provider without SHA-256) as a 0 return.
void Check(int ok, const char* what) {
  if (ok != 1) throw Error(ErrorCode::kInternal, std::string("SHA-256: OpenSSL ") + what + " failed");
}

}  // namespace

struct Sha256::Context {
  Context() : md(EVP_MD_CTX_new()) {
    if (!md) throw Error(ErrorCode::kInternal, "SHA-256: OpenSSL EVP_MD_CTX_new failed");
  }
  ~Context() { EVP_MD_CTX_free(md); }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  EVP_MD_CTX* md;
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {
  Check(EVP_DigestInit_ex(context_->md, EVP_sha256(), nullptr), "EVP_DigestInit_ex");
}

Sha256::Sha256(const Sha256& other) : context_(std::make_unique<Context>()) {
  Check(EVP_MD_CTX_copy_ex(context_->md, other.context_->md), "EVP_MD_CTX_copy_ex");
}

Sha256& Sha256::operator=(const Sha256& other) {
  if (this != &other) *this = Sha256(other);
  return *this;
}

Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;
Sha256::~Sha256() = default;

void Sha256::Update(const void* data, size_t size) {
  if (size) Check(EVP_DigestUpdate(context_->md, data, size), "EVP_DigestUpdate");
}

std::array<uint8_t, 32> Sha256::Digest() {
  // Finalises a copy, so that the digest is a pure read of the state.
  Context finished;
  Check(EVP_MD_CTX_copy_ex(finished.md, context_->md), "EVP_MD_CTX_copy_ex");
  std::array<uint8_t, 32> out{};
  unsigned int size = 0;
  Check(EVP_DigestFinal_ex(finished.md, out.data(), &size), "EVP_DigestFinal_ex");
  CURIA_CHECK(size == out.size());
  return out;
}

std::string Sha256::HexDigest() {
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (uint8_t b : Digest()) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

std::string Sha256Hex(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.HexDigest();
}

std::string Sha256File(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw Error(ErrorCode::kNotFound, path + ": cannot open (" + std::strerror(errno) + ")");
  Sha256 h;
  std::vector<char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) h.Update(buf.data(), n);
  if (std::ferror(f.get())) throw Error(ErrorCode::kInvalidArgument, path + ": read error");
  return h.HexDigest();
}

}  // namespace curia::config
