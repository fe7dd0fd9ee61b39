// SPDX-License-Identifier: GPL-3.0-or-later
// curia bench queue: the node's durable queue under concurrent claimers. It opens the store (a
// temporary SQLite file by default, or --database: a SQLite path or a postgresql:// URL), enqueues
// N jobs with Store::Enqueue (as the router does), then K threads, each with a Store object of its
// own (its own connection, as separate nodes or processes would have), loop: Claim with a lease (the
// job runner's call), Complete on the claim (conditional on its owner token, the runner's call),
// until the queue is empty. It reports claims/s and the claim latency, then reads every job back:
// each must be done, claimed once (attempts 1) by the claimer that completed it; none lost, none
// twice. Exit status 1 when that check fails.
#include "queue_bench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/storage/store.h"
#include "scratch_dir.h"
#include "version.h"

namespace curia::cli {
namespace {

using Clock = std::chrono::steady_clock;

double WallNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The q-quantile (0..1) of `v` by the nearest-rank method; 0 for none.
double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(q * static_cast<double>(v.size()) + 0.999999);
  rank = std::min(std::max<size_t>(rank, 1), v.size());
  return v[rank - 1];
}

bool IsUrl(const std::string& s) {
  return s.rfind("postgresql://", 0) == 0 || s.rfind("postgres://", 0) == 0;
}

std::unique_ptr<storage::Store> Open(const std::string& where) {
  try {
    return storage::OpenStore(where);
  } catch (const Error& e) {
    throw Error(e.code(), std::string("curia bench queue: ") + e.what());
  }
}

// What one claimer did.
struct Claimer {
  std::unique_ptr<storage::Store> store;
  std::string name;                 // its node name: the owner tokens of its claims start with it
  std::vector<int64_t> completed;   // job ids it claimed and completed
  std::vector<double> claim_ms, complete_ms;
  int64_t refused = 0;              // Complete returned false (the claim no longer owned the job)
  int64_t empty_polls = 0;          // Claim found nothing while jobs were still queued
  std::string error;
};

}  // namespace

int BenchQueue(const Args& args) {
  ArgParser p("curia bench queue",
              "Claims per second of the node's job queue with concurrent claimers. Enqueues --jobs jobs\n"
              "(Store::Enqueue, as the router does), then --claimers threads, each with a store connection\n"
              "of its own (as separate nodes would), claim a job with a lease and complete it on the claim\n"
              "(the job runner's calls) until the queue is empty. Reports claims/s, claim latency p50/p99,\n"
              "and reads every job back: done, claimed exactly once, by the claimer that completed it.\n"
              "Exit status 1 when a job was lost or claimed twice.\n"
              "--database: a SQLite file or postgresql://USER@HOST:PORT/DB?passfile=FILE, with no queued or\n"
              "running jobs (every queued job would be claimed); default: a temporary SQLite file.");
  p.Option("--database", "URL_OR_PATH", "the store (default: a temporary SQLite file, removed afterwards)")
      .Option("--claimers", "K", "concurrent claimers, one store connection each", false, "8")
      .Option("--jobs", "N", "jobs enqueued", false, "2000")
      .Option("--seconds", "S", "stop claiming after S seconds even if jobs are left (0: until empty)", false, "0")
      .Option("--lease", "S", "lease of each claim in seconds (the node's Queue.LeaseSeconds)", false, "60")
      .Option("--json", "FILE", "also write the figures as JSON");
  if (!p.Parse(args)) return 0;
  const int claimers = static_cast<int>(p.GetInt("--claimers", 1, 64));
  const int64_t jobs = p.GetInt("--jobs", 1, 10000000);
  const int64_t max_seconds = p.GetInt("--seconds", 0, 86400);
  const double lease = static_cast<double>(p.GetInt("--lease", 1, 86400));

  std::unique_ptr<ScratchDir> scratch;
  std::string where = p.Has("--database") ? p.Get("--database") : "";
  if (where.empty()) {
    scratch = std::make_unique<ScratchDir>("curia-bench-queue");
    where = scratch->path() + "/queue.sqlite";
  }
  const bool postgres = IsUrl(where);
  const std::string kind = postgres ? "postgresql" : "sqlite";

  std::unique_ptr<storage::Store> main_store = Open(where);
  const std::string shown = main_store->path();
  for (storage::JobState s : {storage::JobState::kQueued, storage::JobState::kRunning}) {
    storage::JobFilter f;
    f.state = s;
    const int64_t n = main_store->CountJobs(f);
    if (n > 0) {
      throw Error(ErrorCode::kInvalidArgument,
                  "curia bench queue: " + shown + " already has " + std::to_string(n) + " " +
                      storage::JobStateName(s) +
                      " job(s); the benchmark claims every queued job, so give it a database of its own");
    }
  }

  // Jobs of this run: a rule name of their own, one series each (nothing supersedes anything).
  std::random_device rd;
  char run_id[16];
  std::snprintf(run_id, sizeof run_id, "%08x", static_cast<unsigned>(rd()));
  const std::string rule = std::string("bench-queue-") + run_id;
  std::cout << "Curia queue benchmark (curia " CURIA_VERSION_STRING ")\n"
            << "  store     " << kind << ": " << shown << "\n"
            << "  claimers  " << claimers << " (one " << (postgres ? "connection" : "SQLite connection")
            << " each), " << jobs << " jobs, lease " << Fixed(lease, 0) << " s\n"
            << std::flush;
  std::set<int64_t> enqueued;
  const auto enqueue_start = Clock::now();
  for (int64_t i = 0; i < jobs; ++i) {
    storage::NewJob job;
    job.idempotency_key = rule + "/" + std::to_string(i);
    job.study_id = "bench-study-" + std::to_string(i / 4);
    job.study_uid = "1.2.826.0.1.3680043.10.1" + std::to_string(i / 4);
    job.series_id = "bench-series-" + std::to_string(i);
    job.series_uid = "1.2.826.0.1.3680043.10.2." + std::to_string(i);
    job.rule = rule;
    job.tasks = {"bench"};
    job.priority = static_cast<int>(i % 3);
    job.instances = 1;
    const auto [id, inserted] = main_store->Enqueue(job, WallNow());
    if (!inserted) throw Error(ErrorCode::kInternal, "curia bench queue: job " + job.idempotency_key + " existed");
    enqueued.insert(id);
  }
  const double enqueue_s = std::chrono::duration<double>(Clock::now() - enqueue_start).count();

  std::vector<Claimer> cs(static_cast<size_t>(claimers));
  for (int i = 0; i < claimers; ++i) {
    cs[i].name = "bench-" + std::to_string(i + 1);
    cs[i].store = Open(where);
    cs[i].store->SetNodeName(cs[i].name);
  }
  std::mutex mu;
  std::condition_variable cv;
  bool go = false;
  std::atomic<bool> out_of_time{false};
  storage::JobFilter queued_filter;
  queued_filter.state = storage::JobState::kQueued;
  queued_filter.rule = rule;
  std::vector<std::thread> threads;
  for (Claimer& c : cs) {
    threads.emplace_back([&, cc = &c] {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return go; });
      }
      try {
        while (!out_of_time.load()) {
          const auto t0 = Clock::now();
          std::optional<storage::JobRow> job = cc->store->Claim(WallNow(), lease);
          const auto t1 = Clock::now();
          if (!job) {
            // Nothing left that is not being claimed right now; a claim that another claimer's
            // transaction rolled back would be queued again, so look once more before stopping.
            if (cc->store->CountJobs(queued_filter) == 0) break;
            ++cc->empty_polls;
            continue;
          }
          cc->claim_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
          const bool ok = cc->store->Complete(storage::ClaimOf(*job), "{}", "{}", "bench", {}, WallNow());
          cc->complete_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t1).count());
          if (ok) {
            cc->completed.push_back(job->id);
          } else {
            ++cc->refused;
          }
        }
      } catch (const std::exception& e) {
        cc->error = e.what();
      }
    });
  }
  const auto start = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mu);
    go = true;
  }
  cv.notify_all();
  std::thread timer;
  std::mutex timer_mu;
  std::condition_variable timer_cv;
  bool finished = false;
  if (max_seconds > 0) {
    timer = std::thread([&] {
      std::unique_lock<std::mutex> lock(timer_mu);
      if (!timer_cv.wait_for(lock, std::chrono::seconds(max_seconds), [&] { return finished; })) out_of_time = true;
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (timer.joinable()) {
    {
      std::lock_guard<std::mutex> lock(timer_mu);
      finished = true;
    }
    timer_cv.notify_all();
    timer.join();
  }
  for (const Claimer& c : cs) {
    if (!c.error.empty()) throw Error(ErrorCode::kUnavailable, "curia bench queue: claimer " + c.name + ": " + c.error);
  }

  // What the claimers say they did, then what the store says.
  std::map<int64_t, std::string> completed_by;
  int64_t claims = 0, twice = 0, refused = 0, empty_polls = 0;
  std::vector<double> claim_ms, complete_ms;
  for (const Claimer& c : cs) {
    claims += static_cast<int64_t>(c.claim_ms.size());
    refused += c.refused;
    empty_polls += c.empty_polls;
    claim_ms.insert(claim_ms.end(), c.claim_ms.begin(), c.claim_ms.end());
    complete_ms.insert(complete_ms.end(), c.complete_ms.begin(), c.complete_ms.end());
    for (int64_t id : c.completed) {
      if (!completed_by.emplace(id, c.name).second) ++twice;
    }
  }
  storage::JobFilter all;
  all.rule = rule;
  all.limit = jobs + 1;
  const std::vector<storage::JobRow> rows = main_store->Jobs(all);
  int64_t done = 0, still_queued = 0, wrong = 0, unknown = 0;
  std::string first_problem;
  auto problem = [&](const std::string& what) {
    ++wrong;
    if (first_problem.empty()) first_problem = what;
  };
  for (const storage::JobRow& r : rows) {
    if (!enqueued.count(r.id)) {
      ++unknown;
      continue;
    }
    const auto by = completed_by.find(r.id);
    if (r.state == storage::JobState::kDone) {
      ++done;
      if (by == completed_by.end()) {
        problem("job " + std::to_string(r.id) + " is done but no claimer completed it");
      } else if (r.attempts != 1) {
        problem("job " + std::to_string(r.id) + " was claimed " + std::to_string(r.attempts) + " times");
      } else if (storage::NodeOfOwner(r.owner) != by->second) {
        problem("job " + std::to_string(r.id) + " is owned by " + storage::NodeOfOwner(r.owner) + ", completed by " +
                by->second);
      }
    } else if (r.state == storage::JobState::kQueued && max_seconds > 0 && out_of_time && by == completed_by.end() &&
               r.attempts == 0) {
      ++still_queued;  // left when time ran out
    } else {
      problem("job " + std::to_string(r.id) + " is " + storage::JobStateName(r.state) + " (attempts " +
              std::to_string(r.attempts) + ")");
    }
  }
  const int64_t lost = jobs - static_cast<int64_t>(rows.size()) + unknown;
  const bool exactly_once = twice == 0 && refused == 0 && wrong == 0 && lost == 0 && unknown == 0 &&
                            done == static_cast<int64_t>(completed_by.size()) && done + still_queued == jobs;
  const double rate = seconds > 0 ? static_cast<double>(claims) / seconds : 0;

  std::cout << "  enqueue   " << jobs << " jobs in " << Fixed(enqueue_s, 3) << " s, "
            << Fixed(static_cast<double>(jobs) / enqueue_s, 0) << " jobs/s (one thread)\n"
            << "  claims    " << claims << " in " << Fixed(seconds, 3) << " s: " << Fixed(rate, 1)
            << " claims/s (claim + complete)   [claims_per_second]\n"
            << "  latency   claim p50 " << Fixed(Quantile(claim_ms, 0.5), 2) << " ms, p99 "
            << Fixed(Quantile(claim_ms, 0.99), 2) << " ms; complete p50 " << Fixed(Quantile(complete_ms, 0.5), 2)
            << " ms, p99 " << Fixed(Quantile(complete_ms, 0.99), 2) << " ms\n"
            << "  per claimer";
  for (const Claimer& c : cs) std::cout << " " << c.completed.size();
  std::cout << "\n"
            << "  check     " << done << " done of " << jobs << " enqueued" << (still_queued ? ", " : "")
            << (still_queued ? std::to_string(still_queued) + " still queued (--seconds)" : "") << "; claimed twice "
            << twice << ", lost " << lost << ", completions refused " << refused
            << (exactly_once ? ": exactly once" : ": FAILED" + (first_problem.empty() ? "" : " (" + first_problem + ")"))
            << "\n";

  if (p.Has("--json")) {
    config::Json j(::Json::objectValue);
    j["benchmark"] = "queue";
    j["curia_version"] = CURIA_VERSION_STRING;
    j["store"] = kind;
    j["database"] = shown;
    j["claimers"] = claimers;
    j["jobs"] = jobs;
    j["lease_seconds"] = lease;
    j["enqueue_seconds"] = enqueue_s;
    j["enqueue_per_second"] = static_cast<double>(jobs) / enqueue_s;
    j["seconds"] = seconds;
    j["claims"] = claims;
    j["claims_per_second"] = rate;
    j["claim_ms_p50"] = Quantile(claim_ms, 0.5);
    j["claim_ms_p99"] = Quantile(claim_ms, 0.99);
    j["complete_ms_p50"] = Quantile(complete_ms, 0.5);
    j["complete_ms_p99"] = Quantile(complete_ms, 0.99);
    for (const Claimer& c : cs) j["per_claimer"].append(static_cast<int64_t>(c.completed.size()));
    j["done"] = done;
    j["still_queued"] = still_queued;
    j["claimed_twice"] = twice;
    j["lost"] = lost;
    j["completions_refused"] = refused;
    j["empty_polls"] = empty_polls;
    j["exactly_once"] = exactly_once;
    WriteJsonFile(p.Get("--json"), j);
  }
  return exactly_once ? 0 : 1;
}

}  // namespace curia::cli
