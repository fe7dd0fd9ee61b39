// SPDX-License-Identifier: GPL-3.0-or-later
// What every Store shares: the names of the states, and choosing an implementation.
#include "curia/storage/store.h"

#include "curia/config/error.h"
#include "curia/config/settings.h"
#include "curia/storage/pg_store.h"
#include "curia/storage/sqlite_store.h"
#include "store_text.h"

namespace curia::storage {
using config::UrlScheme;

// The URL without what may hold a secret: the user information ("user:password@", up to the last
// '@', as a password may hold an unescaped '/') and the query or fragment ("?password=...",
// "?passfile=..."), so that messages and logs can name it.
std::string RedactUrl(const std::string& url) {
  if (UrlScheme(url).empty()) return url;
  const size_t authority = url.find("://") + 3;
  std::string rest = url.substr(authority);
  const size_t query = rest.find_first_of("?#");
  if (query != std::string::npos) rest.erase(query);
  const size_t at = rest.rfind('@');
  if (at != std::string::npos) rest.erase(0, at + 1);
  return url.substr(0, authority) + rest;
}

const char* JobStateName(JobState s) {
  switch (s) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kExporting: return "exporting";
    case JobState::kDone: return "done";
    case JobState::kFailed: return "failed";
    case JobState::kDead: return "dead";
    case JobState::kCancelled: return "cancelled";
    case JobState::kSuperseded: return "superseded";
  }
  return "unknown";
}

std::optional<JobState> ParseJobState(const std::string& name) {
  for (JobState s : {JobState::kQueued, JobState::kRunning, JobState::kExporting, JobState::kDone, JobState::kFailed,
                     JobState::kDead, JobState::kCancelled, JobState::kSuperseded}) {
    if (name == JobStateName(s)) return s;
  }
  return std::nullopt;
}

const char* ExportStateName(ExportState s) {
  switch (s) {
    case ExportState::kPending: return "pending";
    case ExportState::kDelivered: return "delivered";
    case ExportState::kDead: return "dead";
    case ExportState::kCancelled: return "cancelled";
  }
  return "unknown";
}

std::optional<ExportState> ParseExportState(const std::string& name) {
  for (ExportState s : {ExportState::kPending, ExportState::kDelivered, ExportState::kDead, ExportState::kCancelled}) {
    if (name == ExportStateName(s)) return s;
  }
  return std::nullopt;
}

std::unique_ptr<Store> OpenStore(const std::string& path_or_url) {
  const std::string scheme = UrlScheme(path_or_url);
  if (scheme.empty()) return std::make_unique<SqliteStore>(path_or_url);
  if (scheme == "postgresql" || scheme == "postgres") return std::make_unique<PgStore>(path_or_url);
  throw Error(ErrorCode::kInvalidArgument, RedactUrl(path_or_url) + ": '" + scheme +
                                               "' URLs are not supported; give the database as a file path (SQLite) "
                                               "or a postgresql:// URL (PostgreSQL)");
}

}  // namespace curia::storage

namespace curia::storage {

void Store::SetNodeName(const std::string& name) {
  const std::string problem = config::NodeNameProblem(name);
  if (!problem.empty()) throw Error(ErrorCode::kInvalidArgument, "node name '" + name + "' " + problem);
  node_name_ = name;
}

std::string Store::NewClaimToken() const {
  const std::string random = store_text::NewOwnerToken();
  return node_name_.empty() ? random : node_name_ + "/" + random;
}

std::string NodeOfOwner(const std::string& owner) {
  const size_t slash = owner.rfind('/');
  return slash == std::string::npos ? std::string() : owner.substr(0, slash);
}

}  // namespace curia::storage
