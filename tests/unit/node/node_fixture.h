// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The node's parts wired as Node wires them, over an in-memory Orthanc (fake_orthanc.h), a real
// SQLite store in a temporary folder, the real worker pool with a fixed model (fixed_model.h), and
// a clock the test moves. No part runs a thread of its own: the tests call their steps.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api.h"
#include "arrivals.h"
#include "curia/config/json.h"
#include "curia/config/settings.h"
#include "curia/phantom/series.h"
#include "curia/storage/store.h"
#include "exporter.h"
#include "fake_orthanc.h"
#include "fixed_model.h"
#include "health.h"
#include "job_runner.h"
#include "notifier.h"
#include "router.h"
#include "test_support.h"

namespace curia::test {

// The one place the tests make a store (so that a store interface changes one line).
inline std::unique_ptr<storage::Store> MakeStore(const std::string& path) { return storage::OpenStore(path); }

// Rule "head-ct": CT studies -> task "bleed", stat, SR and SC, to "pacs". Two processing
// attempts, three export attempts with 2 to 10 s of backoff.
inline config::CuriaSettings TestSettings(const std::string& extra = "") {
  const std::string json = R"({"Curia": {
      "Model": {"Path": "/nonexistent/fixed-model", "Threads": 1, "MaxBatch": 4, "MaxBatchDelayMs": 1,
                "PreprocessThreads": 1},
      "Tasks": {"bleed": {"Head": "fixed-2d", "Threshold": 0.5,
                          "Finding": {"Code": "C1", "Scheme": "99TEST", "Meaning": "Test finding"}}},
      "Queue": {"LeaseSeconds": 30, "MaxAttempts": 2, "Workers": 1},
      "Export": {"MaxAttempts": 3, "BackoffSeconds": [2, 10]},
      "Rules": [{"Name": "head-ct", "Priority": "stat", "Match": {"Tag": "Modality", "Equals": "CT"},
                 "Tasks": ["bleed"], "Outputs": ["SR", "SC"], "Destinations": ["pacs"]}])" +
                           extra + "}}";
  return config::ParseCuriaSettings(config::ParseJson(json, "test.json"), "test.json", "");
}

// A phantom series as DICOM files (small: 32 x 32 pixels).
inline phantom::PhantomSeriesOptions PhantomOptions(const std::string& modality, int64_t slices, uint64_t seed) {
  phantom::PhantomSeriesOptions o;
  o.phantom.rows = o.phantom.cols = 32;
  o.phantom.pixel_mm = 8;
  o.phantom.slices = slices;
  o.modality = modality;
  o.seed = seed;
  return o;
}
inline std::vector<phantom::PhantomInstance> PhantomFiles(const std::string& modality, int64_t slices, uint64_t seed) {
  const phantom::PhantomSeriesOptions o = PhantomOptions(modality, slices, seed);
  std::vector<phantom::PhantomInstance> files;
  phantom::MakePhantomSeries(o, [&](const phantom::PhantomInstance& i) { files.push_back(i); });
  return files;
}

class NodeParts : public ::testing::Test {
 protected:
  static constexpr double kStart = 1.7e9;

  explicit NodeParts(config::CuriaSettings settings = TestSettings())
      : settings_(std::move(settings)),
        model_(settings_.tasks, 0.9f),
        store_(MakeStore(dir_.File("curia.sqlite"))),
        health_(*store_, model_.info(), "test-version", clock_),
        arrivals_(*store_, health_, clock_),
        router_(settings_, *store_, orthanc_, model_.info(), arrivals_, health_, notifier_, clock_, kStableAge),
        runner_(settings_, *store_, orthanc_, model_, health_, notifier_, clock_, "test-version"),
        exporter_(settings_, *store_, orthanc_, health_),
        api_(settings_, *store_, model_.info(), info_, router_, health_, notifier_, clock_, [] { return true; }) {
    health_.AddSource([this] { return router_.Problems(); });
    health_.AddSource([this] { return arrivals_.Problems(); });
  }

  double now() const { return now_; }

  // Sends a phantom CT study and routes it: the job's ID.
  int64_t Queue(int64_t slices = 4, uint64_t seed = 1) {
    const FakeOrthanc::Ids ids = Send(PhantomFiles("CT", slices, seed));
    std::vector<int64_t> jobs;
    router_.RouteStudy(ids.study, "", true, &jobs);
    EXPECT_EQ(jobs.size(), 1u);
    return jobs.empty() ? 0 : jobs[0];
  }
  // Runs every queued job through the pool.
  void RunAll() {
    runner_.StartPool();
    while (runner_.RunNext()) {
    }
    runner_.StopPool();
  }
  void Advance(double seconds) { now_ = now_ + seconds; }

  // Stores the files in Orthanc as a modality sends them (each instance's arrival recorded).
  FakeOrthanc::Ids Send(const std::vector<phantom::PhantomInstance>& files, size_t first = 0, size_t count = SIZE_MAX) {
    FakeOrthanc::Ids ids;
    for (size_t i = first; i < files.size() && i - first < count; ++i) {
      ids = orthanc_.Add(files[i].bytes);
      arrivals_.OnInstanceStored(ids.study_uid, "CT1", "CURIA");
    }
    return ids;
  }
  storage::JobRow Job(int64_t id) {
    std::optional<storage::JobRow> job = store_->GetJob(id);
    EXPECT_TRUE(job) << "no job " << id;
    return job ? *job : storage::JobRow{};
  }
  std::vector<storage::JobRow> AllJobs() {
    std::vector<storage::JobRow> jobs = store_->Jobs({});
    std::reverse(jobs.begin(), jobs.end());  // oldest first
    return jobs;
  }
  std::vector<std::string> AuditEvents(const std::string& study_id) {
    std::vector<std::string> events;
    for (const storage::AuditRow& a : store_->StudyAudit(study_id)) events.push_back(a.event);
    return events;
  }
  node::HttpResponse Call(const std::string& method, const std::string& path, const std::string& body = "",
                    std::map<std::string, std::string> query = {}) {
    return api_.Handle({method, path, std::move(query), body});
  }
  config::Json CallJson(const std::string& method, const std::string& path, const std::string& body = "") {
    const node::HttpResponse r = Call(method, path, body);
    EXPECT_EQ(r.status, 200) << method << " " << path << ": " << r.body;
    return config::ParseJson(r.body, method + " " + path);
  }

  static constexpr double kStableAge = 60;
  TempDir dir_;
  std::atomic<double> now_{kStart};
  node::Clock clock_ = [this] { return now_.load(); };
  config::CuriaSettings settings_;
  FixedModel model_;
  FakeOrthanc orthanc_;
  node::NodeInfo info_{"test-version", kStableAge, config::Json(::Json::objectValue), config::Json(::Json::objectValue)};
  std::unique_ptr<storage::Store> store_;
  node::Notifier notifier_;
  node::Health health_;
  node::Arrivals arrivals_;
  node::Router router_;
  node::JobRunner runner_;
  node::Exporter exporter_;
  node::Api api_;
};

}  // namespace curia::test
