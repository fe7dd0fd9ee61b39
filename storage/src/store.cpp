// SPDX-License-Identifier: GPL-3.0-or-later
// What every Store shares: the names of the states, and choosing an implementation.
#include "curia/storage/store.h"

#include "curia/config/error.h"
#include "curia/storage/sqlite_store.h"

namespace curia::storage {
namespace {

// The scheme of a URL ("postgresql" of "postgresql://host/db"), empty for a file path. RFC 3986:
// a letter, then letters, digits, '+', '-', '.', then "://".
std::string UrlScheme(const std::string& s) {
  const size_t end = s.find("://");
  if (end == std::string::npos || end == 0) return "";
  for (size_t i = 0; i < end; ++i) {
    const char c = s[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!letter && (i == 0 || !((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))) return "";
  }
  return s.substr(0, end);
}

// The URL without what may hold a secret: the user information ("user:password@", up to the last
// '@', as a password may hold an unescaped '/') and the query or fragment ("?password=..."), so
// that messages and logs can name it.
std::string RedactUrl(const std::string& url) {
  const size_t authority = url.find("://") + 3;
  std::string rest = url.substr(authority);
  const size_t query = rest.find_first_of("?#");
  if (query != std::string::npos) rest.erase(query);
  const size_t at = rest.rfind('@');
  if (at != std::string::npos) rest.erase(0, at + 1);
  return url.substr(0, authority) + rest;
}

}  // namespace

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
  const std::string where = RedactUrl(path_or_url) + ": ";
  if (scheme == "postgresql" || scheme == "postgres") {
    throw Error(ErrorCode::kInvalidArgument,
                where + "PostgreSQL is not supported by this build yet; give the database as a file path (SQLite)");
  }
  throw Error(ErrorCode::kInvalidArgument,
              where + "'" + scheme + "' URLs are not supported; give the database as a file path (SQLite)");
}

}  // namespace curia::storage
