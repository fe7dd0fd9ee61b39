// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Progress of a command that runs jobs through the worker pool (`curia run`, `curia features`): one
// bar with the rate and the time left on a terminal, plain lines otherwise. Thread-safe.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>

namespace curia::cli {

// Slices done over slices to do, for every job together: a bar on a terminal, lines otherwise.
class Progress {
 public:
  explicit Progress(bool tty) : tty_(tty), start_(std::chrono::steady_clock::now()) {}

  // Before a job reports, its slice count stands for its total.
  void Expect(const std::string& job, int64_t slices) { total_by_job_[job] = slices; }

  // Steps are slice passes: a slice z-scored with its volume's statistics is read twice.
  void Update(const std::string& job, int64_t done, int64_t job_total) {
    std::lock_guard<std::mutex> lock(mu_);
    done_by_job_[job] = done;
    total_by_job_[job] = job_total;
    int64_t done_all = 0, total_all = 0;
    for (const auto& [id, d] : done_by_job_) done_all += d;
    for (const auto& [id, t] : total_by_job_) total_all += t;
    if (!tty_) return;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = seconds > 0 ? static_cast<double>(done_all) / seconds : 0;
    const double left = rate > 0 ? static_cast<double>(total_all - done_all) / rate : 0;
    const int width = 30;
    const int filled = total_all > 0 ? static_cast<int>(width * done_all / total_all) : 0;
    char line[160];
    std::snprintf(line, sizeof line, "\r[%s%s] %lld/%lld slice steps  %.1f slices/s  %d:%02d left ",
                  std::string(static_cast<size_t>(filled), '#').c_str(),
                  std::string(static_cast<size_t>(width - filled), '.').c_str(), static_cast<long long>(done_all),
                  static_cast<long long>(total_all), rate, static_cast<int>(left) / 60, static_cast<int>(left) % 60);
    std::fputs(line, stderr);
    std::fflush(stderr);
  }

  void Line(const std::string& text) {
    std::lock_guard<std::mutex> lock(mu_);
    if (tty_) std::fputs("\r\033[K", stderr);
    std::fprintf(stderr, "%s\n", text.c_str());
  }

 private:
  std::mutex mu_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  std::map<std::string, int64_t> done_by_job_, total_by_job_;
};

}  // namespace curia::cli
