// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/settings.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>

#include "curia/config/error.h"
#include "curia/config/json.h"

#include "error_lines.h"
namespace curia::config {
namespace {

CuriaSettings Parse(const std::string& json, const std::string& base = "/etc/curia") {
  return ParseCuriaSettings(ParseJson(json, "curia.json"), "curia.json", base);
}

std::vector<std::string> Problems(const std::string& json) {
  return ErrorLines([&] { Parse(json); });
}

TEST(Settings, DefaultsAndResolvedPaths) {
  const CuriaSettings s = Parse(R"({"Curia": {"Model": {"Path": "models/curia-b"}, "Tasks": {
      "ich": {"Head": "ich", "Class": "hemorrhage",
              "Finding": {"Code": "50960005", "Scheme": "SCT", "Meaning": "Hemorrhage"}},
      "lung": {"Head": "/opt/heads/lung", "Class": 2, "Aggregate": "top-k-mean", "TopK": 5, "Threshold": 0.3,
               "Normalization": "per-volume",
               "Finding": {"Code": "C1", "Scheme": "99X", "Meaning": "Nodule"},
               "FindingSite": {"Code": "39607008", "Scheme": "SCT", "Meaning": "Lung"}}}}})");
  EXPECT_EQ(s.model.path, "/etc/curia/models/curia-b");
  EXPECT_EQ(s.model.devices, (std::vector<std::string>{"cpu"}));
  EXPECT_EQ(s.model.max_batch, 8);
  ASSERT_EQ(s.tasks.size(), 2u);
  EXPECT_EQ(s.tasks[0].head, "/etc/curia/models/curia-b/ich");
  EXPECT_EQ(s.tasks[0].aggregate, Aggregation::kMax);
  EXPECT_EQ(s.tasks[0].normalization, Normalization::kAuto);
  EXPECT_EQ(s.tasks[0].path, "$.Curia.Tasks.ich");
  EXPECT_EQ(s.tasks[1].head, "/opt/heads/lung");
  EXPECT_EQ(s.tasks[1].positive_class, "2");
  EXPECT_EQ(s.tasks[1].top_k, 5);
  EXPECT_EQ(s.tasks[1].normalization, Normalization::kPerVolume);
  ASSERT_TRUE(s.tasks[1].finding_site);
  EXPECT_EQ(s.tasks[1].finding_site->meaning, "Lung");
  EXPECT_EQ(s.FindTask("lung"), &s.tasks[1]);
  EXPECT_EQ(s.dicom.uid_root, "2.25");
  EXPECT_TRUE(s.dicom.comprehensive_3d);
  EXPECT_FALSE(s.dicom.multiframe_sc);
  EXPECT_FALSE(s.dicom.key_images_for_all);
  EXPECT_FALSE(s.dicom.heat_map);
  // The section alone works too.
  EXPECT_EQ(Parse(R"({"Model": {"Path": "/m"}})").model.path, "/m");
}

TEST(Settings, HostThreadsPerDevice) {
  // Defaults: one for the CPU device; a GPU gets the cores but one, at most 16, shared between GPUs.
  EXPECT_EQ(HostThreads(Parse(R"({"Model": {"Path": "/m"}})").model, 16), 1);
  EXPECT_EQ(HostThreads(Parse(R"({"Model": {"Path": "/m", "Devices": ["cuda"]}})").model, 16), 15);
  EXPECT_EQ(HostThreads(Parse(R"({"Model": {"Path": "/m", "Devices": ["cuda"]}})").model, 64), 16);
  EXPECT_EQ(HostThreads(Parse(R"({"Model": {"Path": "/m", "Devices": ["cuda"]}})").model, 1), 1);
  EXPECT_EQ(HostThreads(Parse(R"({"Model": {"Path": "/m", "Devices": ["cuda:0", "cuda:1"]}})").model, 17), 16);
  EXPECT_EQ(HostThreads(Parse(R"({"Model": {"Path": "/m", "Devices": ["cuda:0", "cpu"]}})").model, 9), 9);
  // Set per device, or for the whole pool (which wins).
  EXPECT_EQ(HostThreads(Parse(R"({"Model": {"Path": "/m", "Devices": ["cuda:0", "cuda:1"],
                                            "HostThreadsPerDevice": 6}})").model, 4), 12);
  EXPECT_EQ(HostThreads(Parse(R"({"Model": {"Path": "/m", "Devices": ["cuda:0", "cuda:1"],
                                            "HostThreadsPerDevice": 6, "PreprocessThreads": 3}})").model, 4), 3);
  const std::vector<std::string> problems = Problems(R"({"Model": {"Path": "/m", "HostThreadsPerDevice": -1}})");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("$.Model.HostThreadsPerDevice: expected an integer in [0, 256], found -1"), std::string::npos) << problems[0];
}

TEST(Settings, DicomOutputs) {
  const CuriaSettings s = Parse(R"({"Model": {"Path": "/m"}, "Dicom": {"UidRoot": "1.2.826.0.1.3680043.10.9",
      "SeriesNumber": 77, "InstitutionName": "Lab", "SrClass": "comprehensive", "ScClass": "multi-frame-true-color",
      "KeyImages": "all", "HeatMap": true}})");
  EXPECT_EQ(s.dicom.uid_root, "1.2.826.0.1.3680043.10.9");
  EXPECT_EQ(s.dicom.series_number, 77);
  EXPECT_EQ(s.dicom.institution, "Lab");
  EXPECT_FALSE(s.dicom.comprehensive_3d);
  EXPECT_TRUE(s.dicom.multiframe_sc);
  EXPECT_TRUE(s.dicom.key_images_for_all);
  EXPECT_TRUE(s.dicom.heat_map);
  EXPECT_EQ(Problems(R"({"Model": {"Path": "/m"}, "Dicom": {"HeatMap": "yes", "UidRoot": "1.02"}})"),
            (std::vector<std::string>{
                "curia.json: $.Dicom.UidRoot: \"1.02\" is not a UID root (digits and dots, no leading zeros, at most 24 "
                "characters so that derived UIDs fit in 64)",
                "curia.json: $.Dicom.HeatMap: expected true or false, found \"yes\""}));
}

TEST(Settings, EveryProblemIsReportedWithItsPath) {
  const auto problems = Problems(R"({"Curia": {
      "Model": {"Path": "/m", "Devices": ["gpu0"], "Precision": "fp8", "MaxBatch": 64, "QueuedSlices": 16, "Colour": 1},
      "Tasks": {"ich": {"Head": "ich", "Aggregate": "median", "TopK": 2, "Class": [1],
                        "Finding": {"Code": "50960005", "Scheme": "SCT"}},
                "bad": []},
      "Rulez": []}})");
  const std::vector<std::string> expected = {
      "curia.json: $.Curia.Model.Devices[0]: expected \"cpu\", \"cuda\" or \"cuda:N\", found \"gpu0\"",
      "curia.json: $.Curia.Model.Precision: expected one of \"fp32\", \"bf16\", \"fp16\", found \"fp8\"",
      "curia.json: $.Curia.Model.Colour: unknown key",
      "curia.json: $.Curia.Model.QueuedSlices: 16 is below MaxBatch 64: batches could never fill",
      "curia.json: $.Curia.Tasks.ich.Class: expected a class label or a class index, found an array",
      "curia.json: $.Curia.Tasks.ich.Aggregate: expected one of \"max\", \"mean\", \"top-k-mean\", found \"median\"",
      "curia.json: $.Curia.Tasks.ich.TopK: only used with \"Aggregate\": \"top-k-mean\"",
      "curia.json: $.Curia.Tasks.ich.Finding.Meaning: required member is missing",
      "curia.json: $.Curia.Tasks.bad: expected an object, found an array",
      "curia.json: $.Curia.Rulez: unknown key",
  };
  EXPECT_EQ(problems, expected);
  EXPECT_EQ(Problems(R"({"Curia": {"SchemaVersion": 2, "Model": {"Path": "/m"}}})"),
            (std::vector<std::string>{"curia.json: $.Curia.SchemaVersion: 2 is not supported by this version (1)"}));
  EXPECT_EQ(Problems(R"({"Curia": {}})"),
            (std::vector<std::string>{
                "curia.json: $.Curia.Model: required member is missing (at least {\"Path\": \"<model folder>\"})"}));
}

TEST(Settings, QueueExportAndRoutingDefaults) {
  const CuriaSettings s = Parse(R"({"Model": {"Path": "/m"}})");
  EXPECT_EQ(s.database, "");
  EXPECT_EQ(s.trigger, Trigger::kStudy);
  EXPECT_EQ(s.routing_mode, RoutingMode::kFirstMatch);
  EXPECT_EQ(s.queue.lease_seconds, 60);
  EXPECT_EQ(s.queue.max_attempts, 3);
  EXPECT_EQ(s.queue.workers, 2);
  EXPECT_EQ(s.export_.max_attempts, 8);
  EXPECT_EQ(s.export_.backoff_min_s, 2);
  EXPECT_EQ(s.export_.backoff_max_s, 600);
  EXPECT_TRUE(s.rules.empty());

  const CuriaSettings t = Parse(R"({"Curia": {"Model": {"Path": "/m"}, "Database": "db/curia.sqlite",
      "Trigger": "series", "RoutingMode": "all-matches", "Queue": {"LeaseSeconds": 0.5e1, "MaxAttempts": 1, "Workers": 64},
      "Export": {"MaxAttempts": 1000, "BackoffSeconds": [0.5, 0.5]}}})");
  EXPECT_EQ(t.database, "/etc/curia/db/curia.sqlite");
  EXPECT_EQ(t.trigger, Trigger::kSeries);
  EXPECT_EQ(t.routing_mode, RoutingMode::kAllMatches);
  EXPECT_EQ(t.queue.lease_seconds, 5);
  EXPECT_EQ(t.queue.max_attempts, 1);
  EXPECT_EQ(t.queue.workers, 64);
  EXPECT_EQ(t.export_.max_attempts, 1000);
  EXPECT_EQ(t.export_.backoff_min_s, 0.5);
  EXPECT_EQ(t.export_.backoff_max_s, 0.5);
  EXPECT_EQ(Parse(R"({"Model": {"Path": "/m"}, "Database": "/var/lib/curia.sqlite"})").database, "/var/lib/curia.sqlite");
  // A database URL names a server: kept as written, not put under the configuration's folder.
  EXPECT_EQ(Parse(R"({"Model": {"Path": "/m"}, "Database": "postgresql://curia@127.0.0.1:5432/curia"})").database,
            "postgresql://curia@127.0.0.1:5432/curia");
  EXPECT_EQ(Parse(R"({"Model": {"Path": "/m"}, "Database": "data/a://b.sqlite"})").database,
            "/etc/curia/data/a://b.sqlite");
}

TEST(Settings, RoleOfANodeInACluster) {
  const std::string pg = R"("Database": "postgresql://curia@db/curia")";
  EXPECT_EQ(Parse(R"({"Model": {"Path": "/m"}})").role, NodeRole::kAll);
  EXPECT_EQ(Parse(R"({"Model": {"Path": "/m"}, "Role": "ingest", )" + pg + "}").role, NodeRole::kIngest);
  EXPECT_EQ(Parse(R"({"Model": {"Path": "/m"}, "Role": "work", )" + pg + "}").role, NodeRole::kWork);
  EXPECT_EQ(Parse(R"({"Model": {"Path": "/m"}, "Role": "all"})").role, NodeRole::kAll);
  const std::vector<std::string> p = Problems(R"({"Model": {"Path": "/m"}, "Role": "gpu", )" + pg + "}");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("curia.json: $.Role: "), std::string::npos) << p[0];
  EXPECT_NE(p[0].find("\"ingest\""), std::string::npos) << p[0];
  EXPECT_EQ(Problems(R"({"Model": {"Path": "/m"}, "Role": "work"})"),
            (std::vector<std::string>{"curia.json: $.Role: \"work\" is a role in a cluster of nodes on one database: it "
                                      "needs a shared \"Database\" (postgresql://USER@HOST/DATABASE), not the node's own "
                                      "SQLite file"}));
  EXPECT_EQ(Problems(R"({"Model": {"Path": "/m"}, "Role": "ingest", "Database": "/var/curia.sqlite"})"),
            (std::vector<std::string>{"curia.json: $.Role: \"ingest\" is a role in a cluster of nodes on one database: "
                                      "it needs a shared \"Database\" (postgresql://USER@HOST/DATABASE), not "
                                      "'/var/curia.sqlite'"}));
}

TEST(Settings, NodeName) {
  // Default: the host name (when it is a valid node name).
  EXPECT_EQ(Parse(R"({"Model": {"Path": "/m"}})").node_name, DefaultNodeName());
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
  if (NodeNameProblem(host).empty()) {
    EXPECT_EQ(DefaultNodeName(), host);
  }
  EXPECT_EQ(Parse(R"({"Model": {"Path": "/m"}, "NodeName": "gpu-1.example"})").node_name, "gpu-1.example");
  EXPECT_EQ(Parse(R"({"Model": {"Path": "/m"}, "NodeName": ")" + std::string(64, 'x') + R"("})").node_name,
            std::string(64, 'x'));
  EXPECT_EQ(Problems(R"({"Model": {"Path": "/m"}, "NodeName": ""})"), (std::vector<std::string>{"curia.json: $.NodeName: '' is empty"}));
  const auto problem = [](const std::string& name) {
    const auto p = Problems(R"({"Model": {"Path": "/m"}, "NodeName": ")" + name + R"("})");
    return p.size() == 1 ? p[0] : "";
  };
  EXPECT_NE(problem(std::string(65, 'x')).find("65 characters (at most 64)"), std::string::npos);
  EXPECT_NE(problem("a/b").find("holds a '/'"), std::string::npos);
  EXPECT_NE(problem("a b").find("printable ASCII only"), std::string::npos);
  EXPECT_NE(problem("a\\tb").find("printable ASCII only"), std::string::npos);
  EXPECT_EQ(Problems(R"({"Model": {"Path": "/m"}, "NodeName": 3})").size(), 1u);
}

TEST(Settings, UrlScheme) {
  EXPECT_EQ(UrlScheme("postgresql://h/d"), "postgresql");
  EXPECT_EQ(UrlScheme("postgres://u:p@h:5/d?x=1"), "postgres");
  EXPECT_EQ(UrlScheme("svn+ssh://h"), "svn+ssh");
  EXPECT_EQ(UrlScheme("/var/lib/curia.sqlite"), "");
  EXPECT_EQ(UrlScheme("db/a://b"), "");
  EXPECT_EQ(UrlScheme("://h"), "");
  EXPECT_EQ(UrlScheme("1x://h"), "");
}

TEST(Settings, QueueExportAndRoutingErrors) {
  EXPECT_EQ(Problems(R"({"Curia": {"Model": {"Path": "/m"}, "Database": 1, "Trigger": "instance",
      "RoutingMode": "best-match", "Queue": {"LeaseSeconds": 0, "MaxAttempts": 101, "Workers": 0, "Size": 1},
      "Export": {"MaxAttempts": 0, "BackoffSeconds": [600, 2]}, "Rules": {}}})"),
            (std::vector<std::string>{
                "curia.json: $.Curia.Database: expected a string, found 1",
                "curia.json: $.Curia.Trigger: expected one of \"study\", \"series\", found \"instance\"",
                "curia.json: $.Curia.RoutingMode: expected one of \"first-match\", \"all-matches\", found "
                "\"best-match\"",
                "curia.json: $.Curia.Queue.LeaseSeconds: expected a number in [1, 86400], found 0",
                "curia.json: $.Curia.Queue.MaxAttempts: expected an integer in [1, 100], found 101",
                "curia.json: $.Curia.Queue.Workers: expected an integer in [1, 64], found 0",
                "curia.json: $.Curia.Queue.Size: unknown key",
                "curia.json: $.Curia.Export.MaxAttempts: expected an integer in [1, 1000], found 0",
                "curia.json: $.Curia.Export.BackoffSeconds: expected [min, max] with 0 < min <= max <= 86400 "
                "(seconds), found [600,2]",
                "curia.json: $.Curia.Rules: expected an array of rules, found an object"}));
  for (const char* backoff : {"[0, 1]", "[1, 86401]", "[1]", "[1, \"2\"]", "5"}) {
    const auto problems = Problems(std::string(R"({"Model": {"Path": "/m"}, "Export": {"BackoffSeconds": )") + backoff + "}}");
    ASSERT_EQ(problems.size(), 1u) << backoff;
    EXPECT_EQ(problems[0].rfind("curia.json: $.Export.BackoffSeconds: expected [min, max]", 0), 0u) << problems[0];
  }
  EXPECT_EQ(Problems(R"({"Model": {"Path": "/m"}, "Queue": [], "Export": 1})"),
            (std::vector<std::string>{"curia.json: $.Queue: expected an object, found an array",
                                      "curia.json: $.Export: expected an object, found 1"}));
}

TEST(Settings, FileWithCommentsKeepsFileOrder) {
  // Orthanc's configuration files have comments; tasks and unknown keys come in file order (the
  // JSON library keeps objects sorted by key).
  const std::string path = ::testing::TempDir() + "/curia-settings-order.json";
  WriteFileAtomic(path, {R"({ // Orthanc's own settings
    "Name": "node", /* a block
    comment */ "Curia": {"Model": {"Path": "/m"}, "Tasks": {
      "zeta": {"Head": "z", "Finding": {"Code": "1", "Scheme": "99X", "Meaning": "Z"}, "Zz": 1},
      "alpha": {"Head": "a", "Finding": {"Code": "2", "Scheme": "99X", "Meaning": "A"}, "Aa": 1}}}})"});
  try {
    LoadCuriaSettings(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": $.Curia.Tasks.zeta.Zz: unknown key\n" + path +
                                         ": $.Curia.Tasks.alpha.Aa: unknown key");
  }
  WriteFileAtomic(path, {R"({"Curia": {"Model": {"Path": "m"}, "Tasks": { // two tasks
      "zeta": {"Head": "z", "Finding": {"Code": "1", "Scheme": "99X", "Meaning": "Z"}},
      "alpha": {"Head": "a", "Finding": {"Code": "2", "Scheme": "99X", "Meaning": "A"}}}}})"});
  const CuriaSettings s = LoadCuriaSettings(path);
  ASSERT_EQ(s.tasks.size(), 2u);
  EXPECT_EQ(s.tasks[0].name, "zeta");
  EXPECT_EQ(s.tasks[1].name, "alpha");
  EXPECT_EQ(s.model.path, ::testing::TempDir() + "/m");
  // Duplicate keys are refused with their line, as the file's reader sees them.
  WriteFileAtomic(path, {"{\"Curia\": {\"Model\": {\"Path\": \"/m\"},\n  \"Model\": {}}}"});
  EXPECT_THROW(
      {
        try {
          LoadCuriaSettings(path);
        } catch (const Error& e) {
          EXPECT_EQ(std::string(e.what()), path + ":2:3: Duplicate key: 'Model'");
          throw;
        }
      },
      Error);
  std::remove(path.c_str());
}

TEST(Settings, RegionOfAMaskPromptedTask) {
  const std::string finding = R"("Finding": {"Code": "C1", "Scheme": "99X", "Meaning": "Organ"})";
  const CuriaSettings s = Parse(R"({"Model": {"Path": "/m"}, "Tasks": {
      "any": {"Head": "a", "Region": {}, )" + finding + R"(},
      "liver": {"Head": "a", "Region": {"From": ["SEG"], "Label": "(?i)^liver", "Codes": [{"Code": "10200004", "Scheme": "SCT"}],
                "MinPixels": 4, "Aggregation": "top-k-mean", "TopK": 2}, )" + finding + R"(},
      "plain": {"Head": "b", )" + finding + R"(}}})");
  ASSERT_EQ(s.tasks.size(), 3u);
  ASSERT_TRUE(s.tasks[0].region);
  const RegionSelection& any = *s.tasks[0].region;
  EXPECT_TRUE(any.from_seg && any.from_rtstruct);
  EXPECT_EQ(any.min_pixels, 16);
  EXPECT_EQ(any.aggregate, Aggregation::kMean);
  EXPECT_TRUE(RegionSelects(any, "RTSTRUCT", "whatever", {}));
  const RegionSelection& liver = *s.tasks[1].region;
  EXPECT_EQ(liver.min_pixels, 4);
  EXPECT_EQ(liver.aggregate, Aggregation::kTopKMean);
  EXPECT_EQ(liver.top_k, 2);
  EXPECT_EQ(liver.label, "(?i)^liver");
  EXPECT_TRUE(RegionSelects(liver, "SEG", "Liver segment 4", {}));
  EXPECT_FALSE(RegionSelects(liver, "SEG", "the liver", {}));
  EXPECT_FALSE(RegionSelects(liver, "RTSTRUCT", "Liver", {}));  // not from RTSTRUCTs
  // Either the label or the type code selects.
  EXPECT_TRUE(RegionSelects(liver, "SEG", "Segment 1", {"10200004", "SCT", "Liver"}));
  EXPECT_FALSE(RegionSelects(liver, "SEG", "Segment 1", {"10200004", "99X", "Liver"}));
  EXPECT_FALSE(s.tasks[2].region);

  EXPECT_EQ(Problems(R"({"Model": {"Path": "/m"}, "Tasks": {"t": {"Head": "a", )" + finding + R"(,
      "Region": {"From": ["SEG", "RTSTRUKT", "SEG", 3], "Label": "(a)\\1", "Codes": [{"Code": "1"}], "MinPixel": 3,
                 "MinPixels": 0, "Aggregation": "median", "TopK": 2}}}})"),
            (std::vector<std::string>{
                "curia.json: $.Tasks.t.Region.From[1]: expected \"SEG\" or \"RTSTRUCT\", found \"RTSTRUKT\"; did you "
                "mean \"RTSTRUCT\"?",
                "curia.json: $.Tasks.t.Region.From[2]: \"SEG\" is listed twice",
                "curia.json: $.Tasks.t.Region.From[3]: expected \"SEG\" or \"RTSTRUCT\", found 3",
                "curia.json: $.Tasks.t.Region.Label: invalid regular expression \"(a)\\\\1\": \\1 is a back-reference: RE2, "
                "the node's regular-expression engine, runs in linear time and does not support back-references; spell "
                "out the alternatives instead (\"(aa|bb)\" for \"(a|b)\\1\"), or list whole values with \"In\"",
                "curia.json: $.Tasks.t.Region.Codes[0].Scheme: required member is missing",
                "curia.json: $.Tasks.t.Region.MinPixels: expected an integer in [1, 2147483647], found 0",
                "curia.json: $.Tasks.t.Region.Aggregation: expected one of \"mean\", \"max\", \"top-k-mean\", found "
                "\"median\"",
                "curia.json: $.Tasks.t.Region.TopK: only used with \"Aggregation\": \"top-k-mean\"",
                "curia.json: $.Tasks.t.Region.MinPixel: unknown key; did you mean \"MinPixels\"?"}));
  EXPECT_EQ(Problems(R"({"Model": {"Path": "/m"}, "Tasks": {"t": {"Head": "a", )" + finding + R"(,
      "Region": {"From": [], "Codes": "SCT"}}}})"),
            (std::vector<std::string>{
                "curia.json: $.Tasks.t.Region.From: expected a non-empty array of \"SEG\" and \"RTSTRUCT\", found an "
                "empty array",
                "curia.json: $.Tasks.t.Region.Codes: expected a non-empty array of {\"Code\", \"Scheme\"} objects, found "
                "\"SCT\""}));
}

}  // namespace
}  // namespace curia::config
