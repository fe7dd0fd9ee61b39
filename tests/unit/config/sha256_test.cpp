// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/sha256.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "curia/config/error.h"

namespace curia::config {
namespace {

// FIPS 180-4 / NIST example vectors.
TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalUpdatesMatchOneShot) {
  const std::string text(1000, 'x');
  for (size_t split : {0, 1, 55, 56, 63, 64, 65, 999}) {
    Sha256 h;
    h.Update(text.substr(0, split));
    h.Update(text.substr(split));
    EXPECT_EQ(h.HexDigest(), Sha256Hex(text)) << split;
  }
}

TEST(Sha256, Files) {
  const std::string path = ::testing::TempDir() + "/sha256_test.bin";
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fputs("abc", f);
  std::fclose(f);
  EXPECT_EQ(Sha256File(path), Sha256Hex("abc"));
  std::remove(path.c_str());
  EXPECT_THROW(Sha256File(path), Error);
}

TEST(Sha256, DigestReadsTheStateAndCopiesAreIndependent) {
  Sha256 h;
  h.Update("ab");
  Sha256 copy = h;
  EXPECT_EQ(h.HexDigest(), Sha256Hex("ab"));
  EXPECT_EQ(h.HexDigest(), Sha256Hex("ab"));  // a digest does not change the state
  h.Update("c");
  copy.Update("x");
  EXPECT_EQ(h.HexDigest(), Sha256Hex("abc"));
  EXPECT_EQ(copy.HexDigest(), Sha256Hex("abx"));
  copy = h;
  EXPECT_EQ(copy.HexDigest(), Sha256Hex("abc"));
  Sha256 moved = std::move(copy);
  EXPECT_EQ(moved.HexDigest(), Sha256Hex("abc"));
}

// The digest of `path` by coreutils' sha256sum (its own implementation, not OpenSSL's).
std::string Sha256Sum(const std::string& path) {
  EXPECT_EQ(path.find('\''), std::string::npos) << path;
  FILE* pipe = popen(("sha256sum '" + path + "'").c_str(), "r");
  if (!pipe) return "popen failed";
  char line[512] = {};
  const bool read = std::fgets(line, sizeof line, pipe) != nullptr;
  const int status = pclose(pipe);
  if (!read || status != 0) return "sha256sum failed on " + path;
  return std::string(line).substr(0, 64);
}

// Weight files keep their digests: Sha256File (streamed in 1 MiB chunks) agrees with sha256sum on
// a generated file of a few MiB whose size is no multiple of the chunk or of the 64-byte block,
// and on every file of the shared golden set (safetensors weights and their config.json).
TEST(Sha256, FilesMatchSha256sum) {
  const std::string generated = ::testing::TempDir() + "/sha256_test_big.bin";
  {
    std::vector<unsigned char> bytes((size_t{3} << 20) + 12345);
    uint32_t x = 12345;
    for (unsigned char& b : bytes) {
      x = x * 1664525u + 1013904223u;  // a fixed pseudo-random sequence
      b = static_cast<unsigned char>(x >> 24);
    }
    FILE* f = std::fopen(generated.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
    std::fclose(f);
    // The same bytes in uneven pieces through Update.
    Sha256 h;
    for (size_t at = 0, piece = 1; at < bytes.size(); at += piece, piece = piece * 3 + 1) {
      h.Update(bytes.data() + at, std::min(piece, bytes.size() - at));
    }
    EXPECT_EQ(h.HexDigest(), Sha256Sum(generated));
  }
  EXPECT_EQ(Sha256File(generated), Sha256Sum(generated));
  std::remove(generated.c_str());

  size_t golden = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(std::string(CURIA_SHARED_DIR) + "/golden")) {
    if (!e.is_regular_file()) continue;
    EXPECT_EQ(Sha256File(e.path().string()), Sha256Sum(e.path().string())) << e.path();
    ++golden;
  }
  EXPECT_GE(golden, 20u);  // the golden set is there (tests fail, not skip, without it)
}

}  // namespace
}  // namespace curia::config
