// SPDX-License-Identifier: GPL-3.0-or-later
// Routing: stable studies -> rules -> jobs; arrivals; reconciliation of what was not routed.
#include <gtest/gtest.h>

#include "node_fixture.h"

namespace curia::test {
namespace {

bool Contains(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

TEST_F(NodeParts, AMatchingRuleMakesAJobWithItsTasksPriorityOutputsAndDestinations) {
  const FakeOrthanc::Ids ids = Send(PhantomFiles("CT", 6, 1));
  router_.OnStable(false, ids.study);
  EXPECT_TRUE(router_.RouteNext(now()));
  EXPECT_FALSE(router_.RouteNext(now()));  // nothing else to route

  const std::vector<storage::JobRow> jobs = AllJobs();
  ASSERT_EQ(jobs.size(), 1u);
  const storage::JobRow& job = jobs[0];
  EXPECT_EQ(job.state, storage::JobState::kQueued);
  EXPECT_EQ(job.rule, "head-ct");
  EXPECT_EQ(job.tasks, (std::vector<std::string>{"bleed"}));
  EXPECT_EQ(job.priority, 0);  // stat
  EXPECT_EQ(job.outputs, (std::vector<std::string>{"SR", "SC"}));
  EXPECT_EQ(job.destinations, (std::vector<std::string>{"pacs"}));
  EXPECT_EQ(job.study_id, ids.study);
  EXPECT_EQ(job.study_uid, ids.study_uid);
  EXPECT_EQ(job.series_id, ids.series);
  EXPECT_EQ(job.instances, 6);
  EXPECT_EQ(job.created_at, kStart);  // the injected clock

  const std::vector<storage::AuditRow> audit = store_->StudyAudit(ids.study);
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit.front().event, "received");
  EXPECT_EQ(audit.front().detail, "6 instance(s) from CT1 to CURIA");
  EXPECT_TRUE(Contains(AuditEvents(ids.study), "routed"));
  const std::optional<storage::Store::Arrival> arrival = store_->GetArrival(ids.study_uid);
  ASSERT_TRUE(arrival);
  EXPECT_EQ(arrival->routed_at, kStart);
}

TEST_F(NodeParts, ANonMatchingStudyMakesNoJobAndTheAuditSaysWhy) {
  const FakeOrthanc::Ids ids = Send(PhantomFiles("MR", 4, 2));
  router_.OnStable(false, ids.study);
  EXPECT_TRUE(router_.RouteNext(now()));
  EXPECT_TRUE(AllJobs().empty());
  const std::vector<storage::AuditRow> audit = store_->StudyAudit(ids.study);
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[1].event, "not-routed");
  EXPECT_EQ(audit[1].detail.rfind("head-ct: $.Curia.Rules[0].Match", 0), 0u) << audit[1].detail;
  EXPECT_NE(audit[1].detail.find("\"MR\""), std::string::npos) << audit[1].detail;

  // The dry run explains the same without queueing or auditing anything.
  const config::Json why = router_.RouteStudy(ids.study, "", false, nullptr);
  const config::Json& series = (*config::Find((*config::Find(why, "Rules"))[0], "Series"))[0];
  EXPECT_FALSE(config::Find(series, "Matched")->asBool());
  EXPECT_NE((*config::Find(series, "Reasons"))[0].asString().find("Modality"), std::string::npos);
  EXPECT_EQ(store_->StudyAudit(ids.study).size(), 2u);
}

TEST_F(NodeParts, SeriesEventsAreIgnoredWhenTheTriggerIsTheStudy) {
  const FakeOrthanc::Ids ids = Send(PhantomFiles("CT", 4, 3));
  router_.OnStable(true, ids.series);
  router_.OnStable(false, "");
  EXPECT_FALSE(router_.RouteNext(now()));
  EXPECT_TRUE(AllJobs().empty());
}

TEST_F(NodeParts, TheSameImagesRoutedTwiceMakeOneJob) {
  const FakeOrthanc::Ids ids = Send(PhantomFiles("CT", 4, 4));
  std::vector<int64_t> first, second;
  router_.RouteStudy(ids.study, "", true, &first);
  Advance(5);
  router_.RouteStudy(ids.study, "", true, &second);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first, second);
  EXPECT_EQ(AllJobs().size(), 1u);
  // Received once: the second routing saw nothing new arrive.
  const std::vector<std::string> events = AuditEvents(ids.study);
  EXPECT_EQ(std::count(events.begin(), events.end(), "received"), 1);
}

TEST_F(NodeParts, AStudyOrthancDoesNotHoldIsNotFound) {
  EXPECT_THROW(router_.RouteStudy("no-such-study", "", true, nullptr), Error);
  router_.OnStable(false, "no-such-study");
  EXPECT_TRUE(router_.RouteNext(now()));  // dropped: deleted before we got to it
  EXPECT_TRUE(router_.Problems().empty());
}

TEST_F(NodeParts, AnUnavailableOrthancIsRetriedWithBackoffNotDropped) {
  const FakeOrthanc::Ids ids = Send(PhantomFiles("CT", 4, 5));
  orthanc_.SetUnavailable(true);
  router_.OnStable(false, ids.study);
  EXPECT_TRUE(router_.RouteNext(now()));
  EXPECT_EQ(router_.Problems(), (std::vector<std::string>{"1 stable study waiting to be routed again"}));
  const config::Json health = health_.Report(true);
  EXPECT_EQ(config::Find(health, "Status")->asString(), "degraded");
  // First retry after 2 s, the next after 4 s.
  Advance(1.5);
  EXPECT_FALSE(router_.RouteNext(now()));
  Advance(0.5);
  EXPECT_TRUE(router_.RouteNext(now()));  // still unavailable: kept
  Advance(3.5);
  EXPECT_FALSE(router_.RouteNext(now()));
  orthanc_.SetUnavailable(false);
  Advance(0.5);
  EXPECT_TRUE(router_.RouteNext(now()));
  EXPECT_EQ(AllJobs().size(), 1u);
  EXPECT_TRUE(router_.Problems().empty());
}

TEST_F(NodeParts, ArrivalsAreWrittenOnceThenCountedAndFlushed) {
  const std::vector<phantom::PhantomInstance> files = PhantomFiles("CT", 5, 6);
  const FakeOrthanc::Ids ids = Send(files, 0, 1);
  std::optional<storage::Store::Arrival> a = store_->GetArrival(ids.study_uid);
  ASSERT_TRUE(a);  // the study's first instance: durable at once
  EXPECT_EQ(a->instances, 1);
  EXPECT_EQ(a->calling_aet, "CT1");
  Advance(0.5);
  Send(files, 1);
  EXPECT_EQ(store_->GetArrival(ids.study_uid)->instances, 1);  // counted in memory
  arrivals_.Flush(now());
  a = store_->GetArrival(ids.study_uid);
  EXPECT_EQ(a->instances, 5);
  EXPECT_EQ(a->last_at, kStart + 0.5);
  EXPECT_TRUE(arrivals_.Problems().empty());
}

TEST_F(NodeParts, ReconcileRoutesWhatWasReceivedButNeverRouted) {
  // A restart lost the stable events: the arrivals are in the database.
  const FakeOrthanc::Ids kept = Send(PhantomFiles("CT", 4, 7));
  const FakeOrthanc::Ids deleted = Send(PhantomFiles("CT", 4, 8));
  orthanc_.RemoveStudy(deleted.study);
  router_.Reconcile(now() + kStableAge - 1);  // not quiet for the stable age yet
  EXPECT_TRUE(AllJobs().empty());
  Advance(kStableAge + 1);
  router_.Reconcile(now());
  const std::vector<storage::JobRow> jobs = AllJobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].study_id, kept.study);
  // Both are routed now (the deleted one: nothing to do), so the next pass does nothing.
  EXPECT_TRUE(store_->UnroutedStudies(now()).empty());
}

}  // namespace
}  // namespace curia::test
