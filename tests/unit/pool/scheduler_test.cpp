// SPDX-License-Identifier: GPL-3.0-or-later
// The pool's scheduling rules on a clock the test moves by hand: no threads, no sleeps.
#include "curia/pool/scheduler.h"

#include <gtest/gtest.h>

#include "curia/config/error.h"

namespace curia::pool {
namespace {

using namespace std::chrono_literals;

class SchedulerTest : public ::testing::Test {
 protected:
  // AgingSeconds 60, MaxBatch 4, MaxBatchDelayMs 5, on the test's clock.
  Scheduler Make(int64_t max_batch = 4) {
    return Scheduler({60.0, max_batch, 5ms}, [this] { return now_; });
  }
  JobOrder Job(Priority p, SteadyClock::duration submitted_after, uint64_t seq) {
    return {p, t0_ + submitted_after, seq};
  }

  const SteadyClock::time_point t0_ = SteadyClock::time_point() + 1000h;
  SteadyClock::time_point now_ = t0_;
};

TEST(PriorityTest, NamesRoundTrip) {
  for (Priority p : {Priority::kStat, Priority::kRoutine, Priority::kOffPeak}) EXPECT_EQ(ParsePriority(PriorityName(p)), p);
  EXPECT_STREQ(PriorityName(Priority::kOffPeak), "off-peak");
  EXPECT_THROW(ParsePriority("urgent"), Error);
}

TEST_F(SchedulerTest, TheClockIsInjected) {
  const Scheduler s = Make();
  EXPECT_EQ(s.Now(), t0_);
  now_ += 90s;
  EXPECT_EQ(s.Now(), t0_ + 90s);
}

TEST_F(SchedulerTest, StatBeforeRoutineBeforeOffPeak) {
  const Scheduler s = Make();
  std::vector<JobOrder> jobs = {Job(Priority::kOffPeak, 0s, 0), Job(Priority::kRoutine, 1s, 1), Job(Priority::kStat, 2s, 2)};
  now_ += 3s;
  EXPECT_EQ(s.PickJob(jobs, s.Now()), std::optional<size_t>(2));
  jobs.pop_back();
  EXPECT_EQ(s.PickJob(jobs, s.Now()), std::optional<size_t>(1));
  jobs.pop_back();
  EXPECT_EQ(s.PickJob(jobs, s.Now()), std::optional<size_t>(0));
  EXPECT_EQ(s.PickJob({}, s.Now()), std::nullopt);
}

TEST_F(SchedulerTest, AmongEqualsTheFirstSubmittedGoesFirst) {
  const Scheduler s = Make();
  now_ += 1s;
  // Listed out of submission order: the seq decides, not the place in the list.
  const std::vector<JobOrder> jobs = {Job(Priority::kRoutine, 0s, 7), Job(Priority::kRoutine, 0s, 3),
                                      Job(Priority::kRoutine, 0s, 5)};
  EXPECT_EQ(s.PickJob(jobs, s.Now()), std::optional<size_t>(1));
}

TEST_F(SchedulerTest, AJobRisesOneLevelPerAgingPeriod) {
  const Scheduler s = Make();
  const JobOrder routine = Job(Priority::kRoutine, 0s, 0);
  EXPECT_EQ(s.Rank(routine, t0_), 1.0);
  EXPECT_EQ(s.Rank(routine, t0_ + 59999ms), 1.0);
  EXPECT_EQ(s.Rank(routine, t0_ + 60s), 0.0);
  EXPECT_EQ(s.Rank(routine, t0_ + 119999ms), 0.0);
  EXPECT_EQ(s.Rank(routine, t0_ + 120s), -1.0);
  const JobOrder off_peak = Job(Priority::kOffPeak, 0s, 1);
  EXPECT_EQ(s.Rank(off_peak, t0_ + 120s), 0.0);  // level with a stat job just submitted
}

TEST_F(SchedulerTest, AgingPromotesAWaitingRoutineJobOverANewerStatJob) {
  const Scheduler s = Make();
  const std::vector<JobOrder> jobs = {Job(Priority::kRoutine, 0s, 0), Job(Priority::kStat, 30s, 1)};
  now_ = t0_ + 59s;
  EXPECT_EQ(s.PickJob(jobs, s.Now()), std::optional<size_t>(1));  // stat first while the routine job is young
  now_ = t0_ + 60s;
  EXPECT_EQ(s.PickJob(jobs, s.Now()), std::optional<size_t>(0));  // one level up: equal, and submitted first
  // A stream of stat jobs: each newer one still yields to the routine job that has waited.
  const std::vector<JobOrder> stream = {Job(Priority::kStat, 150s, 5), Job(Priority::kRoutine, 0s, 0),
                                        Job(Priority::kStat, 100s, 4)};
  now_ = t0_ + 151s;
  EXPECT_EQ(s.PickJob(stream, s.Now()), std::optional<size_t>(1));
  // Once a stat job has waited an aging period too it ranks with the routine job again (seq decides).
  now_ = t0_ + 160s;
  EXPECT_EQ(s.PickJob({Job(Priority::kStat, 100s, 4), Job(Priority::kRoutine, 0s, 0)}, s.Now()),
            std::optional<size_t>(1));
  now_ = t0_ + 180s;  // routine: 1 - 3 = -2; stat: 0 - 1 = -1
  EXPECT_EQ(s.PickJob({Job(Priority::kStat, 100s, 4), Job(Priority::kRoutine, 0s, 0)}, s.Now()),
            std::optional<size_t>(1));
  EXPECT_EQ(s.PickJob({Job(Priority::kStat, 100s, 4), Job(Priority::kOffPeak, 100s, 0)}, s.Now()),
            std::optional<size_t>(0));
}

// Queue entries (job, item), in the order the preprocessing threads delivered them.
std::vector<QueuedSlice> Queue(const std::vector<std::pair<JobOrder, size_t>>& entries) {
  std::vector<QueuedSlice> q;
  for (const auto& [job, item] : entries) q.push_back({job, item});
  return q;
}

TEST_F(SchedulerTest, BatchesRespectMaxBatchAndMixJobsMostUrgentFirst) {
  const Scheduler s = Make(4);
  const JobOrder a = Job(Priority::kRoutine, 0s, 0), b = Job(Priority::kStat, 1s, 1), c = Job(Priority::kRoutine, 2s, 2);
  now_ += 3s;
  std::vector<QueuedSlice> queue = Queue({{c, 0}, {a, 1}, {b, 1}, {a, 0}, {c, 1}, {b, 0}, {a, 2}, {c, 2}});
  auto none = [](size_t) { return false; };
  Batch batch = s.NextBatch(queue, none, s.Now());
  // Stat job b's two slices, then routine job a (submitted before c) in its plan's order.
  EXPECT_EQ(batch.slices, (std::vector<size_t>{5, 2, 3, 1}));
  EXPECT_TRUE(batch.dropped.empty());
  // What is left: a's last slice, then c's.
  queue = Queue({{c, 0}, {c, 1}, {a, 2}, {c, 2}});
  batch = s.NextBatch(queue, none, s.Now());
  EXPECT_EQ(batch.slices, (std::vector<size_t>{2, 0, 1, 3}));  // one batch of two jobs
  queue = Queue({{c, 3}});
  EXPECT_EQ(s.NextBatch(queue, none, s.Now()).slices, (std::vector<size_t>{0}));  // a partial batch
  EXPECT_TRUE(s.NextBatch({}, none, s.Now()).slices.empty());
  // MaxBatch 1: one slice at a time, the most urgent.
  const Scheduler one = Make(1);
  EXPECT_EQ(one.NextBatch(Queue({{c, 0}, {a, 1}, {b, 1}, {b, 0}}), none, s.Now()).slices, (std::vector<size_t>{3}));
}

TEST_F(SchedulerTest, BatchesFollowAging) {
  const Scheduler s = Make(2);
  const JobOrder routine = Job(Priority::kRoutine, 0s, 0), stat = Job(Priority::kStat, 50s, 1);
  const std::vector<QueuedSlice> queue = Queue({{stat, 0}, {stat, 1}, {routine, 0}, {routine, 1}});
  auto none = [](size_t) { return false; };
  now_ = t0_ + 59s;
  EXPECT_EQ(s.NextBatch(queue, none, s.Now()).slices, (std::vector<size_t>{0, 1}));
  now_ = t0_ + 60s;
  EXPECT_EQ(s.NextBatch(queue, none, s.Now()).slices, (std::vector<size_t>{2, 3}));
}

TEST_F(SchedulerTest, SlicesOfJobsThatLeftAreDroppedWithoutTakingAPlace) {
  const Scheduler s = Make(2);
  const JobOrder gone = Job(Priority::kStat, 0s, 0), a = Job(Priority::kRoutine, 0s, 1);
  const std::vector<QueuedSlice> queue = Queue({{a, 0}, {gone, 0}, {a, 1}, {gone, 1}, {a, 2}});
  const Batch batch = s.NextBatch(queue, [&](size_t i) { return queue[i].job.seq == 0; }, s.Now());
  EXPECT_EQ(batch.dropped, (std::vector<size_t>{1, 3}));
  EXPECT_EQ(batch.slices, (std::vector<size_t>{0, 2}));
  // Only what is met before the batch is full is dropped; the rest waits for the next batch.
  const std::vector<QueuedSlice> later = Queue({{a, 0}, {gone, 0}, {a, 1}});
  const Batch first = Make(1).NextBatch(later, [&](size_t i) { return later[i].job.seq == 0; }, s.Now());
  EXPECT_EQ(first.dropped, (std::vector<size_t>{1}));
  EXPECT_EQ(first.slices, (std::vector<size_t>{0}));
}

TEST_F(SchedulerTest, APartialBatchWaitsAtMostMaxBatchDelay) {
  const Scheduler s = Make(4);
  const SteadyClock::time_point since = s.Now();
  EXPECT_EQ(s.BatchDeadline(since), since + 5ms);
  EXPECT_TRUE(s.WaitForMore(2, true, since, since));
  EXPECT_TRUE(s.WaitForMore(3, true, since, since + 4999us));
  EXPECT_FALSE(s.WaitForMore(3, true, since, since + 5ms));  // the delay is up
  EXPECT_FALSE(s.WaitForMore(4, true, since, since));        // full
  EXPECT_FALSE(s.WaitForMore(2, false, since, since));       // nothing more is coming
}

}  // namespace
}  // namespace curia::pool
