// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Running jobs: claim the most urgent queued job, load its series from Orthanc, run it through the
// worker pool (renewing the job's lease meanwhile, cancelling it when the job is cancelled or
// superseded or the node stops), write the SR and key images into the store. Bad input fails a
// job for good; an unavailable Orthanc or device, or a bug, queues it again until MaxAttempts.
// Also the recovery of jobs whose runner went away (an expired lease, a restart).
//
//   JobRunner runner(settings, store, orthanc, model, health, notifier, clock, "1.0");
//   runner.RecoverInterrupted();   // start-up: every running job was interrupted
//   runner.StartPool();
//   while (runner.RunNext()) {}     // each job runner thread
//   runner.StopPool();             // after the threads are joined
//
// Thread-safe: RunNext from several threads at once (each runs one job at a time).
#include <memory>
#include <string>

#include "curia/config/settings.h"
#include "curia/node/orthanc.h"
#include "curia/storage/store.h"
#include "curia/worker/model.h"
#include "health.h"
#include "notifier.h"

namespace curia::pool {
class WorkerPool;
}

namespace curia::node {

class JobRunner {
 public:
  static constexpr double kProgressSeconds = 1;  // progress is written at most this often

  JobRunner(const config::CuriaSettings& settings, storage::Store& store, IOrthanc& orthanc, worker::IModel& model,
            Health& health, Notifier& notifier, Clock clock, std::string version);
  ~JobRunner();

  // Creates the worker pool (the model's device runners). Throws curia::Error when a device cannot
  // be used.
  void StartPool();
  // Destroys the pool (cancelling what runs in it). Call once no RunNext is running.
  void StopPool();

  // Claims the most urgent queued job and runs it to its end (done, failed, queued again, or left
  // running when the node stops). False when no job was queued (or the database refused the claim).
  bool RunNext();
  // Start-up, when this node is the database's only user: whatever a previous process left running
  // was interrupted, whatever its lease says; queued again without using up an attempt.
  int RecoverInterrupted();
  // Running jobs whose lease expired (a runner that hung): queued again, using up an attempt.
  int RecoverExpiredLeases();

 private:
  void Run(const storage::JobRow& job);
  void Fail(const storage::JobRow& job, const std::string& error, bool retryable);
  // The claim no longer owns the job (`what`: "its result refused", "its failure refused",
  // "stopped before processing", "stopped while processing"): logged, and audited "lease-lost"
  // unless the job was cancelled or superseded meanwhile (a user or a newer job decided).
  void Refused(const storage::JobRow& job, const std::string& what);

  const config::CuriaSettings& settings_;
  storage::Store& store_;
  IOrthanc& orthanc_;
  worker::IModel& model_;
  Health& health_;
  Notifier& notifier_;
  Clock clock_;
  std::string version_;
  std::unique_ptr<pool::WorkerPool> pool_;
};

}  // namespace curia::node
