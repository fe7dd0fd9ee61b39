// SPDX-License-Identifier: GPL-3.0-or-later
// The facade with its threads: a stable study goes in, its results come out at the PACS. The only
// test here that runs on real time (the threads' loops); it waits for an outcome, not a duration.
#include "curia/node/node.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "node_fixture.h"

namespace curia::test {
namespace {

// Polls `done` every 20 ms for up to 30 s.
template <typename F>
bool Eventually(F done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

std::string JobState(node::Node& n) {
  const node::HttpResponse r = n.Handle({"GET", "/jobs", {}, ""});
  const config::Json j = config::ParseJson(r.body, "jobs");
  if (config::Find(j, "Jobs")->empty()) return "";
  return config::Find((*config::Find(j, "Jobs"))[0], "State")->asString();
}

TEST(Node, AStableStudyIsProcessedAndItsResultsExported) {
  TempDir dir;
  const config::CuriaSettings settings = TestSettings();
  FixedModel model(settings.tasks.at(0), 0.9f);
  FakeOrthanc orthanc;
  node::Node n(settings, MakeStore(dir.File("curia.sqlite")), model, orthanc, {"test-version", 1, {}, {}});
  // The REST API answers before Orthanc has started (and so the threads).
  EXPECT_FALSE(config::Find(config::ParseJson(n.Handle({"GET", "/health", {}, ""}).body, "health"), "Running")->asBool());
  n.Start();
  FakeOrthanc::Ids ids;
  for (const phantom::PhantomInstance& f : PhantomFiles("CT", 4, 41)) {
    ids = orthanc.Add(f.bytes);
    n.OnInstanceStored(ids.study_uid, "CT1", "CURIA");
  }
  n.OnStable(false, ids.study);
  EXPECT_TRUE(Eventually([&] { return JobState(n) == "done"; })) << JobState(n);
  EXPECT_EQ(orthanc.Exports().size(), 2u);
  EXPECT_TRUE(config::Find(config::ParseJson(n.Handle({"GET", "/health", {}, ""}).body, "health"), "Running")->asBool());
  bool counted = false;
  for (const auto& [name, value] : n.Metrics()) {
    if (name == "curia_job_seconds_count") counted = value == 1;
  }
  EXPECT_TRUE(counted);
  n.Stop();
  n.Stop();  // idempotent
  EXPECT_FALSE(config::Find(config::ParseJson(n.Handle({"GET", "/health", {}, ""}).body, "health"), "Running")->asBool());
}

}  // namespace
}  // namespace curia::test
