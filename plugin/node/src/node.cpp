// SPDX-License-Identifier: GPL-3.0-or-later
// The node as a facade: builds its parts, runs their loops on its threads.
#include "curia/node/node.h"

#include <unistd.h>

#include <chrono>

#include "api.h"
#include "arrivals.h"
#include "curia/config/log.h"
#include "exporter.h"
#include "health.h"
#include "job_runner.h"
#include "notifier.h"
#include "router.h"

namespace curia::node {
namespace {

constexpr double kReconcileSeconds = 5;  // lease recovery and unrouted studies, this often
constexpr double kIdleSeconds = 0.5;     // a thread with nothing to do looks again after this

}  // namespace

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Node::Node(config::CuriaSettings settings, std::unique_ptr<storage::Store> store, worker::IModel& model,
           IOrthanc& orthanc, NodeInfo info)
    : settings_(std::move(settings)), store_(std::move(store)), model_(model), info_(std::move(info)) {
  const Clock clock = &Now;
  notifier_ = std::make_unique<Notifier>();
  health_ = std::make_unique<Health>(*store_, model_.info(), info_.version, clock);
  arrivals_ = std::make_unique<Arrivals>(*store_, *health_, clock);
  router_ = std::make_unique<Router>(settings_, *store_, orthanc, model_.info(), *arrivals_, *health_, *notifier_, clock,
                                     info_.stable_age_s);
  runner_ = std::make_unique<JobRunner>(settings_, *store_, orthanc, model_, *health_, *notifier_, clock, info_.version);
  exporter_ = std::make_unique<Exporter>(settings_, *store_, orthanc, *health_);
  api_ = std::make_unique<Api>(settings_, *store_, model_.info(), info_, *router_, *health_, *notifier_, clock,
                               [this] { return running_.load(); });
  health_->AddSource([this] { return router_->Problems(); });
  health_->AddSource([this] { return arrivals_->Problems(); });
}

Node::~Node() { Stop(); }

void Node::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return;
  started_ = true;
  // An ingest node runs no job: no worker pool, no job runner (docs/installation.md, roles).
  const bool runs_jobs = settings_.role != config::NodeRole::kIngest;
  if (runs_jobs) runner_->StartPool();
  if (store_->SharedByNodes()) {
    // Other nodes run jobs in the same database: only expired leases are taken back (this node's
    // previous process's jobs come back when their leases end).
    runner_->RecoverExpiredLeases();
  } else {
    // The database is this node's own: whatever a previous process left running was interrupted.
    runner_->RecoverInterrupted();
  }
  Heartbeat();  // seen at once, then every Health::kHeartbeatSeconds from the router thread
  running_ = true;
  threads_.emplace_back(&Node::RouterLoop, this);
  const int64_t runners = runs_jobs ? settings_.queue.workers : 0;
  for (int64_t i = 0; i < runners; ++i) threads_.emplace_back(&Node::RunnerLoop, this);
  threads_.emplace_back(&Node::ExporterLoop, this);
  // Work announced by other nodes wakes this one's threads (polling stays the fallback).
  if (store_->SharedByNodes()) threads_.emplace_back(&Node::WakeLoop, this);
  log::Info("node", std::string("started (role ") + config::NodeRoleName(settings_.role) + "): " + std::to_string(runners) +
                        " job runner(s), database " + store_->path());
}

void Node::Heartbeat() {
  storage::NodeBeat beat;
  beat.name = store_->node_name();
  beat.version = info_.version;
  beat.workers = settings_.role == config::NodeRole::kIngest ? 0 : settings_.queue.workers;  // job runners
  beat.role = config::NodeRoleName(settings_.role);
  beat.pid = static_cast<int64_t>(getpid());
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) beat.host = host;
  health_->Heartbeat(beat);
}

void Node::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_ || notifier_->stopping()) return;
    notifier_->Stop();
  }
  running_ = false;
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  runner_->StopPool();
  arrivals_->Flush(Now());  // the counts of the last second
  log::Info("node", "stopped");
}

void Node::OnInstanceStored(const std::string& study_uid, const std::string& calling_aet,
                            const std::string& called_aet) {
  arrivals_->OnInstanceStored(study_uid, calling_aet, called_aet);
}

void Node::OnStable(bool series_level, const std::string& orthanc_id) { router_->OnStable(series_level, orthanc_id); }

HttpResponse Node::Handle(const HttpRequest& request) { return api_->Handle(request); }

std::vector<std::pair<std::string, double>> Node::Metrics() { return health_->Metrics(); }

config::Json Node::RouteStudy(const std::string& study_id, const std::string& only_series, bool enqueue,
                              std::vector<int64_t>* job_ids) {
  return router_->RouteStudy(study_id, only_series, enqueue, job_ids);
}

void Node::RouterLoop() {
  log::NameThisThread("curia-router");
  double last_reconcile = 0;
  double last_beat = Now();  // Start() beat
  while (!notifier_->stopping()) {
    const uint64_t seen = notifier_->Generation();
    const bool routed = router_->RouteNext(Now());
    const double now = Now();
    if (now - last_beat >= Health::kHeartbeatSeconds) {
      last_beat = now;
      Heartbeat();  // never throws: a refusal is a passing problem
    }
    if (now - last_reconcile >= kReconcileSeconds) {
      last_reconcile = now;
      try {
        runner_->RecoverExpiredLeases();
      } catch (const std::exception& e) {
        log::Error("node", std::string("recovering expired leases: ") + e.what());
        health_->NoteProblem(std::string("recovering expired leases: ") + e.what());
      }
      router_->Reconcile(now);
    }
    if (!routed) notifier_->WaitSince(seen, kIdleSeconds);
  }
}

void Node::RunnerLoop() {
  log::NameThisThread("curia-runner");
  while (!notifier_->stopping()) {
    const uint64_t seen = notifier_->Generation();
    if (!runner_->RunNext()) notifier_->WaitSince(seen, kIdleSeconds);
  }
}

void Node::WakeLoop() {
  log::NameThisThread("curia-wake");
  while (!notifier_->stopping()) {
    try {
      if (store_->WaitForWork(kIdleSeconds)) notifier_->Notify();
    } catch (const std::exception& e) {
      log::Warning("node", std::string("waiting for work from other nodes: ") + e.what());
      notifier_->WaitSince(notifier_->Generation(), kIdleSeconds);
    }
  }
}

void Node::ExporterLoop() {
  log::NameThisThread("curia-export");
  while (!notifier_->stopping()) {
    const uint64_t seen = notifier_->Generation();
    const double now = Now();
    if (!exporter_->SendNext(now)) notifier_->WaitSince(seen, exporter_->WaitSeconds(now));
  }
}

}  // namespace curia::node
