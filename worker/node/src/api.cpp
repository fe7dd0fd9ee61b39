// SPDX-License-Identifier: GPL-3.0-or-later
// The /curia REST API and the metrics.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sstream>

#include "curia/config/error.h"
#include "curia/node/node.h"
#include "curia/worker/pool.h"
#include "internal.h"

namespace curia::node {
namespace {

config::Json Strings(const std::vector<std::string>& values) {
  config::Json a(::Json::arrayValue);
  for (const std::string& v : values) a.append(v);
  return a;
}

HttpResponse Answer(const config::Json& body, int status = 200) {
  return {status, "application/json", config::Dump(body, 2) + "\n"};
}

HttpResponse Problem(int status, const std::string& message) {
  config::Json j(::Json::objectValue);
  j["Error"] = message;
  return Answer(j, status);
}

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> parts;
  std::istringstream in(path);
  std::string part;
  while (std::getline(in, part, '/')) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

std::optional<int64_t> ParseId(const std::string& text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return std::atoll(text.c_str());
}

const char* PriorityText(int p) { return worker::PriorityName(static_cast<worker::Priority>(p < 0 ? 0 : p > 2 ? 2 : p)); }

// An embedded JSON text from the store ("" -> null).
config::Json Embedded(const std::string& text) {
  if (text.empty()) return config::Json();
  return config::ParseJson(text, "stored result");
}

// A copy of a configuration with the values of secret-looking keys (passwords, tokens, keys)
// replaced, so that the effective configuration can be shown to anyone allowed to read the API.
config::Json Redacted(const config::Json& value) {
  if (value.isArray()) {
    config::Json out(::Json::arrayValue);
    for (const config::Json& v : value) out.append(Redacted(v));
    return out;
  }
  if (!value.isObject()) return value;
  config::Json out(::Json::objectValue);
  for (auto it = value.begin(); it != value.end(); ++it) {
    const std::string key = it.name();
    const config::Json& v = *it;
    std::string lower;
    for (char c : key) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool secret = lower.find("password") != std::string::npos || lower.find("token") != std::string::npos ||
                        lower.find("secret") != std::string::npos || lower.find("privatekey") != std::string::npos ||
                        lower.find("credential") != std::string::npos;
    out[key] = secret ? config::Json("(redacted)") : Redacted(v);
  }
  return out;
}

std::string Query(const HttpRequest& r, const std::string& key) {
  auto it = r.query.find(key);
  return it == r.query.end() ? "" : it->second;
}

}  // namespace

config::Json Node::JobJson(const storage::JobRow& job, bool detail) {
  config::Json j(::Json::objectValue);
  j["ID"] = job.id;
  j["State"] = storage::JobStateName(job.state);
  j["Study"] = job.study_id;
  j["StudyInstanceUID"] = job.study_uid;
  j["Series"] = job.series_id;
  j["SeriesInstanceUID"] = job.series_uid;
  j["Rule"] = job.rule;
  j["Tasks"] = Strings(job.tasks);
  j["Priority"] = PriorityText(job.priority);
  j["Outputs"] = Strings(job.outputs);
  j["Destinations"] = Strings(job.destinations);
  j["Instances"] = job.instances;
  j["Attempts"] = job.attempts;
  config::Json progress(::Json::objectValue);
  progress["Done"] = job.progress_done;
  progress["Total"] = job.progress_total;
  j["Progress"] = std::move(progress);
  j["Error"] = job.error;
  j["CreatedAt"] = job.created_at;
  j["StartedAt"] = job.started_at;
  j["FinishedAt"] = job.finished_at;
  j["SupersededBy"] = job.superseded_by;
  if (!detail) return j;
  j["ModelDigest"] = job.model_digest;
  j["Findings"] = Embedded(job.findings_json);
  j["Timings"] = Embedded(job.timings_json);
  config::Json outputs(::Json::arrayValue);
  for (const storage::OutputRow& o : store_->Outputs(job.id)) {
    config::Json x(::Json::objectValue);
    x["ID"] = o.id;
    x["Kind"] = o.kind;
    x["SOPClassUID"] = o.sop_class_uid;
    x["SOPInstanceUID"] = o.sop_instance_uid;
    x["SeriesInstanceUID"] = o.series_uid;
    x["Size"] = o.size;
    outputs.append(std::move(x));
  }
  j["Outputs"] = std::move(outputs);
  config::Json exports(::Json::arrayValue);
  for (const storage::ExportRow& e : store_->Exports(job.id)) {
    config::Json x(::Json::objectValue);
    x["ID"] = e.id;
    x["Output"] = e.output_id;
    x["Destination"] = e.destination;
    x["State"] = storage::ExportStateName(e.state);
    x["Attempts"] = e.attempts;
    x["LastError"] = e.last_error;
    x["NextAt"] = e.next_at;
    x["DeliveredAt"] = e.delivered_at;
    exports.append(std::move(x));
  }
  j["Exports"] = std::move(exports);
  // The study's own events (received, not routed) with the job's, in time order.
  std::vector<storage::AuditRow> rows = store_->Audit(job.id);
  for (storage::AuditRow& a : store_->StudyAudit(job.study_id)) {
    if (a.job_id == 0) rows.push_back(std::move(a));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const storage::AuditRow& a, const storage::AuditRow& b) { return a.at < b.at; });
  config::Json audit(::Json::arrayValue);
  for (const storage::AuditRow& a : rows) {
    config::Json x(::Json::objectValue);
    x["At"] = a.at;
    x["Event"] = a.event;
    x["Detail"] = a.detail;
    audit.append(std::move(x));
  }
  j["Audit"] = std::move(audit);
  return j;
}

HttpResponse Node::JobView(int64_t id) {
  std::optional<storage::JobRow> job = store_->GetJob(id);
  if (!job) return Problem(404, "no job " + std::to_string(id));
  return Answer(JobJson(*job, true));
}

HttpResponse Node::Handle(const HttpRequest& request) {
  const std::vector<std::string> parts = Split(request.path);
  const bool get = request.method == "GET", post = request.method == "POST";
  try {
    // The web UI's pages and data (ui.cpp).
    if (std::optional<HttpResponse> ui = internal::HandleUi(request, parts, {*store_, settings_, model_.info()})) return *ui;
    if (parts.size() == 1 && parts[0] == "health" && get) {
      config::Json j(::Json::objectValue);
      // "degraded": the node runs but something it needs refused it lately (its database's disk
      // full, ...); what, in Problems. Received studies are kept and retried meanwhile.
      const std::vector<std::string> problems = Problems(Now());
      j["Status"] = problems.empty() ? "ok" : "degraded";
      j["Problems"] = Strings(problems);
      j["Version"] = info_.version;
      j["Database"] = store_->path();
      config::Json model(::Json::objectValue);
      model["Path"] = model_.info().path;
      model["Digest"] = model_.info().backbone_digest;
      model["Demo"] = model_.info().demo;
      model["Devices"] = Strings(model_.info().devices);
      config::Json heads(::Json::arrayValue);
      for (const worker::TaskInfo& t : model_.info().tasks) {
        config::Json h(::Json::objectValue);
        h["Task"] = t.name;
        h["Head"] = t.head;
        h["Digest"] = t.head_digest;
        heads.append(std::move(h));
      }
      model["Tasks"] = std::move(heads);
      j["Model"] = std::move(model);
      // Jobs by state, and the queue (jobs waiting) by priority.
      std::map<std::string, int64_t> by_state;
      int64_t waiting[3] = {0, 0, 0};
      for (const storage::QueueCount& c : store_->CountByPriorityAndState()) {
        by_state[storage::JobStateName(c.state)] += c.jobs;
        if (c.state == storage::JobState::kQueued) waiting[std::clamp(c.priority, 0, 2)] += c.jobs;
      }
      config::Json jobs(::Json::objectValue);
      for (const auto& [state, n] : by_state) jobs[state] = n;
      config::Json queue(::Json::objectValue);
      for (int p = 0; p < 3; ++p) queue[PriorityText(p)] = waiting[p];
      j["Jobs"] = std::move(jobs);
      j["Queue"] = std::move(queue);
      j["Running"] = started_ && !stopping_;
      return Answer(j);
    }
    if (parts.size() == 1 && parts[0] == "jobs" && get) {
      storage::JobFilter filter;
      if (const std::string s = Query(request, "state"); !s.empty()) {
        filter.state = storage::ParseJobState(s);
        if (!filter.state) return Problem(400, "state: unknown job state \"" + s + "\"");
      }
      filter.study_id = Query(request, "study");
      filter.rule = Query(request, "rule");
      if (const std::string s = Query(request, "offset"); !s.empty()) {
        const std::optional<int64_t> v = ParseId(s);
        if (!v) return Problem(400, "offset: expected a number");
        filter.offset = *v;
      }
      if (const std::string s = Query(request, "limit"); !s.empty()) {
        const std::optional<int64_t> v = ParseId(s);
        if (!v || *v < 1 || *v > 1000) return Problem(400, "limit: expected 1 to 1000");
        filter.limit = *v;
      }
      config::Json jobs(::Json::arrayValue);
      for (const storage::JobRow& job : store_->Jobs(filter)) jobs.append(JobJson(job, false));
      config::Json j(::Json::objectValue);
      j["Jobs"] = std::move(jobs);
      j["Total"] = store_->CountJobs(filter);
      return Answer(j);
    }
    if (parts.size() >= 2 && parts[0] == "jobs") {
      const std::optional<int64_t> id = ParseId(parts[1]);
      if (!id) return Problem(404, "no job " + parts[1]);
      if (parts.size() == 2 && get) return JobView(*id);
      if (parts.size() == 3 && post && (parts[2] == "retry" || parts[2] == "cancel")) {
        if (!store_->GetJob(*id)) return Problem(404, "no job " + parts[1]);
        const bool changed = parts[2] == "retry" ? store_->Retry(*id, Now()) : store_->Cancel(*id, Now());
        if (!changed) {
          const std::optional<storage::JobRow> job = store_->GetJob(*id);
          return Problem(409, "job " + parts[1] + " is " + storage::JobStateName(job->state) + ": cannot " + parts[2]);
        }
        Wake();
        return JobView(*id);
      }
    }
    if (parts.size() == 3 && parts[0] == "studies" && parts[2] == "process" && post) {
      std::vector<int64_t> ids;
      config::Json routing = RouteStudy(parts[1], "", true, &ids);
      config::Json j(::Json::objectValue);
      config::Json list(::Json::arrayValue);
      for (int64_t id : ids) list.append(id);
      j["Jobs"] = std::move(list);
      j["Routing"] = std::move(routing);
      return Answer(j);
    }
    if (parts.size() == 2 && parts[0] == "rules" && parts[1] == "test" && post) {
      std::string study = request.body;
      if (!study.empty() && study.front() == '{') {
        const config::Json body = config::ParseJson(request.body, "request body");
        const config::Json* s = config::Find(body, "Study");
        if (!s || !s->isString()) return Problem(400, "expected {\"Study\": \"<Orthanc study ID>\"}");
        study = s->asString();
      }
      while (!study.empty() && (study.back() == '\n' || study.back() == ' ')) study.pop_back();
      if (study.empty()) return Problem(400, "expected {\"Study\": \"<Orthanc study ID>\"}");
      config::Json j(::Json::objectValue);
      j["Study"] = study;
      j["Routing"] = RouteStudy(study, "", false, nullptr);
      return Answer(j);
    }
    if (parts.size() == 1 && parts[0] == "metrics" && get) {
      return {200, "text/plain; version=0.0.4", PrometheusText()};
    }
    if (parts.size() == 1 && parts[0] == "config" && get) {
      config::Json j(::Json::objectValue);
      j["Configured"] = Redacted(info_.section);
      j["Destinations"] = Redacted(info_.destinations);
      config::Json eff(::Json::objectValue);
      eff["Database"] = store_->path();
      eff["ModelPath"] = settings_.model.path;
      eff["Devices"] = Strings(settings_.model.devices);
      eff["Precision"] = settings_.model.precision;
      eff["Trigger"] = settings_.trigger == config::Trigger::kSeries ? "series" : "study";
      eff["RoutingMode"] = settings_.routing_mode == config::RoutingMode::kAllMatches ? "all-matches" : "first-match";
      eff["LeaseSeconds"] = settings_.queue.lease_seconds;
      eff["MaxAttempts"] = settings_.queue.max_attempts;
      eff["Workers"] = settings_.queue.workers;
      eff["ExportMaxAttempts"] = settings_.export_.max_attempts;
      eff["StableAge"] = info_.stable_age_s;
      j["Effective"] = std::move(eff);
      return Answer(j);
    }
    return Problem(404, "no such route: " + request.method + " /curia" + request.path);
  } catch (const Error& e) {
    const int status = e.code() == ErrorCode::kNotFound ? 404 : e.code() == ErrorCode::kInvalidArgument ? 400 : 500;
    return Problem(status, e.what());
  } catch (const std::exception& e) {
    return Problem(500, e.what());
  }
}

std::vector<std::pair<std::string, double>> Node::Metrics() {
  std::vector<std::pair<std::string, double>> m;
  int64_t queued[3] = {0, 0, 0};
  int64_t running = 0, dead = 0, failed = 0;
  for (const storage::QueueCount& c : store_->CountByPriorityAndState()) {
    if (c.state == storage::JobState::kQueued && c.priority >= 0 && c.priority <= 2) queued[c.priority] += c.jobs;
    if (c.state == storage::JobState::kRunning) running += c.jobs;
    if (c.state == storage::JobState::kDead) dead += c.jobs;
    if (c.state == storage::JobState::kFailed) failed += c.jobs;
  }
  m.emplace_back("curia_queue_depth_stat", static_cast<double>(queued[0]));
  m.emplace_back("curia_queue_depth_routine", static_cast<double>(queued[1]));
  m.emplace_back("curia_queue_depth_offpeak", static_cast<double>(queued[2]));
  m.emplace_back("curia_jobs_running", static_cast<double>(running));
  m.emplace_back("curia_jobs_dead", static_cast<double>(dead));
  m.emplace_back("curia_jobs_failed", static_cast<double>(failed));
  m.emplace_back("curia_export_failures_total", static_cast<double>(store_->CountExportFailures()));
  const double device = device_seconds_;
  m.emplace_back("curia_slices_per_second", device > 0 ? static_cast<double>(slices_done_) / device : 0.0);
  m.emplace_back("curia_job_seconds_sum", job_seconds_sum_);
  m.emplace_back("curia_job_seconds_count", static_cast<double>(jobs_finished_));
  return m;
}

std::string Node::PrometheusText() {
  std::ostringstream out;
  out << "# HELP curia_queue_depth Jobs waiting, by priority\n# TYPE curia_queue_depth gauge\n";
  std::map<std::pair<int, std::string>, int64_t> counts;
  int64_t queued[3] = {0, 0, 0};
  for (const storage::QueueCount& c : store_->CountByPriorityAndState()) {
    counts[{c.priority, storage::JobStateName(c.state)}] += c.jobs;
    if (c.state == storage::JobState::kQueued && c.priority >= 0 && c.priority <= 2) queued[c.priority] += c.jobs;
  }
  for (int p = 0; p < 3; ++p) out << "curia_queue_depth{priority=\"" << PriorityText(p) << "\"} " << queued[p] << "\n";
  out << "# HELP curia_jobs Jobs by state and priority\n# TYPE curia_jobs gauge\n";
  for (const auto& [key, n] : counts) {
    out << "curia_jobs{state=\"" << key.second << "\",priority=\"" << PriorityText(key.first) << "\"} " << n << "\n";
  }
  out << "# HELP curia_job_seconds Time from submission to findings\n# TYPE curia_job_seconds summary\n";
  out << "curia_job_seconds_sum " << static_cast<double>(job_seconds_sum_) << "\n";
  out << "curia_job_seconds_count " << jobs_finished_ << "\n";
  const double device = device_seconds_;
  out << "# HELP curia_slices_per_second Slices through the backbone per second of device time\n"
         "# TYPE curia_slices_per_second gauge\n";
  out << "curia_slices_per_second " << (device > 0 ? static_cast<double>(slices_done_) / device : 0.0) << "\n";
  out << "# HELP curia_export_failures_total Failed export attempts\n# TYPE curia_export_failures_total counter\n";
  out << "curia_export_failures_total " << store_->CountExportFailures() << "\n";
  return out.str();
}

}  // namespace curia::node
