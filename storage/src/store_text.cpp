// SPDX-License-Identifier: GPL-3.0-or-later
#include "store_text.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cmath>

#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/config/settings.h"
#include "curia/storage/store.h"

namespace curia::storage::store_text {

std::string EncodeList(const std::vector<std::string>& items) {
  config::Json array(::Json::arrayValue);
  for (const std::string& item : items) array.append(item);
  return config::Dump(array, -1);
}

std::vector<std::string> DecodeList(const std::string& text, const std::string& source) {
  const config::Json list = config::ParseJson(text, source);
  std::vector<std::string> items;
  if (!list.isArray()) throw Error(ErrorCode::kInvalidArgument, source + ": expected a JSON array");
  for (const config::Json& item : list) {
    if (!item.isString()) throw Error(ErrorCode::kInvalidArgument, source + ": expected an array of strings");
    items.push_back(item.asString());
  }
  return items;
}

std::string Plural(int64_t n, const char* what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); }

std::string Seconds(double s) { return config::NumberText(s) + " s"; }

std::string Abbreviate(const std::string& sql) {
  constexpr size_t kMax = 48;
  std::string out;
  for (char c : sql) {
    if (out.size() >= kMax) return out + "...";
    const bool space = c == ' ' || c == '\n' || c == '\t';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
  }
  return out;
}

std::string NewOwnerToken() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw Error(ErrorCode::kInternal, "no random bytes for an owner token");
  static const char kHex[] = "0123456789abcdef";
  std::string token;
  for (unsigned char b : bytes) {
    token += kHex[b >> 4];
    token += kHex[b & 15];
  }
  return token;
}

std::string EnqueueDetail(const std::string& rule, const std::string& series_uid, int priority) {
  return "rule " + rule + ", series " + series_uid + ", priority " + std::to_string(priority);
}

std::string CompleteDetail(int64_t objects, int64_t exports) {
  return Plural(objects, "object") + ", " + (exports > 0 ? Plural(exports, "export") + " pending" : "nothing to export");
}

std::string FailDetail(const std::string& error, int attempts, int max_attempts, bool again, bool retryable) {
  std::string detail = error + "; attempt " + std::to_string(attempts) + " of " + std::to_string(max_attempts);
  detail += again ? ", will be retried" : retryable ? ", out of attempts, not retried" : ", permanent, not retried";
  return detail;
}

Recovery Recover(bool every_running, int attempts, int interruptions, int max_attempts) {
  Recovery r;
  std::string why;
  r.interruptions = interruptions;
  if (every_running) {
    // Orthanc stopped under the job: not the job's fault, so the attempt is given back.
    r.interruptions = interruptions + 1;
    r.again = r.interruptions < Store::kMaxInterruptions;
    why = "interrupted by Orthanc stopping, " + Plural(r.interruptions, "time") + " of " +
          std::to_string(Store::kMaxInterruptions);
  } else {
    r.again = attempts < max_attempts;
    why = "lease expired, attempt " + std::to_string(attempts) + " of " + std::to_string(max_attempts);
  }
  if (r.again) {
    r.detail = "(" + why + "): queued again";
  } else {
    r.error = every_running ? "(" + why + "): Orthanc stopped each time this job ran; it may be what makes Orthanc "
                              "stop (see Orthanc's log)"
                            : "(" + why + "): the worker stopped or hung";
    r.detail = "(" + why + "): failed, " + (every_running ? "interrupted too often" : "out of attempts");
  }
  return r;
}

std::string ExportDeadDetail(const std::string& what, int attempts, bool others) {
  return what + "; out of attempts (" + std::to_string(attempts) + ")" + (others ? "; the job's other exports go on" : "");
}

std::string ExportRetryDetail(const std::string& what, int attempts, int max_attempts, double delay) {
  return what + "; attempt " + std::to_string(attempts) + " of " + std::to_string(max_attempts) + ", next in " +
         Seconds(delay);
}

double ExportDelay(int attempts, double backoff_min_s, double backoff_max_s) {
  return std::min(backoff_max_s, backoff_min_s * std::pow(2.0, static_cast<double>(attempts - 1)));
}

void CheckBeat(const NodeBeat& beat) {
  const std::string problem = config::NodeNameProblem(beat.name);
  if (!problem.empty()) throw Error(ErrorCode::kInvalidArgument, "heartbeat of node '" + beat.name + "': " + problem);
}

void AddRunning(std::vector<NodeRow>& nodes, const std::vector<std::string>& running_owners) {
  for (const std::string& owner : running_owners) {
    const std::string name = NodeOfOwner(owner);
    if (name.empty()) continue;  // a claim made without a node name
    auto it = std::find_if(nodes.begin(), nodes.end(), [&](const NodeRow& n) { return n.name == name; });
    if (it == nodes.end()) {
      NodeRow n;
      n.name = name;
      nodes.push_back(n);
      it = nodes.end() - 1;
    }
    ++it->running;
  }
  std::sort(nodes.begin(), nodes.end(), [](const NodeRow& a, const NodeRow& b) { return a.name < b.name; });
}

}  // namespace curia::storage::store_text
