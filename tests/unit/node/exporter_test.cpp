// SPDX-License-Identifier: GPL-3.0-or-later
// The export queue: retries with backoff, dead letters, a retry through the REST API.
#include <gtest/gtest.h>

#include <set>

#include "node_fixture.h"

namespace curia::test {
namespace {

class Exports : public NodeParts {
 protected:
  // A processed job with two objects (SR, key image) to send to "pacs".
  int64_t Processed() {
    const int64_t id = Queue(4, 21);
    RunAll();
    EXPECT_EQ(Job(id).state, storage::JobState::kExporting);
    return id;
  }
  // Sends what is due now: how many attempts were made.
  int SendDue() {
    int n = 0;
    while (exporter_.SendNext(now())) ++n;
    return n;
  }
  std::set<std::string> OutputUids(int64_t id) {
    std::set<std::string> uids;
    for (const storage::OutputRow& o : store_->Outputs(id)) uids.insert(o.sop_instance_uid);
    return uids;
  }
};

TEST_F(Exports, APacsThatRefusesTwiceGetsTheObjectsAfterTheBackoff) {
  const int64_t id = Processed();
  orthanc_.RefuseExports(2);
  EXPECT_EQ(SendDue(), 2);  // both objects refused once
  EXPECT_EQ(orthanc_.RefusedExports(), 2);
  EXPECT_EQ(SendDue(), 0);  // waiting for the backoff (2 s)
  EXPECT_EQ(exporter_.WaitSeconds(now()), 1.0);  // sleeps at most 1 s at a time
  Advance(1.5);
  EXPECT_EQ(SendDue(), 0);
  EXPECT_DOUBLE_EQ(exporter_.WaitSeconds(now()), 0.5);
  Advance(0.5);
  EXPECT_EQ(SendDue(), 2);
  EXPECT_EQ(Job(id).state, storage::JobState::kDone);
  std::set<std::string> sent;
  for (const FakeOrthanc::Export& e : orthanc_.Exports()) {
    EXPECT_EQ(e.destination, "pacs");
    sent.insert(e.sop_instance_uid);
  }
  EXPECT_EQ(sent, OutputUids(id));
  for (const storage::ExportRow& e : store_->Exports(id)) {
    EXPECT_EQ(e.state, storage::ExportState::kDelivered);
    EXPECT_EQ(e.attempts, 1);  // failed attempts
  }
  EXPECT_EQ(store_->CountExportFailures(), 2);
  EXPECT_EQ(exporter_.WaitSeconds(now()), 1.0);  // nothing pending
}

TEST_F(Exports, APacsThatAlwaysRefusesDeadLettersTheJobAndARestRetrySendsItAgain) {
  const int64_t id = Processed();
  orthanc_.RefuseExports(-1);
  int attempts = 0;
  for (int i = 0; i < 10; ++i) {
    attempts += SendDue();
    Advance(10);  // BackoffSeconds [2, 10]
  }
  EXPECT_EQ(attempts, 2 * 3);  // two objects, Export.MaxAttempts 3 each
  storage::JobRow job = Job(id);
  EXPECT_EQ(job.state, storage::JobState::kDead);
  EXPECT_EQ(job.error.rfind("pacs: ", 0), 0u) << job.error;
  for (const storage::ExportRow& e : store_->Exports(id)) {
    EXPECT_EQ(e.state, storage::ExportState::kDead);
    EXPECT_EQ(e.attempts, 3);
    EXPECT_NE(e.last_error.find("association rejected"), std::string::npos) << e.last_error;
  }
  EXPECT_TRUE(orthanc_.Exports().empty());
  bool dead_counted = false;
  for (const auto& [name, value] : health_.Metrics()) {
    if (name == "curia_jobs_dead") dead_counted = value == 1;
  }
  EXPECT_TRUE(dead_counted);

  // The operator fixes the PACS and retries the job: its exports are pending again, due now.
  orthanc_.RefuseExports(0);
  const config::Json answer = CallJson("POST", "/jobs/" + std::to_string(id) + "/retry");
  EXPECT_EQ(config::Find(answer, "State")->asString(), "exporting");
  EXPECT_EQ(SendDue(), 2);
  EXPECT_EQ(Job(id).state, storage::JobState::kDone);
  EXPECT_EQ(orthanc_.Exports().size(), 2u);
}

// A node whose sender stops in the middle of a C-STORE (killed: no failure recorded, nothing
// released): Post throws what no handler catches.
struct StoppedMidSend {};
class StoppingOrthanc : public FakeOrthanc {
 public:
  std::string Post(const std::string&, const std::string&) override { throw StoppedMidSend{}; }
};

TEST_F(Exports, AnExportHeldByANodeThatStoppedIsSentByAnotherOnceItsLeaseEnds) {
  const int64_t id = Processed();
  StoppingOrthanc stopping;
  node::Exporter other(settings_, *store_, stopping, health_);  // the other node, same store
  EXPECT_THROW(other.SendNext(now()), StoppedMidSend);
  EXPECT_EQ(SendDue(), 1);  // the object the other node did not take
  // The taken one is the other node's for Queue.LeaseSeconds (30 s here), then anyone's.
  Advance(settings_.queue.lease_seconds - 1);
  EXPECT_EQ(SendDue(), 0);
  Advance(2);
  EXPECT_EQ(SendDue(), 1);
  EXPECT_EQ(Job(id).state, storage::JobState::kDone);
  EXPECT_EQ(orthanc_.Exports().size(), 2u);
}

}  // namespace
}  // namespace curia::test
