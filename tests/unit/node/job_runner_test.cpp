// SPDX-License-Identifier: GPL-3.0-or-later
// Job runners: claiming, loading the series from Orthanc with the real loader, the real worker
// pool (with a fixed model), results into the store, failures, supersession, lease recovery.
#include <gtest/gtest.h>

#include "node_fixture.h"

namespace curia::test {
namespace {

TEST_F(NodeParts, AJobRunsThroughThePoolAndItsResultsAreStored) {
  const int64_t id = Queue(6, 11);
  RunAll();
  const storage::JobRow job = Job(id);
  ASSERT_EQ(job.state, storage::JobState::kExporting) << job.error;
  EXPECT_EQ(job.attempts, 1);
  EXPECT_GT(job.progress_total, 0);
  EXPECT_EQ(job.progress_done, job.progress_total);
  EXPECT_EQ(job.model_digest, "fixed-backbone-digest");
  const config::Json findings = config::ParseJson(job.findings_json, "findings");
  EXPECT_EQ(config::Find(findings, "Slices")->asInt64(), 6);
  const config::Json& task = (*config::Find(findings, "Tasks"))[0];
  EXPECT_EQ(config::Find(task, "Task")->asString(), "bleed");
  EXPECT_NEAR(config::Find(task, "Probability")->asDouble(), 0.9, 1e-6);
  EXPECT_TRUE(config::Find(task, "Present")->asBool());

  // An SR and a key image (the finding is present), each to be sent to the rule's destination.
  std::vector<std::string> kinds;
  for (const storage::OutputRow& o : store_->Outputs(id)) kinds.push_back(o.kind);
  std::sort(kinds.begin(), kinds.end());
  EXPECT_EQ(kinds, (std::vector<std::string>{"SC", "SR"}));
  const std::vector<storage::ExportRow> exports = store_->Exports(id);
  ASSERT_EQ(exports.size(), 2u);
  for (const storage::ExportRow& e : exports) {
    EXPECT_EQ(e.destination, "pacs");
    EXPECT_EQ(e.state, storage::ExportState::kPending);
  }
  bool counted = false;
  for (const auto& [name, value] : health_.Metrics()) {
    if (name == "curia_job_seconds_count") counted = value == 1;
  }
  EXPECT_TRUE(counted);
}

TEST_F(NodeParts, OurOwnOutputsMakeNoJob) {
  const int64_t id = Queue(4, 12);
  RunAll();
  const storage::JobRow job = Job(id);
  ASSERT_EQ(job.state, storage::JobState::kExporting) << job.error;
  // The SR and the key image come back to Orthanc (a PACS sends them on, a user re-sends them).
  std::vector<std::string> own_series;
  for (const storage::OutputRow& o : store_->Outputs(id)) {
    orthanc_.Add(*store_->OutputBytes(o.id));
    own_series.push_back(o.series_uid);
  }
  std::vector<int64_t> jobs;
  const config::Json why = router_.RouteStudy(job.study_id, "", true, &jobs);
  EXPECT_EQ(jobs, (std::vector<int64_t>{id}));  // the phantom series again: the same job
  EXPECT_EQ(AllJobs().size(), 1u);
  int own = 0;
  for (const config::Json& s : *config::Find((*config::Find(why, "Rules"))[0], "Series")) {
    if (std::find(own_series.begin(), own_series.end(), config::Find(s, "SeriesInstanceUID")->asString()) == own_series.end()) continue;
    ++own;
    EXPECT_FALSE(config::Find(s, "Chosen")->asBool());
    EXPECT_NE(config::Dump(*config::Find(s, "Reasons"), -1).find("own output"), std::string::npos) << config::Dump(s, -1);
  }
  EXPECT_GE(own, 1);
}

TEST_F(NodeParts, ANewInstanceInAProcessedSeriesMakesAJobThatSupersedesTheOld) {
  const std::vector<phantom::PhantomInstance> files = PhantomFiles("CT", 5, 13);
  const FakeOrthanc::Ids ids = Send(files, 0, 4);
  std::vector<int64_t> first;
  router_.RouteStudy(ids.study, "", true, &first);
  ASSERT_EQ(first.size(), 1u);
  RunAll();
  ASSERT_EQ(Job(first[0]).state, storage::JobState::kExporting);

  Advance(120);
  Send(files, 4);
  router_.OnStable(false, ids.study);
  EXPECT_TRUE(router_.RouteNext(now()));
  const std::vector<storage::JobRow> jobs = AllJobs();
  ASSERT_EQ(jobs.size(), 2u);
  const int64_t second = jobs[1].id;
  EXPECT_NE(second, first[0]);
  EXPECT_EQ(jobs[1].instances, 5);
  RunAll();
  EXPECT_EQ(Job(second).state, storage::JobState::kExporting);
  const storage::JobRow old = Job(first[0]);
  EXPECT_EQ(old.state, storage::JobState::kSuperseded);
  EXPECT_EQ(old.superseded_by, second);
  for (const storage::ExportRow& e : store_->Exports(first[0])) EXPECT_EQ(e.state, storage::ExportState::kCancelled);
}

TEST_F(NodeParts, ASeriesGoneFromOrthancFailsTheJobForGood) {
  const int64_t id = Queue(4, 14);
  orthanc_.RemoveSeries(Job(id).series_id);
  RunAll();
  const storage::JobRow job = Job(id);
  EXPECT_EQ(job.state, storage::JobState::kFailed);
  EXPECT_EQ(job.attempts, 1);
  EXPECT_NE(job.error.find("is no longer in Orthanc"), std::string::npos) << job.error;
}

TEST_F(NodeParts, AnUnavailableOrthancQueuesTheJobAgainUntilMaxAttempts) {
  const int64_t id = Queue(4, 15);
  orthanc_.SetUnavailable(true);
  runner_.StartPool();
  EXPECT_TRUE(runner_.RunNext());
  storage::JobRow job = Job(id);
  EXPECT_EQ(job.state, storage::JobState::kQueued);  // retryable
  EXPECT_EQ(job.attempts, 1);
  EXPECT_TRUE(runner_.RunNext());
  job = Job(id);
  EXPECT_EQ(job.state, storage::JobState::kFailed);  // MaxAttempts 2
  EXPECT_EQ(job.attempts, 2);
  EXPECT_NE(job.error.find("unavailable"), std::string::npos) << job.error;
  EXPECT_FALSE(runner_.RunNext());
  runner_.StopPool();
}

TEST_F(NodeParts, AJobWhoseLeaseExpiredIsQueuedAgainUsingAnAttempt) {
  const int64_t id = Queue(4, 16);
  // A runner that claimed the job and hung.
  ASSERT_TRUE(store_->Claim(now(), settings_.queue.lease_seconds));
  Advance(settings_.queue.lease_seconds - 1);
  EXPECT_EQ(runner_.RecoverExpiredLeases(), 0);
  Advance(2);
  EXPECT_EQ(runner_.RecoverExpiredLeases(), 1);
  storage::JobRow job = Job(id);
  EXPECT_EQ(job.state, storage::JobState::kQueued);
  EXPECT_EQ(job.attempts, 1);
  const std::vector<storage::AuditRow> audit = store_->Audit(id);
  EXPECT_EQ(audit.back().event, "recovered");
  // The second (last) attempt hangs too: failed.
  ASSERT_TRUE(store_->Claim(now(), settings_.queue.lease_seconds));
  Advance(settings_.queue.lease_seconds + 1);
  EXPECT_EQ(runner_.RecoverExpiredLeases(), 1);
  job = Job(id);
  EXPECT_EQ(job.state, storage::JobState::kFailed);
  EXPECT_NE(job.error.find("hung"), std::string::npos) << job.error;
}

TEST_F(NodeParts, AJobsLeaseIsRenewedWhileItsSeriesIsRead) {
  const int64_t id = Queue(4, 18);
  // A busy Orthanc: each instance takes 10 s to read, so reading the series (headers, then every
  // slice's pixels) takes longer than the 30 s lease. The router's recovery runs meanwhile.
  int recovered = 0, reads = 0;
  orthanc_.OnFileRead([&] {
    Advance(10);
    ++reads;
    recovered += runner_.RecoverExpiredLeases();
  });
  RunAll();
  EXPECT_GT(reads * 10, settings_.queue.lease_seconds);
  EXPECT_EQ(recovered, 0);
  const storage::JobRow job = Job(id);
  EXPECT_EQ(job.state, storage::JobState::kExporting) << job.error;
  EXPECT_EQ(job.attempts, 1);
}

// This node is paused while it reads the series, past its lease: another node recovers the job,
// claims it and stores its result. When this node resumes, its renewal is refused: it stops, writes
// nothing, audits "lease-lost", and the other node's result stays.
TEST_F(NodeParts, ALostLeaseIsAuditedAndTheTakeoversResultStays) {
  const int64_t id = Queue(4, 19);
  bool paused = false;
  orthanc_.OnFileRead([&] {
    if (paused) return;
    paused = true;
    Advance(settings_.queue.lease_seconds + 1);
    ASSERT_EQ(store_->RecoverExpiredLeases(now(), 2), 1);  // any node
    const std::optional<storage::JobRow> other = store_->Claim(now(), 30);
    ASSERT_TRUE(other);
    ASSERT_TRUE(store_->Complete(storage::ClaimOf(*other), R"({"node": "other"})", "{}", "d", {}, now()));
  });
  RunAll();
  const storage::JobRow job = Job(id);
  EXPECT_EQ(job.state, storage::JobState::kDone);
  EXPECT_EQ(job.findings_json, R"({"node": "other"})");
  EXPECT_EQ(job.attempts, 2);
  EXPECT_TRUE(store_->Outputs(id).empty());
  const std::vector<storage::AuditRow> audit = store_->Audit(id);
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit.back().event, "lease-lost");
  EXPECT_EQ(audit.back().detail, "attempt 1: stopped before processing, its lease was lost (the job is done, attempt 2)");
}

TEST_F(NodeParts, AnInterruptedJobIsQueuedAgainWithoutUsingAnAttempt) {
  const int64_t id = Queue(4, 17);
  ASSERT_TRUE(store_->Claim(now(), settings_.queue.lease_seconds));  // running when Orthanc stopped
  EXPECT_EQ(runner_.RecoverInterrupted(), 1);  // at start-up, whatever the lease says
  storage::JobRow job = Job(id);
  EXPECT_EQ(job.state, storage::JobState::kQueued);
  EXPECT_EQ(job.attempts, 0);
  // Interruptions are counted apart from attempts: the job still runs to its end.
  RunAll();
  job = Job(id);
  EXPECT_EQ(job.state, storage::JobState::kExporting) << job.error;
  EXPECT_EQ(job.attempts, 1);
}

}  // namespace
}  // namespace curia::test
