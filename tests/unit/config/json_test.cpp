// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/json.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "curia/config/error.h"

namespace curia::config {
namespace {

std::string ParseError(const std::string& text) {
  try {
    Json::Parse(text, "test.json");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  return "no error";
}

TEST(Json, ParsesEveryValueKind) {
  const Json j = Json::Parse(R"({"a": [1, -2.5, true, false, null, "x\u00e9\ud83d\ude00\n"], "b": {}})", "t");
  ASSERT_TRUE(j.IsObject());
  const Json::Array& a = j.Find("a")->AsArray();
  ASSERT_EQ(a.size(), 6u);
  EXPECT_TRUE(a[0].IsInteger());
  EXPECT_EQ(a[0].AsInt64(), 1);
  EXPECT_FALSE(a[1].IsInteger());
  EXPECT_DOUBLE_EQ(a[1].AsDouble(), -2.5);
  EXPECT_TRUE(a[2].AsBool());
  EXPECT_FALSE(a[3].AsBool());
  EXPECT_TRUE(a[4].IsNull());
  EXPECT_EQ(a[5].AsString(), "x\xC3\xA9\xF0\x9F\x98\x80\n");
  EXPECT_TRUE(j.Find("b")->IsObject());
  EXPECT_EQ(j.Find("missing"), nullptr);
}

TEST(Json, KeepsLargeIntegersExact) {
  const Json j = Json::Parse("[9007199254740993, 1e2, 18446744073709551616]", "t");
  EXPECT_EQ(j.AsArray()[0].AsInt64(), 9007199254740993LL);
  EXPECT_TRUE(j.AsArray()[1].IsInteger());  // integral value written with an exponent
  EXPECT_FALSE(j.AsArray()[2].IsInteger());  // beyond int64: a plain number
}

TEST(Json, ManyKeysKeepOrderAndDuplicatesAreFound) {
  // 100,000 members (a head's id2label can be that large): order kept, a late duplicate found.
  std::string text = "{";
  for (int i = 0; i < 100000; ++i) text += (i ? ",\"" : "\"") + std::to_string(i) + "\":" + std::to_string(i);
  const Json j = Json::Parse(text + "}", "t");
  ASSERT_EQ(j.AsObject().size(), 100000u);
  EXPECT_EQ(j.AsObject()[99999].first, "99999");
  EXPECT_EQ(j.Find("54321")->AsInt64(), 54321);
  EXPECT_EQ(ParseError(text + ",\"7\":0}"), "test.json:1:" + std::to_string(text.size() + 2) + ": duplicate key \"7\"");
}

TEST(Json, ErrorsNameSourceLineAndColumn) {
  EXPECT_EQ(ParseError("{\n  \"a\": 1,\n}"), "test.json:3:1: expected a quoted object key, found '}'");
  EXPECT_EQ(ParseError("{\"a\": 1, \"a\": 2}"), "test.json:1:10: duplicate key \"a\"");
  EXPECT_EQ(ParseError("[1, 2"), "test.json:1:6: expected ',' or ']' in array, found the end of the input");
  EXPECT_EQ(ParseError("[01]"), "test.json:1:3: expected ',' or ']' in array, found '1'");
  EXPECT_EQ(ParseError("{} x"), "test.json:1:4: unexpected characters after the JSON value");
  EXPECT_EQ(ParseError("[NaN]"), "test.json:1:2: expected a JSON value, found 'N'");
  EXPECT_EQ(ParseError("[1e999]"), "test.json:1:2: number out of range");
  EXPECT_EQ(ParseError("\"a\tb\""), "test.json:1:3: control character in string (escape it)");
  EXPECT_EQ(ParseError("\"\xC3"), "test.json:1:2: truncated UTF-8 sequence in string");
  EXPECT_EQ(ParseError("\"\xC3\""), "test.json:1:2: invalid UTF-8 sequence in string");
  EXPECT_EQ(ParseError("\"\xC0\x80\""), "test.json:1:2: invalid UTF-8 sequence in string");
  EXPECT_EQ(ParseError("\"\\ud800\""), "test.json:1:8: unpaired UTF-16 surrogate in \\u escape");
  EXPECT_EQ(ParseError(""), "test.json:1:1: expected a JSON value, found the end of the input");
}

TEST(Json, RefusesDeepNesting) {
  EXPECT_NE(ParseError(std::string(5000, '[')).find("nesting deeper than"), std::string::npos);
}

TEST(Json, DumpRoundTrips) {
  Json j = Json::Object{};
  j["name"] = "quote\" backslash\\ tab\t";
  j["n"] = 0.1;
  j["i"] = int64_t(-42);
  j["list"] = Json::Array{Json(true), Json(), Json(1.5e-7)};
  for (int indent : {-1, 2}) {
    const Json back = Json::Parse(j.Dump(indent), "dump");
    EXPECT_EQ(back.Find("name")->AsString(), "quote\" backslash\\ tab\t");
    EXPECT_EQ(back.Find("n")->AsDouble(), 0.1);
    EXPECT_EQ(back.Find("i")->AsInt64(), -42);
    EXPECT_EQ(back.Find("list")->AsArray()[2].AsDouble(), 1.5e-7);
    EXPECT_EQ(back.Dump(indent), j.Dump(indent));
  }
  EXPECT_EQ(Json::Parse(R"({"b":1,"a":[]})", "t").Dump(-1), R"({"b":1,"a":[]})");  // order kept
}

TEST(Json, TypeMismatchIsAnError) {
  const Json j = Json::Parse("\"text\"", "t");
  EXPECT_THROW(j.AsInt64(), Error);
  EXPECT_THROW(j.AsArray(), Error);
}

TEST(Json, Paths) {
  EXPECT_EQ(JsonPath("$", "Model"), "$.Model");
  EXPECT_EQ(JsonPath(JsonPath("$", "Rules"), 2), "$.Rules[2]");
  EXPECT_EQ(JsonPath("$", "odd key"), "$[\"odd key\"]");
  EXPECT_EQ(JsonPath("$.id2label", "2"), "$.id2label[\"2\"]");
}

TEST(Json, CommentsAreStrippedOutsideStringsKeepingLines) {
  const std::string text = "{ // a comment\n  \"url\": \"http://x/*y*/\", /* two\nlines */ \"n\": 1 }";
  const std::string stripped = StripJsonComments(text);
  EXPECT_EQ(std::count(stripped.begin(), stripped.end(), '\n'), 2);
  const Json doc = Json::Parse(stripped, "t");
  EXPECT_EQ(doc.Find("url")->AsString(), "http://x/*y*/");
  EXPECT_EQ(doc.Find("n")->AsInt64(), 1);
  // An error after a block comment still names the file's line.
  try {
    Json::Parse(StripJsonComments("{ /* a\nb */ \"n\": }"), "t");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("t:2:"), std::string::npos) << e.what();
  }
}

TEST(Json, MissingFileIsNotFound) {
  try {
    ParseJsonFile("/nonexistent/config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/config.json: cannot open"), std::string::npos);
  }
}

}  // namespace
}  // namespace curia::config
