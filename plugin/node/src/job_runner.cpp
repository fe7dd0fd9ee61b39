// SPDX-License-Identifier: GPL-3.0-or-later
#include "job_runner.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "curia/config/error.h"
#include "curia/config/log.h"
#include "curia/dicom/series.h"
#include "curia/dicomsr/outputs.h"
#include "curia/pool/findings_json.h"
#include "curia/pool/pool.h"
#include "curia/region/job.h"
#include "curia/region/region.h"
#include "facts.h"
#include "orthanc_instances.h"
#include "regions.h"
#include "results_json.h"

namespace curia::node {
namespace {

// A claimed job's lease, renewed every third of it while the runner works on the job: reading
// its series (every instance read is a chance: a large series on a busy Orthanc can take longer
// than the lease) and waiting on the pool. mine() turns false once the store says the claim no
// longer owns the job (cancelled or superseded meanwhile, or its lease expired and the job was
// taken back). Thread-safe (slices may be read from the pool's threads).
class Lease {
 public:
  Lease(storage::Store& store, storage::JobClaim claim, double seconds, Clock clock)
      : store_(store), claim_(std::move(claim)), seconds_(seconds), clock_(std::move(clock)), renewed_(clock_()) {}
  bool Renew() {
    std::lock_guard<std::mutex> lock(mu_);
    const double now = clock_();
    if (!mine_ || now - renewed_ < std::max(0.2, seconds_ / 3)) return mine_;
    renewed_ = now;
    try {
      mine_ = store_.RenewLease(claim_, now + seconds_);
    } catch (const std::exception& e) {
      log::Warning("node", "job " + std::to_string(claim_.job_id) + ": renewing its lease: " + e.what());
    }
    return mine_;
  }
  bool mine() {
    std::lock_guard<std::mutex> lock(mu_);
    return mine_;
  }

 private:
  storage::Store& store_;
  const storage::JobClaim claim_;
  const double seconds_;
  const Clock clock_;
  std::mutex mu_;
  double renewed_;
  bool mine_ = true;
};

// A job in the pool: its result once the pool calls back.
struct Wait {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<pool::JobResult> result;
  double last_progress = 0;
};

}  // namespace

JobRunner::JobRunner(const config::CuriaSettings& settings, storage::Store& store, IOrthanc& orthanc,
                     worker::IModel& model, Health& health, Notifier& notifier, Clock clock, std::string version)
    : settings_(settings),
      store_(store),
      orthanc_(orthanc),
      model_(model),
      health_(health),
      notifier_(notifier),
      clock_(std::move(clock)),
      version_(std::move(version)) {}

JobRunner::~JobRunner() = default;

void JobRunner::StartPool() { pool_ = std::make_unique<pool::WorkerPool>(model_, settings_.model); }

void JobRunner::StopPool() { pool_.reset(); }

int JobRunner::RecoverInterrupted() {
  const int n = store_.RecoverExpiredLeases(clock_(), static_cast<int>(settings_.queue.max_attempts), true);
  if (n > 0) log::Warning("node", std::to_string(n) + " interrupted job(s) queued again");
  return n;
}

int JobRunner::RecoverExpiredLeases() {
  const int n = store_.RecoverExpiredLeases(clock_(), static_cast<int>(settings_.queue.max_attempts));
  if (n > 0) {
    log::Warning("node", std::to_string(n) + " job(s) whose lease expired queued again");
    notifier_.Notify();
  }
  return n;
}

bool JobRunner::RunNext() {
  std::optional<storage::JobRow> job;
  try {
    job = store_.Claim(clock_(), settings_.queue.lease_seconds);
  } catch (const std::exception& e) {
    log::Error("node", std::string("claiming a job: ") + e.what());
    health_.NoteProblem(std::string("claiming a job: ") + e.what());
  }
  if (!job) return false;
  try {
    Run(*job);
  } catch (const Error& e) {
    // Bad input is permanent; an unavailable Orthanc or device may recover.
    Fail(*job, e.what(), e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kInternal);
  } catch (const std::exception& e) {
    Fail(*job, e.what(), true);
  }
  return true;
}

void JobRunner::Fail(const storage::JobRow& job, const std::string& error, bool retryable) {
  const std::string name = "job " + std::to_string(job.id);
  log::Warning("node", name + " (series " + job.series_uid + "): " + error);
  try {
    if (!store_.Fail(storage::ClaimOf(job), error, retryable, static_cast<int>(settings_.queue.max_attempts),
                     clock_())) {
      Refused(job, "its failure refused");
    }
  } catch (const std::exception& e) {
    log::Error("node", name + ": recording the failure: " + std::string(e.what()));
    health_.NoteProblem(name + ": recording the failure: " + std::string(e.what()));
  }
  notifier_.Notify();
}

void JobRunner::Run(const storage::JobRow& job) {
  const std::string name = "job " + std::to_string(job.id);
  const std::optional<std::vector<std::string>> ids = internal::SeriesInstances(orthanc_, job.series_id);
  if (!ids) return Fail(job, "series " + job.series_uid + " is no longer in Orthanc", false);
  Lease lease(store_, storage::ClaimOf(job), settings_.queue.lease_seconds, clock_);
  internal::OrthancInstances source(orthanc_, [&lease] { lease.Renew(); });
  const dicom::ScanResult scan = dicom::LoadSeries(source, *ids, {});
  std::shared_ptr<dicom::DicomVolume> volume;
  std::string refusal = scan.series.empty() ? "no readable image in the series" : "";
  for (const dicom::SeriesResult& s : scan.series) {
    if (s.series_uid != job.series_uid) continue;
    volume = s.volume;
    refusal = s.error;
  }
  if (!volume) return Fail(job, refusal.empty() ? "series " + job.series_uid + " not found in its instances" : refusal, false);
  volume->Verify();
  if (!lease.mine()) {
    // Cancelled or superseded while its series was read (the store says so already), or its lease
    // was lost.
    return Refused(job, "stopped before processing");
  }
  if (!pool_) throw Error(ErrorCode::kUnavailable, "the worker pool is not started");

  // A region job: the SEG's or RTSTRUCT's regions on the series' grid for its mask-prompted tasks.
  // A refused object (another Frame of Reference, its series not the one it references, a SEG that
  // neither dcmseg nor Orthanc's transcoding can decode, ...) is a failed job with that reason.
  std::vector<worker::JobRegion> regions;
  if (!job.region_instance.empty()) {
    std::string transcode_error;
    region::ReadOptions options;
    options.transcoder = [this, &transcode_error](const std::string& id) -> std::optional<std::string> {
      try {
        return orthanc_.Post("/instances/" + id + "/modify", internal::kTranscodeBody);
      } catch (const Error& e) {
        transcode_error = e.what();
        return std::nullopt;
      }
    };
    region::RegionSet set = region::ReadRegions(source, job.region_instance, {volume.get()}, options);
    if (set.refusal != region::Refusal::kNone) {
      const std::string why = set.error.empty() ? region::RefusalName(set.refusal) : set.error;
      return Fail(job,
                  std::string(region::ObjectKindName(set.object.kind)) + " " + set.object.sop_instance_uid + " refused: " +
                      why + (transcode_error.empty() ? "" : " (Orthanc's transcoding: " + transcode_error + ")"),
                  false);
    }
    for (region::Region& r : set.regions) regions.push_back(region::ToJobRegion(set, r));
    if (!lease.mine()) return Refused(job, "stopped before processing");
  }

  auto wait = std::make_shared<Wait>();
  const std::string pool_id = "job-" + std::to_string(job.id) + "-" + std::to_string(job.attempts);
  pool::JobRequest request{pool_id,          static_cast<pool::Priority>(std::clamp(job.priority, 0, 2)),
                           volume,           job.tasks,
                           settings_.dicom.heat_map, std::move(regions)};
  storage::Store* store = &store_;
  const Clock clock = clock_;
  const storage::JobClaim claim = storage::ClaimOf(job);
  pool_->Submit(
      std::move(request),
      [wait](pool::JobResult r) {
        std::lock_guard<std::mutex> lock(wait->mu);
        wait->result = std::move(r);
        wait->cv.notify_all();
      },
      [wait, store, clock, claim](const pool::JobProgress& p) {
        {
          std::lock_guard<std::mutex> lock(wait->mu);
          const double now = clock();
          if (now - wait->last_progress < kProgressSeconds && p.done < p.total) return;
          wait->last_progress = now;
        }
        try {
          store->SetProgress(claim, p.done, p.total);
        } catch (const std::exception&) {
          // progress is informative only
        }
      });
  bool cancelled = false;
  {
    // Every 0.25 s: is Orthanc stopping (it waits for us)? Every lease / 3: renew the lease (false
    // when the job was cancelled or superseded meanwhile).
    std::unique_lock<std::mutex> lock(wait->mu);
    while (!wait->result) {
      wait->cv.wait_for(lock, std::chrono::milliseconds(250));
      if (wait->result) break;
      lock.unlock();
      const bool still_mine = lease.Renew();
      if ((!still_mine || notifier_.stopping()) && !cancelled) {
        pool_->Cancel(pool_id);
        cancelled = true;
      }
      lock.lock();
    }
  }
  pool::JobResult result = std::move(*wait->result);
  if (result.status == pool::JobStatus::kCancelled) {
    // Stopping: the job stays running in the database, and the next start-up queues it again as
    // interrupted, like after a crash (without using up an attempt). Cancelled by a user: the
    // store already says so.
    if (notifier_.stopping()) {
      log::Info("node", name + " interrupted: Orthanc is stopping; it runs again at the next start");
    } else if (!lease.mine()) {
      Refused(job, "stopped while processing");
    }
    return;
  }
  if (result.status == pool::JobStatus::kFailed) return Fail(job, result.error, false);
  health_.RecordJob(result.findings);

  const worker::VolumeInfo info = volume->Info();
  const dicomsr::SourceSeries src{&volume->header(), info.references, info.modality};
  const dicomsr::Identity identity = dicomsr::Identity::Now("job:" + job.idempotency_key, version_);
  const bool sr = std::find(job.outputs.begin(), job.outputs.end(), "SR") != job.outputs.end();
  const bool sc = std::find(job.outputs.begin(), job.outputs.end(), "SC") != job.outputs.end();
  std::vector<storage::NewOutput> outputs;
  for (dicomsr::ResultObject& r : dicomsr::WriteResults(src, *volume, result.findings, settings_, identity, sr, sc)) {
    outputs.push_back({r.kind, r.object.sop_class_uid, r.object.sop_instance_uid, r.object.series_instance_uid,
                       std::move(r.object.bytes)});
  }
  const bool stored = store_.Complete(storage::ClaimOf(job), config::Dump(pool::FindingsToJson(result.findings), -1),
                                      config::Dump(internal::TimingsToJson(result.findings.timings), -1),
                                      result.findings.backbone_digest, outputs, clock_());
  if (stored) {
    log::Info("node", name + " done: " + std::to_string(outputs.size()) + " object(s), " +
                          std::to_string(result.findings.slices) + " slices");
  } else {
    Refused(job, "its result refused");
  }
  notifier_.Notify();
}

void JobRunner::Refused(const storage::JobRow& job, const std::string& what) {
  const std::string name = "job " + std::to_string(job.id);
  try {
    const std::optional<storage::JobRow> now = store_.GetJob(job.id);
    const storage::JobState state = now ? now->state : storage::JobState::kCancelled;
    if (state == storage::JobState::kCancelled || state == storage::JobState::kSuperseded) {
      // A user or a newer job decided: the store says so already.
      log::Info("node", name + " is " + storage::JobStateName(state) + ": " + what + " was not stored");
      return;
    }
    // The lease expired (this node was paused, cut off, or too slow to renew) and the job was taken
    // back: whatever the run that took over writes stays.
    const std::string detail = "attempt " + std::to_string(job.attempts) + ": " + what +
                               ", its lease was lost (the job is " + storage::JobStateName(state) +
                               (now && now->attempts != job.attempts ? ", attempt " + std::to_string(now->attempts) : "") +
                               ")";
    log::Warning("node", name + ": " + detail);
    store_.AddAudit(job.id, job.study_id, "lease-lost", detail, clock_());
  } catch (const std::exception& e) {
    log::Error("node", name + ": recording a lost lease: " + std::string(e.what()));
  }
}

}  // namespace curia::node
