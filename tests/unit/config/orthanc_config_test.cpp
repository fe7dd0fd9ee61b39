// SPDX-License-Identifier: GPL-3.0-or-later
// The checks of Orthanc's configuration that the plugin (at start-up) and `curia validate-config`
// share.
#include "curia/config/orthanc_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "curia/config/hints.h"

namespace curia::config {
namespace {

namespace fs = std::filesystem;

Json Doc(const std::string& text) { return config::ParseJson(text, "test"); }

// A tiny stand-in for the DICOM dictionary (the real one is DCMTK's, in worker/dicom).
bool Keyword(const std::string& k) {
  static const std::set<std::string> known = {"Modality", "BodyPartExamined", "SeriesDescription"};
  return known.count(k) > 0;
}

// The findings as "E path: message (hint: ...)" / "W ..." lines.
std::vector<std::string> Lines(const std::string& text, OrthancCheckOptions options = {}) {
  std::vector<std::string> out;
  for (const ConfigFinding& f : CheckOrthancConfiguration(Doc(text), options)) {
    out.push_back((f.severity == Severity::kError ? "E " : "W ") + Describe(f));
  }
  return out;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const std::string& l : lines) s += l + "\n";
  return s;
}

TEST(OrthancConfig, AMissingSectionSaysWhyWhenItCan) {
  EXPECT_EQ(Lines(R"({"HttpPort": 8042})"),
            std::vector<std::string>{"E $.Curia: no \"Curia\" section: the plugin stays idle (hint: add a Curia section "
                                     "(curia init writes a complete configuration))"});
  EXPECT_EQ(Lines(R"({"CuriaDisabled": {}})"),
            std::vector<std::string>{"E $.Curia: no \"Curia\" section: the plugin stays idle (hint: the packaged example "
                                     "is disabled: rename \"CuriaDisabled\" to \"Curia\" (docs/installation.md))"});
  EXPECT_EQ(Lines(R"({"curia": {}})"),
            std::vector<std::string>{"E $.Curia: no \"Curia\" section: the plugin stays idle (hint: keys are "
                                     "case-sensitive: rename \"curia\" to \"Curia\")"});
  EXPECT_EQ(Lines(R"({"Orthanc": {"Curia": {}}})"),
            std::vector<std::string>{"E $.Curia: no \"Curia\" section: the plugin stays idle (hint: $.Orthanc.Curia is "
                                     "not read: move the section to the top level of the configuration)"});
  EXPECT_EQ(Lines(R"({"Curia": {}, "CuriaDisabled": {}})"),
            std::vector<std::string>{"W $.CuriaDisabled: ignored (a \"Curia\" section is there too)"});
  EXPECT_EQ(Lines(R"({"Curia": {}})"), std::vector<std::string>{});
}

class OrthancConfigPlugins : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("curia-orthanc-config-" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "plugins");
    std::ofstream(dir_ / "plugins" / "libOrthancCuriaNode.so") << "x";
    std::ofstream(dir_ / "other.so") << "x";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::vector<std::string> Check(const std::string& plugins) {
    OrthancCheckOptions options;
    options.plugin_file = "libOrthancCuriaNode.so";
    return Lines(R"({"Curia": {}, "Plugins": )" + plugins + "}", options);
  }
  std::string Q(const fs::path& p) { return "\"" + p.string() + "\""; }
  fs::path dir_;
};

TEST_F(OrthancConfigPlugins, EveryEntryExistsAndOneLoadsTheNode) {
  EXPECT_EQ(Check("[" + Q(dir_ / "plugins") + "]"), std::vector<std::string>{});
  EXPECT_EQ(Check("[" + Q(dir_ / "plugins" / "libOrthancCuriaNode.so") + "]"), std::vector<std::string>{});
  EXPECT_EQ(Check("[" + Q(dir_ / "other.so") + "]"),
            std::vector<std::string>{"W $.Plugins: no entry loads libOrthancCuriaNode.so: Orthanc would not run the node"});
  const std::vector<std::string> missing = Check("[" + Q(dir_ / "plugins") + ", " + Q(dir_ / "gone.so") + "]");
  ASSERT_EQ(missing.size(), 1u) << Joined(missing);
  EXPECT_EQ(missing[0], "E $.Plugins[1]: \"" + (dir_ / "gone.so").string() +
                            "\" does not exist: Orthanc starts without it (logging \"Inexistent path to plugins\") (hint: "
                            "build the plugin, or point to the installed /usr/share/orthanc/plugins/libOrthancCuriaNode.so)");
  EXPECT_EQ(Check("\"/usr/share/orthanc/plugins\""),
            std::vector<std::string>{"E $.Plugins: expected an array of files and folders, found \"/usr/share/orthanc/plugins\""});
  // Without a plugin file (the running plugin), Plugins is not looked at.
  EXPECT_EQ(Lines(R"({"Curia": {}, "Plugins": ["/no/such/file.so"]})"), std::vector<std::string>{});
}

TEST(OrthancConfig, OrthancSettingsTheNodeReliesOn) {
  EXPECT_EQ(Lines(R"({"Curia": {}, "StableAge": "60"})"),
            std::vector<std::string>{"E $.StableAge: expected a whole number of seconds, found \"60\": Orthanc "
                                     "refuses to start (hint: Orthanc's default is 60; a study is analysed StableAge seconds after "
                                     "its last instance)"});
  EXPECT_EQ(Lines(R"({"Curia": {}, "StableAge": -1})").size(), 1u);
  EXPECT_EQ(Lines(R"({"Curia": {}, "StableAge": 5, "StorageDirectory": "/var/lib/orthanc/db"})"), std::vector<std::string>{});
  EXPECT_EQ(Lines(R"({"Curia": {}, "IndexDirectory": 3})"),
            std::vector<std::string>{"E $.IndexDirectory: expected a folder, found 3: Orthanc refuses to start"});
  // A relative index folder parts Orthanc's index (beside the configuration) from the node's database.
  EXPECT_EQ(Lines(R"({"Curia": {}, "StorageDirectory": "/abs", "IndexDirectory": "idx"})"),
            std::vector<std::string>{"W $.IndexDirectory: \"idx\" is relative: Orthanc reads it from its configuration's "
                                     "folder, but the node's database (idx/curia.sqlite) would be relative to the folder "
                                     "Orthanc runs in (hint: write an absolute path, or set Curia.Database)"});
  EXPECT_EQ(Lines(R"({"Curia": {}, "StorageDirectory": "db"})").size(), 1u);
  EXPECT_EQ(Lines(R"({"Curia": {"Database": "/var/lib/curia/node.sqlite"}, "StorageDirectory": "db"})"),
            std::vector<std::string>{});
  EXPECT_EQ(Lines(R"({"Curia": {}, "DicomAet": "A_TITLE_OF_17_CHR"})"),
            std::vector<std::string>{"W $.DicomAet: \"A_TITLE_OF_17_CHR\" is not a DICOM application entity title (1 to "
                                     "16 characters) (hint: peers refuse associations from or to it; e.g. \"CURIA\")"});
  EXPECT_EQ(Lines(R"({"Curia": {}, "DicomAet": 7})")[0].rfind("E $.DicomAet: expected a string, found ", 0), 0u);
}

TEST(OrthancConfig, StableAgeAndDatabaseAsTheNodeReadsThem) {
  EXPECT_EQ(StableAgeSeconds(Doc(R"({"StableAge": 5})")), 5);
  EXPECT_EQ(StableAgeSeconds(Doc(R"({})")), 60);
  EXPECT_EQ(StableAgeSeconds(Doc(R"({"StableAge": 0})")), 60);
  EXPECT_EQ(DefaultDatabasePath(Doc(R"({})")), "OrthancStorage/curia.sqlite");
  EXPECT_EQ(DefaultDatabasePath(Doc(R"({"StorageDirectory": "/s"})")), "/s/curia.sqlite");
  EXPECT_EQ(DefaultDatabasePath(Doc(R"({"StorageDirectory": "/s", "IndexDirectory": "/i"})")), "/i/curia.sqlite");
}

// A configuration with one rule: the given Match and Destinations, and `extra` members.
std::string WithRule(const std::string& match, const std::string& destinations, const std::string& extra = "") {
  return R"({"Curia": {"Rules": [{"Name": "r", "Match": )" + match + R"(, "Destinations": )" + destinations + "}]}" + extra + "}";
}

TEST(OrthancConfig, RuleTagsAreDicomKeywords) {
  OrthancCheckOptions options;
  options.is_dicom_keyword = Keyword;
  const std::string match = R"({"All": [{"Tag": "Modality", "Equals": "CT"}, {"Not": {"Tag": "BodyPartExamnied", "Equals": "X"}},
                                         {"Any": [{"Tag": "CalledAET", "Equals": "A"}, {"Tag": "Seriesdescription", "Exists": true}]}]})";
  const std::vector<std::string> lines = Lines(WithRule(match, "[]", R"(, "DicomModalities": {})"), options);
  ASSERT_EQ(lines.size(), 2u) << Joined(lines);
  EXPECT_EQ(lines[0], "E $.Curia.Rules[0].Match.All[1].Not.Tag: \"BodyPartExamnied\" is not a DICOM keyword (hint: keywords "
                      "are as in DICOM PS3.6 and case-sensitive, e.g. \"Modality\", \"BodyPartExamined\", \"SeriesDescription\")");
  EXPECT_EQ(lines[1].rfind("E $.Curia.Rules[0].Match.All[2].Any[1].Tag: \"Seriesdescription\" is not a DICOM keyword", 0), 0u)
      << lines[1];
  // No dictionary: not checked.
  EXPECT_EQ(Lines(WithRule(match, "[]", R"(, "DicomModalities": {})")), std::vector<std::string>{});
}

TEST(OrthancConfig, DestinationsAreOrthancModalities) {
  const std::string modalities = R"(, "DicomModalities": {"pacs": ["PACS", "10.0.0.5", 104], "archive": {}})";
  EXPECT_EQ(Lines(WithRule("{}", R"(["pacs", "archive"])", modalities)), std::vector<std::string>{});
  EXPECT_EQ(Lines(WithRule("{}", R"(["pacss"])", modalities)),
            std::vector<std::string>{"E $.Curia.Rules[0].Destinations[0]: \"pacss\" is not in Orthanc's DicomModalities "
                                     "(hint: did you mean \"pacs\"?)"});
  EXPECT_EQ(Lines(WithRule("{}", R"(["lab"])", modalities)),
            std::vector<std::string>{"E $.Curia.Rules[0].Destinations[0]: \"lab\" is not in Orthanc's DicomModalities (hint: "
                                     "add \"lab\": {\"AET\": \"PACS\", \"Host\": \"10.0.0.5\", \"Port\": 104} to "
                                     "DicomModalities (known: \"pacs\", \"archive\"))"});
  // Modalities kept in Orthanc's database may be added at run time.
  EXPECT_EQ(Lines(WithRule("{}", R"(["lab"])", R"(, "DicomModalitiesInDatabase": true)")), std::vector<std::string>{});
  // No DicomModalities: in one file of several, unknown (one warning); in all of the configuration, an error.
  EXPECT_EQ(Lines(WithRule("{}", R"(["lab", "pacs"])")),
            std::vector<std::string>{"W $.DicomModalities: not in this file: rule destinations not checked (hint: validate "
                                     "the whole configuration, e.g. the folder /etc/orthanc)"});
  OrthancCheckOptions complete;
  complete.complete = true;
  EXPECT_EQ(Lines(WithRule("{}", R"(["lab", "pacs"])"), complete).size(), 2u);
}

TEST(OrthancConfig, ASectionAlone) {
  OrthancCheckOptions options;
  options.section_alone = true;
  options.is_dicom_keyword = Keyword;
  const std::vector<std::string> lines =
      Lines(R"({"Rules": [{"Name": "r", "Match": {"Tag": "Modalty", "Equals": "CT"}, "Destinations": ["pacs"]}]})", options);
  ASSERT_EQ(lines.size(), 2u) << Joined(lines);
  EXPECT_EQ(lines[0].rfind("E $.Rules[0].Match.Tag: \"Modalty\" is not a DICOM keyword", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind("W $.DicomModalities: not in this file", 0), 0u) << lines[1];
  EXPECT_FALSE(IsOrthancConfiguration(Doc(R"({"Rules": []})")));
  EXPECT_TRUE(IsOrthancConfiguration(Doc(R"({"CuriaDisabled": {}})")));
  EXPECT_TRUE(IsOrthancConfiguration(Doc(R"({"HttpPort": 8042, "Curia": {}})")));
}

TEST(Hints, NearestIsATypoAwayOrNothing) {
  EXPECT_EQ(Nearest("pacss", {"archive", "pacs"}), "pacs");
  EXPECT_EQ(Nearest("Treshold", {"Head", "Threshold"}), "Threshold");
  EXPECT_EQ(Nearest("lab", {"pacs", "archive"}), "");
  EXPECT_EQ(Nearest("x", {}), "");
  EXPECT_EQ(QuoteList({"a", "b"}), "\"a\", \"b\"");
}

}  // namespace
}  // namespace curia::config
