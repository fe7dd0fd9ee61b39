// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/json_fields.h"

#include <gtest/gtest.h>

#include "curia/config/error.h"

namespace curia::config {
namespace {

TEST(ObjectReader, ReadsTypedMembersWithDefaults) {
  const Json doc = ParseJson(R"({"n": 3, "x": 0.5, "b": true, "s": "fp32"})", "c.json");
  Diagnostics diag("c.json");
  ObjectReader r(doc, "$", diag);
  EXPECT_EQ(r.RequiredInt("n", 1, 10), 3);
  EXPECT_EQ(r.Number("x", 1.0, 0.0, 1.0), 0.5);
  EXPECT_TRUE(r.Bool("b", false));
  EXPECT_EQ(r.Enum("s", "bf16", {"fp32", "bf16"}), "fp32");
  EXPECT_EQ(r.Int("absent", 7, 0, 10), 7);
  r.RejectUnknownKeys();
  EXPECT_TRUE(diag.empty());
  EXPECT_NO_THROW(diag.ThrowIfAny());
}

TEST(ObjectReader, ReportsEveryProblemWithItsPath) {
  const Json doc = ParseJson(R"({"n": "3", "x": 2, "s": "fp64", "extra": 1, "sub": [1]})", "c.json");
  Diagnostics diag("c.json");
  ObjectReader r(doc, "$", diag);
  r.RequiredInt("n", 1, 10);
  r.Number("x", 1.0, 0.0, 1.0);
  r.Enum("s", "fp32", {"fp32", "bf16"});
  r.RequiredString("name");
  ObjectReader sub(*r.Get("sub"), r.PathOf("sub"), diag);
  r.RejectUnknownKeys();
  ASSERT_EQ(diag.messages().size(), 6u);
  EXPECT_EQ(diag.messages()[0], "$.n: expected an integer in [1, 10], found \"3\"");
  EXPECT_EQ(diag.messages()[1], "$.x: expected a number in [0, 1], found 2");
  EXPECT_EQ(diag.messages()[2], "$.s: expected one of \"fp32\", \"bf16\", found \"fp64\"");
  EXPECT_EQ(diag.messages()[3], "$.name: required member is missing");
  EXPECT_EQ(diag.messages()[4], "$.sub: expected an object, found an array");
  EXPECT_EQ(diag.messages()[5], "$.extra: unknown key");
  try {
    diag.ThrowIfAny();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("c.json: $.extra: unknown key"), std::string::npos);
  }
}

}  // namespace
}  // namespace curia::config
