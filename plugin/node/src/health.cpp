// SPDX-License-Identifier: GPL-3.0-or-later
#include "health.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <sstream>

#include "curia/config/log.h"
#include "http.h"

namespace curia::node {
namespace {

// std::atomic<double> has no fetch_add before C++20.
void Add(std::atomic<double>& a, double v) {
  double old = a.load();
  while (!a.compare_exchange_weak(old, old + v)) {
  }
}

}  // namespace

Health::Health(storage::Store& store, const worker::ModelInfo& model, std::string version, Clock clock)
    : store_(store), model_(model), version_(std::move(version)), clock_(std::move(clock)) {}

void Health::AddSource(std::function<std::vector<std::string>()> source) { sources_.push_back(std::move(source)); }

void Health::NoteProblem(const std::string& what) {
  std::lock_guard<std::mutex> lock(mu_);
  last_problem_ = what;
  last_problem_at_ = clock_();
}

std::vector<std::string> Health::Problems() {
  std::vector<std::string> problems;
  const double now = clock_();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (last_problem_at_ > 0 && now - last_problem_at_ < kProblemSeconds) {
      problems.push_back(last_problem_ + " (" + std::to_string(static_cast<int64_t>(now - last_problem_at_)) + " s ago)");
    }
  }
  for (const auto& source : sources_) {
    for (std::string& p : source()) problems.push_back(std::move(p));
  }
  return problems;
}

void Health::Heartbeat(const storage::NodeBeat& beat) {
  if (beat.name.empty()) return;
  try {
    store_.Heartbeat(beat, clock_());
  } catch (const std::exception& e) {
    const std::string what = std::string("recording this node's heartbeat: ") + e.what();
    log::Warning("node", what);
    NoteProblem(what);
  }
}

config::Json Health::Cluster() {
  const double now = clock_();
  config::Json cluster(::Json::objectValue);
  cluster["Node"] = store_.node_name();
  cluster["HeartbeatSeconds"] = kHeartbeatSeconds;
  config::Json nodes(::Json::arrayValue);
  for (const storage::NodeRow& n : store_.ListNodes()) {
    config::Json row(::Json::objectValue);
    row["Name"] = n.name;
    row["This"] = n.name == store_.node_name();
    const bool seen = n.last_seen > 0;
    // Seconds since its last heartbeat, by this node's clock (nodes keep theirs in step, as leases
    // need); null: never beat (known only from its claims).
    row["LastSeen"] = seen ? config::Json(std::max(0.0, std::round((now - n.last_seen) * 10) / 10)) : config::Json();
    row["LastSeenAt"] = seen ? config::Json(n.last_seen) : config::Json();
    row["FirstSeenAt"] = n.first_seen > 0 ? config::Json(n.first_seen) : config::Json();
    row["Alive"] = seen && now - n.last_seen <= kAliveSeconds;
    row["Version"] = n.version;
    row["Role"] = n.role;
    row["Workers"] = n.workers;
    row["Host"] = n.host;
    row["Pid"] = n.pid;
    row["Running"] = n.running;
    row["LeasesLost"] = n.leases_lost;
    row["LeasesRecovered"] = n.leases_recovered;
    nodes.append(std::move(row));
  }
  cluster["Nodes"] = std::move(nodes);
  return cluster;
}

void Health::RecordJob(const worker::StudyFindings& findings) {
  slices_done_ += findings.slices;
  Add(device_seconds_, findings.timings.device_seconds);
  Add(job_seconds_sum_, findings.timings.total_seconds);
  ++jobs_finished_;
}

Health::QueueFigures Health::Figures() {
  QueueFigures f;
  std::map<std::pair<int, std::string>, int64_t> counts;
  for (const storage::QueueCount& c : store_.CountByPriorityAndState()) {
    counts[{c.priority, storage::JobStateName(c.state)}] += c.jobs;
    if (c.state == storage::JobState::kQueued) f.queued[std::clamp(c.priority, 0, 2)] += c.jobs;
    if (c.state == storage::JobState::kRunning) f.running += c.jobs;
    if (c.state == storage::JobState::kDead) f.dead += c.jobs;
    if (c.state == storage::JobState::kFailed) f.failed += c.jobs;
  }
  f.by_priority_state.assign(counts.begin(), counts.end());
  return f;
}

double Health::SlicesPerSecond() const {
  const double device = device_seconds_;
  return device > 0 ? static_cast<double>(slices_done_) / device : 0.0;
}

config::Json Health::Report(bool running) {
  config::Json j(::Json::objectValue);
  // The queue's figures first: a database that cannot answer them is a problem of this report.
  std::optional<QueueFigures> figures;
  try {
    figures = Figures();
  } catch (const std::exception& e) {
    NoteProblem(std::string("the database does not answer: ") + e.what());
  }
  // "degraded": the node runs but something it needs refused it lately (its database's disk
  // full, a database server restarting, ...); what, in Problems. Received studies are kept and
  // retried meanwhile.
  const std::vector<std::string> problems = Problems();
  j["Status"] = problems.empty() ? "ok" : "degraded";
  j["Problems"] = internal::Strings(problems);
  j["Version"] = version_;
  j["Database"] = store_.path();
  config::Json model(::Json::objectValue);
  model["Path"] = model_.path;
  model["Digest"] = model_.backbone_digest;
  model["Demo"] = model_.demo;
  model["Devices"] = internal::Strings(model_.devices);
  config::Json heads(::Json::arrayValue);
  for (const worker::TaskInfo& t : model_.tasks) {
    config::Json h(::Json::objectValue);
    h["Task"] = t.name;
    h["Head"] = t.head;
    h["Digest"] = t.head_digest;
    heads.append(std::move(h));
  }
  model["Tasks"] = std::move(heads);
  j["Model"] = std::move(model);
  j["Running"] = running;
  if (!figures) return j;  // no Jobs and Queue while the database does not answer
  // Jobs by state, and the queue (jobs waiting) by priority.
  const QueueFigures& f = *figures;
  std::map<std::string, int64_t> by_state;
  for (const auto& [key, n] : f.by_priority_state) by_state[key.second] += n;
  config::Json jobs(::Json::objectValue);
  for (const auto& [state, n] : by_state) jobs[state] = n;
  config::Json queue(::Json::objectValue);
  for (int p = 0; p < 3; ++p) queue[internal::PriorityText(p)] = f.queued[p];
  j["Jobs"] = std::move(jobs);
  j["Queue"] = std::move(queue);
  try {
    j["Cluster"] = Cluster();
  } catch (const std::exception& e) {
    // The problem shows in the next report (this one's Problems are made).
    NoteProblem(std::string("the database does not answer: ") + e.what());
  }
  return j;
}

std::vector<std::pair<std::string, double>> Health::Metrics() {
  const QueueFigures f = Figures();
  std::vector<std::pair<std::string, double>> m;
  m.emplace_back("curia_queue_depth_stat", static_cast<double>(f.queued[0]));
  m.emplace_back("curia_queue_depth_routine", static_cast<double>(f.queued[1]));
  m.emplace_back("curia_queue_depth_offpeak", static_cast<double>(f.queued[2]));
  m.emplace_back("curia_jobs_running", static_cast<double>(f.running));
  m.emplace_back("curia_jobs_dead", static_cast<double>(f.dead));
  m.emplace_back("curia_jobs_failed", static_cast<double>(f.failed));
  m.emplace_back("curia_export_failures_total", static_cast<double>(store_.CountExportFailures()));
  m.emplace_back("curia_slices_per_second", SlicesPerSecond());
  m.emplace_back("curia_job_seconds_sum", job_seconds_sum_);
  m.emplace_back("curia_job_seconds_count", static_cast<double>(jobs_finished_));
  return m;
}

std::string Health::PrometheusText() {
  const QueueFigures f = Figures();
  std::ostringstream out;
  out << "# HELP curia_queue_depth Jobs waiting, by priority\n# TYPE curia_queue_depth gauge\n";
  for (int p = 0; p < 3; ++p) out << "curia_queue_depth{priority=\"" << internal::PriorityText(p) << "\"} " << f.queued[p] << "\n";
  out << "# HELP curia_jobs Jobs by state and priority\n# TYPE curia_jobs gauge\n";
  for (const auto& [key, n] : f.by_priority_state) {
    out << "curia_jobs{state=\"" << key.second << "\",priority=\"" << internal::PriorityText(key.first) << "\"} " << n << "\n";
  }
  out << "# HELP curia_job_seconds Time from submission to findings\n# TYPE curia_job_seconds summary\n";
  out << "curia_job_seconds_sum " << static_cast<double>(job_seconds_sum_) << "\n";
  out << "curia_job_seconds_count " << jobs_finished_ << "\n";
  out << "# HELP curia_slices_per_second Slices through the backbone per second of device time\n"
         "# TYPE curia_slices_per_second gauge\n";
  out << "curia_slices_per_second " << SlicesPerSecond() << "\n";
  out << "# HELP curia_export_failures_total Failed export attempts\n# TYPE curia_export_failures_total counter\n";
  out << "curia_export_failures_total " << store_.CountExportFailures() << "\n";
  return out.str();
}

}  // namespace curia::node
