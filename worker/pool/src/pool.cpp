// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/pool/pool.h"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "curia/config/error.h"
#include "curia/config/log.h"
#include "curia/config/rules.h"
#include "curia/model/mask.h"
#include "curia/model/preprocess.h"
#include "curia/pool/aggregate.h"
#include "curia/pool/prepare.h"

namespace curia::pool {

// The worker's contract types (volumes, model, findings) are used throughout.
using namespace curia::worker;  // NOLINT(google-build-using-namespace)
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Mean and sum of squared deviations of a set of values, combinable (Chan et al.).
struct Moments {
  double n = 0, mean = 0, m2 = 0;
  void Add(const Moments& o) {
    if (o.n == 0) return;
    const double total = n + o.n, delta = o.mean - mean;
    mean += delta * o.n / total;
    m2 += o.m2 + delta * delta * n * o.n / total;
    n = total;
  }
  // `sum`: the values' sum in index order (what SlicePreparer::Prepare returns).
  static Moments Of(const float* v, int64_t count, double sum) {
    Moments m;
    m.n = static_cast<double>(count);
    m.mean = sum / m.n;
    for (int64_t i = 0; i < count; ++i) m.m2 += (v[i] - m.mean) * (v[i] - m.mean);
    return m;
  }
};

// One slice to push through the backbone, and what it is for.
struct Item {
  int64_t slice = 0;
  bool volume_norm = false;  // z-scored with the whole volume's statistics (else alone)
  SliceRequest request;
  std::vector<size_t> runs = {};  // region runs (Job::runs) that need this slice; their masks travel with it
};

// A mask-prompted task on one region: the slices it runs on and what the head said on each.
struct RegionRun {
  int task = 0;
  size_t region = 0;  // index into JobRequest::regions
  // 2-D: ascending, where the region has at least Region.MinPixels pixels. 3-D: the head's window
  // around the region (KeptSlices), in window order.
  std::vector<int64_t> slices;
  std::map<int64_t, std::vector<float>> outputs;  // 2-D: slice -> class probabilities
  std::map<int64_t, std::vector<float>> features;  // 2-D, JobRequest::region_features: slice -> feature
  // 3-D (the task's head is 3-D): the threshold of the region's stack of resized masks
  // (model::MaskResizer::ResizeAt), and slice -> the tokens under the mask.
  float threshold = 0.5f;
  std::map<int64_t, SliceTokens> tokens;
};

// "SEG segment 3 \"Liver\"", "RTSTRUCT ROI 2 \"PTV\"", "SEG": how messages name a region.
std::string RegionName(const RegionReference& r) {
  if (r.number == 0) return r.kind.empty() ? std::string("region object") : r.kind;
  return r.kind + (r.kind == "RTSTRUCT" ? " ROI " : " segment ") + std::to_string(r.number) + " \"" + r.label + "\"";
}

struct Job {
  JobRequest request;
  DoneCallback on_done;
  ProgressCallback on_progress;
  // Reports leave in order and never after on_done: several threads deliver them outside mu.
  std::mutex report_mu;
  int64_t reported = -1;
  bool closed = false;
  JobOrder order;  // priority, submission time and rank among equals
  std::vector<int> tasks;  // model task indices

  // Set when the job is activated (its volume's description read and its items planned).
  bool active = false, activating = false;
  VolumeInfo info;
  std::vector<Item> items;
  size_t next_item = 0, items_done = 0;
  bool needs_stats = false;
  int64_t next_stats = 0, stats_done = 0;
  Moments moments;
  model::ZScoreStats volume;  // final once every slice's moments are in (StatsReady)
  int64_t in_flight = 0;  // units being read, slices queued or on a device

  // Results.
  std::map<int, std::vector<std::vector<float>>> probabilities;  // 2-D task -> slice -> classes
  std::vector<std::vector<float>> features;  // JobRequest::slice_features: slice -> post-LN CLS
  struct BestMap {
    float score = 0;
    int64_t slice = 0;
    HeatMap map;
  };
  std::map<int, BestMap> best_heat_map;  // 2-D task -> the map of its best slice (the key slice)
  std::map<int, std::vector<int64_t>> kept;                      // 3-D task -> its slices, in order
  std::map<int, std::map<int64_t, SliceTokens>> tokens;          // 3-D task -> slice -> tokens
  std::vector<RegionRun> runs;  // mask-prompted tasks x selected regions, in task then region order
  std::vector<SkippedTask> skipped;
  bool cancelled = false, failed = false, finished = false;
  std::string error;
  JobTimings timings;

  int64_t Total() const { return static_cast<int64_t>(items.size()) + (needs_stats ? info.slices : 0); }
  int64_t Done() const { return static_cast<int64_t>(items_done) + stats_done; }
  bool Dead() const { return cancelled || failed; }
  bool StatsReady() const { return stats_done == info.slices; }
};

using JobPtr = std::shared_ptr<Job>;

// A preprocessed slice waiting for a device.
struct ReadySlice {
  JobPtr job;
  size_t item = 0;
  std::vector<float> pixels;
  // The region masks at model size of the item's 2-D runs and of its 3-D runs, each in the order of
  // the item's runs: they become SliceRequest::masked2d and masked3d.
  std::vector<MaskedTask> masks2d, masks3d;
};

// Units of preprocessing work a pump thread can pick.
struct Unit {
  enum class Kind { kActivate, kStats, kItem } kind = Kind::kItem;
  JobPtr job;
  int64_t slice = 0;
  size_t item = 0;
};

}  // namespace

const char* JobStatusName(JobStatus s) {
  switch (s) {
    case JobStatus::kDone: return "done";
    case JobStatus::kFailed: return "failed";
    case JobStatus::kCancelled: return "cancelled";
  }
  return "?";
}

struct WorkerPool::Impl {
  IModel& model;
  const ModelInfo& info;
  config::ModelSettings settings;
  const Scheduler scheduler;  // which job and which slices go next
  const int64_t size;   // preprocessed slices are size x size
  const int64_t plane;  // size * size

  mutable std::mutex mu;
  std::condition_variable ready_cv;  // device workers: slices queued, or stopping
  std::vector<JobPtr> jobs;          // every job in the pool, in submission order
  std::vector<ReadySlice> ready;     // preprocessed slices waiting for a device
  std::vector<std::vector<float>> free_buffers;
  int64_t reserved = 0;              // queue places taken by slices being preprocessed
  int64_t pumps = 0;                 // pump tasks running
  uint64_t next_seq = 0;
  bool stopping = false;
  bool paused = false;
  PoolStats stats;

  const int64_t host_threads;  // config::HostThreads
  boost::asio::thread_pool cpu;
  std::vector<std::thread> devices;

  Impl(IModel& m, const config::ModelSettings& s)
      : model(m),
        info(m.info()),
        settings(s),
        scheduler({s.aging_seconds, s.max_batch, std::chrono::milliseconds(s.max_batch_delay_ms)}),
        size(m.info().image_size),
        plane(m.info().image_size * m.info().image_size),
        host_threads(config::HostThreads(s, std::thread::hardware_concurrency())),
        cpu(static_cast<size_t>(host_threads)) {
    for (size_t d = 0; d < info.devices.size(); ++d) {
      for (int64_t w = 0; w < s.workers_per_device; ++w) {
        std::shared_ptr<IDeviceRunner> runner = model.CreateRunner(d);
        devices.emplace_back([this, runner] { DeviceLoop(*runner); });
      }
    }
  }

  int64_t ActiveCount() const {
    int64_t n = 0;
    for (const JobPtr& j : jobs) n += (j->active || j->activating) ? 1 : 0;
    return n;
  }

  // Under mu. Whether the job has a unit of work a pump may start now.
  bool HasUnit(const Job& j, bool room, int64_t active) const {
    if (j.Dead() || j.finished) return false;
    if (!j.active) return !j.activating && active < settings.max_active_jobs;
    if (j.needs_stats && j.next_stats < j.info.slices) return true;
    return room && j.next_item < j.items.size() && (!j.items[j.next_item].volume_norm || j.StatsReady());
  }

  // Under mu. The most urgent unit of work there is room for, if any: from the job the scheduler
  // picks among those with work, activation first, then statistics, then slices.
  std::optional<Unit> PickUnit() {
    if (stopping || paused) return std::nullopt;
    const bool room = static_cast<int64_t>(ready.size()) + reserved < settings.queued_slices;
    const int64_t active = ActiveCount();
    std::vector<JobPtr> candidates;
    std::vector<JobOrder> orders;
    for (const JobPtr& j : jobs) {
      if (!HasUnit(*j, room, active)) continue;
      candidates.push_back(j);
      orders.push_back(j->order);
    }
    const std::optional<size_t> pick = scheduler.PickJob(orders, scheduler.Now());
    if (!pick) return std::nullopt;
    const JobPtr& best = candidates[*pick];
    Job& j = *best;
    if (!j.active) {
      j.activating = true;
      return Unit{Unit::Kind::kActivate, best, 0, 0};
    }
    if (j.needs_stats && j.next_stats < j.info.slices) return Unit{Unit::Kind::kStats, best, j.next_stats++, 0};
    const size_t index = j.next_item++;
    return Unit{Unit::Kind::kItem, best, j.items[index].slice, index};
  }

  // Under mu. Starts pump tasks while there is work they could pick.
  void StartPumps() {
    while (pumps < host_threads && !stopping) {
      ++pumps;
      boost::asio::post(cpu, [this] { Pump(); });
    }
  }

  // Under mu. A failed or cancelled job leaves once nothing of it is in flight.
  std::vector<JobPtr> Reap() {
    std::vector<JobPtr> gone;
    for (auto it = jobs.begin(); it != jobs.end();) {
      const Job& j = **it;
      if ((j.Dead() && j.in_flight == 0 && !j.activating) || j.finished) {
        gone.push_back(*it);
        it = jobs.erase(it);
      } else {
        ++it;
      }
    }
    return gone;
  }

  void Fail(Job& j, const std::string& message) {
    if (j.Dead()) return;
    j.failed = true;
    j.error = message;
  }

  // Outside mu: a progress report, unless a later one or the job's end has been delivered already.
  static void Report(Job& j, const JobProgress& report) {
    std::lock_guard<std::mutex> lock(j.report_mu);
    if (j.closed || report.done <= j.reported) return;
    j.reported = report.done;
    j.on_progress(report);
  }

  // Outside mu: callbacks of jobs that left the pool.
  void Finish(const std::vector<JobPtr>& gone) {
    for (const JobPtr& j : gone) {
      JobResult r;
      r.id = j->request.id;
      if (j->cancelled) {
        r.status = JobStatus::kCancelled;
      } else if (j->failed) {
        r.status = JobStatus::kFailed;
        r.error = j->error;
      } else {
        r.findings = Findings(*j, &r);
        r.slice_features = std::move(j->features);
      }
      r.findings.timings = j->timings;
      r.findings.timings.total_seconds = Seconds(Clock::now() - j->order.submitted);
      {
        std::lock_guard<std::mutex> lock(mu);
        if (r.status == JobStatus::kDone) ++stats.jobs_done;
        if (r.status == JobStatus::kFailed) ++stats.jobs_failed;
        if (r.status == JobStatus::kCancelled) ++stats.jobs_cancelled;
      }
      if (r.status == JobStatus::kFailed) log::Warning("pool", "job " + r.id + " failed: " + r.error);
      {
        std::lock_guard<std::mutex> lock(j->report_mu);
        j->closed = true;
      }
      try {
        j->on_done(std::move(r));
      } catch (const std::exception& e) {
        log::Error("pool", "job " + j->request.id + ": completion callback threw: " + e.what());
      }
    }
  }

  // What a job does with its volume: which slices go through the backbone, normalised how, for
  // which tasks. Made outside mu (it reads the volume's description), installed under it.
  struct JobPlan {
    VolumeInfo info;
    std::vector<Item> items;
    bool needs_stats = false;
    std::map<int, std::vector<int64_t>> kept;
    std::vector<RegionRun> runs;
    std::vector<int> tasks;            // the tasks that apply
    std::vector<SkippedTask> skipped;  // and those that do not
  };

  JobPlan Plan(const Job& job) const {
    JobPlan j;
    j.info = job.request.volume->Info();
    if (j.info.slices < 1 || j.info.rows < 1 || j.info.cols < 1) {
      throw Error(ErrorCode::kInvalidArgument, "the volume is empty (" + std::to_string(j.info.slices) + " slices of " +
                                                   std::to_string(j.info.rows) + "x" + std::to_string(j.info.cols) + ")");
    }
    // slice -> item index, per normalisation.
    std::map<int64_t, size_t> by_slice[2];
    auto item_for = [&](int64_t slice, bool volume_norm) -> Item& {
      auto& index = by_slice[volume_norm ? 1 : 0];
      auto it = index.find(slice);
      if (it == index.end()) {
        it = index.emplace(slice, j.items.size()).first;
        j.items.push_back(Item{slice, volume_norm, {}, {}});
        j.items.back().request.heat_maps = job.request.heat_maps;
      }
      return j.items[it->second];
    };
    for (int t : job.tasks) {
      const TaskInfo& task = info.tasks[static_cast<size_t>(t)];
      const bool volume_norm = task.normalization == config::Normalization::kPerVolume;
      if (task.mask_prompted) {
        if (PlanRegions(job, t, j, [&](int64_t s) -> Item& { return item_for(s, volume_norm); })) {
          j.tasks.push_back(t);
          j.needs_stats = j.needs_stats || volume_norm;
        }
        continue;
      }
      std::vector<int64_t> kept;
      if (task.is3d) {
        try {
          kept = model.KeptSlices(t, j.info.slices, {});
        } catch (const Error& e) {
          // The task does not apply to this volume; the others still run.
          j.skipped.push_back({task.name, e.what()});
          continue;
        }
      }
      j.tasks.push_back(t);
      j.needs_stats = j.needs_stats || volume_norm;
      if (!task.is3d) {
        for (int64_t s = 0; s < j.info.slices; ++s) item_for(s, volume_norm).request.tasks2d.push_back(t);
      } else {
        j.kept[t] = kept;
        std::vector<int64_t> unique = kept;
        std::sort(unique.begin(), unique.end());
        unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
        for (int64_t s : unique) item_for(s, volume_norm).request.tasks3d.push_back(t);
      }
    }
    if (job.request.slice_features) {
      if (job.request.features_normalization == config::Normalization::kAuto) {
        throw Error(ErrorCode::kInvalidArgument, "the features' normalisation must be per slice or per volume, not auto");
      }
      const bool volume_norm = job.request.features_normalization == config::Normalization::kPerVolume;
      for (int64_t s = 0; s < j.info.slices; ++s) item_for(s, volume_norm).request.cls = true;
      j.needs_stats = j.needs_stats || volume_norm;
    }
    if (j.tasks.empty() && !job.request.slice_features) {
      std::string reasons;
      for (const SkippedTask& s : j.skipped) reasons += (reasons.empty() ? "" : "; ") + ("task " + s.task + ": " + s.reason);
      throw Error(ErrorCode::kInvalidArgument, reasons);
    }
    // Slices normalised alone first: they need no statistics and can go while those are gathered.
    std::stable_partition(j.items.begin(), j.items.end(), [](const Item& i) { return !i.volume_norm; });
    return j;
  }

  // A mask-prompted task `t` on the job's regions: a run for every region its Region selects that has
  // a slice of at least MinPixels pixels, the others skipped with the reason. True when it runs.
  template <class ItemFor>
  bool PlanRegions(const Job& job, int t, JobPlan& j, ItemFor&& item_for) const {
    const TaskInfo& task = info.tasks[static_cast<size_t>(t)];
    const config::RegionSelection selection = task.settings.region.value_or(config::RegionSelection{});
    const std::vector<JobRegion>& regions = job.request.regions;
    const size_t before = j.skipped.size(), first_run = j.runs.size();
    const auto slices = static_cast<size_t>(j.info.slices);
    const size_t plane = static_cast<size_t>(j.info.rows * j.info.cols);
    for (size_t r = 0; r < regions.size(); ++r) {
      const RegionReference& ref = regions[r].reference;
      const bool from = ref.kind == "SEG" ? selection.from_seg : ref.kind == "RTSTRUCT" && selection.from_rtstruct;
      if (!regions[r].refusal.empty()) {
        // A refused object concerns every task that takes its kind; a refused region, those selecting it.
        if (ref.number == 0 ? from : config::RegionSelects(selection, ref.kind, ref.label, ref.type)) {
          j.skipped.push_back({task.name, RegionName(ref) + ": " + regions[r].refusal});
        }
        continue;
      }
      if (!config::RegionSelects(selection, ref.kind, ref.label, ref.type)) continue;
      if (regions[r].mask.size() != slices * plane || ref.slice_pixels.size() != slices) {
        j.skipped.push_back({task.name, RegionName(ref) + ": its mask is not on this volume's grid (" +
                                            std::to_string(regions[r].mask.size()) + " values for " +
                                            std::to_string(j.info.slices) + " slices of " + std::to_string(j.info.rows) +
                                            "x" + std::to_string(j.info.cols) + ")"});
        continue;
      }
      RegionRun run;
      run.task = t;
      run.region = r;
      if (task.is3d) {
        try {
          PlanRegion3D(t, regions[r], j.info, run);
        } catch (const Error& e) {
          j.skipped.push_back({task.name, RegionName(ref) + ": " + e.what()});
          continue;
        }
        std::vector<int64_t> unique = run.slices;
        std::sort(unique.begin(), unique.end());
        unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
        for (int64_t s : unique) item_for(s).runs.push_back(j.runs.size());
        j.runs.push_back(std::move(run));
        continue;
      }
      int64_t largest = 0;
      for (size_t s = 0; s < slices; ++s) {
        largest = std::max(largest, ref.slice_pixels[s]);
        if (ref.slice_pixels[s] >= selection.min_pixels) run.slices.push_back(static_cast<int64_t>(s));
      }
      if (run.slices.empty()) {
        j.skipped.push_back({task.name, RegionName(ref) + ": too few pixels (at most " + std::to_string(largest) +
                                            " on a slice, below Region.MinPixels " +
                                            std::to_string(selection.min_pixels) + ")"});
        continue;
      }
      for (int64_t s : run.slices) {
        Item& item = item_for(s);
        item.runs.push_back(j.runs.size());
        item.request.masked_features = item.request.masked_features || job.request.region_features;
      }
      j.runs.push_back(std::move(run));
    }
    if (j.runs.size() > first_run) return true;
    if (j.skipped.size() == before) {
      j.skipped.push_back({task.name, regions.empty() ? std::string("no SEG or RTSTRUCT region for this series")
                                                      : "none of the " + std::to_string(regions.size()) +
                                                            " region(s) of this series is selected by its Region"});
    }
    return false;
  }

  // A 3-D mask-prompted task on one region, as the reference trainer and head take it: the region's
  // per-slice masks resized to the model size with one threshold over the whole stack
  // (model::MaskResizer), the head's window centred on the middle slice the resized mask covers,
  // slices it does not cover dropped. Region.MinPixels does not apply: the head pools the tokens
  // under the mask wherever the mask is. Sets run.threshold and run.slices; throws
  // curia::Error (kInvalidArgument) with the reason the head cannot run on the region.
  void PlanRegion3D(int t, const JobRegion& region, const VolumeInfo& volume, RegionRun& run) const {
    const auto slice_plane = static_cast<size_t>(volume.rows * volume.cols);
    model::MaskResizer resizer(volume.rows, volume.cols, size);
    std::vector<float> scratch(static_cast<size_t>(plane));
    std::vector<float> largest(static_cast<size_t>(volume.slices), 0.0f);
    float max = 0.0f;
    for (size_t s = 0; s < largest.size(); ++s) {
      if (region.reference.slice_pixels[s] == 0) continue;
      largest[s] = resizer.ResizedMax(region.mask.data() + s * slice_plane, scratch.data());
      max = std::max(max, largest[s]);
    }
    run.threshold = model::StackThreshold(max, "the region mask").threshold;
    std::vector<bool> masked(largest.size());
    for (size_t s = 0; s < largest.size(); ++s) masked[s] = largest[s] > run.threshold;
    run.slices = model.KeptSlices(t, volume.slices, masked);
  }

  // Under mu.
  void Install(Job& j, JobPlan plan) {
    j.info = std::move(plan.info);
    j.items = std::move(plan.items);
    j.needs_stats = plan.needs_stats;
    j.kept = std::move(plan.kept);
    j.runs = std::move(plan.runs);
    j.tasks = std::move(plan.tasks);
    j.skipped = std::move(plan.skipped);
    for (int t : j.tasks) {
      if (!info.tasks[static_cast<size_t>(t)].is3d) j.probabilities[t].resize(static_cast<size_t>(j.info.slices));
    }
    if (j.request.slice_features) j.features.resize(static_cast<size_t>(j.info.slices));
  }

  // A preprocessing thread: picks units until there is nothing it may do.
  void Pump() {
    log::NameThisThread("curia-host");
    // Raw slice -> the processor's numpy path (int16, /32767, resize to size x size): prepare.h.
    SlicePreparer prep(size);
    std::vector<float> scratch;
    std::map<std::pair<int64_t, int64_t>, model::MaskResizer> mask_resizers;
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      std::optional<Unit> unit = PickUnit();
      if (!unit) break;
      Job& j = *unit->job;
      if (unit->kind == Unit::Kind::kItem) ++reserved;
      if (unit->kind != Unit::Kind::kActivate) ++j.in_flight;
      std::vector<float> buffer;
      if (unit->kind == Unit::Kind::kItem && !free_buffers.empty()) {
        buffer = std::move(free_buffers.back());
        free_buffers.pop_back();
      }
      lock.unlock();

      const Clock::time_point start = Clock::now();
      std::string error;
      Moments moments;
      JobPlan plan;
      std::vector<MaskedTask> masks2d, masks3d;
      try {
        switch (unit->kind) {
          case Unit::Kind::kActivate: plan = Plan(j); break;
          case Unit::Kind::kStats: {
            scratch.resize(static_cast<size_t>(plane));
            const double sum = prep.Prepare(*j.request.volume, j.info.rows, j.info.cols, unit->slice, scratch.data());
            moments = Moments::Of(scratch.data(), plane, sum);
            break;
          }
          case Unit::Kind::kItem: {
            buffer.resize(static_cast<size_t>(plane));
            if (j.items[unit->item].volume_norm) {
              // Statistics of the whole volume (the processor's 3-D path); read under no lock:
              // they are final once every slice's moments are in.
              prep.Prepare(*j.request.volume, j.info.rows, j.info.cols, unit->slice, buffer.data());
              model::ApplyZScore(buffer.data(), plane, j.volume);
            } else {
              prep.PrepareZScored(*j.request.volume, j.info.rows, j.info.cols, unit->slice, info.eps, buffer.data());
            }
            // The item's region masks as the reference trainer makes them (model/mask.h). They are
            // in the pixels' orientation already: the region readers give masks as ReadSlice gives
            // slices. Runs are fixed once the job is active (only their outputs change, under mu).
            const size_t slice_plane = static_cast<size_t>(j.info.rows * j.info.cols);
            for (size_t run : j.items[unit->item].runs) {
              const RegionRun& rr = j.runs[run];
              auto resizer = mask_resizers.find({j.info.rows, j.info.cols});
              if (resizer == mask_resizers.end()) {
                resizer = mask_resizers.emplace(std::make_pair(j.info.rows, j.info.cols),
                                                model::MaskResizer(j.info.rows, j.info.cols, size)).first;
              }
              MaskedTask m{rr.task, std::vector<float>(static_cast<size_t>(plane))};
              const uint8_t* source = j.request.regions[rr.region].mask.data() + static_cast<size_t>(unit->slice) * slice_plane;
              if (info.tasks[static_cast<size_t>(rr.task)].is3d) {
                resizer->second.ResizeAt(source, rr.threshold, m.mask.data());
                masks3d.push_back(std::move(m));
              } else {
                resizer->second.Resize(source, m.mask.data());
                masks2d.push_back(std::move(m));
              }
            }
            break;
          }
        }
      } catch (const std::exception& e) {
        error = e.what();
      }
      const double seconds = Seconds(Clock::now() - start);

      lock.lock();
      j.timings.preprocess_seconds += seconds;
      std::vector<JobPtr> gone;
      bool progress = false;
      JobProgress report;
      if (!error.empty()) {
        Fail(j, unit->kind == Unit::Kind::kActivate ? error : "slice " + std::to_string(unit->slice) + ": " + error);
      }
      switch (unit->kind) {
        case Unit::Kind::kActivate:
          j.activating = false;
          if (error.empty()) {
            Install(j, std::move(plan));
            j.active = true;
            j.timings.queued_seconds = Seconds(Clock::now() - j.order.submitted);
          }
          break;
        case Unit::Kind::kStats:
          --j.in_flight;
          if (!j.Dead()) {
            j.moments.Add(moments);
            ++j.stats_done;
            if (j.StatsReady()) {
              j.volume = model::MakeZScoreStats(j.moments.mean, j.moments.m2 / std::max(1.0, j.moments.n - 1), info.eps);
            }
            progress = static_cast<bool>(j.on_progress);
            report = {j.request.id, j.Done(), j.Total()};
          }
          break;
        case Unit::Kind::kItem:
          --reserved;
          if (j.Dead() || stopping) {
            --j.in_flight;
            free_buffers.push_back(std::move(buffer));
          } else {
            ready.push_back(ReadySlice{unit->job, unit->item, std::move(buffer), std::move(masks2d), std::move(masks3d)});
            stats.peak_queued = std::max<int64_t>(stats.peak_queued, static_cast<int64_t>(ready.size()));
            ready_cv.notify_one();
          }
          break;
      }
      gone = Reap();
      if (!gone.empty() || progress) {
        lock.unlock();
        if (progress) Report(j, report);
        Finish(gone);
        lock.lock();
      }
    }
    --pumps;
  }

  // Under mu: the next batch as the scheduler forms it; the slices of jobs that are gone and that it
  // passed over leave the queue with it.
  std::vector<ReadySlice> TakeBatch() {
    std::vector<QueuedSlice> queue;
    queue.reserve(ready.size());
    for (const ReadySlice& r : ready) queue.push_back({r.job->order, r.item});
    const Batch pick = scheduler.NextBatch(queue, [&](size_t i) { return ready[i].job->Dead(); }, scheduler.Now());
    std::vector<bool> taken(ready.size(), false);
    std::vector<ReadySlice> batch;
    for (size_t i : pick.slices) {
      batch.push_back(std::move(ready[i]));
      taken[i] = true;
    }
    for (size_t i : pick.dropped) {
      --ready[i].job->in_flight;
      free_buffers.push_back(std::move(ready[i].pixels));
      taken[i] = true;
    }
    std::vector<ReadySlice> rest;
    for (size_t i = 0; i < ready.size(); ++i) {
      if (!taken[i]) rest.push_back(std::move(ready[i]));
    }
    ready = std::move(rest);
    return batch;
  }

  bool MoreComing() const {
    if (reserved > 0) return true;
    for (const JobPtr& j : jobs) {
      if (!j->Dead() && (j->activating || (j->active && j->next_item < j->items.size()))) return true;
    }
    return false;
  }

  // Runs a batch, halving it when the device runs out of memory.
  void RunBatch(IDeviceRunner& runner, std::vector<ReadySlice>& batch, size_t first, size_t count,
                std::vector<float>& pixels, std::vector<SliceResult>& results, std::vector<std::string>& errors) {
    pixels.resize(static_cast<size_t>(count) * static_cast<size_t>(plane));
    std::vector<SliceRequest> requests;
    for (size_t i = 0; i < count; ++i) {
      ReadySlice& r = batch[first + i];
      std::copy(r.pixels.begin(), r.pixels.end(), pixels.begin() + static_cast<std::ptrdiff_t>(i * static_cast<size_t>(plane)));
      requests.push_back(r.job->items[r.item].request);
      requests.back().masked2d = std::move(r.masks2d);  // moved back below if a retry in halves needs them
      requests.back().masked3d = std::move(r.masks3d);
    }
    std::vector<SliceResult> out;
    try {
      runner.Run(pixels.data(), static_cast<int64_t>(count), requests, out);
      for (size_t i = 0; i < count; ++i) results[first + i] = std::move(out[i]);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kUnavailable && count > 1) {
        log::Warning("pool", std::string(e.what()) + ": retrying in halves");
        for (size_t i = 0; i < count; ++i) {
          batch[first + i].masks2d = std::move(requests[i].masked2d);
          batch[first + i].masks3d = std::move(requests[i].masked3d);
        }
        RunBatch(runner, batch, first, count / 2, pixels, results, errors);
        RunBatch(runner, batch, first + count / 2, count - count / 2, pixels, results, errors);
        return;
      }
      for (size_t i = 0; i < count; ++i) errors[first + i] = e.what();
    } catch (const std::exception& e) {
      for (size_t i = 0; i < count; ++i) errors[first + i] = e.what();
    }
  }

  void DeviceLoop(IDeviceRunner& runner) {
    log::NameThisThread("curia-device");  // the backbone's OpenMP threads inherit it
    std::vector<float> pixels;
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      ready_cv.wait(lock, [&] { return stopping || (!ready.empty() && !paused); });
      if (stopping) break;
      // Let a partial batch fill for up to MaxBatchDelayMs while more slices are on their way.
      const Clock::time_point since = scheduler.Now();
      while (!stopping && !paused &&
             scheduler.WaitForMore(static_cast<int64_t>(ready.size()), MoreComing(), since, scheduler.Now())) {
        if (ready_cv.wait_until(lock, scheduler.BatchDeadline(since)) == std::cv_status::timeout) break;
      }
      if (stopping) break;
      if (paused) continue;
      std::vector<ReadySlice> batch = TakeBatch();
      // Dropping a cancelled job's queued slices may have been the last of it.
      std::vector<JobPtr> gone = Reap();
      StartPumps();  // room in the queue
      lock.unlock();
      Finish(gone);
      if (batch.empty()) {
        lock.lock();
        continue;
      }

      std::vector<SliceResult> results(batch.size());
      std::vector<std::string> errors(batch.size());
      const Clock::time_point start = Clock::now();
      RunBatch(runner, batch, 0, batch.size(), pixels, results, errors);
      const double seconds = Seconds(Clock::now() - start);

      lock.lock();
      ++stats.batches;
      stats.slices += static_cast<int64_t>(batch.size());
      stats.device_seconds += seconds;
      stats.largest_batch = std::max<int64_t>(stats.largest_batch, static_cast<int64_t>(batch.size()));
      if (stats.batch_sizes.size() <= batch.size()) stats.batch_sizes.resize(batch.size() + 1, 0);
      ++stats.batch_sizes[batch.size()];
      for (const ReadySlice& r : batch) {
        if (r.job != batch.front().job) {
          ++stats.multi_job_batches;
          break;
        }
      }
      std::vector<std::pair<JobPtr, JobProgress>> reports;
      for (size_t i = 0; i < batch.size(); ++i) {
        ReadySlice& r = batch[i];
        Job& j = *r.job;
        --j.in_flight;
        j.timings.device_seconds += seconds / static_cast<double>(batch.size());
        free_buffers.push_back(std::move(r.pixels));
        if (!errors[i].empty()) Fail(j, "slice " + std::to_string(j.items[r.item].slice) + ": " + errors[i]);
        if (j.Dead()) continue;
        const Item& item = j.items[r.item];
        for (size_t k = 0; k < item.request.tasks2d.size(); ++k) {
          const int t = item.request.tasks2d[k];
          std::vector<float>& p = j.probabilities[t][static_cast<size_t>(item.slice)];
          p = std::move(results[i].probabilities[k]);
          // Only the best slice's heat map is kept (it is the key slice's at the end): memory stays
          // the same whatever the number of slices.
          if (k < results[i].heat_maps.size() && !results[i].heat_maps[k].values.empty()) {
            const size_t index = ScoreIndex(info.tasks[static_cast<size_t>(t)]);
            const float score = index < p.size() ? p[index] : 0;
            // As the key slice is chosen (slices arrive in any order here).
            auto best = j.best_heat_map.find(t);
            if (best == j.best_heat_map.end() || BetterKeySlice(score, item.slice, best->second.score, best->second.slice)) {
              j.best_heat_map[t] = {score, item.slice, std::move(results[i].heat_maps[k])};
            }
          }
        }
        if (item.request.cls) j.features[static_cast<size_t>(item.slice)] = std::move(results[i].cls);
        for (size_t k = 0; k < item.request.tasks3d.size(); ++k) {
          j.tokens[item.request.tasks3d[k]][item.slice] = std::move(results[i].tokens[k]);
        }
        size_t k2 = 0, k3 = 0;  // the item's 2-D and 3-D runs, each in the order of its runs
        for (size_t run : item.runs) {
          RegionRun& rr = j.runs[run];
          if (info.tasks[static_cast<size_t>(rr.task)].is3d) {
            rr.tokens[item.slice] = std::move(results[i].masked_tokens.at(k3++));
          } else {
            if (!results[i].masked_features.empty()) rr.features[item.slice] = std::move(results[i].masked_features.at(k2));
            rr.outputs[item.slice] = std::move(results[i].masked_probabilities.at(k2++));
          }
        }
        ++j.items_done;
        if (j.items_done == j.items.size() && (!j.needs_stats || j.StatsReady())) j.finished = true;
        if (j.on_progress) reports.emplace_back(r.job, JobProgress{j.request.id, j.Done(), j.Total()});
      }
      gone = Reap();
      StartPumps();
      lock.unlock();
      for (const auto& [job, report] : reports) Report(*job, report);
      Finish(gone);
      lock.lock();
    }
  }

  // One finding per (task, region), with the region's mask on its key slice for the key image. A
  // 3-D head pools the tokens under the mask of its window's slices here.
  TaskFinding RegionFinding(const Job& j, const TaskInfo& task, const RegionRun& run) const {
    const JobRegion& region = j.request.regions[run.region];
    TaskFinding out;
    if (task.is3d) {
      std::vector<const SliceTokens*> tokens;
      for (int64_t s : run.slices) tokens.push_back(&run.tokens.at(s));
      out = AggregateRegion3D(task, region.reference, model.Run3D(run.task, tokens), run.slices);
    } else {
      std::vector<std::vector<float>> outputs;
      for (int64_t s : run.slices) outputs.push_back(run.outputs.at(s));
      out = AggregateRegion(task, region.reference, run.slices, outputs);
    }
    const auto plane = static_cast<size_t>(j.info.rows * j.info.cols);
    const auto begin = region.mask.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(out.key_slice) * plane);
    out.region.mask_rows = j.info.rows;
    out.region.mask_cols = j.info.cols;
    out.region.key_slice_mask.assign(begin, begin + static_cast<std::ptrdiff_t>(plane));
    return out;
  }

  // Outside mu, for a job whose every slice is through: 3-D heads, then study-level findings.
  StudyFindings Findings(Job& j, JobResult* result) {
    StudyFindings f;
    f.backbone = info.path;
    f.backbone_digest = info.backbone_digest;
    f.demo = info.demo;
    f.slices = j.info.slices;
    f.skipped = j.skipped;
    const Clock::time_point start = Clock::now();
    try {
      for (int t : j.tasks) {
        const TaskInfo& task = info.tasks[static_cast<size_t>(t)];
        if (task.mask_prompted) {
          for (RegionRun& run : j.runs) {
            if (run.task != t) continue;
            f.findings.push_back(RegionFinding(j, task, run));
            if (j.request.region_features && !task.is3d) {
              RegionFeatures rf{task.name, run.region, run.slices, {}};
              for (int64_t s : run.slices) rf.features.push_back(std::move(run.features.at(s)));
              result->region_features.push_back(std::move(rf));
            }
          }
          continue;
        }
        TaskFinding out;
        if (task.is3d) {
          std::vector<const SliceTokens*> tokens;
          for (int64_t s : j.kept[t]) tokens.push_back(&j.tokens[t].at(s));
          out = Aggregate3D(task, model.Run3D(t, tokens), j.kept[t]);
          if (j.request.volume_inputs) result->volume_inputs[task.name] = model.VolumeInput(t, tokens);
        } else {
          out = Aggregate2D(task, j.probabilities[t]);
          if (auto map = j.best_heat_map.find(t); map != j.best_heat_map.end()) {
            CURIA_CHECK(map->second.slice == out.key_slice);
            out.heat_map = std::move(map->second.map);
          }
        }
        f.findings.push_back(std::move(out));
      }
    } catch (const std::exception& e) {
      result->status = JobStatus::kFailed;
      result->error = std::string("findings: ") + e.what();
    }
    j.timings.device_seconds += Seconds(Clock::now() - start);
    return f;
  }
};

WorkerPool::WorkerPool(IModel& model, const config::ModelSettings& settings)
    : impl_(std::make_unique<Impl>(model, settings)) {
  log::Info("pool", std::to_string(impl_->devices.size()) + " device worker(s), " +
                        std::to_string(impl_->host_threads) + " host (preprocessing) thread(s), batches of up to " +
                        std::to_string(settings.max_batch) + " slices");
}

WorkerPool::~WorkerPool() {
  std::vector<JobPtr> gone;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
    for (const JobPtr& j : impl_->jobs) j->cancelled = true;
    impl_->ready_cv.notify_all();
  }
  for (std::thread& t : impl_->devices) t.join();
  impl_->cpu.join();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (ReadySlice& r : impl_->ready) --r.job->in_flight;
    impl_->ready.clear();
    gone = impl_->jobs;
    impl_->jobs.clear();
  }
  impl_->Finish(gone);
}

void WorkerPool::Submit(JobRequest request, DoneCallback on_done, ProgressCallback on_progress) {
  if (!request.volume) throw Error(ErrorCode::kInvalidArgument, "job " + request.id + ": no volume");
  if (!on_done) throw Error(ErrorCode::kInvalidArgument, "job " + request.id + ": no completion callback");
  auto job = std::make_shared<Job>();
  const ModelInfo& info = impl_->info;
  if (request.tasks.empty()) {
    for (size_t t = 0; t < info.tasks.size(); ++t) job->tasks.push_back(static_cast<int>(t));
  }
  for (const std::string& name : request.tasks) {
    const int t = info.FindTask(name);
    if (t < 0) throw Error(ErrorCode::kInvalidArgument, "job " + request.id + ": unknown task '" + name + "'");
    job->tasks.push_back(t);
  }
  if (job->tasks.empty() && !request.slice_features) {
    throw Error(ErrorCode::kInvalidArgument, "job " + request.id + ": the model has no task");
  }
  job->request = std::move(request);
  job->on_done = std::move(on_done);
  job->on_progress = std::move(on_progress);
  job->order.priority = job->request.priority;
  job->order.submitted = impl_->scheduler.Now();
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->stopping) throw Error(ErrorCode::kUnavailable, "the worker pool is shutting down");
  for (const JobPtr& j : impl_->jobs) {
    if (j->request.id == job->request.id) {
      throw Error(ErrorCode::kInvalidArgument, "job " + job->request.id + " is already in the pool");
    }
  }
  job->order.seq = impl_->next_seq++;
  impl_->jobs.push_back(job);
  impl_->StartPumps();
}

bool WorkerPool::Cancel(const std::string& id) {
  std::vector<JobPtr> gone;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    bool found = false;
    for (const JobPtr& j : impl_->jobs) {
      if (j->request.id == id && !j->Dead() && !j->finished) {
        j->cancelled = true;
        found = true;
      }
    }
    if (!found) return false;
    gone = impl_->Reap();
    impl_->StartPumps();
  }
  // On a pool thread, as promised (the caller may be inside one of the job's callbacks).
  if (!gone.empty()) boost::asio::post(impl_->cpu, [impl = impl_.get(), gone] { impl->Finish(gone); });
  return true;
}

std::optional<JobProgress> WorkerPool::Progress(const std::string& id) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (const JobPtr& j : impl_->jobs) {
    if (j->request.id == id) return JobProgress{id, j->Done(), j->Total()};
  }
  return std::nullopt;
}

void WorkerPool::Pause() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->paused = true;
}

void WorkerPool::Resume() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->paused = false;
  impl_->StartPumps();
  impl_->ready_cv.notify_all();
}

PoolStats WorkerPool::Stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

}  // namespace curia::pool
