// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The node service: what happens between "Orthanc holds a stable study" and "the SR is at the PACS".
//
//   Node node(settings, storage::OpenStore(db), *model, orthanc, {version, 60});
//   node.Start();                                  // on OrthancStarted
//   node.OnInstanceStored(study_uid, calling, called);   // storing thread: a study's first: one row
//   node.OnStable(false, study_id);                // change thread: an in-memory push
//   HttpResponse r = node.Handle({"GET", "/jobs", {}, ""});
//   node.Stop();                                   // on OrthancStopped: joins every thread
//
// Threads: a router (stable events and reconciliation of what a restart left unrouted, lease
// recovery, metrics), Queue.Workers job runners (claim a job, load its series from Orthanc, run it
// through the worker pool, write the SR and key images into the store), and an exporter (sends
// each object to each destination with store-straight, retrying with backoff, dead-lettering).
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "curia/config/json.h"
#include "curia/config/rules.h"
#include "curia/config/settings.h"
#include "curia/node/orthanc.h"
#include "curia/storage/store.h"
#include "curia/worker/model.h"

namespace curia::pool {
class WorkerPool;
}

namespace curia::node {

struct NodeInfo {
  std::string version;       // Curia Node's version
  double stable_age_s = 60;  // Orthanc's StableAge: how long a study must be quiet to be reconciled
  config::Json section;      // the Curia section as configured (served by GET /curia/config)
  config::Json destinations; // Orthanc's DicomModalities entries the rules send to (name -> entry)
};

struct HttpRequest {
  std::string method;                         // "GET", "POST"
  std::string path;                           // after "/curia", e.g. "/jobs/12/retry"
  std::map<std::string, std::string> query;   // GET arguments
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

class Node {
 public:
  Node(config::CuriaSettings settings, std::unique_ptr<storage::Store> store, worker::IModel& model,
       IOrthanc& orthanc, NodeInfo info);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  void Start();
  // Idempotent. Running jobs are cancelled in the pool; they stay running in the database and the
  // next Start() queues them again as interrupted.
  void Stop();

  // From Orthanc's callbacks: cheap, never waiting on work.
  void OnInstanceStored(const std::string& study_uid, const std::string& calling_aet, const std::string& called_aet);
  void OnStable(bool series_level, const std::string& orthanc_id);

  // The /curia REST API (thread-safe; any HTTP thread).
  HttpResponse Handle(const HttpRequest& request);
  // Figures for Orthanc's metrics (name, value).
  std::vector<std::pair<std::string, double>> Metrics();

  // Routes a study now: the explanation, and the jobs queued when `enqueue`. Throws
  // curia::Error(kNotFound) for a study Orthanc does not hold.
  config::Json RouteStudy(const std::string& study_id, const std::string& only_series, bool enqueue,
                          std::vector<int64_t>* job_ids);

 private:
  struct Event {
    bool series_level = false;
    std::string id;
    int failures = 0;  // routing attempts that met an unavailable database or Orthanc
    double due = 0;    // when to try again (retries only)
  };
  // Instances received, by study, not yet written to the database. The first instance of a study
  // is written at once (the study's arrival is durable before Orthanc acknowledges it); later ones
  // are counted here and written by the router within a second (one row update instead of one per
  // instance: ingest must not wait on us), or later when the database refuses them (its disk full).
  struct PendingArrival {
    std::string calling_aet, called_aet;
    double at = 0;              // the last instance
    int64_t instances = 0;      // not yet written
    bool durable = false;       // the study's arrival row exists
    bool reported = false;      // its failure is logged
  };

  void RouterLoop();
  void RunnerLoop();
  void ExporterLoop();
  void RunJob(const storage::JobRow& job);
  void Reconcile(double now);
  void RouteEvent(const Event& event);
  void FlushArrivals(double now);
  void Wake();
  // A database or Orthanc operation failed for a reason that may pass (kUnavailable): shown by
  // /curia/health as "degraded" for a while (kProblemSeconds).
  void NoteProblem(const std::string& what);
  std::vector<std::string> Problems(double now);

  HttpResponse JobView(int64_t id);
  config::Json JobJson(const storage::JobRow& job, bool detail);
  std::string PrometheusText();

  config::CuriaSettings settings_;
  std::unique_ptr<storage::Store> store_;
  worker::IModel& model_;
  IOrthanc& orthanc_;
  NodeInfo info_;
  std::unique_ptr<pool::WorkerPool> pool_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;
  std::vector<Event> retries_;                     // router thread only
  std::atomic<int64_t> routing_retries_{0};       // retries_.size(), for health
  std::map<std::string, PendingArrival> arrivals_;  // by Study Instance UID, under mu_
  std::mutex problem_mu_;
  std::string last_problem_;
  double last_problem_at_ = 0;
  bool started_ = false;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
  double last_reconcile_ = 0;
  std::atomic<int64_t> slices_done_{0};
  std::atomic<double> device_seconds_{0};
  std::atomic<double> job_seconds_sum_{0};
  std::atomic<int64_t> jobs_finished_{0};
};

// Seconds since the Unix epoch.
double Now();

// plugin/node/ui/explorer.js, compiled in: the Curia panel the plugin appends to Orthanc Explorer.
std::string ExplorerScript();

}  // namespace curia::node
