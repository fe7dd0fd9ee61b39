// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// What every Store implementation writes the same way, private to storage/: lists stored as JSON
// text, the wording of audit details and job errors, and the random owner tokens of claims. Both
// stores use these, so that the SQLite and PostgreSQL stores read the same to a user.
#include <cstdint>
#include <string>
#include <vector>

#include "curia/storage/store.h"

namespace curia::storage::store_text {

std::string EncodeList(const std::vector<std::string>& items);  // JSON array of strings
// Throws kInvalidArgument naming `source` when `text` is not a JSON array of strings.
std::vector<std::string> DecodeList(const std::string& text, const std::string& source);
std::string Plural(int64_t n, const char* what);  // "1 export", "2 exports"
std::string Seconds(double s);                    // "2 s", "0.5 s": no trailing zeros
std::string Abbreviate(const std::string& sql);   // the start of a statement (48 characters), for messages

// A new owner token: 128 random bits (OpenSSL's RAND_bytes) as 32 hex digits. Throws kInternal
// when the generator fails.
std::string NewOwnerToken();

// Audit details and errors.
std::string EnqueueDetail(const std::string& rule, const std::string& series_uid, int priority);
std::string CompleteDetail(int64_t objects, int64_t exports);
std::string FailDetail(const std::string& error, int attempts, int max_attempts, bool again, bool retryable);

// A running job found by RecoverExpiredLeases: what happens to it and why.
struct Recovery {
  bool again = false;       // queued again (else failed)
  int interruptions = 0;    // the job's new count (every_running), else unchanged
  std::string error;        // the job's error when it fails
  std::string detail;       // the "recovered" audit detail
};
Recovery Recover(bool every_running, int attempts, int interruptions, int max_attempts);

std::string ExportDeadDetail(const std::string& what, int attempts, bool others);
std::string ExportRetryDetail(const std::string& what, int attempts, int max_attempts, double delay);
// The backoff after the n-th failed attempt: min(max, min * 2^(n-1)).
double ExportDelay(int attempts, double backoff_min_s, double backoff_max_s);

// Nodes (Store::Heartbeat, Store::ListNodes). Throws kInvalidArgument for a beat whose name
// config::NodeNameProblem refuses.
void CheckBeat(const NodeBeat& beat);
// Counts the running jobs' owner tokens into the nodes named by them (NodeOfOwner); a node that
// runs jobs without a row (it never beat) is added with zeros. Sorts by name.
void AddRunning(std::vector<NodeRow>& nodes, const std::vector<std::string>& running_owners);

}  // namespace curia::storage::store_text
