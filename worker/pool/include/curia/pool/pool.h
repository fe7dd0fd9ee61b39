// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The worker pool: studies in, findings out, with the device kept busy across many studies.
//
//   WorkerPool pool(model, settings.model);
//   pool.Submit({"job-1", Priority::kStat, volume, {"ich"}},   // + regions for mask-prompted tasks
//               [](JobResult r) { ... },                  // exactly once, on a pool thread
//               [](const JobProgress& p) { ... });        // slices done / total, rising, before r
//
// Inside: CPU threads (Boost.Asio thread pool) read and preprocess slices ahead of the devices into
// a bounded queue; one or more workers per device take batches of up to MaxBatch slices from any
// jobs (waiting at most MaxBatchDelayMs for a batch to fill), run the backbone and the 2-D heads,
// and keep the tokens 3-D heads need; a study's findings are made when its last slice is through.
// Order (scheduler.h): stat before routine before off-peak; a job rises one level for every
// AgingSeconds it waits, so routine work is never starved. Findings from slice scores: aggregate.h.
// Memory: at most MaxActiveJobs studies are being read, at most QueuedSlices preprocessed slices
// wait, and a study keeps only per-slice scores (and the tokens of its 3-D windows): it does not
// grow with the number of slices queued.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "curia/config/settings.h"
#include "curia/pool/scheduler.h"
#include "curia/worker/findings.h"
#include "curia/worker/job_region.h"
#include "curia/worker/model.h"
#include "curia/worker/volume.h"

namespace curia::pool {

struct JobRequest {
  std::string id;  // unique among the jobs in the pool
  Priority priority = Priority::kRoutine;
  std::shared_ptr<const worker::IVolumeSource> volume;
  std::vector<std::string> tasks;  // task names; empty: every task of the model
  bool heat_maps = false;          // keep the key slice's patch heat map of 2-D tasks
  // Regions of the volume for the mask-prompted tasks (their masks on the volume's grid). Each
  // mask-prompted task runs on the regions its Region selects, on the slices where a region has at
  // least Region.MinPixels pixels; refused or too small regions become SkippedTask entries. A slice
  // goes through the backbone once, whatever the number of tasks and regions that need it.
  std::vector<worker::JobRegion> regions = {};
  // Also every slice's backbone features (the post-LN CLS, as a 2-D head sees it) in
  // JobResult::slice_features, the slices normalised as `features_normalization` says (never kAuto).
  // A job for features alone names no task (`tasks` empty on a model without tasks). For `curia features`.
  bool slice_features = false;
  config::Normalization features_normalization = config::Normalization::kPerSlice;
  // Also each 3-D task's attention-module input (IModel::VolumeInput) in JobResult::volume_inputs:
  // the tokens `curia features` stores for training a 3-D head of that geometry.
  bool volume_inputs = false;
  // Also each 2-D mask-prompted task's feature on each of its regions' slices (the masked mean of
  // the post-LN patch tokens its head classifies) in JobResult::region_features: `curia features`
  // for region heads.
  bool region_features = false;
};

// A 2-D mask-prompted task's features on one region (JobRequest::region_features).
struct RegionFeatures {
  std::string task;
  size_t region = 0;                         // index into JobRequest::regions
  std::vector<int64_t> slices;               // the region's slices the task ran on, ascending
  std::vector<std::vector<float>> features;  // per slice of `slices`
};

enum class JobStatus { kDone, kFailed, kCancelled };
const char* JobStatusName(JobStatus s);

struct JobResult {
  std::string id;
  JobStatus status = JobStatus::kDone;
  std::string error;  // for kFailed: what went wrong, naming the slice or task
  worker::StudyFindings findings;
  std::vector<std::vector<float>> slice_features;  // JobRequest::slice_features: slice -> post-LN CLS
  std::map<std::string, worker::SliceTokens> volume_inputs;  // JobRequest::volume_inputs: 3-D task -> input
  std::vector<RegionFeatures> region_features;               // JobRequest::region_features
};

struct JobProgress {
  std::string id;
  int64_t done = 0;   // slices through (reading for per-volume statistics counts too)
  int64_t total = 0;
};

struct PoolStats {
  int64_t jobs_done = 0, jobs_failed = 0, jobs_cancelled = 0;
  int64_t batches = 0, slices = 0;
  int64_t largest_batch = 0;
  int64_t multi_job_batches = 0;      // batches holding slices of more than one job
  int64_t peak_queued = 0;            // most preprocessed slices waiting at once (<= QueuedSlices)
  std::vector<int64_t> batch_sizes;   // histogram: batch_sizes[n] = batches of n slices
  double device_seconds = 0;
};

using DoneCallback = std::function<void(JobResult)>;
using ProgressCallback = std::function<void(const JobProgress&)>;

class WorkerPool {
 public:
  // Starts the threads. `model` must outlive the pool. Throws curia::Error when a runner cannot be
  // created for a device.
  WorkerPool(worker::IModel& model, const config::ModelSettings& settings);
  // Cancels what is left (their callbacks run with kCancelled, on the caller's thread) and joins
  // every thread.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Thread-safe; returns at once. Throws curia::Error(kInvalidArgument) for an unknown task, a
  // missing volume or an id already in the pool; everything that goes wrong later (an unreadable
  // slice, a volume too short for a 3-D window) ends the job with kFailed and a message.
  void Submit(JobRequest request, DoneCallback on_done, ProgressCallback on_progress = {});
  // True when the job was in the pool; its callback then runs with kCancelled (once the slices it
  // has on the device are through).
  bool Cancel(const std::string& id);
  std::optional<JobProgress> Progress(const std::string& id) const;
  PoolStats Stats() const;

  // While paused no new slice is read or started on a device (slices already on a device finish);
  // jobs can still be submitted and cancelled. For maintenance, and to queue work before it runs.
  void Pause();
  void Resume();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace curia::pool
