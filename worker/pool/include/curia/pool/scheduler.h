// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The worker pool's scheduling rules, apart from its threads: which job goes next, and which
// preprocessed slices make the next batch for a device.
//
//   Scheduler scheduler({/*aging_seconds=*/60, /*max_batch=*/8, /*max_batch_delay=*/5ms});
//   std::optional<size_t> next = scheduler.PickJob(candidates, scheduler.Now());
//   Batch batch = scheduler.NextBatch(queued, [&](size_t i) { return cancelled(i); }, scheduler.Now());
//
// Order: stat before routine before off-peak; a job rises one level for every AgingSeconds it has
// waited since it was submitted (so routine work is never starved by a stream of stat jobs); among
// equals the job submitted first goes first, and a job's slices go in the order of its plan.
// Batches hold at most MaxBatch slices, from any jobs; a device waits at most MaxBatchDelayMs for
// a partial batch to fill while more slices are on their way.
//
// The clock is injected (tests step it by hand); the pool uses std::chrono::steady_clock. A
// Scheduler is immutable after construction: its methods are const and thread-safe, and the pool
// calls them under its own lock with its own state.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace curia::pool {

enum class Priority { kStat = 0, kRoutine = 1, kOffPeak = 2 };
const char* PriorityName(Priority p);
Priority ParsePriority(const std::string& text);  // "stat" | "routine" | "off-peak"

using SteadyClock = std::chrono::steady_clock;

// What the scheduler knows of a job; fixed when the job is submitted.
struct JobOrder {
  Priority priority = Priority::kRoutine;
  SteadyClock::time_point submitted;
  uint64_t seq = 0;  // submission order in the pool (ties go to the lower)
};

// A preprocessed slice waiting for a device: its job, and its place in the job's plan.
struct QueuedSlice {
  JobOrder job;
  size_t item = 0;
};

// The next batch, as indices into the queue it was taken from.
struct Batch {
  std::vector<size_t> slices;   // to run, most urgent first; at most MaxBatch
  std::vector<size_t> dropped;  // passed over on the way because their job is gone (cancelled, failed)
};

struct SchedulerOptions {
  double aging_seconds = 60.0;  // > 0
  int64_t max_batch = 8;        // >= 1
  std::chrono::milliseconds max_batch_delay{5};
};

class Scheduler {
 public:
  using ClockFn = std::function<SteadyClock::time_point()>;

  explicit Scheduler(SchedulerOptions options, ClockFn now = SteadyClock::now);

  SteadyClock::time_point Now() const { return now_(); }
  const SchedulerOptions& options() const { return options_; }

  // Lower is sooner: the priority level, minus one level per aging period waited by `now`.
  double Rank(const JobOrder& job, SteadyClock::time_point now) const;

  // The most urgent of `candidates` (the jobs that have work to start), as an index: the lowest rank,
  // then the lowest seq. nullopt when there is none.
  std::optional<size_t> PickJob(const std::vector<JobOrder>& candidates, SteadyClock::time_point now) const;

  // The next batch from `queue`: slices most urgent first (rank, then seq, then item), at most
  // MaxBatch of them, mixing jobs where the most urgent job has fewer. Slices that `gone` says
  // belong to a job that left are dropped as they are met (they take no place in the batch).
  Batch NextBatch(const std::vector<QueuedSlice>& queue, const std::function<bool(size_t)>& gone,
                  SteadyClock::time_point now) const;

  // Whether a device that saw slices waiting at `since` should wait for more before taking a
  // batch: fewer than MaxBatch wait (`queued`), more are on their way, and MaxBatchDelayMs has not
  // passed since `since`.
  bool WaitForMore(int64_t queued, bool more_coming, SteadyClock::time_point since,
                   SteadyClock::time_point now) const;
  SteadyClock::time_point BatchDeadline(SteadyClock::time_point since) const { return since + options_.max_batch_delay; }

 private:
  SchedulerOptions options_;
  ClockFn now_;
};

}  // namespace curia::pool
