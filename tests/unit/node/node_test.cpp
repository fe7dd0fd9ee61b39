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
  std::unique_ptr<storage::Store> store = MakeStore(dir.File("curia.sqlite"));
  store->SetNodeName("node-t");
  node::Node n(settings, std::move(store), model, orthanc, {"test-version", 1, {}, {}});
  // The REST API answers before Orthanc has started (and so the threads).
  EXPECT_FALSE(config::Find(config::ParseJson(n.Handle({"GET", "/health", {}, ""}).body, "health"), "Running")->asBool());
  n.Start();
  // Its heartbeat at start-up: the cluster view lists it, alive.
  const config::Json nodes =
      *config::Find(*config::Find(config::ParseJson(n.Handle({"GET", "/health", {}, ""}).body, "health"), "Cluster"), "Nodes");
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(config::Find(nodes[0], "Name")->asString(), "node-t");
  EXPECT_TRUE(config::Find(nodes[0], "Alive")->asBool());
  EXPECT_TRUE(config::Find(nodes[0], "This")->asBool());
  EXPECT_EQ(config::Find(nodes[0], "Version")->asString(), "test-version");
  EXPECT_EQ(config::Find(nodes[0], "Workers")->asInt64(), settings.queue.workers);
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
