// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Routing: a stable study (or series) -> the rules -> jobs in the durable queue. The same images
// give the same idempotency key, so a study routed twice makes no second job; one more instance in
// a processed series gives a new job, which supersedes the old one (the store does that). Stable
// events whose routing met an unavailable database or Orthanc are kept and retried with backoff
// (Orthanc sends a study's stable event once). Reconcile routes what a restart left unrouted.
//
//   Router router(settings, store, orthanc, model.info(), arrivals, health, notifier, clock, 60);
//   router.OnStable(false, study_id);         // Orthanc's change thread: an in-memory push
//   while (router.RouteNext(now)) {}           // the router thread
//   router.Reconcile(now);                     // every few seconds
//   Json why = router.RouteStudy(id, "", false, nullptr);   // POST /curia/rules/test
//
// Thread-safe: OnStable and RouteStudy from any thread; RouteNext and Reconcile from one thread.
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "arrivals.h"
#include "curia/config/json.h"
#include "curia/config/settings.h"
#include "curia/node/orthanc.h"
#include "curia/storage/store.h"
#include "curia/worker/model.h"
#include "health.h"
#include "notifier.h"

namespace curia::node {

class Router {
 public:
  static constexpr double kRetryMaxSeconds = 60;  // routing retries back off up to this

  Router(const config::CuriaSettings& settings, storage::Store& store, IOrthanc& orthanc, const worker::ModelInfo& model,
         Arrivals& arrivals, Health& health, Notifier& notifier, Clock clock, double stable_age_s);

  // A stable study or series (as Orthanc reports them): queued when it is the configured trigger.
  void OnStable(bool series_level, const std::string& orthanc_id);
  // Flushes the arrivals and routes the next stable event, or else a retry that is due. False when
  // there was neither.
  bool RouteNext(double now);
  // Routes a study now: the explanation (config::RoutingToJson), and the jobs queued when
  // `enqueue` (their IDs in `job_ids`, existing ones included). Audits "received" (what arrived
  // since the study was last routed) and "routed" or "not-routed" (with the first reason of each
  // rule). Throws curia::Error(kNotFound) for a study Orthanc does not hold.
  config::Json RouteStudy(const std::string& study_id, const std::string& only_series, bool enqueue,
                          std::vector<int64_t>* job_ids);
  // Routes the studies that arrived but were not routed since and have been quiet for the stable
  // age (what a crash or restart left); forgets those Orthanc no longer has. Errors are logged
  // (and noted for health when they may pass): the next call tries again.
  void Reconcile(double now);
  // "N stable studies waiting to be routed again", when some are.
  std::vector<std::string> Problems() const;

 private:
  struct Event {
    bool series_level = false;
    std::string id;
    int failures = 0;  // routing attempts that met an unavailable database or Orthanc
    double due = 0;    // when to try again (retries only)
  };
  void Route(const Event& event);

  const config::CuriaSettings& settings_;
  storage::Store& store_;
  IOrthanc& orthanc_;
  const worker::ModelInfo& model_;
  Arrivals& arrivals_;
  Health& health_;
  Notifier& notifier_;
  Clock clock_;
  double stable_age_s_;
  std::mutex mu_;
  std::deque<Event> events_;
  std::vector<Event> retries_;                // RouteNext's thread only
  std::atomic<int64_t> retry_count_{0};      // retries_.size(), for health
};

}  // namespace curia::node
