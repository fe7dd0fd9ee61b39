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
// Threads: a router (stable events, arrival counts, reconciliation of what a restart left
// unrouted, lease recovery, this node's heartbeat), Queue.Workers job runners (claim a job, load
// its series from Orthanc, run it through the worker pool, write the SR and key images into the
// store), and an exporter (sends each object to each destination with store-straight, retrying
// with backoff, dead-lettering). Node is a facade: the work is done by parts with one job each (src/:
// Arrivals, Router, JobRunner, Exporter, Health, Api), which own no threads and read an
// injected clock, so that tests drive them step by step; Node owns the threads and the store.
#include <atomic>
#include <cstdint>
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

namespace curia::node {

class Api;
class Arrivals;
class Exporter;
class Health;
class JobRunner;
class Notifier;
class Router;

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
  // Further headers, e.g. {"Allow", "GET, POST"} with a 405 (Orthanc's plugin SDK sends a 405
  // with OrthancPluginSendMethodNotAllowed, which takes the Allow value).
  std::vector<std::pair<std::string, std::string>> headers;
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
  void RouterLoop();
  void RunnerLoop();
  void ExporterLoop();
  void WakeLoop();  // a store SharedByNodes: its announcements of work wake this node's threads
  // Records this node's heartbeat (its name, version, job runners, process and host) in the store.
  void Heartbeat();

  config::CuriaSettings settings_;
  std::unique_ptr<storage::Store> store_;
  worker::IModel& model_;
  NodeInfo info_;
  std::unique_ptr<Notifier> notifier_;
  std::unique_ptr<Health> health_;
  std::unique_ptr<Arrivals> arrivals_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<JobRunner> runner_;
  std::unique_ptr<Exporter> exporter_;
  std::unique_ptr<Api> api_;

  std::mutex mu_;  // started_, threads_
  bool started_ = false;
  std::atomic<bool> running_{false};
  std::vector<std::thread> threads_;
};

// Seconds since the Unix epoch.
double Now();

// plugin/node/ui/explorer.js, compiled in: the Curia panel the plugin appends to Orthanc Explorer.
std::string ExplorerScript();

}  // namespace curia::node
