// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/rules.h"

#include <gtest/gtest.h>

#include "curia/config/error.h"
#include "curia/config/settings.h"

#include "error_lines.h"
namespace curia::config {
namespace {

// A Curia section with two tasks, the given rules and any other members.
std::string Section(const std::string& rules, const std::string& extra = "") {
  return R"({"Curia": {"Model": {"Path": "/m"}, "Tasks": {
      "ich": {"Head": "ich", "Finding": {"Code": "50960005", "Scheme": "SCT", "Meaning": "Hemorrhage"}},
      "lung": {"Head": "lung", "Finding": {"Code": "C1", "Scheme": "99X", "Meaning": "Nodule"}}},
      "Rules": )" + rules + extra + "}}";
}

CuriaSettings Parse(const std::string& rules, const std::string& extra = "") {
  return ParseCuriaSettings(ParseJson(Section(rules, extra), "curia.json"), "curia.json", "/etc/curia");
}

std::vector<std::string> Problems(const std::string& rules) {
  return ErrorLines([&] { Parse(rules); });
}

// One rule "r" with the given Match (a JSON condition) and task "ich".
CuriaSettings WithMatch(const std::string& match) {
  return Parse(R"([{"Name": "r", "Match": )" + match + R"(, "Tasks": ["ich"]}])");
}

SeriesFacts Series(const std::string& id, TagMap tags, int64_t slices = 100, const std::string& orientation = "axial") {
  SeriesFacts s;
  s.id = id;
  s.uid = "1.2." + id;
  s.tags = std::move(tags);
  s.slices = slices;
  s.orientation = orientation;
  return s;
}

StudyFacts Study(std::vector<SeriesFacts> series, const std::string& called = "CURIA", const std::string& calling = "CT1") {
  StudyFacts s;
  s.id = "study";
  s.uid = "1.2.3";
  s.called_aet = called;
  s.calling_aet = calling;
  s.series = std::move(series);
  return s;
}

// The decision of rule 0 for the single series of `tags`.
SeriesDecision Decide(const std::string& match, const TagMap& tags, const std::string& called = "CURIA") {
  const Routing r = Route(WithMatch(match), Study({Series("s1", tags)}, called));
  return r.rules.at(0).series.at(0);
}

bool Holds(const std::string& match, const TagMap& tags, const std::string& called = "CURIA") {
  return Decide(match, tags, called).matched;
}

using Reasons = std::vector<std::string>;

TEST(Rules, ParsedWithDefaults) {
  const CuriaSettings s = Parse(R"([
      {"Name": "head-ct", "Priority": "stat", "Match": {"Tag": "Modality", "Equals": "CT"},
       "Series": {"Modalities": ["CT"], "Orientation": "axial", "MinSlices": 20, "MaxSlices": 2000,
                  "Description": "(?i)brain", "Thickness": [0.5, null]},
       "Tasks": ["ich", "lung"], "Outputs": ["SR"], "Destinations": ["pacs"], "Enabled": false},
      {"Name": "all.v2_x", "Tasks": ["lung"]}])");
  ASSERT_EQ(s.rules.size(), 2u);
  const RuleSettings& a = s.rules[0];
  EXPECT_EQ(a.name, "head-ct");
  EXPECT_EQ(a.path, "$.Curia.Rules[0]");
  EXPECT_EQ(a.priority, "stat");
  ASSERT_TRUE(a.match);
  EXPECT_EQ(a.match->kind, RuleCondition::Kind::kEquals);
  EXPECT_EQ(a.match->path, "$.Curia.Rules[0].Match");
  EXPECT_EQ(a.series.modalities, (std::vector<std::string>{"CT"}));
  EXPECT_EQ(a.series.orientation, "axial");
  EXPECT_EQ(a.series.min_slices, 20);
  EXPECT_EQ(a.series.max_slices, 2000);
  ASSERT_TRUE(a.series.description);
  EXPECT_TRUE(a.series.description->icase);
  EXPECT_TRUE(a.series.has_thickness);
  EXPECT_EQ(a.series.thickness_min, 0.5);
  EXPECT_FALSE(a.series.thickness_max);
  EXPECT_EQ(a.tasks, (std::vector<std::string>{"ich", "lung"}));
  EXPECT_EQ(a.outputs, (std::vector<std::string>{"SR"}));
  EXPECT_EQ(a.destinations, (std::vector<std::string>{"pacs"}));
  EXPECT_FALSE(a.enabled);
  const RuleSettings& b = s.rules[1];
  EXPECT_EQ(b.priority, "routine");
  EXPECT_FALSE(b.match);
  EXPECT_EQ(b.series.orientation, "any");
  EXPECT_EQ(b.series.min_slices, 1);
  EXPECT_FALSE(b.series.has_thickness);
  EXPECT_EQ(b.outputs, (std::vector<std::string>{"SR", "SC"}));
  EXPECT_TRUE(b.destinations.empty());
  EXPECT_TRUE(b.enabled);
  EXPECT_TRUE(Parse("[]").rules.empty());
}

TEST(Rules, ParsingErrorsNameTheirPath) {
  EXPECT_EQ(Problems(R"([{"Name": "a", "Tasks": ["ich"], "Colour": 1}])"),
            (Reasons{"curia.json: $.Curia.Rules[0].Colour: unknown key"}));
  EXPECT_EQ(Problems(R"([{"Name": "a", "Tasks": ["ich"],
                          "Match": {"All": [{"Tag": "Modality", "Equals": "CT", "Regex": "C"}]}}])"),
            (Reasons{"curia.json: $.Curia.Rules[0].Match.All[0]: a condition has exactly one form, found \"Equals\" "
                     "and \"Regex\" (combine conditions with \"All\")"}));
  EXPECT_EQ(Problems(R"([{"Name": "a", "Tasks": ["ich"], "Match": {"Any": [{"CalledAET": "X"}], "Not": {"CalledAET": "Y"}}}])"),
            (Reasons{"curia.json: $.Curia.Rules[0].Match: a condition has exactly one form, found \"Any\" and \"Not\" "
                     "(combine conditions with \"All\")"}));
  const Reasons bad_regex = Problems(R"([{"Name": "a", "Tasks": ["ich"], "Match": {"Tag": "SeriesDescription", "Regex": "(ab"}}])");
  ASSERT_EQ(bad_regex.size(), 1u);
  EXPECT_EQ(bad_regex[0].rfind("curia.json: $.Curia.Rules[0].Match.Regex: invalid regular expression \"(ab\": ", 0), 0u)
      << bad_regex[0];
  // Long numbers (found by fuzz_settings when std::regex overflowed on them): RE2 refuses repeat
  // counts over 1000 itself, reads a count too long to be a number as literal text, and a
  // back-reference is refused whatever its number.
  EXPECT_EQ(Problems(R"([{"Name": "a", "Tasks": ["ich"], "Match": {"Tag": "BodyPartExamined", "Regex": "(a)b{1,99999999}"}}])"),
            (Reasons{"curia.json: $.Curia.Rules[0].Match.Regex: invalid regular expression "
                     "\"(a)b{1,99999999}\": invalid repetition size: {1,99999999}"}));
  EXPECT_EQ(Problems(R"([{"Name": "a", "Tasks": ["ich"], "Match": {"Tag": "BodyPartExamined", "Regex": "(?i)CHEST{6666666666666666666}"}}])"),
            Reasons{});
  EXPECT_TRUE(Holds(R"({"Tag": "BodyPartExamined", "Regex": "(?i)CHEST{6666666666666666666}"})",
                    {{"BodyPartExamined", "chest{6666666666666666666}"}}));
  EXPECT_FALSE(Holds(R"({"Tag": "BodyPartExamined", "Regex": "(?i)CHEST{6666666666666666666}"})",
                     {{"BodyPartExamined", "CHEST"}}));
  EXPECT_EQ(Problems(R"([{"Name": "a", "Tasks": ["ich"], "Match": {"Tag": "BodyPartExamined", "Regex": "(a)\\12345678901234567890"}}])"),
            (Reasons{"curia.json: $.Curia.Rules[0].Match.Regex: invalid regular expression "
                     "\"(a)\\\\12345678901234567890\": \\1 is a back-reference: RE2, the node's regular-expression "
                     "engine, runs in linear time and does not support back-references; spell out the alternatives "
                     "instead (\"(aa|bb)\" for \"(a|b)\\1\"), or list whole values with \"In\""}));
  // Long digit runs that are plain text, or inside a character class, are fine.
  EXPECT_EQ(Problems(R"([{"Name": "a", "Tasks": ["ich"], "Match": {"Tag": "StudyID", "Regex": "^1234567890123[{12345678901}]{1,3}$"}}])"),
            Reasons{});
  EXPECT_EQ(Problems(R"([{"Name": "a", "Tasks": ["ich", "brain"]}])"),
            (Reasons{"curia.json: $.Curia.Rules[0].Tasks[1]: \"brain\" is not a task of $.Curia.Tasks (\"ich\", \"lung\")"}));
  EXPECT_EQ(Problems(R"([{"Name": "a", "Tasks": ["ich"]}, {"Name": "a", "Tasks": ["ich"]}])"),
            (Reasons{"curia.json: $.Curia.Rules[1].Name: \"a\" is already the name of $.Curia.Rules[0]"}));
  EXPECT_EQ(Problems(R"([{"Name": "a", "Tasks": ["ich"], "Priority": "urgent"}])"),
            (Reasons{"curia.json: $.Curia.Rules[0].Priority: expected one of \"stat\", \"routine\", \"off-peak\", found "
                     "\"urgent\""}));
  EXPECT_EQ(Problems(R"([{"Name": "a", "Tasks": ["ich"], "Match": {"All": []}}])"),
            (Reasons{"curia.json: $.Curia.Rules[0].Match.All: expected a non-empty array of conditions, found an empty array"}));
  EXPECT_EQ(Problems(R"([{"Name": "a", "Tasks": ["ich"], "Match": {"Not": {"Tag": "SliceThickness", "Range": [5, 1]}}}])"),
            (Reasons{"curia.json: $.Curia.Rules[0].Match.Not.Range: expected [min, max] (numbers, null for an open end, "
                     "min <= max), found [5,1]"}));
  EXPECT_EQ(Problems(R"([{"Name": "a", "Tasks": ["ich"], "Match": {"Tag": "SliceThickness", "Range": ["1", 2]}}])"),
            (Reasons{"curia.json: $.Curia.Rules[0].Match.Range: expected [min, max] (numbers, null for an open end, "
                     "min <= max), found [\"1\",2]"}));
}

TEST(Rules, MoreParsingErrors) {
  const Reasons problems = Problems(R"([
      {"Name": "bad name", "Tasks": [], "Outputs": ["SR", "PDF"], "Destinations": ["pacs", "pacs"]},
      {"Tasks": ["ich", "ich"], "Outputs": [], "Match": {"Tag": "modality", "In": []}},
      {"Name": "c", "Match": {"Tag": "Modality"}},
      {"Name": "d", "Tasks": ["ich"], "Match": {"Equals": "CT"}},
      {"Name": "e", "Tasks": ["ich"], "Match": {"Foo": 1}},
      {"Name": "f", "Tasks": ["ich"], "Match": [], "Series": {"Orientation": "oblique", "MinSlices": 10, "MaxSlices": 5,
                                                                 "Thickness": 3, "Description": "["}},
      {"Name": "g", "Tasks": ["ich"], "Match": {"CalledAET": "   ", "Exists": true}},
      {"Name": "h", "Tasks": ["ich"], "Match": {"CallingAET": "ABCDEFGHIJKLMNOPQ"}},
      "rule"])");
  ASSERT_GE(problems.size(), 19u);
  const Reasons expected_prefix = {
      "curia.json: $.Curia.Rules[0].Name: expected 1 to 64 characters from A-Z, a-z, 0-9, '_', '.', '-', found \"bad name\"",
      "curia.json: $.Curia.Rules[0].Tasks: expected a non-empty array of task names, found an empty array",
      "curia.json: $.Curia.Rules[0].Outputs[1]: expected \"SR\" or \"SC\", found \"PDF\"",
      "curia.json: $.Curia.Rules[0].Destinations[1]: \"pacs\" is listed twice",
      "curia.json: $.Curia.Rules[1].Name: required member is missing",
      "curia.json: $.Curia.Rules[1].Match.Tag: expected a DICOM keyword such as \"SeriesDescription\" (letters and "
      "digits, starting with a capital letter), \"CalledAET\" or \"CallingAET\", found \"modality\"",
      "curia.json: $.Curia.Rules[1].Match.In: expected a non-empty array of values, found an empty array",
      "curia.json: $.Curia.Rules[1].Tasks[1]: \"ich\" is listed twice",
      "curia.json: $.Curia.Rules[1].Outputs: expected a non-empty array of \"SR\" and/or \"SC\", found an empty array",
      "curia.json: $.Curia.Rules[2].Match: \"Tag\" needs one of \"Equals\", \"In\", \"Regex\", \"Range\", \"Exists\"",
      "curia.json: $.Curia.Rules[2].Tasks: required member is missing (a non-empty array of task names from "
      "$.Curia.Tasks)",
      "curia.json: $.Curia.Rules[3].Match.Tag: required member is missing",
      "curia.json: $.Curia.Rules[4].Match: expected one of \"Tag\" (with \"Equals\", \"In\", \"Regex\", \"Range\" or "
      "\"Exists\"), \"All\", \"Any\", \"Not\", \"CalledAET\", \"CallingAET\"",
      "curia.json: $.Curia.Rules[4].Match.Foo: unknown key",
      "curia.json: $.Curia.Rules[5].Match: expected a condition ({\"Tag\": K, \"Equals\": v}, {\"All\": [...]}, "
      "{\"Any\": [...]}, {\"Not\": c}, {\"CalledAET\": ae} or {\"CallingAET\": ae}), found an array",
      "curia.json: $.Curia.Rules[5].Series.Orientation: expected one of \"axial\", \"coronal\", \"sagittal\", \"any\", "
      "found \"oblique\"",
      "curia.json: $.Curia.Rules[5].Series.MaxSlices: 5 is below MinSlices 10",
  };
  ASSERT_GE(problems.size(), expected_prefix.size());
  for (size_t i = 0; i < expected_prefix.size(); ++i) EXPECT_EQ(problems[i], expected_prefix[i]) << i;
  const Reasons rest(problems.begin() + static_cast<std::ptrdiff_t>(expected_prefix.size()), problems.end());
  const Reasons expected_rest = {
      "curia.json: $.Curia.Rules[5].Series.Description: invalid regular expression \"[\": ",  // + RE2's message
      "curia.json: $.Curia.Rules[5].Series.Thickness: expected [min, max] (numbers, null for an open end, min <= max), "
      "found 3",
      "curia.json: $.Curia.Rules[6].Match: a condition has exactly one form, found \"Exists\" and \"CalledAET\" "
      "(combine conditions with \"All\")",
      "curia.json: $.Curia.Rules[7].Match.CallingAET: expected an AE title of 1 to 16 characters, found "
      "\"ABCDEFGHIJKLMNOPQ\"",
      "curia.json: $.Curia.Rules[8]: expected an object, found \"rule\"",
  };
  ASSERT_EQ(rest.size(), expected_rest.size());
  for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(rest[i].rfind(expected_rest[i], 0), 0u) << rest[i];
  EXPECT_EQ(Problems(R"({"Name": "a"})"),
            (Reasons{"curia.json: $.Curia.Rules: expected an array of rules, found an object"}));
}

TEST(Rules, Equals) {
  EXPECT_TRUE(Holds(R"({"Tag": "Modality", "Equals": "CT"})", {{"Modality", "CT "}}));
  const SeriesDecision d = Decide(R"({"Tag": "Modality", "Equals": "CT"})", {{"Modality", "MR"}});
  EXPECT_FALSE(d.matched);
  EXPECT_FALSE(d.chosen);
  EXPECT_EQ(d.reasons, (Reasons{"$.Curia.Rules[0].Match: Modality is \"MR\", expected \"CT\""}));
  EXPECT_FALSE(Holds(R"({"Tag": "Modality", "Equals": "CT"})", {{"Modality", "ct"}}));  // case-sensitive
  EXPECT_EQ(Decide(R"({"Tag": "Modality", "Equals": "CT"})", {}).reasons,
            (Reasons{"$.Curia.Rules[0].Match: Modality is missing, expected \"CT\""}));
  // Multi-valued strings compare whole.
  EXPECT_TRUE(Holds(R"({"Tag": "ImageType", "Equals": "ORIGINAL\\PRIMARY\\AXIAL"})",
                    {{"ImageType", "ORIGINAL\\PRIMARY\\AXIAL"}}));
}

TEST(Rules, In) {
  const std::string in = R"({"Tag": "Modality", "In": ["CT", "PT"]})";
  EXPECT_TRUE(Holds(in, {{"Modality", "PT"}}));
  EXPECT_EQ(Decide(in, {{"Modality", "MR"}}).reasons,
            (Reasons{"$.Curia.Rules[0].Match: Modality is \"MR\", expected one of \"CT\", \"PT\""}));
}

TEST(Rules, Regex) {
  const std::string re = R"({"Tag": "BodyPartExamined", "Regex": "^(HEAD|BRAIN)$"})";
  EXPECT_TRUE(Holds(re, {{"BodyPartExamined", "  HEAD  "}}));
  EXPECT_FALSE(Holds(re, {{"BodyPartExamined", "head"}}));
  EXPECT_EQ(Decide(re, {{"BodyPartExamined", "CHEST"}}).reasons,
            (Reasons{"$.Curia.Rules[0].Match: BodyPartExamined is \"CHEST\", does not match /^(HEAD|BRAIN)$/"}));
  EXPECT_EQ(Decide(re, {}).reasons,
            (Reasons{"$.Curia.Rules[0].Match: BodyPartExamined is missing, expected a match of /^(HEAD|BRAIN)$/"}));
  // Search semantics, and "(?i)" for case-insensitive.
  EXPECT_TRUE(Holds(R"({"Tag": "SeriesDescription", "Regex": "(?i)brain"})", {{"SeriesDescription", "Head BRAIN 5mm"}}));
  EXPECT_FALSE(Holds(R"({"Tag": "SeriesDescription", "Regex": "brain"})", {{"SeriesDescription", "Head BRAIN 5mm"}}));
  // Values of any length are searched (RE2 runs in time linear in the value's length).
  const std::string text(1025, 'a');
  EXPECT_TRUE(Holds(R"({"Tag": "ImageComments", "Regex": "a*"})", {{"ImageComments", text.substr(0, 1024)}}));
  EXPECT_TRUE(Holds(R"({"Tag": "ImageComments", "Regex": ".*"})", {{"ImageComments", text + text}}));
  const std::string mebibyte(size_t{1} << 20, 'a');
  EXPECT_TRUE(Holds(R"({"Tag": "ImageComments", "Regex": "a{1000}b$"})", {{"ImageComments", mebibyte + "b"}}));
  EXPECT_TRUE(Holds(R"({"Tag": "ImageComments", "Regex": "(?i)^A+$"})", {{"ImageComments", mebibyte}}));
  EXPECT_FALSE(Holds(R"({"Tag": "ImageComments", "Regex": "b"})", {{"ImageComments", mebibyte}}));
  // Patterns that make a backtracking engine take exponential time answer, with the explanation
  // (the value cut at 128 characters).
  EXPECT_EQ(Decide(R"({"Tag": "ImageComments", "Regex": "(a*)*b"})", {{"ImageComments", mebibyte}}).reasons,
            (Reasons{"$.Curia.Rules[0].Match: ImageComments is \"" + std::string(128, 'a') +
                     "\"..., does not match /(a*)*b/"}));
  EXPECT_FALSE(Holds(R"({"Tag": "ImageComments", "Regex": "^(a|aa)+$"})", {{"ImageComments", mebibyte + "!"}}));
  EXPECT_TRUE(Holds(R"({"Tag": "ImageComments", "Regex": "(x+x+)+y"})", {{"ImageComments", std::string(100000, 'x') + "y"}}));
  // UTF-8 throughout: "(?i)" folds non-ASCII letters, "." is one character.
  EXPECT_TRUE(Holds(R"({"Tag": "StudyDescription", "Regex": "(?i)crâne"})", {{"StudyDescription", "SCANNER CRÂNE"}}));
  EXPECT_TRUE(Holds(R"({"Tag": "StudyDescription", "Regex": "^CR.NE$"})", {{"StudyDescription", "CRÂNE"}}));
}

TEST(Rules, RegexConstructsRe2LeavesOut) {
  const auto refused = [](const std::string& json_pattern) {
    return Problems(R"([{"Name": "a", "Tasks": ["ich"], "Match": {"Tag": "BodyPartExamined", "Regex": ")" +
                    json_pattern + R"("}}])");
  };
  const std::string linear = "RE2, the node's regular-expression engine, runs in linear time and does not support ";
  EXPECT_EQ(refused(R"((HEAD|NECK)\\1)"),
            (Reasons{"curia.json: $.Curia.Rules[0].Match.Regex: invalid regular expression \"(HEAD|NECK)\\\\1\": "
                     "\\1 is a back-reference: " + linear + "back-references; spell out the alternatives instead "
                     "(\"(aa|bb)\" for \"(a|b)\\1\"), or list whole values with \"In\""}));
  EXPECT_EQ(refused(R"((?<part>HEAD)\\k<part>)"),  // (?< is refused first
            (Reasons{"curia.json: $.Curia.Rules[0].Match.Regex: invalid regular expression "
                     "\"(?<part>HEAD)\\\\k<part>\": (?< is a lookbehind or a named group: " + linear +
                     "lookahead or lookbehind; combine conditions instead ({\"All\": [...]} with {\"Not\": ...}), and "
                     "write a named group as (?P<name>...)"}));
  EXPECT_EQ(refused(R"((?P<part>HEAD)\\k<part>)"),
            (Reasons{"curia.json: $.Curia.Rules[0].Match.Regex: invalid regular expression "
                     "\"(?P<part>HEAD)\\\\k<part>\": \\k<name> is a back-reference: " + linear + "back-references; "
                     "spell out the alternatives instead (\"(aa|bb)\" for \"(a|b)\\1\"), or list whole values with "
                     "\"In\""}));
  EXPECT_EQ(refused(R"(^(?!SCOUT))"),
            (Reasons{"curia.json: $.Curia.Rules[0].Match.Regex: invalid regular expression \"^(?!SCOUT)\": (?! is a "
                     "lookahead: " + linear + "lookahead or lookbehind; combine conditions instead ({\"All\": [...]} "
                     "with {\"Not\": ...})"}));
  // The path names where the pattern is, in a Series selector too.
  EXPECT_EQ(Problems(R"([{"Name": "a", "Tasks": ["ich"], "Series": {"Description": "(?i)(AX|COR) \\1"}}])"),
            (Reasons{"curia.json: $.Curia.Rules[0].Series.Description: invalid regular expression "
                     "\"(?i)(AX|COR) \\\\1\": \\1 is a back-reference: " + linear + "back-references; spell out the "
                     "alternatives instead (\"(aa|bb)\" for \"(a|b)\\1\"), or list whole values with \"In\""}));
  // What RE2 refuses on its own comes with RE2's reason; "\u" gets a hint.
  EXPECT_EQ(refused("a{1001}"), (Reasons{"curia.json: $.Curia.Rules[0].Match.Regex: invalid regular expression "
                                         "\"a{1001}\": invalid repetition size: {1001}"}));
  EXPECT_EQ(refused(R"(\\u00e9)"), (Reasons{"curia.json: $.Curia.Rules[0].Match.Regex: invalid regular expression "
                                           "\"\\\\u00e9\": invalid escape sequence: \\u (write a character by its "
                                           "code as \\x{e9})"}));
  // An escaped backslash before a digit, and digits quoted with \Q...\E, are literal text.
  EXPECT_EQ(refused(R"(^A\\\\1$)"), Reasons{});
  EXPECT_TRUE(Holds(R"({"Tag": "StudyID", "Regex": "^A\\\\1$"})", {{"StudyID", "A\\1"}}));
  EXPECT_TRUE(Holds(R"({"Tag": "StudyID", "Regex": "^\\Q\\1+\\E$"})", {{"StudyID", "\\1+"}}));
  // The written alternatives work: a named group as (?P<name>...), "In" for whole values.
  EXPECT_TRUE(Holds(R"({"Tag": "BodyPartExamined", "Regex": "^(?P<part>HEAD|NECK)$"})", {{"BodyPartExamined", "NECK"}}));
  EXPECT_TRUE(Holds(R"({"Not": {"Tag": "SeriesDescription", "Regex": "^SCOUT"}})", {{"SeriesDescription", "AX 5mm"}}));
}

TEST(Rules, Range) {
  const std::string range = R"({"Tag": "SliceThickness", "Range": [0.5, 5]})";
  EXPECT_TRUE(Holds(range, {{"SliceThickness", "5"}}));
  EXPECT_TRUE(Holds(range, {{"SliceThickness", " +0.5 "}}));
  EXPECT_TRUE(Holds(R"({"Tag": "PixelSpacing", "Range": [null, 1]})", {{"PixelSpacing", "0.7\\0.9"}}));
  EXPECT_TRUE(Holds(R"({"Tag": "PixelSpacing", "Range": [0.5, null]})", {{"PixelSpacing", "2e1"}}));
  EXPECT_EQ(Decide(range, {{"SliceThickness", "7"}}).reasons,
            (Reasons{"$.Curia.Rules[0].Match: SliceThickness is \"7\", outside [0.5, 5]"}));
  EXPECT_EQ(Decide(R"({"Tag": "SliceThickness", "Range": [1, null]})", {{"SliceThickness", "0.5"}}).reasons,
            (Reasons{"$.Curia.Rules[0].Match: SliceThickness is \"0.5\", below 1"}));
  EXPECT_EQ(Decide(R"({"Tag": "SliceThickness", "Range": [null, 1]})", {{"SliceThickness", "2"}}).reasons,
            (Reasons{"$.Curia.Rules[0].Match: SliceThickness is \"2\", above 1"}));
  EXPECT_EQ(Decide(range, {{"SliceThickness", "thin"}}).reasons,
            (Reasons{"$.Curia.Rules[0].Match: SliceThickness is \"thin\", not a number"}));
  EXPECT_EQ(Decide(range, {}).reasons,
            (Reasons{"$.Curia.Rules[0].Match: SliceThickness is missing, expected a number in [0.5, 5]"}));
  // Open at both ends: the value only has to be a number.
  EXPECT_TRUE(Holds(R"({"Tag": "EchoTime", "Range": [null, null]})", {{"EchoTime", "-3"}}));
  EXPECT_EQ(Decide(R"({"Tag": "EchoTime", "Range": [null, null]})", {}).reasons,
            (Reasons{"$.Curia.Rules[0].Match: EchoTime is missing, expected a number"}));
  EXPECT_EQ(Decide(R"({"Tag": "EchoTime", "Range": [null, 4]})", {}).reasons,
            (Reasons{"$.Curia.Rules[0].Match: EchoTime is missing, expected a number at most 4"}));
}

TEST(Rules, Exists) {
  const std::string yes = R"({"Tag": "ContrastBolusAgent", "Exists": true})";
  const std::string no = R"({"Tag": "ContrastBolusAgent", "Exists": false})";
  EXPECT_TRUE(Holds(yes, {{"ContrastBolusAgent", "IODINE"}}));
  EXPECT_EQ(Decide(yes, {{"ContrastBolusAgent", "  "}}).reasons,
            (Reasons{"$.Curia.Rules[0].Match: ContrastBolusAgent is missing or empty"}));
  EXPECT_FALSE(Holds(yes, {}));
  EXPECT_TRUE(Holds(no, {}));
  EXPECT_TRUE(Holds(no, {{"ContrastBolusAgent", ""}}));
  EXPECT_EQ(Decide(no, {{"ContrastBolusAgent", "IODINE"}}).reasons,
            (Reasons{"$.Curia.Rules[0].Match: ContrastBolusAgent is \"IODINE\", expected absent or empty"}));
}

TEST(Rules, AetShorthandsTrimPadding) {
  EXPECT_TRUE(Holds(R"({"CalledAET": "CURIA"})", {}, "CURIA           "));
  EXPECT_TRUE(Holds(R"({"CalledAET": " CURIA "})", {}, "  CURIA"));
  EXPECT_EQ(Decide(R"({"CalledAET": "CURIA"})", {}, "OTHER ").reasons,
            (Reasons{"$.Curia.Rules[0].Match: CalledAET is \"OTHER\", expected \"CURIA\""}));
  EXPECT_EQ(Decide(R"({"CalledAET": "CURIA"})", {}, "").reasons,
            (Reasons{"$.Curia.Rules[0].Match: CalledAET is missing, expected \"CURIA\""}));
  EXPECT_TRUE(Holds(R"({"CallingAET": "CT1"})", {}));
  EXPECT_FALSE(Holds(R"({"CallingAET": "CT2"})", {}));
  // The pseudo-tags work with every operator, and override a tag of the same name.
  EXPECT_TRUE(Holds(R"({"Tag": "CallingAET", "In": ["CT1", "CT2"]})", {{"CallingAET", "X"}}));
  EXPECT_TRUE(Holds(R"({"Tag": "CalledAET", "Regex": "^CUR"})", {}));
}

TEST(Rules, AllAnyNotNesting) {
  const std::string match = R"({"All": [
      {"Tag": "Modality", "Equals": "CT"},
      {"Any": [{"Tag": "BodyPartExamined", "Regex": "^(HEAD|BRAIN)$"}, {"Tag": "SeriesDescription", "Regex": "(?i)head"}]},
      {"Not": {"Tag": "ImageType", "Regex": "LOCALIZER"}}]})";
  EXPECT_TRUE(Holds(match, {{"Modality", "CT"}, {"BodyPartExamined", "HEAD"}, {"ImageType", "ORIGINAL\\PRIMARY\\AXIAL"}}));
  EXPECT_TRUE(Holds(match, {{"Modality", "CT"}, {"SeriesDescription", "Head 5mm"}}));
  // Every failed leaf is reported: each alternative of Any, and Not's holding condition.
  const SeriesDecision d =
      Decide(match, {{"Modality", "MR"}, {"BodyPartExamined", "CHEST"}, {"ImageType", "ORIGINAL\\LOCALIZER"}});
  EXPECT_EQ(d.reasons,
            (Reasons{
                "$.Curia.Rules[0].Match.All[0]: Modality is \"MR\", expected \"CT\"",
                "$.Curia.Rules[0].Match.All[1].Any[0]: BodyPartExamined is \"CHEST\", does not match /^(HEAD|BRAIN)$/",
                "$.Curia.Rules[0].Match.All[1].Any[1]: SeriesDescription is missing, expected a match of /(?i)head/",
                "$.Curia.Rules[0].Match.All[2]: negated condition holds ($.Curia.Rules[0].Match.All[2].Not: ImageType "
                "is \"ORIGINAL\\\\LOCALIZER\", matches /LOCALIZER/)",
            }));
  // Not of Not, and Not of All.
  EXPECT_TRUE(Holds(R"({"Not": {"Not": {"Tag": "Modality", "Equals": "CT"}}})", {{"Modality", "CT"}}));
  EXPECT_FALSE(Holds(R"({"Not": {"Not": {"Tag": "Modality", "Equals": "CT"}}})", {{"Modality", "MR"}}));
  EXPECT_TRUE(Holds(R"({"Not": {"All": [{"CalledAET": "CURIA"}, {"Tag": "Modality", "Equals": "CT"}]}})",
                    {{"Modality", "MR"}}));
}

TEST(Rules, SeriesSelector) {
  const CuriaSettings s = Parse(R"([{"Name": "r", "Tasks": ["ich"], "Series": {"Modalities": ["CT"],
      "Orientation": "axial", "MinSlices": 20, "MaxSlices": 200, "Description": "(?i)brain", "Thickness": [0.5, 5]}}])");
  const TagMap good = {{"Modality", "CT"}, {"SeriesDescription", "BRAIN 2mm"}, {"SliceThickness", "2"}};
  std::vector<SeriesFacts> series = {
      Series("ok", good),
      Series("mr", {{"Modality", "MR"}, {"SeriesDescription", "BRAIN 2mm"}, {"SliceThickness", "2"}}),
      Series("sag", good, 100, "sagittal"),
      Series("unknown", good, 100, ""),
      Series("few", good, 12),
      Series("many", good, 300),
      Series("desc", {{"Modality", "CT"}, {"SeriesDescription", "Chest"}, {"SliceThickness", "2"}}),
      Series("thick", {{"Modality", "CT"}, {"SeriesDescription", "brain"}, {"SliceThickness", "7"}}),
      Series("nothick", {{"Modality", "CT"}, {"SeriesDescription", "brain"}}),
  };
  const Routing r = Route(s, Study(series));
  const std::vector<SeriesDecision>& d = r.rules.at(0).series;
  ASSERT_EQ(d.size(), series.size());
  EXPECT_TRUE(d[0].chosen);
  EXPECT_TRUE(d[0].reasons.empty());
  for (size_t i = 1; i < d.size(); ++i) {
    EXPECT_TRUE(d[i].matched) << i;  // no Match: every series matches
    EXPECT_FALSE(d[i].chosen) << i;
  }
  const std::string p = "$.Curia.Rules[0].Series.";
  EXPECT_EQ(d[1].reasons, (Reasons{p + "Modalities: Modality is \"MR\", expected \"CT\""}));
  EXPECT_EQ(d[2].reasons, (Reasons{p + "Orientation: orientation is sagittal, axial wanted"}));
  EXPECT_EQ(d[3].reasons, (Reasons{p + "Orientation: orientation is unknown, axial wanted"}));
  EXPECT_EQ(d[4].reasons, (Reasons{p + "MinSlices: 12 slices, at least 20 wanted"}));
  EXPECT_EQ(d[5].reasons, (Reasons{p + "MaxSlices: 300 slices, at most 200 wanted"}));
  EXPECT_EQ(d[6].reasons, (Reasons{p + "Description: SeriesDescription is \"Chest\", does not match /(?i)brain/"}));
  EXPECT_EQ(d[7].reasons, (Reasons{p + "Thickness: SliceThickness is \"7\", outside [0.5, 5]"}));
  EXPECT_EQ(d[8].reasons, (Reasons{p + "Thickness: SliceThickness is missing, expected a number in [0.5, 5]"}));
  ASSERT_EQ(r.jobs.size(), 1u);
  EXPECT_EQ(r.jobs[0].series_id, "ok");
  // Default: one slice at least, any orientation.
  const Routing empty = Route(Parse(R"([{"Name": "r", "Tasks": ["ich"]}])"), Study({Series("e", {}, 0, "")}));
  EXPECT_EQ(empty.rules[0].series[0].reasons,
            (Reasons{"$.Curia.Rules[0].Series.MinSlices: 0 slices, at least 1 wanted"}));
}

TEST(Rules, FirstMatchAndAllMatches) {
  const std::string rules = R"([
      {"Name": "head", "Priority": "stat", "Match": {"Tag": "BodyPartExamined", "Equals": "HEAD"}, "Tasks": ["ich"],
       "Outputs": ["SR"], "Destinations": ["pacs"]},
      {"Name": "ct", "Match": {"Tag": "Modality", "Equals": "CT"}, "Tasks": ["ich", "lung"]},
      {"Name": "mr", "Match": {"Tag": "Modality", "Equals": "MR"}, "Tasks": ["lung"]}])";
  const StudyFacts study = Study({Series("a", {{"Modality", "CT"}, {"BodyPartExamined", "HEAD"}}),
                                  Series("b", {{"Modality", "CT"}, {"BodyPartExamined", "CHEST"}})});
  const Routing first = Route(Parse(rules), study);
  ASSERT_EQ(first.rules.size(), 3u);
  EXPECT_TRUE(first.rules[0].matched);
  EXPECT_TRUE(first.rules[0].series[0].chosen);
  EXPECT_FALSE(first.rules[0].series[1].chosen);
  // The second rule would match both series, but the first one already did.
  EXPECT_TRUE(first.rules[1].matched);
  for (const SeriesDecision& d : first.rules[1].series) {
    EXPECT_TRUE(d.matched);
    EXPECT_FALSE(d.chosen);
    EXPECT_EQ(d.reasons, (Reasons{"first-match: rule head already matched"}));
  }
  EXPECT_FALSE(first.rules[2].matched);
  ASSERT_EQ(first.jobs.size(), 1u);
  EXPECT_EQ(first.jobs[0].rule, "head");
  EXPECT_EQ(first.jobs[0].series_id, "a");
  EXPECT_EQ(first.jobs[0].series_uid, "1.2.a");
  EXPECT_EQ(first.jobs[0].tasks, (std::vector<std::string>{"ich"}));
  EXPECT_EQ(first.jobs[0].priority, "stat");
  EXPECT_EQ(first.jobs[0].outputs, (std::vector<std::string>{"SR"}));
  EXPECT_EQ(first.jobs[0].destinations, (std::vector<std::string>{"pacs"}));

  const CuriaSettings all_settings = Parse(rules, R"(, "RoutingMode": "all-matches")");
  const Routing all = Route(all_settings, study);
  ASSERT_EQ(all.jobs.size(), 3u);  // head/a, ct/a, ct/b: one job per chosen series
  EXPECT_EQ(all.jobs[0].rule, "head");
  EXPECT_EQ(all.jobs[1].rule, "ct");
  EXPECT_EQ(all.jobs[1].series_id, "a");
  EXPECT_EQ(all.jobs[1].priority, "routine");
  EXPECT_EQ(all.jobs[1].outputs, (std::vector<std::string>{"SR", "SC"}));
  EXPECT_EQ(all.jobs[2].series_id, "b");
  EXPECT_TRUE(all.rules[1].series[0].chosen);
  EXPECT_TRUE(all.rules[1].series[1].reasons.empty());
}

TEST(Rules, OwnOutputNeverChosenAndDisabledRulesNeverMatch) {
  const CuriaSettings s = Parse(R"([
      {"Name": "off", "Enabled": false, "Tasks": ["ich"]},
      {"Name": "on", "Match": {"Tag": "Modality", "In": ["CT", "SR"]}, "Tasks": ["ich"]}])");
  SeriesFacts own = Series("own", {{"Modality", "SR"}});
  own.own_output = true;
  const Routing r = Route(s, Study({own, Series("ct", {{"Modality", "CT"}})}));
  EXPECT_FALSE(r.rules[0].enabled);
  EXPECT_FALSE(r.rules[0].matched);
  for (const SeriesDecision& d : r.rules[0].series) {
    EXPECT_FALSE(d.matched);
    EXPECT_EQ(d.reasons, (Reasons{"disabled"}));
  }
  EXPECT_TRUE(r.rules[1].matched);
  EXPECT_FALSE(r.rules[1].series[0].chosen);
  EXPECT_EQ(r.rules[1].series[0].reasons, (Reasons{"own output (made by Curia Node)"}));
  EXPECT_TRUE(r.rules[1].series[1].chosen);
  ASSERT_EQ(r.jobs.size(), 1u);
  EXPECT_EQ(r.jobs[0].rule, "on");
  EXPECT_EQ(r.jobs[0].series_id, "ct");
  // A study with only its own outputs is not routed at all.
  EXPECT_TRUE(Route(s, Study({own})).jobs.empty());
}

TEST(Rules, RoutingToJson) {
  const CuriaSettings s = Parse(R"([{"Name": "ct", "Match": {"Tag": "Modality", "Equals": "CT"}, "Tasks": ["ich"],
                                     "Destinations": ["pacs"]}])");
  const Routing r = Route(s, Study({Series("a", {{"Modality", "CT"}}), Series("b", {{"Modality", "MR"}})}));
  const Json j = RoutingToJson(r);
  // JsonCpp writes members in key order.
  EXPECT_EQ(Dump(j, -1),
            R"({"Jobs":[{"Destinations":["pacs"],"Outputs":["SR","SC"],"Priority":"routine","Rule":"ct","Series":"a",)"
            R"("SeriesInstanceUID":"1.2.a","Tasks":["ich"]}],)"
            R"("Rules":[{"Enabled":true,"Matched":true,"Name":"ct","Path":"$.Curia.Rules[0]","Series":[)"
            R"({"Chosen":true,"ID":"a","Matched":true,"Reasons":[],"SeriesInstanceUID":"1.2.a"},)"
            R"({"Chosen":false,"ID":"b","Matched":false,)"
            R"("Reasons":["$.Curia.Rules[0].Match: Modality is \"MR\", expected \"CT\""],"SeriesInstanceUID":"1.2.b"}]}]})");
  EXPECT_EQ(Dump(RoutingToJson(Routing{}), -1), R"({"Jobs":[],"Rules":[]})");
}

TEST(Rules, TagKeywords) {
  const CuriaSettings s = Parse(R"([
      {"Name": "a", "Tasks": ["ich"], "Match": {"All": [{"Tag": "Modality", "Equals": "CT"}, {"CalledAET": "X"},
          {"Tag": "CallingAET", "Equals": "Y"}, {"Not": {"Tag": "ImageType", "Regex": "LOCALIZER"}}]}},
      {"Name": "b", "Tasks": ["ich"]},
      {"Name": "c", "Enabled": false, "Tasks": ["ich"], "Match": {"Tag": "BodyPartExamined", "Exists": true}}])");
  EXPECT_EQ(RuleTagKeywords(s), (std::vector<std::pair<std::string, std::string>>{
                                    {"Modality", "$.Curia.Rules[0].Match.All[0].Tag"},
                                    {"ImageType", "$.Curia.Rules[0].Match.All[3].Not.Tag"},
                                    {"BodyPartExamined", "$.Curia.Rules[2].Match.Tag"},
                                }));
}

TEST(Rules, LongValuesAreCutInExplanations) {
  const std::string value(300, 'x');
  const SeriesDecision d = Decide(R"({"Tag": "StudyDescription", "Equals": "CT"})", {{"StudyDescription", value}});
  ASSERT_EQ(d.reasons.size(), 1u);
  EXPECT_EQ(d.reasons[0], "$.Curia.Rules[0].Match: StudyDescription is \"" + std::string(128, 'x') +
                              "\"..., expected \"CT\"");
}

}  // namespace
}  // namespace curia::config
