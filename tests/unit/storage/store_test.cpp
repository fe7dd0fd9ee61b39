// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/storage/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "curia/config/error.h"
#include "test_support.h"

namespace curia::storage {
namespace {

using test::TempDir;

NewJob MakeJob(const std::string& key, int priority = 1, const std::string& series_uid = "1.2.3.4") {
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

NewOutput MakeOutput(const std::string& kind, const std::string& uid, std::string bytes = "DICM\0bytes") {
  NewOutput o;
  o.kind = kind;
  o.sop_class_uid = kind == "SR" ? "1.2.840.10008.5.1.4.1.1.88.22" : "1.2.840.10008.5.1.4.1.1.7";
  o.sop_instance_uid = uid;
  o.series_uid = "9.9." + uid;
  o.bytes = std::move(bytes);
  return o;
}

std::vector<std::string> Events(const std::vector<AuditRow>& rows) {
  std::vector<std::string> events;
  for (const AuditRow& r : rows) events.push_back(r.event);
  return events;
}

// The message of the curia::Error that `f` throws with any code, or "no error".
std::string AnyErrorMessage(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// Runs SQL on a file with the raw sqlite3 API (as another tool would).
void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  const std::string message = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

// The first column of the first row of a query, as text.
std::string RawQuery(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out = "(error)";
  if (sqlite3_open(path.c_str(), &db) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      out = text ? reinterpret_cast<const char*>(text) : "";
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return out;
}

TEST(Store, CreatesSchemaAndFolderAndReopens) {
  TempDir dir;
  const std::string path = dir.File("a/b/curia.sqlite");
  int64_t id = 0;
  {
    SqliteStore store(path);
    EXPECT_EQ(store.path(), path);
    NewJob job = MakeJob("k1");
    job.tasks = {"a\nb", "\"quoted\"", ""};  // round-trips exactly
    id = store.Enqueue(job, 100).first;
    store.RecordArrival("s1", "MODALITY", "ORTHANC", 10);
    store.RecordArrival("s1", "OTHER", "ORTHANC", 12);
  }
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(RawQuery(path, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), std::to_string(SqliteStore::kSchemaVersion));
  EXPECT_EQ(RawQuery(path, "SELECT value FROM meta WHERE key = 'application'"), "curia-node");
  EXPECT_EQ(RawQuery(path, "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master "
                           "WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name)"),
            "arrivals,audit,exports,jobs,meta,outputs");
  SqliteStore store(path);
  const std::optional<JobRow> job = store.GetJob(id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->tasks, (std::vector<std::string>{"a\nb", "\"quoted\"", ""}));
  EXPECT_EQ(job->outputs, (std::vector<std::string>{"SR", "SC"}));
  EXPECT_EQ(job->destinations, (std::vector<std::string>{"PACS"}));
  EXPECT_EQ(job->state, JobState::kQueued);
  EXPECT_EQ(job->created_at, 100);
  EXPECT_EQ(job->instances, 120);
  EXPECT_EQ(job->series_uid, "1.2.3.4");

  const std::optional<Store::Arrival> a = store.GetArrival("s1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->calling_aet, "OTHER");
  EXPECT_EQ(a->first_at, 10);
  EXPECT_EQ(a->last_at, 12);
  EXPECT_EQ(a->routed_at, 0);
  EXPECT_EQ(a->instances, 2);
  EXPECT_FALSE(store.GetArrival("nope"));
}

TEST(Store, UnroutedStudies) {
  TempDir dir;
  SqliteStore store(dir.File("curia.sqlite"));
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

TEST(Store, EnqueueIsIdempotent) {
  TempDir dir;
  SqliteStore store(dir.File("curia.sqlite"));
  const auto [id, inserted] = store.Enqueue(MakeJob("k1"), 1);
  EXPECT_TRUE(inserted);
  const auto [again, inserted_again] = store.Enqueue(MakeJob("k1", 0, "other"), 2);
  EXPECT_FALSE(inserted_again);
  EXPECT_EQ(again, id);
  EXPECT_EQ(store.CountJobs({}), 1);
  EXPECT_EQ(Events(store.Audit(id)), (std::vector<std::string>{"queued"}));
  EXPECT_EQ(store.GetJob(id)->priority, 1);  // the first one is kept
}

TEST(Store, ClaimsByPriorityThenAge) {
  TempDir dir;
  SqliteStore store(dir.File("curia.sqlite"));
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

TEST(Store, LeaseRenewalAndExpiry) {
  TempDir dir;
  SqliteStore store(dir.File("curia.sqlite"));
  const int64_t id = store.Enqueue(MakeJob("k1"), 0).first;
  ASSERT_TRUE(store.Claim(10, 60));
  EXPECT_TRUE(store.RenewLease(id, 200));
  EXPECT_EQ(store.GetJob(id)->lease_until, 200);
  EXPECT_EQ(store.RecoverExpiredLeases(150, 3), 0);  // still leased
  EXPECT_EQ(store.RecoverExpiredLeases(201, 3), 1);
  JobRow job = *store.GetJob(id);
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.lease_until, 0);
  EXPECT_FALSE(store.RenewLease(id, 300));  // not running any more

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
TEST(Store, RecoversEveryRunningJobAtStartUp) {
  TempDir dir;
  SqliteStore store(dir.File("curia.sqlite"));
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
TEST(Store, InterruptionsDoNotUseUpAttemptsButAreLimited) {
  TempDir dir;
  SqliteStore store(dir.File("curia.sqlite"));
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
  store.Fail(id, "device busy", true, 3, now + 1);
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

// A schema 1 database (the first release) is migrated in place, its jobs kept.
TEST(Store, MigratesASchema1Database) {
  TempDir dir;
  const std::string path = dir.File("curia.sqlite");
  int64_t id = 0;
  {
    SqliteStore store(path);
    id = store.Enqueue(MakeJob("k1"), 0).first;
    ASSERT_TRUE(store.Claim(10, 600));
  }
  RawExec(path, "ALTER TABLE jobs DROP COLUMN interruptions; PRAGMA user_version = 1");
  ASSERT_EQ(RawQuery(path, "PRAGMA user_version"), "1");
  SqliteStore store(path);
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), std::to_string(SqliteStore::kSchemaVersion));
  EXPECT_EQ(store.GetJob(id)->state, JobState::kRunning);
  EXPECT_EQ(store.RecoverExpiredLeases(20, 3, true), 1);
  EXPECT_EQ(store.GetJob(id)->state, JobState::kQueued);
}

TEST(Store, RecordsSeveralArrivalsAtOnce) {
  TempDir dir;
  SqliteStore store(dir.File("curia.sqlite"));
  store.RecordArrival("s1", "MODALITY", "CURIA", 10);
  store.RecordArrival("s1", "MODALITY", "CURIA", 20, 5);
  const std::optional<Store::Arrival> a = store.GetArrival("s1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->instances, 6);
  EXPECT_EQ(a->first_at, 10);
  EXPECT_EQ(a->last_at, 20);
}

TEST(Store, CompleteExportDeliverDone) {
  TempDir dir;
  SqliteStore store(dir.File("curia.sqlite"));
  NewJob nj = MakeJob("k1");
  nj.destinations = {"PACS", "ARCHIVE"};
  const int64_t id = store.Enqueue(nj, 0).first;
  ASSERT_TRUE(store.Claim(10, 60));
  store.SetProgress(id, 3, 7);
  EXPECT_EQ(store.GetJob(id)->progress_done, 3);
  const std::string sr_bytes("DICM\0\x01\x02sr", 9);
  ASSERT_TRUE(store.Complete(id, R"({"ich": 0.9})", R"({"total_s": 1.5})", "sha256:abc",
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
  EXPECT_FALSE(store.Complete(id, "{}", "{}", "x", {}, 21));  // no longer running

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
  EXPECT_FALSE(store.NextExport(19));

  for (int i = 0; i < 4; ++i) {
    std::optional<ExportTask> task = store.NextExport(30);
    ASSERT_TRUE(task);
    EXPECT_EQ(task->row.id, exports[i].id);  // oldest first
    if (task->row.output_id == outputs[0].id) {
      EXPECT_EQ(task->sop_instance_uid, "7.1");
      EXPECT_EQ(task->bytes, sr_bytes);
    }
    EXPECT_EQ(store.GetJob(id)->state, JobState::kExporting);
    store.ExportDelivered(task->row.id, 31 + i);
  }
  EXPECT_FALSE(store.NextExport(100));
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

TEST(Store, NothingToExportIsDone) {
  TempDir dir;
  SqliteStore store(dir.File("curia.sqlite"));
  NewJob nj = MakeJob("k1");
  nj.destinations.clear();
  const int64_t id = store.Enqueue(nj, 0).first;
  ASSERT_TRUE(store.Claim(10, 60));
  ASSERT_TRUE(store.Complete(id, "{}", "{}", "d", {MakeOutput("SR", "7.1")}, 20));
  EXPECT_EQ(store.GetJob(id)->state, JobState::kDone);
  EXPECT_TRUE(store.Exports(id).empty());
  EXPECT_EQ(store.Outputs(id).size(), 1u);
}

TEST(Store, FailRetriesThenGivesUp) {
  TempDir dir;
  SqliteStore store(dir.File("curia.sqlite"));
  const int64_t id = store.Enqueue(MakeJob("k1"), 0).first;
  ASSERT_TRUE(store.Claim(10, 60));
  store.Fail(id, "CUDA out of memory", true, 2, 11);
  JobRow job = *store.GetJob(id);
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.error, "CUDA out of memory");
  EXPECT_EQ(job.lease_until, 0);
  ASSERT_TRUE(store.Claim(12, 60));
  store.Fail(id, "CUDA out of memory", true, 2, 13);
  EXPECT_EQ(store.GetJob(id)->state, JobState::kFailed);
  const std::vector<AuditRow> audit = store.Audit(id);
  ASSERT_EQ(audit.back().event, "failed");
  EXPECT_NE(audit.back().detail.find("CUDA out of memory"), std::string::npos);
  EXPECT_NE(audit.back().detail.find("not retried"), std::string::npos) << audit.back().detail;
  EXPECT_NE(audit[2].detail.find("will be retried"), std::string::npos) << audit[2].detail;

  // A permanent failure is not retried even with attempts left; Retry queues it with attempts reset.
  const int64_t other = store.Enqueue(MakeJob("k2", 1, "s2"), 0).first;
  ASSERT_TRUE(store.Claim(20, 60));
  store.Fail(other, "unsupported series", false, 5, 21);
  EXPECT_EQ(store.GetJob(other)->state, JobState::kFailed);
  EXPECT_TRUE(store.Retry(other, 22));
  job = *store.GetJob(other);
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.attempts, 0);
  EXPECT_EQ(job.error, "");
  EXPECT_FALSE(store.Retry(other, 23));  // queued: nothing to retry
  EXPECT_EQ(store.Audit(other).back().event, "retried");

  EXPECT_THROW(store.Fail(9999, "x", true, 3, 30), Error);
}

TEST(Store, ExportBackoffDeadLetterAndRetry) {
  TempDir dir;
  SqliteStore store(dir.File("curia.sqlite"));
  const int64_t id = store.Enqueue(MakeJob("k1"), 0).first;
  ASSERT_TRUE(store.Claim(10, 60));
  ASSERT_TRUE(store.Complete(id, "{}", "{}", "d", {MakeOutput("SR", "7.1")}, 100));
  ExportPolicy policy;
  policy.max_attempts = 4;
  policy.backoff_min_s = 2;
  policy.backoff_max_s = 5;
  const int64_t export_id = store.Exports(id).at(0).id;

  double now = 100;
  const double expected_delays[] = {2, 4, 5};  // min * 2^(n-1), capped at max
  for (int attempt = 1; attempt <= 3; ++attempt) {
    std::optional<ExportTask> task = store.NextExport(now);
    ASSERT_TRUE(task) << attempt;
    store.ExportFailed(task->row.id, "association rejected", policy, now);
    const ExportRow row = store.Exports(id).at(0);
    EXPECT_EQ(row.state, ExportState::kPending);
    EXPECT_EQ(row.attempts, attempt);
    EXPECT_EQ(row.last_error, "association rejected");
    EXPECT_DOUBLE_EQ(row.next_at, now + expected_delays[attempt - 1]) << attempt;
    EXPECT_FALSE(store.NextExport(row.next_at - 0.5));
    now = row.next_at;
  }
  EXPECT_EQ(store.Audit(id).back().event, "export-failed");
  store.ExportFailed(export_id, "association rejected", policy, now);
  EXPECT_EQ(store.Exports(id).at(0).state, ExportState::kDead);
  JobRow job = *store.GetJob(id);
  EXPECT_EQ(job.state, JobState::kDead);
  EXPECT_EQ(job.error, "PACS: association rejected");
  EXPECT_EQ(store.Audit(id).back().event, "dead");
  EXPECT_EQ(store.CountExportFailures(), 4);
  EXPECT_FALSE(store.NextExport(now + 1000));

  EXPECT_TRUE(store.Retry(id, 500));
  job = *store.GetJob(id);
  EXPECT_EQ(job.state, JobState::kExporting);
  EXPECT_EQ(job.error, "");
  ExportRow row = store.Exports(id).at(0);
  EXPECT_EQ(row.state, ExportState::kPending);
  EXPECT_EQ(row.attempts, 0);
  EXPECT_EQ(row.next_at, 500);
  std::optional<ExportTask> task = store.NextExport(500);
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
TEST(Store, OneDeadExportLetsTheOthersFinish) {
  TempDir dir;
  SqliteStore store(dir.File("curia.sqlite"));
  const int64_t id = store.Enqueue(MakeJob("k1"), 0).first;
  ASSERT_TRUE(store.Claim(10, 60));
  ASSERT_TRUE(store.Complete(id, "{}", "{}", "d", {MakeOutput("SR", "7.1"), MakeOutput("SC", "7.2")}, 100));
  ExportPolicy policy;
  policy.max_attempts = 1;
  std::optional<ExportTask> first = store.NextExport(100);
  ASSERT_TRUE(first);
  store.ExportFailed(first->row.id, "association rejected", policy, 101);
  EXPECT_EQ(store.GetJob(id)->state, JobState::kExporting);  // the SC is still pending
  std::optional<ExportTask> second = store.NextExport(102);
  ASSERT_TRUE(second);
  EXPECT_NE(second->row.id, first->row.id);
  store.ExportDelivered(second->row.id, 103);
  JobRow job = *store.GetJob(id);
  EXPECT_EQ(job.state, JobState::kDead);
  EXPECT_EQ(job.error, "PACS: association rejected");

  EXPECT_TRUE(store.Retry(id, 200));
  std::optional<ExportTask> again = store.NextExport(200);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->row.id, first->row.id);  // only the one that did not arrive
  store.ExportDelivered(again->row.id, 201);
  EXPECT_EQ(store.GetJob(id)->state, JobState::kDone);
  EXPECT_FALSE(store.NextExport(300));
}

TEST(Store, Cancel) {
  TempDir dir;
  SqliteStore store(dir.File("curia.sqlite"));
  // Queued -> cancelled: never claimed.
  const int64_t queued = store.Enqueue(MakeJob("q", 1, "s1"), 0).first;
  EXPECT_TRUE(store.Cancel(queued, 1));
  EXPECT_EQ(store.GetJob(queued)->state, JobState::kCancelled);
  EXPECT_FALSE(store.Claim(2, 60));
  EXPECT_FALSE(store.Cancel(queued, 3));  // already cancelled

  // Running -> cancelled: the worker learns it from RenewLease; its Complete and Fail are ignored.
  const int64_t running = store.Enqueue(MakeJob("r", 1, "s2"), 0).first;
  ASSERT_TRUE(store.Claim(10, 60));
  EXPECT_TRUE(store.Cancel(running, 11));
  EXPECT_FALSE(store.RenewLease(running, 100));
  EXPECT_FALSE(store.Complete(running, "{}", "{}", "d", {MakeOutput("SR", "7.1")}, 12));
  EXPECT_TRUE(store.Outputs(running).empty());
  store.Fail(running, "stopped", true, 3, 12);
  EXPECT_EQ(store.GetJob(running)->state, JobState::kCancelled);
  EXPECT_EQ(store.RecoverExpiredLeases(1000, 3), 0);
  // Retry of a job cancelled before it had a result: queued again.
  EXPECT_TRUE(store.Retry(running, 13));
  EXPECT_EQ(store.GetJob(running)->state, JobState::kQueued);

  // Exporting -> cancelled: pending exports cancelled, none is due; Retry resumes exporting.
  const int64_t exporting = store.Enqueue(MakeJob("e", 0, "s3"), 0).first;
  ASSERT_EQ(store.Claim(20, 60)->id, exporting);
  ASSERT_TRUE(store.Complete(exporting, "{}", "{}", "d", {MakeOutput("SR", "8.1")}, 21));
  EXPECT_TRUE(store.Cancel(exporting, 22));
  EXPECT_EQ(store.Exports(exporting).at(0).state, ExportState::kCancelled);
  EXPECT_FALSE(store.NextExport(1000));
  EXPECT_TRUE(store.Retry(exporting, 23));
  EXPECT_EQ(store.GetJob(exporting)->state, JobState::kExporting);
  EXPECT_EQ(store.Exports(exporting).at(0).state, ExportState::kPending);
  store.ExportDelivered(store.NextExport(23)->row.id, 24);
  EXPECT_EQ(store.GetJob(exporting)->state, JobState::kDone);
  EXPECT_FALSE(store.Cancel(exporting, 25));  // done
  EXPECT_FALSE(store.Cancel(9999, 25));
  EXPECT_EQ(store.Audit(queued).back().event, "cancelled");
}

TEST(Store, SupersedesQueuedJobOfSameRuleAndSeries) {
  TempDir dir;
  SqliteStore store(dir.File("curia.sqlite"));
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

TEST(Store, SupersedesDoneAndExportingJobsWhenNewerCompletes) {
  TempDir dir;
  SqliteStore store(dir.File("curia.sqlite"));
  ExportPolicy policy;
  // v1: done (delivered).
  const int64_t v1 = store.Enqueue(MakeJob("v1"), 0).first;
  ASSERT_TRUE(store.Claim(1, 60));
  ASSERT_TRUE(store.Complete(v1, "{}", "{}", "d", {MakeOutput("SR", "1.1")}, 2));
  store.ExportDelivered(store.NextExport(2)->row.id, 3);
  ASSERT_EQ(store.GetJob(v1)->state, JobState::kDone);
  // v2 completes: v1 (done) is superseded by it, its delivered export stays so.
  const int64_t v2 = store.Enqueue(MakeJob("v2"), 10).first;
  ASSERT_TRUE(store.Claim(11, 60));
  ASSERT_TRUE(store.Complete(v2, "{}", "{}", "d", {MakeOutput("SR", "2.1")}, 12));
  JobRow row = *store.GetJob(v1);
  EXPECT_EQ(row.state, JobState::kSuperseded);
  EXPECT_EQ(row.superseded_by, v2);
  EXPECT_EQ(store.Audit(v1).back().event, "superseded");
  EXPECT_EQ(store.Exports(v1).at(0).state, ExportState::kDelivered);
  // v2 is still exporting (its export failed once) when v3 completes: v2 is superseded, its
  // pending export cancelled.
  store.ExportFailed(store.NextExport(12)->row.id, "timeout", policy, 12);
  ASSERT_EQ(store.GetJob(v2)->state, JobState::kExporting);
  const int64_t v3 = store.Enqueue(MakeJob("v3"), 20).first;
  ASSERT_EQ(store.Claim(21, 60)->id, v3);
  ASSERT_TRUE(store.Complete(v3, "{}", "{}", "d", {MakeOutput("SR", "3.1")}, 22));
  row = *store.GetJob(v2);
  EXPECT_EQ(row.state, JobState::kSuperseded);
  EXPECT_EQ(row.superseded_by, v3);
  EXPECT_EQ(store.Exports(v2).at(0).state, ExportState::kCancelled);
  EXPECT_NE(store.Audit(v2).back().detail.find("1 pending export cancelled"), std::string::npos)
      << store.Audit(v2).back().detail;
  EXPECT_EQ(store.GetJob(v1)->superseded_by, v2);  // unchanged
  const std::optional<ExportTask> task = store.NextExport(1000);
  ASSERT_TRUE(task);
  EXPECT_EQ(task->row.job_id, v3);
  store.ExportDelivered(task->row.id, 1000);
  EXPECT_EQ(store.GetJob(v3)->state, JobState::kDone);
  EXPECT_FALSE(store.NextExport(2000));
}

TEST(Store, SurvivesReopenMidFlight) {
  TempDir dir;
  const std::string path = dir.File("curia.sqlite");
  int64_t id = 0;
  {
    SqliteStore store(path);
    id = store.Enqueue(MakeJob("k1"), 0).first;
    ASSERT_TRUE(store.Claim(10, 60));
    // Destroyed while the job runs: as after a crash, nothing completes it.
  }
  SqliteStore store(path);
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

TEST(Store, ListsCountsAndFilters) {
  TempDir dir;
  SqliteStore store(dir.File("curia.sqlite"));
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    NewJob j = MakeJob("k" + std::to_string(i), i % 3, "s" + std::to_string(i));
    if (i == 4) j.rule = "manual";
    ids.push_back(store.Enqueue(j, i).first);
  }
  ASSERT_EQ(store.Claim(10, 60)->id, ids[0]);  // priority 0, oldest
  ASSERT_TRUE(store.Complete(ids[0], R"({"big": 1})", "{}", "d", {MakeOutput("SR", "1")}, 11));

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

TEST(Store, ConcurrentClaimsTakeEachJobOnce) {
  // Two connections (as two processes would have) and two threads on each.
  TempDir dir;
  const std::string path = dir.File("curia.sqlite");
  SqliteStore first(path);
  SqliteStore second(path);
  constexpr int kJobs = 60;
  for (int i = 0; i < kJobs; ++i) first.Enqueue(MakeJob("k" + std::to_string(i), i % 3, std::to_string(i)), i);
  std::mutex mutex;
  std::vector<int64_t> claimed;
  auto work = [&](Store* store) {
    while (std::optional<JobRow> job = store->Claim(1000, 60)) {
      store->Fail(job->id, "x", false, 1, 1001);
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

TEST(Store, StateNames) {
  for (JobState s : {JobState::kQueued, JobState::kRunning, JobState::kExporting, JobState::kDone, JobState::kFailed,
                     JobState::kDead, JobState::kCancelled, JobState::kSuperseded}) {
    EXPECT_EQ(ParseJobState(JobStateName(s)), s);
  }
  EXPECT_FALSE(ParseJobState("Queued"));
  EXPECT_STREQ(ExportStateName(ExportState::kCancelled), "cancelled");
}

TEST(Store, RefusesAFileThatIsNotSqlite) {
  TempDir dir;
  const std::string path = dir.File("curia.sqlite");
  std::string garbage(8192, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 131 + 7) % 251);
  test::WriteFile(path, garbage);
  const std::string message = test::ErrorMessage([&] { SqliteStore store(path); });
  EXPECT_NE(message.find(path + ": not a usable Curia database: "), std::string::npos) << message;
  EXPECT_NE(message.find("not a database"), std::string::npos) << message;
  EXPECT_EQ(test::ReadFile(path), garbage);  // left alone
}

TEST(Store, RefusesANewerSchema) {
  TempDir dir;
  const std::string path = dir.File("curia.sqlite");
  { SqliteStore store(path); }
  RawExec(path, "PRAGMA user_version = 7");
  const std::string message = test::ErrorMessage([&] { SqliteStore store(path); });
  EXPECT_EQ(message, path + ": written by a newer Curia Node (schema 7, this version reads up to " +
                         std::to_string(SqliteStore::kSchemaVersion) + ")");
}

TEST(Store, RefusesAForeignSqliteDatabase) {
  TempDir dir;
  const std::string path = dir.File("other.sqlite");
  RawExec(path, "CREATE TABLE patients(name TEXT); INSERT INTO patients VALUES ('x')");
  const std::string before = test::ReadFile(path);
  const std::string message = test::ErrorMessage([&] { SqliteStore store(path); });
  EXPECT_NE(message.find(path + ": not a Curia database"), std::string::npos) << message;
  EXPECT_EQ(test::ReadFile(path), before);  // not even switched to WAL
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));

  // Same with a table named like ours but another application's.
  const std::string meta_path = dir.File("meta.sqlite");
  RawExec(meta_path, "CREATE TABLE meta(key TEXT, value TEXT); PRAGMA user_version = 1");
  const std::string meta_message = test::ErrorMessage([&] { SqliteStore store(meta_path); });
  EXPECT_NE(meta_message.find(meta_path + ": not a Curia database"), std::string::npos) << meta_message;
}

TEST(Store, RefusesACorruptDatabase) {
  TempDir dir;
  const std::string path = dir.File("curia.sqlite");
  {
    SqliteStore store(path);
    for (int i = 0; i < 200; ++i) store.Enqueue(MakeJob("k" + std::to_string(i), 1, std::to_string(i)), i);
  }
  // Checkpointed into the main file on close; overwrite a page in the middle of the jobs table.
  std::string bytes = test::ReadFile(path);
  ASSERT_GT(bytes.size(), 8 * 4096u);
  for (size_t i = 5 * 4096; i < 6 * 4096; ++i) bytes[i] = static_cast<char>(0xA5);
  test::WriteFile(path, bytes);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  const std::string message = test::ErrorMessage([&] { SqliteStore store(path); });
  EXPECT_NE(message.find(path + ": not a usable Curia database: "), std::string::npos) << message;
}

// Disk full without root: a file-size limit (RLIMIT_FSIZE) makes SQLite's writes fail as on a
// full disk. The failed transaction must leave the database as it was.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of a signal
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit saved_{};
  void (*old_handler_)(int) = nullptr;
};

TEST(Store, DiskFullRollsBack) {
  TempDir dir;
  const std::string path = dir.File("curia.sqlite");
  auto store = std::make_unique<SqliteStore>(path);
  const int64_t id = store->Enqueue(MakeJob("k1"), 0).first;
  ASSERT_TRUE(store->Claim(10, 60));
  const std::string big(4 << 20, 'x');  // 4 MiB object, written after a small one
  std::string message;
  {
    FileSizeLimit limit(1 << 20);
    message = AnyErrorMessage(
        [&] { store->Complete(id, "{}", "{}", "d", {MakeOutput("SR", "1", "small"), MakeOutput("SC", "2", big)}, 20); });
  }
  EXPECT_NE(message.find(path + ": "), std::string::npos) << message;
  EXPECT_NE(message, "no error");
  // Nothing of the failed transaction is visible, and the store works on.
  JobRow job = *store->GetJob(id);
  EXPECT_EQ(job.state, JobState::kRunning);
  EXPECT_EQ(job.finished_at, 0);
  EXPECT_TRUE(store->Outputs(id).empty());
  EXPECT_TRUE(store->Exports(id).empty());
  EXPECT_EQ(Events(store->Audit(id)), (std::vector<std::string>{"queued", "started"}));
  ASSERT_TRUE(store->Complete(id, "{}", "{}", "d", {MakeOutput("SR", "1", "small")}, 21));
  store.reset();
  SqliteStore reopened(path);  // passes the quick check
  EXPECT_EQ(reopened.GetJob(id)->state, JobState::kExporting);
  EXPECT_EQ(reopened.Outputs(id).size(), 1u);
}

TEST(Store, DiskFullErrorCode) {
  TempDir dir;
  const std::string path = dir.File("curia.sqlite");
  SqliteStore store(path);
  const std::string big(4 << 20, 'y');
  FileSizeLimit limit(1 << 20);
  try {
    store.Enqueue(MakeJob(big), 0);  // a huge idempotency key
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable) << e.what();
  }
}

// OpenStore: a file path opens a SqliteStore, used through the interface alone.
TEST(Store, OpenStoreOpensAFilePathAsSqlite) {
  TempDir dir;
  const std::string path = dir.File("db/curia.sqlite");
  int64_t id = 0;
  {
    std::unique_ptr<Store> store = OpenStore(path);
    ASSERT_TRUE(store);
    EXPECT_NE(dynamic_cast<SqliteStore*>(store.get()), nullptr);
    EXPECT_EQ(store->path(), path);
    id = store->Enqueue(MakeJob("k1"), 0).first;
    ASSERT_EQ(store->Claim(1, 60)->id, id);
  }
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), std::to_string(SqliteStore::kSchemaVersion));
  SqliteStore reopened(path);
  EXPECT_EQ(reopened.GetJob(id)->state, JobState::kRunning);
  // "://" inside a path is not a URL scheme.
  const std::string odd = dir.File("a://b.sqlite");
  EXPECT_EQ(OpenStore(odd)->path(), odd);
}

// A database URL is refused with a message that names it without its credentials, before anything
// is created (a PostgreSQL store comes with a later issue).
TEST(Store, OpenStoreRefusesDatabaseUrlsWithoutTheirSecrets) {
  const std::string postgres =
      test::ErrorMessage([] { OpenStore("postgresql://curia:s3cret@db.example:5432/curia?sslpassword=hush"); });
  EXPECT_EQ(postgres,
            "postgresql://db.example:5432/curia: PostgreSQL is not supported by this build yet; give the database "
            "as a file path (SQLite)");
  EXPECT_EQ(test::ErrorMessage([] { OpenStore("postgres://u:p/w@h/d#frag"); }),
            "postgres://h/d: PostgreSQL is not supported by this build yet; give the database as a file path "
            "(SQLite)");
  EXPECT_EQ(test::ErrorMessage([] { OpenStore("mysql://h/d"); }),
            "mysql://h/d: 'mysql' URLs are not supported; give the database as a file path (SQLite)");
  EXPECT_FALSE(std::filesystem::exists("postgresql:"));
  EXPECT_FALSE(std::filesystem::exists("postgres:"));
  EXPECT_FALSE(std::filesystem::exists("mysql:"));
}

TEST(Store, ExportStateNames) {
  for (ExportState s : {ExportState::kPending, ExportState::kDelivered, ExportState::kDead, ExportState::kCancelled}) {
    EXPECT_EQ(ParseExportState(ExportStateName(s)), s);
  }
  EXPECT_FALSE(ParseExportState("Pending"));
  EXPECT_FALSE(ParseExportState(""));
}

// Unknown ids: reads give nothing, state changes say false, and the calls whose contract is "this
// one exists" throw kNotFound naming the database; nothing is written.
TEST(Store, UnknownJobsAndExports) {
  TempDir dir;
  const std::string path = dir.File("curia.sqlite");
  SqliteStore store(path);
  EXPECT_FALSE(store.GetJob(42));
  EXPECT_FALSE(store.RenewLease(42, 100));
  EXPECT_FALSE(store.Cancel(42, 1));
  EXPECT_FALSE(store.Retry(42, 1));
  EXPECT_FALSE(store.Complete(42, "{}", "{}", "d", {MakeOutput("SR", "1")}, 1));
  EXPECT_EQ(test::ErrorMessage([&] { store.Fail(42, "x", true, 3, 1); }, ErrorCode::kNotFound),
            path + ": no job 42");
  EXPECT_EQ(test::ErrorMessage([&] { store.ExportDelivered(7, 1); }, ErrorCode::kNotFound), path + ": no export 7");
  EXPECT_EQ(test::ErrorMessage([&] { store.ExportFailed(7, "x", ExportPolicy{}, 1); }, ErrorCode::kNotFound),
            path + ": no export 7");
  EXPECT_EQ(store.CountExportFailures(), 0);  // not counted for an export that does not exist
  EXPECT_EQ(RawQuery(path, "SELECT COUNT(*) FROM audit"), "0");
  EXPECT_EQ(RawQuery(path, "SELECT COUNT(*) FROM outputs"), "0");
}

// The wording of the audit details that cancelling and superseding write (pending exports
// cancelled with the job).
TEST(Store, CancelAndSupersedeAuditDetails) {
  TempDir dir;
  SqliteStore store(dir.File("curia.sqlite"));
  const int64_t queued = store.Enqueue(MakeJob("q", 1, "s1"), 0).first;
  ASSERT_TRUE(store.Cancel(queued, 1));
  EXPECT_EQ(store.Audit(queued).back().detail, "was queued");

  NewJob two = MakeJob("e", 0, "s2");
  two.destinations = {"PACS", "ARCHIVE"};
  const int64_t exporting = store.Enqueue(two, 2).first;
  ASSERT_EQ(store.Claim(3, 60)->id, exporting);
  ASSERT_TRUE(store.Complete(exporting, "{}", "{}", "d", {MakeOutput("SR", "1")}, 4));
  EXPECT_EQ(store.Audit(exporting).back().detail, "1 object, 2 exports pending");
  ASSERT_TRUE(store.Cancel(exporting, 5));
  EXPECT_EQ(store.Audit(exporting).back().detail, "was exporting; 2 pending exports cancelled");
  ASSERT_TRUE(store.Retry(exporting, 6));
  EXPECT_EQ(store.Audit(exporting).back().detail, "was cancelled; 2 exports pending again");

  // A newer job of the rule and series completes: the exporting one is superseded, its exports cancelled.
  const int64_t newer = store.Enqueue(MakeJob("e2", 0, "s2"), 7).first;
  EXPECT_EQ(store.Audit(exporting).back().event, "retried");  // only queued jobs are superseded at enqueue
  ASSERT_EQ(store.Claim(8, 60)->id, newer);
  ASSERT_TRUE(store.Complete(newer, "{}", "{}", "d", {}, 9));
  const AuditRow last = store.Audit(exporting).back();
  EXPECT_EQ(last.event, "superseded");
  EXPECT_EQ(last.detail, "by job " + std::to_string(newer) + "; 2 pending exports cancelled");

  const int64_t old_queued = store.Enqueue(MakeJob("v1", 1, "s3"), 10).first;
  const int64_t new_queued = store.Enqueue(MakeJob("v2", 1, "s3"), 11).first;
  EXPECT_EQ(store.Audit(old_queued).back().detail, "by job " + std::to_string(new_queued));
}

}  // namespace
}  // namespace curia::storage
