// SPDX-License-Identifier: GPL-3.0-or-later
#include "router.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

#include "curia/config/error.h"
#include "curia/config/log.h"
#include "curia/config/rules.h"
#include "curia/pool/pool.h"
#include "facts.h"
#include "regions.h"

namespace curia::node {

Router::Router(const config::CuriaSettings& settings, storage::Store& store, IOrthanc& orthanc,
               const worker::ModelInfo& model, Arrivals& arrivals, Health& health, Notifier& notifier,
               Clock clock, double stable_age_s)
    : settings_(settings),
      store_(store),
      orthanc_(orthanc),
      model_(model),
      arrivals_(arrivals),
      health_(health),
      notifier_(notifier),
      clock_(std::move(clock)),
      stable_age_s_(stable_age_s) {}

void Router::OnStable(bool series_level, const std::string& orthanc_id) {
  if (series_level != (settings_.trigger == config::Trigger::kSeries) || orthanc_id.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back({series_level, orthanc_id});
  }
  notifier_.Notify();
}

std::vector<std::string> Router::Problems() const {
  const int64_t n = retry_count_;
  if (n == 0) return {};
  return {std::to_string(n) + " stable stud" + (n == 1 ? "y" : "ies") + " waiting to be routed again"};
}

config::Json Router::RouteStudy(const std::string& study_id, const std::string& only_series, bool enqueue,
                                std::vector<int64_t>* job_ids) {
  const double started = clock_();
  internal::StudySnapshot snap = internal::ReadStudy(orthanc_, study_id, only_series);
  // SEG and RTSTRUCT series are never routed as images: they start region jobs on the series they
  // reference (regions.h), planned over the whole study (a stable series may be the images some
  // object waited for, or an object whose images are elsewhere in the study).
  std::vector<internal::RegionSeries> objects = internal::SplitRegionObjects(snap);
  const config::Routing routing = config::Route(settings_, snap.facts);
  std::vector<internal::RegionPlan> regions;
  if (only_series.empty()) {
    regions = internal::PlanRegionJobs(orthanc_, model_, snap, objects, routing, false);
  } else {
    internal::StudySnapshot whole = internal::ReadStudy(orthanc_, study_id, "");
    std::vector<internal::RegionSeries> all = internal::SplitRegionObjects(whole);
    regions = internal::PlanRegionJobs(orthanc_, model_, whole, all, config::Route(settings_, whole.facts),
                                       true);
  }
  config::Json explanation = config::RoutingToJson(routing);
  if (!regions.empty()) explanation["RegionJobs"] = internal::RegionPlansToJson(regions);
  if (!enqueue) return explanation;

  // What arrived since the study was last routed (a study routed twice is received once).
  const std::optional<storage::Store::Arrival> a = store_.GetArrival(snap.facts.uid);
  if (a && a->last_at > a->routed_at) {
    store_.AddAudit(0, study_id, "received",
                    std::to_string(a->instances) + " instance(s) from " + (a->calling_aet.empty() ? "?" : a->calling_aet) +
                        " to " + (a->called_aet.empty() ? "?" : a->called_aet),
                    started);
  }
  for (const config::RoutedJob& r : routing.jobs) {
    const storage::NewJob job = internal::NewJobOf(snap, r, model_);
    const auto [id, inserted] = store_.Enqueue(job, clock_());
    if (job_ids) job_ids->push_back(id);
    if (inserted) {
      store_.AddAudit(id, study_id, "routed", "rule " + r.rule + " chose series " + r.series_uid, clock_());
      log::Info("node", "job " + std::to_string(id) + ": rule " + r.rule + ", study " + snap.facts.uid + ", series " +
                            r.series_uid);
    }
  }
  for (internal::RegionPlan& p : regions) {
    const std::string object = p.kind + " " + (p.sop_instance_uid.empty() ? p.instance_id : p.sop_instance_uid);
    if (!p.waiting.empty()) {
      store_.AddAudit(0, study_id, p.waits ? "region-waiting" : "not-routed", object + ": " + p.waiting, clock_());
      continue;
    }
    const auto [id, inserted] = store_.Enqueue(p.job, clock_());
    if (job_ids) job_ids->push_back(id);
    if (inserted) {
      store_.AddAudit(id, study_id, "routed",
                      "rule " + p.job.rule + ": region job for " + object + " on series " + p.job.series_uid, clock_());
      log::Info("node", "job " + std::to_string(id) + ": rule " + p.job.rule + ", region job for " + object +
                            ", series " + p.job.series_uid);
    }
  }
  if (routing.jobs.empty() && regions.empty()) {
    std::string why;
    for (const config::RuleDecision& d : routing.rules) {
      for (const config::SeriesDecision& s : d.series) {
        if (!s.reasons.empty()) {
          why += (why.empty() ? "" : "; ") + d.rule + ": " + s.reasons.front();
          break;
        }
      }
    }
    store_.AddAudit(0, study_id, "not-routed", why.empty() ? "no rule" : why, clock_());
  }
  store_.MarkRouted(snap.facts.uid, started);
  notifier_.Notify();
  return explanation;
}

void Router::Reconcile(double now) {
  try {
    for (const std::string& uid : store_.UnroutedStudies(now - stable_age_s_)) {
      if (notifier_.stopping()) return;
      const std::string id = internal::LookupStudy(orthanc_, uid);
      if (id.empty()) {
        store_.MarkRouted(uid, now);  // deleted from Orthanc meanwhile: nothing to do
        continue;
      }
      log::Info("node", "routing study " + uid + " (received but not routed before)");
      RouteStudy(id, "", true, nullptr);
    }
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kNotFound) return;  // deleted before we got to it
    log::Error("node", std::string("routing: ") + e.what());
    if (e.code() == ErrorCode::kUnavailable) health_.NoteProblem(std::string("routing: ") + e.what());
  } catch (const std::exception& e) {
    log::Error("node", std::string("routing: ") + e.what());
  }
}

void Router::Route(const Event& event) {
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

bool Router::RouteNext(double now) {
  std::optional<Event> event;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!events_.empty()) {
      event = std::move(events_.front());
      events_.pop_front();
    }
  }
  if (!event) {
    // A stable event whose routing met an unavailable database or Orthanc, when due.
    auto due = std::min_element(retries_.begin(), retries_.end(),
                                [](const Event& a, const Event& b) { return a.due < b.due; });
    if (due != retries_.end() && due->due <= now) {
      event = std::move(*due);
      retries_.erase(due);
      retry_count_ = static_cast<int64_t>(retries_.size());
    }
  }
  arrivals_.Flush(now);  // before routing: its "received" audit counts every instance
  if (!event) return false;
  try {
    Route(*event);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kNotFound) return true;  // deleted before we got to it
    log::Error("node", std::string("routing: ") + e.what());
    if (e.code() == ErrorCode::kUnavailable) {
      health_.NoteProblem(std::string("routing: ") + e.what());
      // Kept, not dropped: Orthanc sends a study's stable event once.
      ++event->failures;
      const double wait = std::min(kRetryMaxSeconds, std::pow(2.0, std::min(event->failures, 6)));
      event->due = now + wait;
      log::Warning("node", (event->series_level ? "series " : "study ") + event->id + ": routing again in " +
                               std::to_string(static_cast<int>(wait)) + " s (attempt " +
                               std::to_string(event->failures + 1) + ")");
      retries_.push_back(std::move(*event));
      retry_count_ = static_cast<int64_t>(retries_.size());
    }
  } catch (const std::exception& e) {
    log::Error("node", std::string("routing: ") + e.what());
  }
  return true;
}

}  // namespace curia::node
