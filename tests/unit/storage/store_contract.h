// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The Store's contract as typed tests, run against every implementation: each test binary
// includes this header once and instantiates the suite with its backends (store_test.cpp: SQLite;
// pg_store_test.cpp: PostgreSQL).
//
//   struct MyBackend {
//     static bool Available(std::string* why);   // false: every test skips, saying why
//     MyBackend();                               // a fresh, empty database
//     std::unique_ptr<Store> Open();             // another connection to that database
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Mine, StoreContract, ::testing::Types<MyBackend>);
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "curia/config/error.h"
#include "curia/storage/store.h"

namespace curia::storage {
namespace contract {

constexpr double kLease = 60;  // export lease in these tests

inline NewJob MakeJob(const std::string& key, int priority = 1, const std::string& series_uid = "1.2.3.4") {
  NewJob j;
  j.idempotency_key = key;
  j.study_id = "study-" + key;
  j.study_uid = "1.2.3";
  j.series_id = "series-" + key;
  j.series_uid = series_uid;
  j.rule = "ct-head";
  j.tasks = {"ich", "fracture"};
  j.priority = priority;
  j.outputs = {"SR", "SC"};
  j.destinations = {"PACS"};
  j.instances = 120;
  return j;
}

inline NewOutput MakeOutput(const std::string& kind, const std::string& uid, std::string bytes = "DICM\0bytes") {
  NewOutput o;
  o.kind = kind;
  o.sop_class_uid = kind == "SR" ? "1.2.840.10008.5.1.4.1.1.88.22" : "1.2.840.10008.5.1.4.1.1.7";
  o.sop_instance_uid = uid;
  o.series_uid = "9.9." + uid;
  o.bytes = std::move(bytes);
  return o;
}

inline std::vector<std::string> Events(const std::vector<AuditRow>& rows) {
  std::vector<std::string> events;
  for (const AuditRow& r : rows) events.push_back(r.event);
  return events;
}

// The claim that owns the job now (its runner's): what a runner that still holds its lease names.
inline JobClaim Current(Store& store, int64_t job_id) {
  const std::optional<JobRow> job = store.GetJob(job_id);
  return {job_id, job ? job->owner : ""};
}

template <typename Backend>
class StoreContract : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!Backend::Available(&why)) GTEST_SKIP() << why;
    backend_ = std::make_unique<Backend>();
  }
  std::unique_ptr<Store> Open() { return backend_->Open(); }

  std::unique_ptr<Backend> backend_;
};
TYPED_TEST_SUITE_P(StoreContract);

TYPED_TEST_P(StoreContract, UnroutedStudies) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  store.RecordArrival("quiet", "A", "B", 10);
  store.RecordArrival("busy", "A", "B", 50);
  store.RecordArrival("routed", "A", "B", 10);
  store.MarkRouted("routed", 20);
  store.RecordArrival("again", "A", "B", 10);
  store.MarkRouted("again", 20);
  store.RecordArrival("again", "A", "B", 25);  // arrived after routing
  EXPECT_EQ(store.UnroutedStudies(40), (std::vector<std::string>{"quiet", "again"}));
  EXPECT_EQ(store.GetArrival("routed")->routed_at, 20);
}

TYPED_TEST_P(StoreContract, EnqueueIsIdempotent) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  const auto [id, inserted] = store.Enqueue(MakeJob("k1"), 1);
  EXPECT_TRUE(inserted);
  const auto [again, inserted_again] = store.Enqueue(MakeJob("k1", 0, "other"), 2);
  EXPECT_FALSE(inserted_again);
  EXPECT_EQ(again, id);
  EXPECT_EQ(store.CountJobs({}), 1);
  EXPECT_EQ(Events(store.Audit(id)), (std::vector<std::string>{"queued"}));
  EXPECT_EQ(store.GetJob(id)->priority, 1);  // the first one is kept
}

TYPED_TEST_P(StoreContract, ClaimsByPriorityThenAge) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  const int64_t off_peak = store.Enqueue(MakeJob("off-peak", 2, "s1"), 1).first;
  const int64_t routine_new = store.Enqueue(MakeJob("routine-new", 1, "s2"), 5).first;
  const int64_t routine_old = store.Enqueue(MakeJob("routine-old", 1, "s3"), 3).first;
  const int64_t stat = store.Enqueue(MakeJob("stat", 0, "s4"), 9).first;
  std::vector<int64_t> order;
  while (std::optional<JobRow> job = store.Claim(100, 60)) {
    EXPECT_EQ(job->state, JobState::kRunning);
    EXPECT_EQ(job->attempts, 1);
    EXPECT_EQ(job->started_at, 100);
    EXPECT_EQ(job->lease_until, 160);
    order.push_back(job->id);
  }
  EXPECT_EQ(order, (std::vector<int64_t>{stat, routine_old, routine_new, off_peak}));
  EXPECT_EQ(Events(store.Audit(stat)), (std::vector<std::string>{"queued", "started"}));
}

TYPED_TEST_P(StoreContract, LeaseRenewalAndExpiry) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  const int64_t id = store.Enqueue(MakeJob("k1"), 0).first;
  const std::optional<JobRow> claimed = store.Claim(10, 60);
  ASSERT_TRUE(claimed);
  EXPECT_TRUE(store.RenewLease(ClaimOf(*claimed), 200));
  EXPECT_EQ(store.GetJob(id)->lease_until, 200);
  EXPECT_EQ(store.RecoverExpiredLeases(150, 3), 0);  // still leased
  EXPECT_EQ(store.RecoverExpiredLeases(201, 3), 1);
  JobRow job = *store.GetJob(id);
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.lease_until, 0);
  EXPECT_FALSE(store.RenewLease(ClaimOf(*claimed), 300));  // not running any more

  // Attempts 2 and 3 also expire: out of attempts -> failed.
  ASSERT_TRUE(store.Claim(300, 10));
  EXPECT_EQ(store.RecoverExpiredLeases(311, 3), 1);
  ASSERT_TRUE(store.Claim(400, 10));
  EXPECT_EQ(store.GetJob(id)->attempts, 3);
  EXPECT_EQ(store.RecoverExpiredLeases(411, 3), 1);
  job = *store.GetJob(id);
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_NE(job.error.find("lease expired"), std::string::npos) << job.error;
  EXPECT_FALSE(store.Claim(500, 10));
  EXPECT_EQ(Events(store.Audit(id)), (std::vector<std::string>{"queued", "started", "recovered", "started",
                                                               "recovered", "started", "recovered"}));
}

// At start-up the node takes back everything a previous process left running, leased or not, and
// gives the interrupted attempt back: being killed is not the job's fault.
TYPED_TEST_P(StoreContract, RecoversEveryRunningJobAtStartUp) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  const int64_t id = store.Enqueue(MakeJob("k1"), 0).first;
  ASSERT_TRUE(store.Claim(10, 600));
  EXPECT_EQ(store.GetJob(id)->attempts, 1);
  EXPECT_EQ(store.RecoverExpiredLeases(20, 3), 0);  // its lease still holds
  EXPECT_EQ(store.RecoverExpiredLeases(20, 3, true), 1);
  const JobRow job = *store.GetJob(id);
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.attempts, 0);
  const std::vector<AuditRow> audit = store.Audit(id);
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit.back().event, "recovered");
  EXPECT_EQ(audit.back().at, 20);
  EXPECT_EQ(audit.back().detail, "(interrupted by Orthanc stopping, 1 time of 10): queued again");
}

// More restarts than Queue.MaxAttempts under the same job do not fail it (the 20-kill reliability
// run); a job under which Orthanc stopped kMaxInterruptions times does fail, with the reason.
TYPED_TEST_P(StoreContract, InterruptionsDoNotUseUpAttemptsButAreLimited) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  const int64_t id = store.Enqueue(MakeJob("k1"), 0).first;
  double now = 10;
  for (int i = 1; i < Store::kMaxInterruptions; ++i) {
    ASSERT_TRUE(store.Claim(now, 600)) << i;
    EXPECT_EQ(store.RecoverExpiredLeases(now + 1, 3, true), 1);
    ASSERT_EQ(store.GetJob(id)->state, JobState::kQueued) << i;
    now += 10;
  }
  // A real failure still has its full attempts.
  ASSERT_TRUE(store.Claim(now, 600));
  store.Fail(Current(store, id), "device busy", true, 3, now + 1);
  EXPECT_EQ(store.GetJob(id)->state, JobState::kQueued);
  ASSERT_TRUE(store.Claim(now + 2, 600));
  EXPECT_EQ(store.GetJob(id)->attempts, 2);
  EXPECT_EQ(store.RecoverExpiredLeases(now + 3, 3, true), 1);
  const JobRow job = *store.GetJob(id);
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_EQ(job.error,
            "(interrupted by Orthanc stopping, 10 times of 10): Orthanc stopped each time this job ran; it may be "
            "what makes Orthanc stop (see Orthanc's log)");
  EXPECT_EQ(store.Audit(id).back().detail, "(interrupted by Orthanc stopping, 10 times of 10): failed, interrupted too often");
  // Retried by a user: it runs again.
  EXPECT_TRUE(store.Retry(id, now + 4));
  EXPECT_TRUE(store.Claim(now + 5, 600));
}

TYPED_TEST_P(StoreContract, RecordsSeveralArrivalsAtOnce) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  store.RecordArrival("s1", "MODALITY", "CURIA", 10);
  store.RecordArrival("s1", "MODALITY", "CURIA", 20, 5);
  const std::optional<Store::Arrival> a = store.GetArrival("s1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->instances, 6);
  EXPECT_EQ(a->first_at, 10);
  EXPECT_EQ(a->last_at, 20);
}

TYPED_TEST_P(StoreContract, CompleteExportDeliverDone) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  NewJob nj = MakeJob("k1");
  nj.destinations = {"PACS", "ARCHIVE"};
  const int64_t id = store.Enqueue(nj, 0).first;
  ASSERT_TRUE(store.Claim(10, 60));
  store.SetProgress(Current(store, id), 3, 7);
  EXPECT_EQ(store.GetJob(id)->progress_done, 3);
  const std::string sr_bytes("DICM\0\x01\x02sr", 9);
  ASSERT_TRUE(store.Complete(Current(store, id), R"({"ich": 0.9})", R"({"total_s": 1.5})", "sha256:abc",
                             {MakeOutput("SR", "7.1", sr_bytes), MakeOutput("SC", "7.2")}, 20));
  JobRow job = *store.GetJob(id);
  EXPECT_EQ(job.state, JobState::kExporting);
  EXPECT_EQ(job.findings_json, R"({"ich": 0.9})");
  EXPECT_EQ(job.timings_json, R"({"total_s": 1.5})");
  EXPECT_EQ(job.model_digest, "sha256:abc");
  EXPECT_EQ(job.finished_at, 20);
  EXPECT_EQ(job.progress_done, 7);
  EXPECT_EQ(job.progress_total, 7);
  EXPECT_EQ(job.lease_until, 0);
  EXPECT_FALSE(store.Complete(Current(store, id), "{}", "{}", "x", {}, 21));  // no longer running

  const std::vector<OutputRow> outputs = store.Outputs(id);
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].kind, "SR");
  EXPECT_EQ(outputs[0].size, 9);
  EXPECT_EQ(store.OutputBytes(outputs[0].id), sr_bytes);
  EXPECT_FALSE(store.OutputBytes(9999));
  std::vector<ExportRow> exports = store.Exports(id);
  ASSERT_EQ(exports.size(), 4u);  // 2 objects x 2 destinations
  for (const ExportRow& e : exports) {
    EXPECT_EQ(e.state, ExportState::kPending);
    EXPECT_EQ(e.next_at, 20);
  }
  EXPECT_EQ(store.NextExportDue(), 20.0);
  EXPECT_FALSE(store.NextExport(19, kLease));

  for (int i = 0; i < 4; ++i) {
    std::optional<ExportTask> task = store.NextExport(30, kLease);
    ASSERT_TRUE(task);
    EXPECT_EQ(task->row.id, exports[i].id);  // oldest first
    if (task->row.output_id == outputs[0].id) {
      EXPECT_EQ(task->sop_instance_uid, "7.1");
      EXPECT_EQ(task->bytes, sr_bytes);
    }
    EXPECT_EQ(store.GetJob(id)->state, JobState::kExporting);
    store.ExportDelivered(task->row.id, 31 + i);
  }
  EXPECT_FALSE(store.NextExport(100, kLease));
  EXPECT_FALSE(store.NextExportDue());
  job = *store.GetJob(id);
  EXPECT_EQ(job.state, JobState::kDone);
  exports = store.Exports(id);
  EXPECT_EQ(exports[0].state, ExportState::kDelivered);
  EXPECT_EQ(exports[0].delivered_at, 31);
  const std::vector<AuditRow> audit = store.Audit(id);
  EXPECT_EQ(Events(audit), (std::vector<std::string>{"queued", "started", "finished", "exported", "exported",
                                                     "exported", "exported"}));
  EXPECT_NE(audit[3].detail.find("PACS"), std::string::npos) << audit[3].detail;
  EXPECT_NE(audit[3].detail.find("7.1"), std::string::npos) << audit[3].detail;
  EXPECT_EQ(store.StudyAudit("study-k1").size(), audit.size());
}

TYPED_TEST_P(StoreContract, NothingToExportIsDone) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  NewJob nj = MakeJob("k1");
  nj.destinations.clear();
  const int64_t id = store.Enqueue(nj, 0).first;
  ASSERT_TRUE(store.Claim(10, 60));
  ASSERT_TRUE(store.Complete(Current(store, id), "{}", "{}", "d", {MakeOutput("SR", "7.1")}, 20));
  EXPECT_EQ(store.GetJob(id)->state, JobState::kDone);
  EXPECT_TRUE(store.Exports(id).empty());
  EXPECT_EQ(store.Outputs(id).size(), 1u);
}

TYPED_TEST_P(StoreContract, FailRetriesThenGivesUp) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  const int64_t id = store.Enqueue(MakeJob("k1"), 0).first;
  ASSERT_TRUE(store.Claim(10, 60));
  store.Fail(Current(store, id), "CUDA out of memory", true, 2, 11);
  JobRow job = *store.GetJob(id);
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.error, "CUDA out of memory");
  EXPECT_EQ(job.lease_until, 0);
  ASSERT_TRUE(store.Claim(12, 60));
  store.Fail(Current(store, id), "CUDA out of memory", true, 2, 13);
  EXPECT_EQ(store.GetJob(id)->state, JobState::kFailed);
  const std::vector<AuditRow> audit = store.Audit(id);
  ASSERT_EQ(audit.back().event, "failed");
  EXPECT_NE(audit.back().detail.find("CUDA out of memory"), std::string::npos);
  EXPECT_NE(audit.back().detail.find("not retried"), std::string::npos) << audit.back().detail;
  EXPECT_NE(audit[2].detail.find("will be retried"), std::string::npos) << audit[2].detail;

  // A permanent failure is not retried even with attempts left; Retry queues it with attempts reset.
  const int64_t other = store.Enqueue(MakeJob("k2", 1, "s2"), 0).first;
  ASSERT_TRUE(store.Claim(20, 60));
  store.Fail(Current(store, other), "unsupported series", false, 5, 21);
  EXPECT_EQ(store.GetJob(other)->state, JobState::kFailed);
  EXPECT_TRUE(store.Retry(other, 22));
  job = *store.GetJob(other);
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.attempts, 0);
  EXPECT_EQ(job.error, "");
  EXPECT_FALSE(store.Retry(other, 23));  // queued: nothing to retry
  EXPECT_EQ(store.Audit(other).back().event, "retried");

  EXPECT_THROW(store.Fail(Current(store, 9999), "x", true, 3, 30), Error);
}

TYPED_TEST_P(StoreContract, ExportBackoffDeadLetterAndRetry) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  const int64_t id = store.Enqueue(MakeJob("k1"), 0).first;
  ASSERT_TRUE(store.Claim(10, 60));
  ASSERT_TRUE(store.Complete(Current(store, id), "{}", "{}", "d", {MakeOutput("SR", "7.1")}, 100));
  ExportPolicy policy;
  policy.max_attempts = 4;
  policy.backoff_min_s = 2;
  policy.backoff_max_s = 5;
  const int64_t export_id = store.Exports(id).at(0).id;

  double now = 100;
  const double expected_delays[] = {2, 4, 5};  // min * 2^(n-1), capped at max
  for (int attempt = 1; attempt <= 3; ++attempt) {
    std::optional<ExportTask> task = store.NextExport(now, kLease);
    ASSERT_TRUE(task) << attempt;
    store.ExportFailed(task->claim(), "association rejected", policy, now);
    const ExportRow row = store.Exports(id).at(0);
    EXPECT_EQ(row.state, ExportState::kPending);
    EXPECT_EQ(row.attempts, attempt);
    EXPECT_EQ(row.last_error, "association rejected");
    EXPECT_DOUBLE_EQ(row.next_at, now + expected_delays[attempt - 1]) << attempt;
    EXPECT_FALSE(store.NextExport(row.next_at - 0.5, kLease));
    now = row.next_at;
  }
  EXPECT_EQ(store.Audit(id).back().event, "export-failed");
  const std::optional<ExportTask> last = store.NextExport(now, kLease);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->row.id, export_id);
  EXPECT_TRUE(store.ExportFailed(last->claim(), "association rejected", policy, now));
  EXPECT_EQ(store.Exports(id).at(0).state, ExportState::kDead);
  JobRow job = *store.GetJob(id);
  EXPECT_EQ(job.state, JobState::kDead);
  EXPECT_EQ(job.error, "PACS: association rejected");
  EXPECT_EQ(store.Audit(id).back().event, "dead");
  EXPECT_EQ(store.CountExportFailures(), 4);
  EXPECT_FALSE(store.NextExport(now + 1000, kLease));

  EXPECT_TRUE(store.Retry(id, 500));
  job = *store.GetJob(id);
  EXPECT_EQ(job.state, JobState::kExporting);
  EXPECT_EQ(job.error, "");
  ExportRow row = store.Exports(id).at(0);
  EXPECT_EQ(row.state, ExportState::kPending);
  EXPECT_EQ(row.attempts, 0);
  EXPECT_EQ(row.next_at, 500);
  std::optional<ExportTask> task = store.NextExport(500, kLease);
  ASSERT_TRUE(task);
  store.ExportDelivered(task->row.id, 501);
  EXPECT_EQ(store.GetJob(id)->state, JobState::kDone);
  EXPECT_EQ(store.CountExportFailures(), 4);
  EXPECT_EQ(Events(store.Audit(id)),
            (std::vector<std::string>{"queued", "started", "finished", "export-failed", "export-failed",
                                      "export-failed", "dead", "retried", "exported"}));
}

// One export out of attempts does not stop the job's others: the job is dead only once nothing is
// pending, and a retry sends again only what did not arrive.
TYPED_TEST_P(StoreContract, OneDeadExportLetsTheOthersFinish) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  const int64_t id = store.Enqueue(MakeJob("k1"), 0).first;
  ASSERT_TRUE(store.Claim(10, 60));
  ASSERT_TRUE(store.Complete(Current(store, id), "{}", "{}", "d", {MakeOutput("SR", "7.1"), MakeOutput("SC", "7.2")}, 100));
  ExportPolicy policy;
  policy.max_attempts = 1;
  std::optional<ExportTask> first = store.NextExport(100, kLease);
  ASSERT_TRUE(first);
  store.ExportFailed(first->claim(), "association rejected", policy, 101);
  EXPECT_EQ(store.GetJob(id)->state, JobState::kExporting);  // the SC is still pending
  std::optional<ExportTask> second = store.NextExport(102, kLease);
  ASSERT_TRUE(second);
  EXPECT_NE(second->row.id, first->row.id);
  store.ExportDelivered(second->row.id, 103);
  JobRow job = *store.GetJob(id);
  EXPECT_EQ(job.state, JobState::kDead);
  EXPECT_EQ(job.error, "PACS: association rejected");

  EXPECT_TRUE(store.Retry(id, 200));
  std::optional<ExportTask> again = store.NextExport(200, kLease);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->row.id, first->row.id);  // only the one that did not arrive
  store.ExportDelivered(again->row.id, 201);
  EXPECT_EQ(store.GetJob(id)->state, JobState::kDone);
  EXPECT_FALSE(store.NextExport(300, kLease));
}

TYPED_TEST_P(StoreContract, Cancel) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  // Queued -> cancelled: never claimed.
  const int64_t queued = store.Enqueue(MakeJob("q", 1, "s1"), 0).first;
  EXPECT_TRUE(store.Cancel(queued, 1));
  EXPECT_EQ(store.GetJob(queued)->state, JobState::kCancelled);
  EXPECT_FALSE(store.Claim(2, 60));
  EXPECT_FALSE(store.Cancel(queued, 3));  // already cancelled

  // Running -> cancelled: the worker learns it from RenewLease; its Complete and Fail are ignored.
  const int64_t running = store.Enqueue(MakeJob("r", 1, "s2"), 0).first;
  const std::optional<JobRow> claimed = store.Claim(10, 60);
  ASSERT_TRUE(claimed);
  EXPECT_TRUE(store.Cancel(running, 11));
  EXPECT_FALSE(store.RenewLease(ClaimOf(*claimed), 100));
  EXPECT_FALSE(store.Complete(ClaimOf(*claimed), "{}", "{}", "d", {MakeOutput("SR", "7.1")}, 12));
  EXPECT_TRUE(store.Outputs(running).empty());
  EXPECT_FALSE(store.Fail(ClaimOf(*claimed), "stopped", true, 3, 12));
  EXPECT_EQ(store.GetJob(running)->state, JobState::kCancelled);
  EXPECT_EQ(store.RecoverExpiredLeases(1000, 3), 0);
  // Retry of a job cancelled before it had a result: queued again.
  EXPECT_TRUE(store.Retry(running, 13));
  EXPECT_EQ(store.GetJob(running)->state, JobState::kQueued);

  // Exporting -> cancelled: pending exports cancelled, none is due; Retry resumes exporting.
  const int64_t exporting = store.Enqueue(MakeJob("e", 0, "s3"), 0).first;
  ASSERT_EQ(store.Claim(20, 60)->id, exporting);
  ASSERT_TRUE(store.Complete(Current(store, exporting), "{}", "{}", "d", {MakeOutput("SR", "8.1")}, 21));
  EXPECT_TRUE(store.Cancel(exporting, 22));
  EXPECT_EQ(store.Exports(exporting).at(0).state, ExportState::kCancelled);
  EXPECT_FALSE(store.NextExport(1000, kLease));
  EXPECT_TRUE(store.Retry(exporting, 23));
  EXPECT_EQ(store.GetJob(exporting)->state, JobState::kExporting);
  EXPECT_EQ(store.Exports(exporting).at(0).state, ExportState::kPending);
  store.ExportDelivered(store.NextExport(23, kLease)->row.id, 24);
  EXPECT_EQ(store.GetJob(exporting)->state, JobState::kDone);
  EXPECT_FALSE(store.Cancel(exporting, 25));  // done
  EXPECT_FALSE(store.Cancel(9999, 25));
  EXPECT_EQ(store.Audit(queued).back().event, "cancelled");
}

TYPED_TEST_P(StoreContract, SupersedesQueuedJobOfSameRuleAndSeries) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  const int64_t old_job = store.Enqueue(MakeJob("v1", 1, "1.2.3.4"), 0).first;
  const int64_t other_series = store.Enqueue(MakeJob("v1-other", 1, "5.6.7"), 0).first;
  NewJob other_rule_job = MakeJob("v1-rule", 1, "1.2.3.4");
  other_rule_job.rule = "manual";
  const int64_t other_rule = store.Enqueue(other_rule_job, 0).first;
  const int64_t new_job = store.Enqueue(MakeJob("v2", 1, "1.2.3.4"), 5).first;
  JobRow old_row = *store.GetJob(old_job);
  EXPECT_EQ(old_row.state, JobState::kSuperseded);
  EXPECT_EQ(old_row.superseded_by, new_job);
  EXPECT_EQ(store.GetJob(other_series)->state, JobState::kQueued);
  EXPECT_EQ(store.GetJob(other_rule)->state, JobState::kQueued);
  EXPECT_EQ(store.GetJob(new_job)->state, JobState::kQueued);
  EXPECT_EQ(Events(store.Audit(old_job)), (std::vector<std::string>{"queued", "superseded"}));
  EXPECT_FALSE(store.Cancel(old_job, 6));
  EXPECT_FALSE(store.Retry(old_job, 6));
}

// Region jobs (issue 17): their SEG/RTSTRUCT instance and scope round-trip; supersession compares the
// scope besides rule and series, so a region job never replaces the series' own results (nor one of
// another region object series), and a newer object of the same scope replaces the older's.
TYPED_TEST_P(StoreContract, RegionJobsSupersedeOnlyTheirOwnScope) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  const int64_t whole = store.Enqueue(MakeJob("whole"), 0).first;
  ASSERT_EQ(store.Claim(1, 60)->id, whole);
  ASSERT_TRUE(store.Complete(Current(store, whole), "{}", "{}", "d", {}, 2));
  ASSERT_EQ(store.GetJob(whole)->state, JobState::kDone);
  auto region_job = [](const std::string& key, const std::string& instance, const std::string& scope) {
    NewJob j = MakeJob(key);
    j.tasks = {"organ"};
    j.region_instance = instance;
    j.region_scope = scope;
    return j;
  };
  const int64_t seg1 = store.Enqueue(region_job("seg1", "inst-seg1", "regions-only:SEG:1.9.1"), 3).first;
  const int64_t rt = store.Enqueue(region_job("rt", "inst-rt", "regions-only:RTSTRUCT:1.9.2"), 3).first;
  const JobRow row = *store.GetJob(seg1);
  EXPECT_EQ(row.region_instance, "inst-seg1");
  EXPECT_EQ(row.region_scope, "regions-only:SEG:1.9.1");
  EXPECT_EQ(store.GetJob(whole)->region_instance, "");
  EXPECT_EQ(store.GetJob(whole)->region_scope, "");
  JobFilter all;
  bool listed = false;
  for (const JobRow& j : store.Jobs(all)) listed |= j.id == rt && j.region_instance == "inst-rt";
  EXPECT_TRUE(listed);
  // Queued region jobs of other scopes leave the whole-volume job and each other alone.
  EXPECT_EQ(store.GetJob(whole)->state, JobState::kDone);
  EXPECT_EQ(store.GetJob(seg1)->state, JobState::kQueued);
  // A second SEG of the same SEG series: the queued first one is superseded, the RTSTRUCT's is not.
  const int64_t seg2 = store.Enqueue(region_job("seg2", "inst-seg2", "regions-only:SEG:1.9.1"), 4).first;
  EXPECT_EQ(store.GetJob(seg1)->state, JobState::kSuperseded);
  EXPECT_EQ(store.GetJob(seg1)->superseded_by, seg2);
  EXPECT_EQ(store.GetJob(rt)->state, JobState::kQueued);
  // Completing region jobs supersedes no whole-volume job.
  for (int i = 0; i < 2; ++i) {
    const std::optional<JobRow> claimed = store.Claim(5 + i, 60);
    ASSERT_TRUE(claimed);
    EXPECT_FALSE(claimed->region_instance.empty());
    ASSERT_TRUE(store.Complete(ClaimOf(*claimed), "{}", "{}", "d", {}, 6 + i));
  }
  EXPECT_EQ(store.GetJob(whole)->state, JobState::kDone);
  EXPECT_EQ(store.GetJob(rt)->state, JobState::kDone);
  EXPECT_EQ(store.GetJob(seg2)->state, JobState::kDone);
  // A newer whole-volume job completes: the region jobs stay.
  const int64_t whole2 = store.Enqueue(MakeJob("whole2"), 10).first;
  ASSERT_EQ(store.Claim(11, 60)->id, whole2);
  ASSERT_TRUE(store.Complete(Current(store, whole2), "{}", "{}", "d", {}, 12));
  EXPECT_EQ(store.GetJob(whole)->state, JobState::kSuperseded);
  EXPECT_EQ(store.GetJob(seg2)->state, JobState::kDone);
  EXPECT_EQ(store.GetJob(rt)->state, JobState::kDone);
}

TYPED_TEST_P(StoreContract, SupersedesDoneAndExportingJobsWhenNewerCompletes) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  ExportPolicy policy;
  // v1: done (delivered).
  const int64_t v1 = store.Enqueue(MakeJob("v1"), 0).first;
  ASSERT_TRUE(store.Claim(1, 60));
  ASSERT_TRUE(store.Complete(Current(store, v1), "{}", "{}", "d", {MakeOutput("SR", "1.1")}, 2));
  store.ExportDelivered(store.NextExport(2, kLease)->row.id, 3);
  ASSERT_EQ(store.GetJob(v1)->state, JobState::kDone);
  // v2 completes: v1 (done) is superseded by it, its delivered export stays so.
  const int64_t v2 = store.Enqueue(MakeJob("v2"), 10).first;
  ASSERT_TRUE(store.Claim(11, 60));
  ASSERT_TRUE(store.Complete(Current(store, v2), "{}", "{}", "d", {MakeOutput("SR", "2.1")}, 12));
  JobRow row = *store.GetJob(v1);
  EXPECT_EQ(row.state, JobState::kSuperseded);
  EXPECT_EQ(row.superseded_by, v2);
  EXPECT_EQ(store.Audit(v1).back().event, "superseded");
  EXPECT_EQ(store.Exports(v1).at(0).state, ExportState::kDelivered);
  // v2 is still exporting (its export failed once) when v3 completes: v2 is superseded, its
  // pending export cancelled.
  store.ExportFailed(store.NextExport(12, kLease)->claim(), "timeout", policy, 12);
  ASSERT_EQ(store.GetJob(v2)->state, JobState::kExporting);
  const int64_t v3 = store.Enqueue(MakeJob("v3"), 20).first;
  ASSERT_EQ(store.Claim(21, 60)->id, v3);
  ASSERT_TRUE(store.Complete(Current(store, v3), "{}", "{}", "d", {MakeOutput("SR", "3.1")}, 22));
  row = *store.GetJob(v2);
  EXPECT_EQ(row.state, JobState::kSuperseded);
  EXPECT_EQ(row.superseded_by, v3);
  EXPECT_EQ(store.Exports(v2).at(0).state, ExportState::kCancelled);
  EXPECT_NE(store.Audit(v2).back().detail.find("1 pending export cancelled"), std::string::npos)
      << store.Audit(v2).back().detail;
  EXPECT_EQ(store.GetJob(v1)->superseded_by, v2);  // unchanged
  const std::optional<ExportTask> task = store.NextExport(1000, kLease);
  ASSERT_TRUE(task);
  EXPECT_EQ(task->row.job_id, v3);
  store.ExportDelivered(task->row.id, 1000);
  EXPECT_EQ(store.GetJob(v3)->state, JobState::kDone);
  EXPECT_FALSE(store.NextExport(2000, kLease));
}

TYPED_TEST_P(StoreContract, SurvivesReopenMidFlight) {
  int64_t id = 0;
  {
    std::unique_ptr<Store> owned = this->Open();
    Store& store = *owned;
    id = store.Enqueue(MakeJob("k1"), 0).first;
    ASSERT_TRUE(store.Claim(10, 60));
    // Destroyed while the job runs: as after a crash, nothing completes it.
  }
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  JobRow job = *store.GetJob(id);
  EXPECT_EQ(job.state, JobState::kRunning);
  EXPECT_EQ(job.lease_until, 70);
  EXPECT_EQ(job.attempts, 1);
  EXPECT_EQ(store.RecoverExpiredLeases(60, 3), 0);
  EXPECT_EQ(store.RecoverExpiredLeases(71, 3), 1);
  EXPECT_EQ(store.GetJob(id)->state, JobState::kQueued);
  const std::optional<JobRow> again = store.Claim(72, 60);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, id);
  EXPECT_EQ(again->attempts, 2);
}

TYPED_TEST_P(StoreContract, ListsCountsAndFilters) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    NewJob j = MakeJob("k" + std::to_string(i), i % 3, "s" + std::to_string(i));
    if (i == 4) j.rule = "manual";
    ids.push_back(store.Enqueue(j, i).first);
  }
  ASSERT_EQ(store.Claim(10, 60)->id, ids[0]);  // priority 0, oldest
  ASSERT_TRUE(store.Complete(Current(store, ids[0]), R"({"big": 1})", "{}", "d", {MakeOutput("SR", "1")}, 11));

  const std::vector<JobRow> all = store.Jobs({});
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all.front().id, ids[4]);  // newest first
  EXPECT_EQ(all.back().id, ids[0]);
  EXPECT_EQ(all.back().findings_json, "");  // list view
  EXPECT_EQ(all.back().model_digest, "d");
  EXPECT_EQ(store.GetJob(ids[0])->findings_json, R"({"big": 1})");

  JobFilter page;
  page.offset = 1;
  page.limit = 2;
  const std::vector<JobRow> paged = store.Jobs(page);
  ASSERT_EQ(paged.size(), 2u);
  EXPECT_EQ(paged[0].id, ids[3]);
  EXPECT_EQ(paged[1].id, ids[2]);
  EXPECT_EQ(store.CountJobs(page), 5);

  JobFilter queued;
  queued.state = JobState::kQueued;
  EXPECT_EQ(store.CountJobs(queued), 4);
  queued.rule = "manual";
  ASSERT_EQ(store.Jobs(queued).size(), 1u);
  EXPECT_EQ(store.Jobs(queued)[0].id, ids[4]);
  JobFilter by_study;
  by_study.study_id = "study-k2";
  ASSERT_EQ(store.Jobs(by_study).size(), 1u);
  EXPECT_EQ(store.Jobs(by_study)[0].id, ids[2]);

  // Priorities 0,1,2,0,1; job 0 exporting.
  const std::vector<QueueCount> counts = store.CountByPriorityAndState();
  auto count = [&](int priority, JobState state) -> int64_t {
    for (const QueueCount& c : counts) {
      if (c.priority == priority && c.state == state) return c.jobs;
    }
    return 0;
  };
  EXPECT_EQ(counts.size(), 4u);
  EXPECT_EQ(count(0, JobState::kExporting), 1);
  EXPECT_EQ(count(0, JobState::kQueued), 1);
  EXPECT_EQ(count(1, JobState::kQueued), 2);
  EXPECT_EQ(count(2, JobState::kQueued), 1);

  store.AddAudit(0, "study-x", "received", "3 instances", 50);
  const std::vector<AuditRow> audit = store.StudyAudit("study-x");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].job_id, 0);
  EXPECT_EQ(audit[0].detail, "3 instances");
  EXPECT_EQ(audit[0].at, 50);
}

TYPED_TEST_P(StoreContract, ConcurrentClaimsTakeEachJobOnce) {
  // Two connections (as two processes would have) and two threads on each.
  std::unique_ptr<Store> first_owned = this->Open(), second_owned = this->Open();
  Store& first = *first_owned;
  Store& second = *second_owned;
  constexpr int kJobs = 60;
  for (int i = 0; i < kJobs; ++i) first.Enqueue(MakeJob("k" + std::to_string(i), i % 3, std::to_string(i)), i);
  std::mutex mutex;
  std::vector<int64_t> claimed;
  auto work = [&](Store* store) {
    while (std::optional<JobRow> job = store->Claim(1000, 60)) {
      EXPECT_TRUE(store->Fail(ClaimOf(*job), "x", false, 1, 1001));
      std::lock_guard<std::mutex> lock(mutex);
      claimed.push_back(job->id);
    }
  };
  std::vector<std::thread> threads;
  for (Store* store : {&first, &second, &first, &second}) threads.emplace_back(work, store);
  for (std::thread& t : threads) t.join();
  std::sort(claimed.begin(), claimed.end());
  ASSERT_EQ(claimed.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(std::adjacent_find(claimed.begin(), claimed.end()), claimed.end());
  JobFilter failed;
  failed.state = JobState::kFailed;
  EXPECT_EQ(second.CountJobs(failed), kJobs);
}

// The wording of the audit details that cancelling and superseding write (pending exports
// cancelled with the job).
TYPED_TEST_P(StoreContract, CancelAndSupersedeAuditDetails) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  const int64_t queued = store.Enqueue(MakeJob("q", 1, "s1"), 0).first;
  ASSERT_TRUE(store.Cancel(queued, 1));
  EXPECT_EQ(store.Audit(queued).back().detail, "was queued");

  NewJob two = MakeJob("e", 0, "s2");
  two.destinations = {"PACS", "ARCHIVE"};
  const int64_t exporting = store.Enqueue(two, 2).first;
  ASSERT_EQ(store.Claim(3, 60)->id, exporting);
  ASSERT_TRUE(store.Complete(Current(store, exporting), "{}", "{}", "d", {MakeOutput("SR", "1")}, 4));
  EXPECT_EQ(store.Audit(exporting).back().detail, "1 object, 2 exports pending");
  ASSERT_TRUE(store.Cancel(exporting, 5));
  EXPECT_EQ(store.Audit(exporting).back().detail, "was exporting; 2 pending exports cancelled");
  ASSERT_TRUE(store.Retry(exporting, 6));
  EXPECT_EQ(store.Audit(exporting).back().detail, "was cancelled; 2 exports pending again");

  // A newer job of the rule and series completes: the exporting one is superseded, its exports cancelled.
  const int64_t newer = store.Enqueue(MakeJob("e2", 0, "s2"), 7).first;
  EXPECT_EQ(store.Audit(exporting).back().event, "retried");  // only queued jobs are superseded at enqueue
  ASSERT_EQ(store.Claim(8, 60)->id, newer);
  ASSERT_TRUE(store.Complete(Current(store, newer), "{}", "{}", "d", {}, 9));
  const AuditRow last = store.Audit(exporting).back();
  EXPECT_EQ(last.event, "superseded");
  EXPECT_EQ(last.detail, "by job " + std::to_string(newer) + "; 2 pending exports cancelled");

  const int64_t old_queued = store.Enqueue(MakeJob("v1", 1, "s3"), 10).first;
  const int64_t new_queued = store.Enqueue(MakeJob("v2", 1, "s3"), 11).first;
  EXPECT_EQ(store.Audit(old_queued).back().detail, "by job " + std::to_string(new_queued));
}


// A runner whose lease expired and whose job was taken over cannot write over the run that took
// over: its renewal, progress, result and failure are all refused; the takeover's result stays.
TYPED_TEST_P(StoreContract, LostLeaseCannotOverwriteTheTakeover) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  const int64_t id = store.Enqueue(MakeJob("k1"), 0).first;
  const std::optional<JobRow> first = store.Claim(10, 30);
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->owner.empty());
  EXPECT_EQ(store.GetJob(id)->owner, first->owner);
  // Paused past its lease: recovered, then claimed by another runner.
  EXPECT_EQ(store.RecoverExpiredLeases(41, 3), 1);
  const std::optional<JobRow> second = store.Claim(42, 30);
  ASSERT_TRUE(second);
  ASSERT_EQ(second->id, id);
  EXPECT_EQ(second->attempts, 2);
  EXPECT_NE(second->owner, first->owner);

  EXPECT_FALSE(store.RenewLease(ClaimOf(*first), 100));
  EXPECT_EQ(store.GetJob(id)->lease_until, 72);
  EXPECT_FALSE(store.SetProgress(ClaimOf(*first), 9, 9));
  EXPECT_EQ(store.GetJob(id)->progress_done, 0);
  EXPECT_FALSE(store.Complete(ClaimOf(*first), R"({"late": 1})", "{}", "d1", {MakeOutput("SR", "1.1")}, 50));
  EXPECT_FALSE(store.Fail(ClaimOf(*first), "late failure", false, 3, 50));
  EXPECT_EQ(store.GetJob(id)->state, JobState::kRunning);
  EXPECT_TRUE(store.Outputs(id).empty());

  EXPECT_TRUE(store.RenewLease(ClaimOf(*second), 100));
  EXPECT_TRUE(store.SetProgress(ClaimOf(*second), 3, 4));
  ASSERT_TRUE(store.Complete(ClaimOf(*second), R"({"takeover": 1})", "{}", "d2", {MakeOutput("SR", "2.1")}, 60));
  // The first runner wakes up again, after the takeover finished: still refused.
  EXPECT_FALSE(store.Complete(ClaimOf(*first), R"({"late": 1})", "{}", "d1", {MakeOutput("SR", "1.1")}, 61));
  EXPECT_FALSE(store.Fail(ClaimOf(*first), "late failure", false, 3, 61));
  const JobRow job = *store.GetJob(id);
  EXPECT_EQ(job.state, JobState::kExporting);
  EXPECT_EQ(job.findings_json, R"({"takeover": 1})");
  EXPECT_EQ(job.model_digest, "d2");
  EXPECT_EQ(job.owner, second->owner);  // who ran it last, kept after the run
  ASSERT_EQ(store.Outputs(id).size(), 1u);
  EXPECT_EQ(store.Outputs(id)[0].sop_instance_uid, "2.1");
  EXPECT_EQ(Events(store.Audit(id)), (std::vector<std::string>{"queued", "started", "recovered", "started", "finished"}));
}

// An export is leased to the sender that took it: nobody else gets it until the lease ends; then a
// stale sender's failure is refused (counted only) and the new sender's outcome counts.
TYPED_TEST_P(StoreContract, ExportsAreLeasedToOneSender) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  const int64_t id = store.Enqueue(MakeJob("k1"), 0).first;
  const std::optional<JobRow> job = store.Claim(10, 60);
  ASSERT_TRUE(job);
  ASSERT_TRUE(store.Complete(ClaimOf(*job), "{}", "{}", "d", {MakeOutput("SR", "7.1")}, 20));
  const std::optional<ExportTask> first = store.NextExport(20, 30);
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->owner.empty());
  EXPECT_FALSE(store.NextExport(21, 30));  // leased
  EXPECT_EQ(store.NextExportDue(), 50.0);  // when the lease ends
  const std::optional<ExportTask> second = store.NextExport(51, 30);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->row.id, first->row.id);
  EXPECT_NE(second->owner, first->owner);
  ExportPolicy policy;
  EXPECT_FALSE(store.ExportFailed(first->claim(), "late timeout", policy, 52));
  EXPECT_EQ(store.Exports(id).at(0).attempts, 0);
  EXPECT_EQ(store.CountExportFailures(), 1);
  EXPECT_TRUE(store.ExportFailed(second->claim(), "timeout", policy, 53));
  EXPECT_EQ(store.Exports(id).at(0).attempts, 1);
  const std::optional<ExportTask> third = store.NextExport(60, 30);
  ASSERT_TRUE(third);
  store.ExportDelivered(third->row.id, 61);
  EXPECT_EQ(store.GetJob(id)->state, JobState::kDone);
  EXPECT_FALSE(store.ExportFailed(third->claim(), "x", policy, 62));  // delivered meanwhile
  EXPECT_EQ(store.Exports(id).at(0).state, ExportState::kDelivered);
}

// At start-up (this node alone on its database) an export that was being sent when Orthanc stopped
// is due again at once, not when its lease would have ended.
TYPED_TEST_P(StoreContract, StartUpReleasesExportLeases) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  store.Enqueue(MakeJob("k1"), 0);
  const std::optional<JobRow> job = store.Claim(10, 60);
  ASSERT_TRUE(job);
  ASSERT_TRUE(store.Complete(ClaimOf(*job), "{}", "{}", "d", {MakeOutput("SR", "7.1")}, 20));
  ASSERT_TRUE(store.NextExport(20, 600));
  EXPECT_FALSE(store.NextExport(30, 600));
  EXPECT_EQ(store.RecoverExpiredLeases(30, 3, true), 0);
  EXPECT_TRUE(store.NextExport(30, 600));
}

// Eight claimers, each with its own connection (as eight nodes' runners would have): no job is
// claimed twice, none is missed. Prints the claims per second (claim + fail, one transaction each).
TYPED_TEST_P(StoreContract, EightConcurrentClaimersNeverShareAJob) {
  constexpr int kClaimers = 8, kJobs = 400;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kClaimers; ++i) stores.push_back(this->Open());
  for (int i = 0; i < kJobs; ++i) stores[0]->Enqueue(MakeJob("k" + std::to_string(i), i % 3, std::to_string(i)), i);
  std::mutex mutex;
  std::vector<int64_t> claimed;
  std::vector<std::string> owners;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kClaimers; ++t) {
    threads.emplace_back([&, t] {
      Store& store = *stores[t];
      while (std::optional<JobRow> job = store.Claim(1000, 60)) {
        EXPECT_TRUE(store.Complete(ClaimOf(*job), "{}", "{}", "d", {}, 1001));
        std::lock_guard<std::mutex> lock(mutex);
        claimed.push_back(job->id);
        owners.push_back(job->owner);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(claimed.begin(), claimed.end());
  ASSERT_EQ(claimed.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(std::adjacent_find(claimed.begin(), claimed.end()), claimed.end());
  std::sort(owners.begin(), owners.end());
  EXPECT_EQ(std::adjacent_find(owners.begin(), owners.end()), owners.end());
  JobFilter done;
  done.state = JobState::kDone;
  EXPECT_EQ(stores[1]->CountJobs(done), kJobs);
  std::printf("[ measured ] %d claimers: %.0f claims/s (claim + complete, %d jobs in %.2f s)\n", kClaimers,
              kJobs / seconds, kJobs, seconds);
  ::testing::Test::RecordProperty("claims_per_second", static_cast<int>(kJobs / seconds));
}

// Unknown ids: reads give nothing, state changes say false, and the calls whose contract is "this
// one exists" throw kNotFound naming the database.
TYPED_TEST_P(StoreContract, UnknownJobsAndExportsThrowNotFound) {
  std::unique_ptr<Store> owned = this->Open();
  Store& store = *owned;
  EXPECT_FALSE(store.GetJob(42));
  EXPECT_FALSE(store.RenewLease({42, "x"}, 100));
  EXPECT_FALSE(store.SetProgress({42, "x"}, 1, 2));
  EXPECT_FALSE(store.Cancel(42, 1));
  EXPECT_FALSE(store.Retry(42, 1));
  EXPECT_FALSE(store.Complete({42, "x"}, "{}", "{}", "d", {MakeOutput("SR", "1")}, 1));
  auto not_found = [&](const std::function<void()>& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kNotFound) << e.what();
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(not_found([&] { store.Fail({42, "x"}, "x", true, 3, 1); }), store.path() + ": no job 42");
  EXPECT_EQ(not_found([&] { store.ExportDelivered(7, 1); }), store.path() + ": no export 7");
  EXPECT_EQ(not_found([&] { store.ExportFailed({7, "x"}, "x", ExportPolicy{}, 1); }), store.path() + ": no export 7");
  EXPECT_EQ(store.CountExportFailures(), 0);
  EXPECT_TRUE(store.StudyAudit("study-k1").empty());
}

// The node name: each claim's token starts with it, the "started" audit names it, and the finished
// job keeps the token of the run that finished it (NodeOfOwner: the node that ran it). Two stores on
// one database stand for two nodes (SQLite: two processes' connections to one file).
TYPED_TEST_P(StoreContract, ClaimsCarryTheNodeName) {
  std::unique_ptr<Store> a = this->Open();
  std::unique_ptr<Store> b = this->Open();
  EXPECT_THROW(a->SetNodeName(""), Error);
  EXPECT_THROW(a->SetNodeName("node/a"), Error);
  EXPECT_THROW(a->SetNodeName("node a"), Error);
  EXPECT_THROW(a->SetNodeName(std::string(65, 'n')), Error);
  a->SetNodeName("node-a");
  b->SetNodeName(std::string(64, 'b'));
  const int64_t first = a->Enqueue(MakeJob("k1"), 0).first;
  const int64_t second = a->Enqueue(MakeJob("k2", 1, "s2"), 1).first;
  const std::optional<JobRow> ja = a->Claim(10, 30);
  const std::optional<JobRow> jb = b->Claim(11, 30);
  ASSERT_TRUE(ja && jb);
  EXPECT_EQ(ja->id, first);
  EXPECT_EQ(jb->id, second);
  EXPECT_EQ(ja->owner.rfind("node-a/", 0), 0u) << ja->owner;
  EXPECT_EQ(NodeOfOwner(ja->owner), "node-a");
  EXPECT_EQ(NodeOfOwner(b->GetJob(second)->owner), std::string(64, 'b'));
  EXPECT_EQ(a->Audit(first).back().detail, "attempt 1 on node-a");
  ASSERT_TRUE(a->Complete(ClaimOf(*ja), "{}", "{}", "d", {}, 20));
  ASSERT_TRUE(b->Fail(ClaimOf(*jb), "boom", false, 3, 21));
  EXPECT_EQ(b->GetJob(first)->state, JobState::kDone);
  EXPECT_EQ(NodeOfOwner(b->GetJob(first)->owner), "node-a");
  EXPECT_EQ(NodeOfOwner(a->GetJob(second)->owner), std::string(64, 'b'));
  // Retried: nobody owns it until claimed again, then by the claimant's node.
  ASSERT_TRUE(a->Retry(second, 22));
  EXPECT_EQ(a->GetJob(second)->owner, "");
  const std::optional<JobRow> again = a->Claim(23, 30);
  ASSERT_TRUE(again);
  EXPECT_EQ(NodeOfOwner(again->owner), "node-a");
  // Without a name (the default), tokens carry none.
  EXPECT_EQ(NodeOfOwner("0123456789abcdef0123456789abcdef"), "");
  EXPECT_EQ(NodeOfOwner(""), "");
}

// Heartbeats: one row per node, its first heartbeat kept, the last one and what it does updated;
// the jobs each node runs now (by the node name in their owner tokens); the leases each node lost
// (its claims taken back when their leases expired) and took back. Three stores on one database
// stand for three nodes.
TYPED_TEST_P(StoreContract, NodesHeartbeatsRunningJobsAndLeases) {
  std::unique_ptr<Store> a = this->Open();
  std::unique_ptr<Store> b = this->Open();
  a->SetNodeName("node-a");
  b->SetNodeName("node-b");
  EXPECT_TRUE(a->ListNodes().empty());
  EXPECT_THROW(a->Heartbeat(NodeBeat{}, 1), Error);
  NodeBeat beat;
  beat.name = "node-a";
  beat.version = "1.0";
  beat.role = "work";
  beat.workers = 2;
  beat.pid = 4321;
  beat.host = "host-a";
  a->Heartbeat(beat, 100);
  beat.version = "1.1";
  a->Heartbeat(beat, 105);
  NodeBeat other;
  other.name = "node-b";
  other.workers = 1;
  b->Heartbeat(other, 103);
  std::vector<NodeRow> nodes = b->ListNodes();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].name, "node-a");
  EXPECT_EQ(nodes[0].first_seen, 100);
  EXPECT_EQ(nodes[0].last_seen, 105);
  EXPECT_EQ(nodes[0].version, "1.1");
  EXPECT_EQ(nodes[0].role, "work");
  EXPECT_EQ(nodes[0].workers, 2);
  EXPECT_EQ(nodes[0].pid, 4321);
  EXPECT_EQ(nodes[0].host, "host-a");
  EXPECT_EQ(nodes[0].running, 0);
  EXPECT_EQ(nodes[1].name, "node-b");
  EXPECT_EQ(nodes[1].first_seen, 103);
  EXPECT_EQ(nodes[1].last_seen, 103);
  EXPECT_EQ(nodes[1].workers, 1);
  EXPECT_EQ(nodes[1].host, "");

  // Who runs what: node-a claims two jobs, node-b one.
  for (const char* key : {"k1", "k2", "k3"}) a->Enqueue(MakeJob(key, 1, std::string("series-") + key), 0);
  ASSERT_TRUE(a->Claim(10, 30));
  ASSERT_TRUE(a->Claim(10, 30));
  ASSERT_TRUE(b->Claim(10, 100));
  nodes = a->ListNodes();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].running, 2);
  EXPECT_EQ(nodes[1].running, 1);

  // node-a stops and its leases expire: node-b takes both back.
  EXPECT_EQ(b->RecoverExpiredLeases(50, 3), 2);
  nodes = a->ListNodes();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].running, 0);
  EXPECT_EQ(nodes[0].leases_lost, 2);
  EXPECT_EQ(nodes[0].leases_recovered, 0);
  EXPECT_EQ(nodes[1].running, 1);
  EXPECT_EQ(nodes[1].leases_lost, 0);
  EXPECT_EQ(nodes[1].leases_recovered, 2);

  // A node that never beat (an older version) is listed from its claims, without times.
  std::unique_ptr<Store> c = this->Open();
  c->SetNodeName("node-c");
  ASSERT_TRUE(c->Claim(60, 30));
  nodes = a->ListNodes();
  ASSERT_EQ(nodes.size(), 3u);
  EXPECT_EQ(nodes[2].name, "node-c");
  EXPECT_EQ(nodes[2].running, 1);
  EXPECT_EQ(nodes[2].last_seen, 0);
  // node-a, back, takes back node-b's and node-c's expired claims.
  EXPECT_EQ(a->RecoverExpiredLeases(200, 3), 2);
  a->Heartbeat(beat, 201);
  nodes = c->ListNodes();
  ASSERT_EQ(nodes.size(), 3u);
  EXPECT_EQ(nodes[0].leases_lost, 2);
  EXPECT_EQ(nodes[0].leases_recovered, 2);
  EXPECT_EQ(nodes[0].first_seen, 100);
  EXPECT_EQ(nodes[0].last_seen, 201);
  EXPECT_EQ(nodes[1].leases_lost, 1);
  EXPECT_EQ(nodes[1].leases_recovered, 2);
  EXPECT_EQ(nodes[2].leases_lost, 1);
  EXPECT_EQ(nodes[2].running, 0);
  EXPECT_EQ(nodes[2].first_seen, 0);
  // Its first heartbeat sets its first_seen and keeps its counts.
  NodeBeat third;
  third.name = "node-c";
  c->Heartbeat(third, 202);
  nodes = a->ListNodes();
  EXPECT_EQ(nodes[2].first_seen, 202);
  EXPECT_EQ(nodes[2].last_seen, 202);
  EXPECT_EQ(nodes[2].leases_lost, 1);
}

REGISTER_TYPED_TEST_SUITE_P(StoreContract,
                            ClaimsCarryTheNodeName,
                            NodesHeartbeatsRunningJobsAndLeases,
                            UnroutedStudies,
                            EnqueueIsIdempotent,
                            ClaimsByPriorityThenAge,
                            LeaseRenewalAndExpiry,
                            RecoversEveryRunningJobAtStartUp,
                            InterruptionsDoNotUseUpAttemptsButAreLimited,
                            RecordsSeveralArrivalsAtOnce,
                            CompleteExportDeliverDone,
                            NothingToExportIsDone,
                            FailRetriesThenGivesUp,
                            ExportBackoffDeadLetterAndRetry,
                            OneDeadExportLetsTheOthersFinish,
                            Cancel,
                            SupersedesQueuedJobOfSameRuleAndSeries,
                            SupersedesDoneAndExportingJobsWhenNewerCompletes,
                            RegionJobsSupersedeOnlyTheirOwnScope,
                            SurvivesReopenMidFlight,
                            ListsCountsAndFilters,
                            ConcurrentClaimsTakeEachJobOnce,
                            CancelAndSupersedeAuditDetails,
                            LostLeaseCannotOverwriteTheTakeover,
                            ExportsAreLeasedToOneSender,
                            StartUpReleasesExportLeases,
                            EightConcurrentClaimersNeverShareAJob,
                            UnknownJobsAndExportsThrowNotFound);

}  // namespace contract
}  // namespace curia::storage
