// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The node's health and figures: passing problems (a database or Orthanc that refused an
// operation lately), what the other parts report as waiting, the counters of finished jobs, and
// from these GET /curia/health, GET /curia/metrics (Prometheus text) and Orthanc's metrics.
//
//   Health health(store, model.info(), "1.0", clock);
//   health.AddSource([&] { return router.Problems(); });    // before any thread runs
//   health.NoteProblem("claiming a job: disk full");         // any thread
//   config::Json report = health.Report(true);
//
// Thread-safe once the sources are added.
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "curia/config/json.h"
#include "curia/storage/store.h"
#include "curia/worker/findings.h"
#include "curia/worker/model.h"
#include "notifier.h"

namespace curia::node {

class Health {
 public:
  static constexpr double kProblemSeconds = 60;  // how long a passing problem is shown
  // How often a node records its heartbeat in the store (Node's router thread), and how long
  // another node is shown alive after its last one: three heartbeats missed.
  static constexpr double kHeartbeatSeconds = 5;
  static constexpr double kAliveSeconds = 3 * kHeartbeatSeconds;

  Health(storage::Store& store, const worker::ModelInfo& model, std::string version, Clock clock);

  // Another part's standing problems, one sentence each (called on every report).
  void AddSource(std::function<std::vector<std::string>()> source);
  // A database or Orthanc operation failed for a reason that may pass (kUnavailable): "degraded"
  // for kProblemSeconds.
  void NoteProblem(const std::string& what);
  // Every problem now: the last passing one (with its age), then the sources'.
  std::vector<std::string> Problems();
  // Records this node's heartbeat (Store::Heartbeat) at the clock's now. A store that refuses is a
  // passing problem (NoteProblem); never throws. Nothing for a beat without a name.
  void Heartbeat(const storage::NodeBeat& beat);
  // GET /curia/health's Cluster: this node's name, every node the store has heard of (Store::
  // ListNodes) with how long ago it beat, whether it is alive, what it runs, its leases lost and
  // taken back.
  config::Json Cluster();
  // A job's findings are in (for the throughput and job time figures).
  void RecordJob(const worker::StudyFindings& findings);

  // GET /curia/health: Status ("ok" | "degraded"), Problems, Version, Database, Model, Jobs (by
  // state), Queue (queued by priority), Running, Cluster.
  config::Json Report(bool running);
  // Figures for Orthanc's metrics (name, value).
  std::vector<std::pair<std::string, double>> Metrics();
  // GET /curia/metrics.
  std::string PrometheusText();

 private:
  // The queue as the figures count it, from one query.
  struct QueueFigures {
    int64_t queued[3] = {0, 0, 0};                        // by priority
    std::vector<std::pair<std::pair<int, std::string>, int64_t>> by_priority_state;  // sorted
    int64_t running = 0, dead = 0, failed = 0;
  };
  QueueFigures Figures();
  double SlicesPerSecond() const;

  storage::Store& store_;
  const worker::ModelInfo& model_;
  std::string version_;
  Clock clock_;
  std::vector<std::function<std::vector<std::string>()>> sources_;
  std::mutex mu_;
  std::string last_problem_;
  double last_problem_at_ = 0;
  std::atomic<int64_t> slices_done_{0};
  std::atomic<double> device_seconds_{0};
  std::atomic<double> job_seconds_sum_{0};
  std::atomic<int64_t> jobs_finished_{0};
};

}  // namespace curia::node
