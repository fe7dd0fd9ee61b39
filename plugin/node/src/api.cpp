// SPDX-License-Identifier: GPL-3.0-or-later
#include "api.h"

#include <cctype>
#include <utility>

#include "curia/config/error.h"
#include "http.h"
#include "results_json.h"

namespace curia::node {
namespace {

using internal::JsonAnswer;
using internal::Problem;
using internal::RouteArgs;
using internal::Strings;

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
  for (const auto& [key, member] : config::MembersInFileOrder(value)) {
    const config::Json& v = *member;
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

Api::Api(const config::CuriaSettings& settings, storage::Store& store, const worker::ModelInfo& model,
         const NodeInfo& info, Router& router, Health& health, Notifier& notifier, Clock clock,
         std::function<bool()> running)
    : settings_(settings),
      store_(store),
      info_(info),
      router_(router),
      health_(health),
      notifier_(notifier),
      clock_(std::move(clock)),
      running_(std::move(running)),
      ui_{store, settings, model} {
  auto& t = table_;
  t.Add("GET", "/health", [this](const HttpRequest&, const RouteArgs&) {
    config::Json report = health_.Report(running_());
    report["Role"] = config::NodeRoleName(settings_.role);  // what this node of a cluster does
    return JsonAnswer(report);
  });
  t.Add("GET", "/jobs", [this](const HttpRequest& r, const RouteArgs&) { return Jobs(r); });
  t.Add("GET", "/jobs/{id}", [this](const HttpRequest&, const RouteArgs& a) { return JobView(a[0]); });
  t.Add("POST", "/jobs/{id}/retry", [this](const HttpRequest&, const RouteArgs& a) { return Change(a[0], "retry"); });
  t.Add("POST", "/jobs/{id}/cancel", [this](const HttpRequest&, const RouteArgs& a) { return Change(a[0], "cancel"); });
  t.Add("POST", "/studies/{id}/process", [this](const HttpRequest&, const RouteArgs& a) { return Process(a[0]); });
  t.Add("POST", "/rules/test", [this](const HttpRequest& r, const RouteArgs&) { return TestRules(r); });
  t.Add("GET", "/metrics", [this](const HttpRequest&, const RouteArgs&) {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = health_.PrometheusText();
    return r;
  });
  t.Add("GET", "/config", [this](const HttpRequest&, const RouteArgs&) { return Config(); });
  internal::AddUiRoutes(t, ui_);
}

HttpResponse Api::Jobs(const HttpRequest& request) {
  storage::JobFilter filter;
  if (const std::string s = Query(request, "state"); !s.empty()) {
    filter.state = storage::ParseJobState(s);
    if (!filter.state) return Problem(400, "state: unknown job state \"" + s + "\"");
  }
  filter.study_id = Query(request, "study");
  filter.rule = Query(request, "rule");
  if (const std::string s = Query(request, "offset"); !s.empty()) {
    const std::optional<int64_t> v = internal::ParseId(s);
    if (!v) return Problem(400, "offset: expected a number");
    filter.offset = *v;
  }
  if (const std::string s = Query(request, "limit"); !s.empty()) {
    const std::optional<int64_t> v = internal::ParseId(s);
    if (!v || *v < 1 || *v > 1000) return Problem(400, "limit: expected 1 to 1000");
    filter.limit = *v;
  }
  config::Json jobs(::Json::arrayValue);
  for (const storage::JobRow& job : store_.Jobs(filter)) jobs.append(internal::JobJson(store_, job, false));
  config::Json j(::Json::objectValue);
  j["Jobs"] = std::move(jobs);
  j["Total"] = store_.CountJobs(filter);
  return JsonAnswer(j);
}

HttpResponse Api::JobView(const std::string& id_text) {
  const std::optional<int64_t> id = internal::ParseId(id_text);
  std::optional<storage::JobRow> job;
  if (id) job = store_.GetJob(*id);
  if (!job) return Problem(404, "no job " + id_text);
  return JsonAnswer(internal::JobJson(store_, *job, true));
}

HttpResponse Api::Change(const std::string& id_text, const std::string& what) {
  const std::optional<int64_t> id = internal::ParseId(id_text);
  if (!id || !store_.GetJob(*id)) return Problem(404, "no job " + id_text);
  const bool changed = what == "retry" ? store_.Retry(*id, clock_()) : store_.Cancel(*id, clock_());
  if (!changed) {
    const std::optional<storage::JobRow> job = store_.GetJob(*id);
    return Problem(409, "job " + id_text + " is " + storage::JobStateName(job->state) + ": cannot " + what);
  }
  notifier_.Notify();
  return JobView(id_text);
}

HttpResponse Api::Process(const std::string& study) {
  std::vector<int64_t> ids;
  config::Json routing = router_.RouteStudy(study, "", true, &ids);
  config::Json j(::Json::objectValue);
  config::Json list(::Json::arrayValue);
  for (int64_t id : ids) list.append(id);
  j["Jobs"] = std::move(list);
  j["Routing"] = std::move(routing);
  return JsonAnswer(j);
}

HttpResponse Api::TestRules(const HttpRequest& request) {
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
  j["Routing"] = router_.RouteStudy(study, "", false, nullptr);
  return JsonAnswer(j);
}

HttpResponse Api::Config() {
  config::Json j(::Json::objectValue);
  j["Configured"] = Redacted(info_.section);
  j["Destinations"] = Redacted(info_.destinations);
  config::Json eff(::Json::objectValue);
  eff["Database"] = store_.path();
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
  return JsonAnswer(j);
}

}  // namespace curia::node
