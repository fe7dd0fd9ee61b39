// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/sha256.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

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

}  // namespace
}  // namespace curia::config
