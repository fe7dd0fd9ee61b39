// SPDX-License-Identifier: GPL-3.0-or-later
#include "arrivals.h"

#include <algorithm>
#include <utility>

#include "curia/config/log.h"

namespace curia::node {

Arrivals::Arrivals(storage::Store& store, Health& health, Clock clock)
    : store_(store), health_(health), clock_(std::move(clock)) {}

void Arrivals::OnInstanceStored(const std::string& study_uid, const std::string& calling_aet,
                                const std::string& called_aet) {
  const double now = clock_();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(study_uid);
    if (it != pending_.end() && it->second.durable) {
      // Recorded already: counted here, written by Flush.
      Pending& a = it->second;
      a.calling_aet = calling_aet;
      a.called_aet = called_aet;
      a.at = now;
      ++a.instances;
      return;
    }
  }
  try {
    store_.RecordArrival(study_uid, calling_aet, called_aet, now);
    std::lock_guard<std::mutex> lock(mu_);
    Pending& a = pending_[study_uid];
    a.durable = true;
    a.at = std::max(a.at, now);
  } catch (const std::exception& e) {
    // Not lost: the study is in Orthanc, its stable event still comes (and is retried while the
    // database refuses it), and Flush records the arrival once the database takes it.
    {
      std::lock_guard<std::mutex> lock(mu_);
      Pending& a = pending_[study_uid];
      if (!a.reported) {
        log::Error("node", "recording an arrival of study " + study_uid + " failed (retried): " + e.what());
        a.reported = true;
      }
      a.calling_aet = calling_aet;
      a.called_aet = called_aet;
      a.at = now;
      ++a.instances;
    }
    health_.NoteProblem(std::string("recording an arrival failed: ") + e.what());
  }
}

void Arrivals::Flush(double now) {
  std::vector<std::pair<std::string, Pending>> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.instances > 0) {
        batch.emplace_back(it->first, it->second);
        it->second.instances = 0;
        ++it;
      } else if (it->second.durable && now - it->second.at > kForgetSeconds) {
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& [uid, a] : batch) {
    try {
      store_.RecordArrival(uid, a.calling_aet, a.called_aet, a.at, a.instances);
      std::lock_guard<std::mutex> lock(mu_);
      Pending& b = pending_[uid];
      if (!b.durable && b.reported) {
        log::Info("node", "recorded the arrival of study " + uid + " received while the database refused it");
      }
      b.durable = true;
      b.reported = false;
      b.at = std::max(b.at, a.at);
    } catch (const std::exception& e) {
      // Still refused: counted again for the next pass.
      {
        std::lock_guard<std::mutex> lock(mu_);
        Pending& b = pending_[uid];
        b.instances += a.instances;
        if (b.at < a.at) {
          b.at = a.at;
          b.calling_aet = a.calling_aet;
          b.called_aet = a.called_aet;
        }
      }
      health_.NoteProblem(std::string("recording an arrival failed: ") + e.what());
    }
  }
}

std::vector<std::string> Arrivals::Problems() const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto unrecorded = std::count_if(pending_.begin(), pending_.end(), [](const auto& a) { return !a.second.durable; });
  if (unrecorded == 0) return {};
  return {std::to_string(unrecorded) + " received stud" + (unrecorded == 1 ? "y" : "ies") +
          " not yet recorded in the database"};
}

}  // namespace curia::node
