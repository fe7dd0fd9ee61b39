// SPDX-License-Identifier: GPL-3.0-or-later
// Our JSON helpers over JsonCpp, and the behaviours of the reader we rely on (JsonCpp's settings
// chosen in ParseJson): duplicate keys, errors naming source:line:column, exact integers, nesting
// limit, comments in Orthanc's dialect only.
#include "curia/config/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "curia/config/error.h"

namespace curia::config {
namespace {

std::string ParseError(const std::string& text, JsonDialect dialect = JsonDialect::kStrict) {
  try {
    ParseJson(text, "test.json", dialect);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  return "no error";
}

TEST(Json, ParsesEveryValueKind) {
  const Json j = ParseJson(R"({"a": [1, -2.5, true, false, null, "x\u00e9\ud83d\ude00\n"], "b": {}})", "t");
  ASSERT_TRUE(j.isObject());
  const Json& a = *Find(j, "a");
  ASSERT_TRUE(a.isArray());
  ASSERT_EQ(a.size(), 6u);
  EXPECT_TRUE(a[0].isInt64());
  EXPECT_EQ(a[0].asInt64(), 1);
  EXPECT_FALSE(a[1].isInt64());
  EXPECT_DOUBLE_EQ(a[1].asDouble(), -2.5);
  EXPECT_TRUE(a[2].asBool());
  EXPECT_FALSE(a[3].asBool());
  EXPECT_TRUE(a[4].isNull());
  EXPECT_EQ(a[5].asString(), "x\xC3\xA9\xF0\x9F\x98\x80\n");
  EXPECT_TRUE(Find(j, "b")->isObject());
  EXPECT_EQ(Find(j, "missing"), nullptr);
  EXPECT_EQ(Find(a, "a"), nullptr);  // not an object: no member, no exception
  EXPECT_FALSE(a[1].isNumeric() && a[2].isNumeric());  // a boolean is not a number
}

TEST(Json, KeepsLargeIntegersExact) {
  const Json j = ParseJson(
      "[9007199254740993, 1e2, 18446744073709551616, -9223372036854775808, 18446744073709551615, 2.5]", "t");
  EXPECT_EQ(j[0].asInt64(), 9007199254740993LL);
  EXPECT_TRUE(j[1].isInt64());  // integral value written with an exponent
  EXPECT_EQ(j[1].asInt64(), 100);
  EXPECT_FALSE(j[2].isInt64());  // beyond uint64: a plain number
  EXPECT_FALSE(j[2].isUInt64());
  EXPECT_EQ(j[3].asInt64(), std::numeric_limits<int64_t>::min());
  EXPECT_FALSE(j[4].isInt64());  // beyond int64 but an exact uint64 (safetensors offsets are u64)
  EXPECT_TRUE(j[4].isUInt64());
  EXPECT_EQ(j[4].asUInt64(), std::numeric_limits<uint64_t>::max());
  EXPECT_FALSE(j[5].isInt64());
  // And written back exactly.
  EXPECT_EQ(Dump(j[0], -1), "9007199254740993");
  EXPECT_EQ(Dump(j[3], -1), "-9223372036854775808");
  EXPECT_EQ(Dump(j[4], -1), "18446744073709551615");
}

TEST(Json, ManyKeysKeepFileOrderAndDuplicatesAreFound) {
  // 100,000 members (a head's id2label can be that large), written in an order that is not the
  // keys' sorted order: the file order comes back, a late duplicate is found.
  std::string text = "{";
  for (int i = 0; i < 100000; ++i) {
    const int k = (i * 7919) % 100000;
    text += (i ? ",\"" : "\"") + std::to_string(k) + "\":" + std::to_string(i);
  }
  const Json j = ParseJson(text + "}", "t");
  ASSERT_EQ(j.size(), 100000u);
  const auto members = MembersInFileOrder(j);
  ASSERT_EQ(members.size(), 100000u);
  for (int i : {0, 1, 2, 54321, 99999}) {
    EXPECT_EQ(members[static_cast<size_t>(i)].first, std::to_string((i * 7919) % 100000));
    EXPECT_EQ(members[static_cast<size_t>(i)].second->asInt64(), i);
  }
  EXPECT_EQ(Find(j, std::to_string(54321 * 7919 % 100000))->asInt64(), 54321);
  EXPECT_EQ(ParseError(text + ",\"7\":0}"), "test.json:1:" + std::to_string(text.size() + 2) + ": Duplicate key: '7'");
}

TEST(Json, DuplicateKeysAreRefusedWithTheirLine) {
  EXPECT_EQ(ParseError("{\n  \"a\": 1,\n  \"b\": {\"c\": 1,\n    \"c\": 2}}"), "test.json:4:5: Duplicate key: 'c'");
  // Also in Orthanc's dialect (Orthanc itself would keep the last one silently).
  EXPECT_EQ(ParseError("{ // x\n\"a\": 1, \"a\": 2}", JsonDialect::kOrthanc), "test.json:2:9: Duplicate key: 'a'");
}

TEST(Json, ErrorsNameSourceLineAndColumn) {
  EXPECT_EQ(ParseError("{\n  \"a\": 1,\n}"), "test.json:3:1: Missing '}' or object member name");
  EXPECT_EQ(ParseError("[1, 2"), "test.json:1:6: Missing ',' or ']' in array declaration");
  EXPECT_EQ(ParseError("[1, 2,]"), "test.json:1:7: Syntax error: value, object or array expected.");
  EXPECT_EQ(ParseError("{} x"), "test.json:1:4: Extra non-whitespace after JSON value.");
  EXPECT_EQ(ParseError("[NaN]"), "test.json:1:2: Syntax error: value, object or array expected.");
  EXPECT_EQ(ParseError("[1e999]"), "test.json:1:2: '1e999' is not a number.");
  EXPECT_EQ(ParseError("{'a': 1}"), "test.json:1:2: Missing '}' or object member name");
  EXPECT_EQ(ParseError("\"\\ud800\"").rfind("test.json:1:1: ", 0), 0u);  // unpaired UTF-16 surrogate
  EXPECT_EQ(ParseError("\"abc"), "test.json:1:1: Syntax error: value, object or array expected.");
  EXPECT_EQ(ParseError(""), "test.json:1:1: Syntax error: value, object or array expected.");
}

TEST(Json, ParsesAnyValueAsTheDocumentAndSkipsAByteOrderMark) {
  const Json text = ParseJson("\"text\"", "t");
  EXPECT_EQ(text.asString(), "text");
  EXPECT_THROW(text.asInt64(), ::Json::LogicError);  // JsonCpp refuses what it cannot convert
  EXPECT_EQ(ParseJson("\xEF\xBB\xBF{\"a\": 1}", "t")["a"].asInt(), 1);
}

TEST(Json, RefusesDeepNesting) {
  EXPECT_EQ(ParseError(std::string(5000, '[')), "test.json: nesting deeper than 200 levels");
  const int limit = kMaxJsonDepth;
  EXPECT_NO_THROW(ParseJson(std::string(limit, '[') + std::string(limit, ']'), "t"));
  EXPECT_EQ(ParseError(std::string(limit + 1, '[') + std::string(limit + 1, ']')),
            "test.json: nesting deeper than 200 levels");
  std::string objects;
  for (int i = 0; i <= limit; ++i) objects += "{\"a\": ";
  EXPECT_EQ(ParseError(objects + "1", JsonDialect::kOrthanc), "test.json: nesting deeper than 200 levels");
}

TEST(Json, CommentsOnlyInOrthancsDialect) {
  const std::string text = "{ // a comment\n  \"url\": \"http://x/*y*/\", /* two\nlines */ \"n\": 1 }";
  const Json doc = ParseJson(text, "t", JsonDialect::kOrthanc);
  EXPECT_EQ(Find(doc, "url")->asString(), "http://x/*y*/");
  EXPECT_EQ(Find(doc, "n")->asInt64(), 1);
  EXPECT_EQ(doc.size(), 2u);
  // An error after a block comment names the file's line.
  EXPECT_EQ(ParseError("{ /* a\nb */ \"n\": }", JsonDialect::kOrthanc),
            "test.json:2:11: Syntax error: value, object or array expected.");
  // Trailing commas stay refused (Orthanc's older reader refuses them too).
  EXPECT_EQ(ParseError("{\"a\": [1,],}", JsonDialect::kOrthanc).rfind("test.json:1:10: ", 0), 0u);
  // The strict dialect refuses comments where a value is expected.
  EXPECT_EQ(ParseError("[1, /* c */ 2]"), "test.json:1:5: Syntax error: value, object or array expected.");
  EXPECT_EQ(ParseError("{\"a\": 1} // c"), "test.json:1:10: Extra non-whitespace after JSON value.");
}

TEST(Json, DumpRoundTrips) {
  Json j(::Json::objectValue);
  j["name"] = "quote\" backslash\\ tab\t \xC3\xA9";
  j["n"] = 0.1;
  j["i"] = int64_t(-42);
  j["u"] = uint64_t(18446744073709551615ULL);
  Json list(::Json::arrayValue);
  list.append(true);
  list.append(Json());
  list.append(1.5e-7);
  j["list"] = list;
  for (int indent : {-1, 2}) {
    const Json back = ParseJson(Dump(j, indent), "dump");
    EXPECT_EQ(Find(back, "name")->asString(), "quote\" backslash\\ tab\t \xC3\xA9");
    EXPECT_EQ(Find(back, "n")->asDouble(), 0.1);
    EXPECT_EQ(Find(back, "i")->asInt64(), -42);
    EXPECT_EQ(Find(back, "u")->asUInt64(), 18446744073709551615ULL);
    EXPECT_EQ((*Find(back, "list"))[2].asDouble(), 1.5e-7);
    EXPECT_EQ(Dump(back, indent), Dump(j, indent));
    EXPECT_EQ(back, j);
  }
  // UTF-8 is written as such; members in key order.
  EXPECT_EQ(Dump(ParseJson(R"({"b":1,"a":["\u00e9"]})", "t"), -1), "{\"a\":[\"\xC3\xA9\"],\"b\":1}");
  EXPECT_EQ(Dump(ParseJson(R"({"b":1,"a":{}})", "t"), 2), "{\n  \"a\": {},\n  \"b\": 1\n}");
  // Nested values open on their key's line, as JSON is usually written.
  EXPECT_EQ(Dump(ParseJson(R"({"o": {"k": "a: \n"}, "l": [{"x": 1}, [1, 2]]})", "t"), 2),
            "{\n  \"l\": [\n    {\n      \"x\": 1\n    },\n    [ 1, 2 ]\n  ],\n  \"o\": {\n    \"k\": \"a: \\n\"\n  }\n}");
  EXPECT_THROW(Dump(Json(std::nan("")), -1), Error);
  Json inf(::Json::arrayValue);
  inf.append(std::numeric_limits<double>::infinity());
  EXPECT_THROW(Dump(inf), Error);
}

TEST(Json, DescribesValuesForMessages) {
  EXPECT_EQ(Describe(Json()), "null");
  EXPECT_EQ(Describe(Json(true)), "true");
  EXPECT_EQ(Describe(ParseJson("2.0", "t")), "2");
  EXPECT_EQ(Describe(Json(0.1)), "0.1");
  EXPECT_EQ(Describe(Json(int64_t(-7))), "-7");
  EXPECT_EQ(Describe(Json("a\"b")), "\"a\\\"b\"");
  EXPECT_EQ(Describe(Json(std::string(100, 'x'))), "\"" + std::string(57, 'x') + "...\"");
  EXPECT_EQ(Describe(Json(::Json::arrayValue)), "an array");
  EXPECT_EQ(Describe(Json(::Json::objectValue)), "an object");
  EXPECT_EQ(NumberText(1e-7), "1e-07");
  EXPECT_EQ(NumberText(3.0), "3");
}

TEST(Json, MembersInFileOrder) {
  const Json doc = ParseJson("{\"z\": 1, \"b\": {\"y\": 1, \"x\": 2}, \"a\": 3}", "t");
  std::vector<std::string> keys;
  for (const auto& [key, value] : MembersInFileOrder(doc)) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"z", "b", "a"}));
  EXPECT_EQ(MembersInFileOrder(*Find(doc, "b")).front().first, "y");
  EXPECT_TRUE(MembersInFileOrder(Json(1)).empty());
}

TEST(Json, Paths) {
  EXPECT_EQ(JsonPath("$", "Model"), "$.Model");
  EXPECT_EQ(JsonPath(JsonPath("$", "Rules"), 2), "$.Rules[2]");
  EXPECT_EQ(JsonPath("$", "odd key"), "$[\"odd key\"]");
  EXPECT_EQ(JsonPath("$.id2label", "2"), "$.id2label[\"2\"]");
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
