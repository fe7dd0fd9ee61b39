// SPDX-License-Identifier: GPL-3.0-or-later
// The node's threads: router, job runners, exporter.
#include "curia/node/node.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "curia/config/error.h"
#include "curia/config/log.h"
#include "curia/dicom/series.h"
#include "curia/dicomsr/outputs.h"
#include "curia/worker/pool.h"
#include "internal.h"

namespace curia::node {
namespace {

constexpr double kReconcileSeconds = 5;
constexpr double kProgressSeconds = 1;
constexpr double kProblemSeconds = 60;      // how long /curia/health shows a passing problem
constexpr double kRetryMaxSeconds = 60;     // routing retries back off up to this

// Instances read from Orthanc by their Orthanc IDs.
class OrthancSource : public dicom::IInstanceSource {
 public:
  explicit OrthancSource(IOrthanc& orthanc) : orthanc_(orthanc) {}
  std::string Bytes(const std::string& id) const override {
    std::optional<std::string> bytes = orthanc_.Get("/instances/" + id + "/file");
    if (!bytes) throw Error(ErrorCode::kNotFound, "instance " + id + " is no longer in Orthanc");
    return std::move(*bytes);
  }
  std::string Name(const std::string& id) const override { return "instance " + id; }

 private:
  IOrthanc& orthanc_;
};

int PriorityNumber(const std::string& name) { return static_cast<int>(worker::ParsePriority(name)); }

}  // namespace

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Node::Node(config::CuriaSettings settings, std::unique_ptr<storage::Store> store, worker::IModel& model,
           IOrthanc& orthanc, NodeInfo info)
    : settings_(std::move(settings)), store_(std::move(store)), model_(model), orthanc_(orthanc), info_(std::move(info)) {}

Node::~Node() { Stop(); }

void Node::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return;
  started_ = true;
  pool_ = std::make_unique<worker::WorkerPool>(model_, settings_.model);
  // The database is this node's own: whatever a previous process left running was interrupted,
  // whatever its lease says.
  const int recovered = store_->RecoverExpiredLeases(Now(), static_cast<int>(settings_.queue.max_attempts), true);
  if (recovered > 0) log::Warning("node", std::to_string(recovered) + " interrupted job(s) queued again");
  threads_.emplace_back(&Node::RouterLoop, this);
  for (int64_t i = 0; i < settings_.queue.workers; ++i) threads_.emplace_back(&Node::RunnerLoop, this);
  threads_.emplace_back(&Node::ExporterLoop, this);
  log::Info("node", "started: " + std::to_string(settings_.queue.workers) + " job runner(s), database " + store_->path());
}

void Node::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  pool_.reset();
  FlushArrivals(Now());  // the counts of the last second
  log::Info("node", "stopped");
}

void Node::Wake() { cv_.notify_all(); }

void Node::OnInstanceStored(const std::string& study_uid, const std::string& calling_aet,
                            const std::string& called_aet) {
  const double now = Now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = arrivals_.find(study_uid);
    if (it != arrivals_.end() && it->second.durable) {
      // Recorded already: counted here, written by the router (FlushArrivals).
      PendingArrival& a = it->second;
      a.calling_aet = calling_aet;
      a.called_aet = called_aet;
      a.at = now;
      ++a.instances;
      return;
    }
  }
  try {
    store_->RecordArrival(study_uid, calling_aet, called_aet, now);
    std::lock_guard<std::mutex> lock(mu_);
    PendingArrival& a = arrivals_[study_uid];
    a.durable = true;
    a.at = std::max(a.at, now);
  } catch (const std::exception& e) {
    // Not lost: the study is in Orthanc, its stable event still comes (and is retried while the
    // database refuses it), and the router records the arrival once the database takes it.
    std::lock_guard<std::mutex> lock(mu_);
    PendingArrival& a = arrivals_[study_uid];
    if (!a.reported) {
      log::Error("node", "recording an arrival of study " + study_uid + " failed (retried): " + e.what());
      a.reported = true;
    }
    a.calling_aet = calling_aet;
    a.called_aet = called_aet;
    a.at = now;
    ++a.instances;
    NoteProblem(std::string("recording an arrival failed: ") + e.what());
  }
}

void Node::FlushArrivals(double now) {
  constexpr double kForgetSeconds = 60;  // a quiet study's next instance is written at once again
  std::vector<std::pair<std::string, PendingArrival>> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = arrivals_.begin(); it != arrivals_.end();) {
      if (it->second.instances > 0) {
        batch.emplace_back(it->first, it->second);
        it->second.instances = 0;
        ++it;
      } else if (it->second.durable && now - it->second.at > kForgetSeconds) {
        it = arrivals_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& [uid, a] : batch) {
    try {
      store_->RecordArrival(uid, a.calling_aet, a.called_aet, a.at, a.instances);
      std::lock_guard<std::mutex> lock(mu_);
      PendingArrival& b = arrivals_[uid];
      if (!b.durable && b.reported) {
        log::Info("node", "recorded the arrival of study " + uid + " received while the database refused it");
      }
      b.durable = true;
      b.reported = false;
      b.at = std::max(b.at, a.at);
    } catch (const std::exception& e) {
      // Still refused: counted again for the next pass.
      std::lock_guard<std::mutex> lock(mu_);
      PendingArrival& b = arrivals_[uid];
      b.instances += a.instances;
      if (b.at < a.at) {
        b.at = a.at;
        b.calling_aet = a.calling_aet;
        b.called_aet = a.called_aet;
      }
      NoteProblem(std::string("recording an arrival failed: ") + e.what());
    }
  }
}

void Node::NoteProblem(const std::string& what) {
  std::lock_guard<std::mutex> lock(problem_mu_);
  last_problem_ = what;
  last_problem_at_ = Now();
}

std::vector<std::string> Node::Problems(double now) {
  std::vector<std::string> problems;
  {
    std::lock_guard<std::mutex> lock(problem_mu_);
    if (last_problem_at_ > 0 && now - last_problem_at_ < kProblemSeconds) {
      problems.push_back(last_problem_ + " (" + std::to_string(static_cast<int64_t>(now - last_problem_at_)) + " s ago)");
    }
  }
  if (const int64_t n = routing_retries_; n > 0) {
    problems.push_back(std::to_string(n) + " stable stud" + (n == 1 ? "y" : "ies") + " waiting to be routed again");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto unrecorded = std::count_if(arrivals_.begin(), arrivals_.end(), [](const auto& a) { return !a.second.durable; });
    if (unrecorded > 0) {
      problems.push_back(std::to_string(unrecorded) + " received stud" + (unrecorded == 1 ? "y" : "ies") +
                         " not yet recorded in the database");
    }
  }
  return problems;
}

void Node::OnStable(bool series_level, const std::string& orthanc_id) {
  if (series_level != (settings_.trigger == config::Trigger::kSeries) || orthanc_id.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back({series_level, orthanc_id});
  }
  cv_.notify_all();
}

config::Json Node::RouteStudy(const std::string& study_id, const std::string& only_series, bool enqueue,
                              std::vector<int64_t>* job_ids) {
  const double started = Now();
  const internal::StudySnapshot snap = internal::ReadStudy(orthanc_, study_id, only_series);
  const config::Routing routing = config::Route(settings_, snap.facts);
  config::Json explanation = config::RoutingToJson(routing);
  if (!enqueue) return explanation;

  // What arrived since the study was last routed (a study routed twice is received once).
  const std::optional<storage::Store::Arrival> a = store_->GetArrival(snap.facts.uid);
  if (a && a->last_at > a->routed_at) {
    store_->AddAudit(0, study_id, "received",
                     std::to_string(a->instances) + " instance(s) from " + (a->calling_aet.empty() ? "?" : a->calling_aet) +
                         " to " + (a->called_aet.empty() ? "?" : a->called_aet),
                     started);
  }
  for (const config::RoutedJob& r : routing.jobs) {
    storage::NewJob job;
    job.idempotency_key = internal::JobKey(snap, r, model_.info());
    job.study_id = study_id;
    job.study_uid = snap.facts.uid;
    job.series_id = r.series_id;
    job.series_uid = r.series_uid;
    job.rule = r.rule;
    job.tasks = r.tasks;
    job.priority = PriorityNumber(r.priority);
    job.outputs = r.outputs;
    job.destinations = r.destinations;
    auto it = snap.series.find(r.series_id);
    job.instances = it == snap.series.end() ? 0 : static_cast<int64_t>(it->second.instances.size());
    const auto [id, inserted] = store_->Enqueue(job, Now());
    if (job_ids) job_ids->push_back(id);
    if (inserted) {
      store_->AddAudit(id, study_id, "routed", "rule " + r.rule + " chose series " + r.series_uid, Now());
      log::Info("node", "job " + std::to_string(id) + ": rule " + r.rule + ", study " + snap.facts.uid + ", series " +
                            r.series_uid);
    }
  }
  if (routing.jobs.empty()) {
    std::string why;
    for (const config::RuleDecision& d : routing.rules) {
      for (const config::SeriesDecision& s : d.series) {
        if (!s.reasons.empty()) {
          why += (why.empty() ? "" : "; ") + d.rule + ": " + s.reasons.front();
          break;
        }
      }
    }
    store_->AddAudit(0, study_id, "not-routed", why.empty() ? "no rule" : why, Now());
  }
  store_->MarkRouted(snap.facts.uid, started);
  Wake();
  return explanation;
}

void Node::Reconcile(double now) {
  last_reconcile_ = now;
  const int recovered = store_->RecoverExpiredLeases(now, static_cast<int>(settings_.queue.max_attempts));
  if (recovered > 0) {
    log::Warning("node", std::to_string(recovered) + " job(s) whose lease expired queued again");
    Wake();
  }
  for (const std::string& uid : store_->UnroutedStudies(now - info_.stable_age_s)) {
    if (stopping_) return;
    const std::string id = internal::LookupStudy(orthanc_, uid);
    if (id.empty()) {
      store_->MarkRouted(uid, now);  // deleted from Orthanc meanwhile: nothing to do
      continue;
    }
    log::Info("node", "routing study " + uid + " (received but not routed before)");
    RouteStudy(id, "", true, nullptr);
  }
}

void Node::RouteEvent(const Event& event) {
  std::string study = event.id, series;
  if (event.series_level) {
    series = event.id;
    const std::optional<std::string> text = orthanc_.Get("/series/" + series);
    if (!text) return;
    const config::Json s = internal::ParseAnswer(*text, "/series/" + series);
    const config::Json* parent = config::Find(s, "ParentStudy");
    if (!parent || !parent->isString()) return;
    study = parent->asString();
  }
  RouteStudy(study, series, true, nullptr);
}

void Node::RouterLoop() {
  while (!stopping_) {
    std::optional<Event> event;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping_ || !events_.empty(); });
      if (stopping_) break;
      if (!events_.empty()) {
        event = std::move(events_.front());
        events_.pop_front();
      }
    }
    if (!event) {
      // A stable event whose routing met an unavailable database or Orthanc, when due.
      const double now = Now();
      auto due = std::min_element(retries_.begin(), retries_.end(),
                                  [](const Event& a, const Event& b) { return a.due < b.due; });
      if (due != retries_.end() && due->due <= now) {
        event = std::move(*due);
        retries_.erase(due);
        routing_retries_ = static_cast<int64_t>(retries_.size());
      }
    }
    try {
      FlushArrivals(Now());  // before routing: its "received" audit counts every instance
      if (event) RouteEvent(*event);
      const double now = Now();
      if (now - last_reconcile_ >= kReconcileSeconds) Reconcile(now);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kNotFound) continue;  // deleted before we got to it
      log::Error("node", std::string("routing: ") + e.what());
      if (e.code() == ErrorCode::kUnavailable) {
        NoteProblem(std::string("routing: ") + e.what());
        if (event) {
          // Kept, not dropped: Orthanc sends a study's stable event once.
          ++event->failures;
          const double wait = std::min(kRetryMaxSeconds, std::pow(2.0, std::min(event->failures, 6)));
          event->due = Now() + wait;
          log::Warning("node", (event->series_level ? "series " : "study ") + event->id + ": routing again in " +
                                   std::to_string(static_cast<int>(wait)) + " s (attempt " +
                                   std::to_string(event->failures + 1) + ")");
          retries_.push_back(std::move(*event));
          routing_retries_ = static_cast<int64_t>(retries_.size());
        }
      }
    } catch (const std::exception& e) {
      log::Error("node", std::string("routing: ") + e.what());
    }
  }
}

void Node::RunnerLoop() {
  while (!stopping_) {
    std::optional<storage::JobRow> job;
    try {
      job = store_->Claim(Now(), settings_.queue.lease_seconds);
    } catch (const std::exception& e) {
      log::Error("node", std::string("claiming a job: ") + e.what());
      NoteProblem(std::string("claiming a job: ") + e.what());
    }
    if (!job) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(500));
      continue;
    }
    RunJob(*job);
  }
}

void Node::RunJob(const storage::JobRow& job) {
  const std::string name = "job " + std::to_string(job.id);
  const int max_attempts = static_cast<int>(settings_.queue.max_attempts);
  auto fail = [&](const std::string& error, bool retryable, int attempts_limit) {
    log::Warning("node", name + " (series " + job.series_uid + "): " + error);
    try {
      store_->Fail(job.id, error, retryable, attempts_limit, Now());
    } catch (const std::exception& e) {
      log::Error("node", name + ": recording the failure: " + std::string(e.what()));
      NoteProblem(name + ": recording the failure: " + std::string(e.what()));
    }
    Wake();
  };
  try {
    const std::optional<std::string> listing = orthanc_.Get("/series/" + job.series_id + "/instances");
    if (!listing) return fail("series " + job.series_uid + " is no longer in Orthanc", false, max_attempts);
    std::vector<std::string> ids;
    const config::Json instances = internal::ParseAnswer(*listing, "/series/" + job.series_id + "/instances");
    for (const config::Json& i : instances) {
      if (const config::Json* id = config::Find(i, "ID"); id && id->isString()) ids.push_back(id->asString());
    }
    OrthancSource source(orthanc_);
    const dicom::ScanResult scan = dicom::LoadSeries(source, ids, {});
    std::shared_ptr<dicom::DicomVolume> volume;
    std::string refusal = scan.series.empty() ? "no readable image in the series" : "";
    for (const dicom::SeriesResult& s : scan.series) {
      if (s.series_uid != job.series_uid) continue;
      volume = s.volume;
      refusal = s.error;
    }
    if (!volume) return fail(refusal.empty() ? "series " + job.series_uid + " not found in its instances" : refusal, false, max_attempts);
    volume->Verify();

    struct Wait {
      std::mutex mu;
      std::condition_variable cv;
      std::optional<worker::JobResult> result;
      double last_progress = 0;
    };
    auto wait = std::make_shared<Wait>();
    const std::string pool_id = "job-" + std::to_string(job.id) + "-" + std::to_string(job.attempts);
    worker::JobRequest request{pool_id, static_cast<worker::Priority>(std::clamp(job.priority, 0, 2)), volume, job.tasks,
                               settings_.dicom.heat_map};
    storage::Store* store = store_.get();
    const int64_t job_id = job.id;
    pool_->Submit(
        std::move(request),
        [wait](worker::JobResult r) {
          std::lock_guard<std::mutex> lock(wait->mu);
          wait->result = std::move(r);
          wait->cv.notify_all();
        },
        [wait, store, job_id](const worker::JobProgress& p) {
          {
            std::lock_guard<std::mutex> lock(wait->mu);
            const double now = Now();
            if (now - wait->last_progress < kProgressSeconds && p.done < p.total) return;
            wait->last_progress = now;
          }
          try {
            store->SetProgress(job_id, p.done, p.total);
          } catch (const std::exception&) {
            // progress is informative only
          }
        });
    const double lease = settings_.queue.lease_seconds;
    bool cancelled = false;
    {
      // Every 0.25 s: is Orthanc stopping (it waits for us)? Every lease / 3: renew the lease (false
      // when the job was cancelled or superseded meanwhile).
      std::unique_lock<std::mutex> lock(wait->mu);
      double renewed = Now();
      while (!wait->result) {
        wait->cv.wait_for(lock, std::chrono::milliseconds(250));
        if (wait->result) break;
        lock.unlock();
        bool still_mine = true;
        if (Now() - renewed >= std::max(0.2, lease / 3)) {
          renewed = Now();
          still_mine = store_->RenewLease(job.id, renewed + lease);
        }
        if ((!still_mine || stopping_) && !cancelled) {
          pool_->Cancel(pool_id);
          cancelled = true;
        }
        lock.lock();
      }
    }
    worker::JobResult result = std::move(*wait->result);
    if (result.status == worker::JobStatus::kCancelled) {
      // Stopping: the job stays running in the database, and the next start-up queues it again as
      // interrupted, like after a crash (without using up an attempt). Cancelled by a user: the
      // store already says so.
      if (stopping_) log::Info("node", name + " interrupted: Orthanc is stopping; it runs again at the next start");
      return;
    }
    if (result.status == worker::JobStatus::kFailed) return fail(result.error, false, max_attempts);
    slices_done_ += result.findings.slices;
    device_seconds_ = device_seconds_ + result.findings.timings.device_seconds;
    job_seconds_sum_ = job_seconds_sum_ + result.findings.timings.total_seconds;
    ++jobs_finished_;

    const worker::VolumeInfo info = volume->Info();
    const dicomsr::SourceSeries src{&volume->header(), info.references, info.modality};
    const dicomsr::Identity identity = dicomsr::Identity::Now("job:" + job.idempotency_key, info_.version);
    const bool sr = std::find(job.outputs.begin(), job.outputs.end(), "SR") != job.outputs.end();
    const bool sc = std::find(job.outputs.begin(), job.outputs.end(), "SC") != job.outputs.end();
    std::vector<storage::NewOutput> outputs;
    for (dicomsr::ResultObject& r : dicomsr::WriteResults(src, *volume, result.findings, settings_, identity, sr, sc)) {
      outputs.push_back({r.kind, r.object.sop_class_uid, r.object.sop_instance_uid, r.object.series_instance_uid,
                         std::move(r.object.bytes)});
    }
    const bool stored = store_->Complete(job.id, config::Dump(internal::FindingsToJson(result.findings), -1),
                                         config::Dump(internal::TimingsToJson(result.findings.timings), -1),
                                         result.findings.backbone_digest, outputs, Now());
    if (stored) {
      log::Info("node", name + " done: " + std::to_string(outputs.size()) + " object(s), " +
                            std::to_string(result.findings.slices) + " slices");
    }
    Wake();
  } catch (const Error& e) {
    // Bad input is permanent; an unavailable Orthanc or device may recover.
    fail(e.what(), e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kInternal, max_attempts);
  } catch (const std::exception& e) {
    fail(e.what(), true, max_attempts);
  }
}

void Node::ExporterLoop() {
  const storage::ExportPolicy policy{static_cast<int>(settings_.export_.max_attempts), settings_.export_.backoff_min_s,
                                     settings_.export_.backoff_max_s};
  while (!stopping_) {
    std::optional<storage::ExportTask> task;
    double wait_s = 1.0;
    try {
      task = store_->NextExport(Now());
      if (!task) {
        if (std::optional<double> due = store_->NextExportDue()) wait_s = std::clamp(*due - Now(), 0.05, 1.0);
      }
    } catch (const std::exception& e) {
      log::Error("node", std::string("reading the export queue: ") + e.what());
      NoteProblem(std::string("reading the export queue: ") + e.what());
    }
    if (!task) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::duration<double>(wait_s));
      continue;
    }
    const storage::ExportRow& row = task->row;
    try {
      orthanc_.Post("/modalities/" + row.destination + "/store-straight", task->bytes);
      store_->ExportDelivered(row.id, Now());
      log::Info("node", "job " + std::to_string(row.job_id) + ": " + task->sop_instance_uid + " sent to " + row.destination);
    } catch (const std::exception& e) {
      log::Warning("node", "job " + std::to_string(row.job_id) + ": sending to " + row.destination + " failed: " + e.what());
      try {
        store_->ExportFailed(row.id, e.what(), policy, Now());
      } catch (const std::exception& e2) {
        log::Error("node", std::string("recording an export failure: ") + e2.what());
        NoteProblem(std::string("recording an export failure: ") + e2.what());
      }
    }
  }
}

}  // namespace curia::node
