// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/pool/scheduler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "curia/config/error.h"

namespace curia::pool {

const char* PriorityName(Priority p) {
  switch (p) {
    case Priority::kStat: return "stat";
    case Priority::kRoutine: return "routine";
    case Priority::kOffPeak: return "off-peak";
  }
  return "?";
}

Priority ParsePriority(const std::string& text) {
  if (text == "stat") return Priority::kStat;
  if (text == "routine") return Priority::kRoutine;
  if (text == "off-peak") return Priority::kOffPeak;
  throw Error(ErrorCode::kInvalidArgument, "unknown priority '" + text + "' (expected stat, routine or off-peak)");
}

Scheduler::Scheduler(SchedulerOptions options, ClockFn now) : options_(options), now_(std::move(now)) {
  CURIA_CHECK(options_.aging_seconds > 0);
  CURIA_CHECK(options_.max_batch >= 1);
  CURIA_CHECK(static_cast<bool>(now_));
}

double Scheduler::Rank(const JobOrder& job, SteadyClock::time_point now) const {
  const double waited = std::chrono::duration<double>(now - job.submitted).count();
  return static_cast<double>(job.priority) - std::floor(waited / options_.aging_seconds);
}

std::optional<size_t> Scheduler::PickJob(const std::vector<JobOrder>& candidates, SteadyClock::time_point now) const {
  std::optional<size_t> best;
  double best_rank = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const double rank = Rank(candidates[i], now);
    if (!best || rank < best_rank || (rank == best_rank && candidates[i].seq < candidates[*best].seq)) {
      best = i;
      best_rank = rank;
    }
  }
  return best;
}

Batch Scheduler::NextBatch(const std::vector<QueuedSlice>& queue, const std::function<bool(size_t)>& gone,
                           SteadyClock::time_point now) const {
  std::vector<double> rank(queue.size());
  for (size_t i = 0; i < queue.size(); ++i) rank[i] = Rank(queue[i].job, now);
  std::vector<size_t> order(queue.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (rank[a] != rank[b]) return rank[a] < rank[b];
    if (queue[a].job.seq != queue[b].job.seq) return queue[a].job.seq < queue[b].job.seq;
    return queue[a].item < queue[b].item;
  });
  Batch batch;
  for (size_t i = 0; i < order.size() && static_cast<int64_t>(batch.slices.size()) < options_.max_batch; ++i) {
    (gone(order[i]) ? batch.dropped : batch.slices).push_back(order[i]);
  }
  return batch;
}

bool Scheduler::WaitForMore(int64_t queued, bool more_coming, SteadyClock::time_point since,
                            SteadyClock::time_point now) const {
  return queued < options_.max_batch && more_coming && now < BatchDeadline(since);
}

}  // namespace curia::pool
