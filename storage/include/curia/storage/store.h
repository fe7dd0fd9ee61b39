// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The node's durable state behind one interface: what arrived, the job queue with leases, attempts
// and idempotency keys, the results and the DICOM objects made for them, their exports to each
// destination with retries, and an audit trail. Survives kill -9: a job whose lease expired is
// queued again, an export not yet acknowledged is sent again (same SOP Instance UID, so the PACS
// keeps one copy).
//
//   std::unique_ptr<Store> store = OpenStore("/var/lib/orthanc/db-v6/curia.sqlite");
//   auto [id, inserted] = store->Enqueue(job, Now());
//   while (auto job = store->Claim(Now(), 60)) { ... store->Complete(ClaimOf(*job), ...); }
//
// Implementations: SqliteStore (sqlite_store.h), one file in WAL mode, the embedded default;
// PgStore (pg_store.h), a PostgreSQL database that several nodes share (design.md section 7). The
// interface speaks only of rows and values (no connection, no SQL types). Every method is one
// transaction: what it changes is all there or none of it.
//
// Ownership: each Claim of a job makes a new random owner token and a lease. The claimant's later
// writes (RenewLease, SetProgress, Complete, Fail) name the claim (job id + token) and are refused
// once the claim no longer owns the job: its lease expired and the job was recovered (and perhaps
// claimed again by another runner or node), or it was cancelled or superseded. So a runner that
// was paused or cut off past its lease cannot overwrite the run that took over. Exports are
// claimed the same way (NextExport leases the export it returns).
//
// Thread-safe: any thread may call any method. Times are seconds since the Unix epoch (double).
// Only IDs and UIDs are stored besides results: no names.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace curia::storage {

// queued -> running -> exporting -> done; running -> queued (lease expired, retryable failure);
// running -> failed (permanent, or out of attempts); exporting -> dead (an export out of attempts);
// failed | dead | cancelled -> queued | exporting by Retry; queued | running | exporting | dead ->
// cancelled; done | exporting | queued -> superseded (a newer job of the same rule, series and
// region scope).
enum class JobState { kQueued, kRunning, kExporting, kDone, kFailed, kDead, kCancelled, kSuperseded };
const char* JobStateName(JobState s);  // "queued", "running", "exporting", "done", "failed", "dead", "cancelled", "superseded"
std::optional<JobState> ParseJobState(const std::string& name);

struct NewJob {
  std::string idempotency_key;  // the same key is never queued twice
  std::string study_id;         // Orthanc ID of the study
  std::string study_uid;        // Study Instance UID
  std::string series_id;        // Orthanc ID of the series
  std::string series_uid;       // Series Instance UID
  std::string rule;             // the rule that made it ("manual" for a REST request)
  std::vector<std::string> tasks;
  int priority = 1;             // 0 stat, 1 routine, 2 off-peak
  std::vector<std::string> outputs;       // "SR", "SC"
  std::vector<std::string> destinations;  // Orthanc DICOM modality names
  int64_t instances = 0;        // instances of the series when routed
  // A region job (issue 17): the Orthanc ID of the SEG or RTSTRUCT instance whose regions its
  // mask-prompted tasks run on; empty for a whole-volume job.
  std::string region_instance;
  // What a job supersedes and is superseded by, besides its rule and series UID: empty for
  // whole-volume jobs; "regions-only:<SEG|RTSTRUCT>:<Series Instance UID of the region object>"
  // for a region job, so that a newer object of the same kind and series replaces the older one's
  // results and never the series' own.
  std::string region_scope;
};

struct JobRow : NewJob {
  int64_t id = 0;
  JobState state = JobState::kQueued;
  int attempts = 0;               // processing attempts started
  double created_at = 0, updated_at = 0;
  double started_at = 0;          // last claim (0: never)
  double finished_at = 0;         // processing finished (0: not yet)
  double lease_until = 0;         // while running
  std::string error;              // why it failed / is dead (empty otherwise)
  int64_t progress_done = 0, progress_total = 0;
  int64_t superseded_by = 0;      // job id, 0: none
  std::string model_digest;       // backbone digest of the result
  std::string findings_json;      // the result (JSON text, written by the node), empty before
  std::string timings_json;
  // The token of the claim that runs it (running) or ran it last (done, exporting, failed, queued
  // again after a recovery or failure): "<node name>/<random>" (NodeOfOwner gives the node). Empty
  // before the first claim, and once cancelled, superseded or retried.
  std::string owner;
};

// The node name an owner token starts with ("node-a" of "node-a/3f9c..."); empty for a token
// without one (a store without a node name) or an empty token.
std::string NodeOfOwner(const std::string& owner);

// One claim of a job: what the claimant's writes name. Two claims of one job never share a token.
struct JobClaim {
  int64_t job_id = 0;
  std::string owner;
};
inline JobClaim ClaimOf(const JobRow& job) { return {job.id, job.owner}; }

struct NewOutput {
  std::string kind;  // "SR" | "SC"
  std::string sop_class_uid, sop_instance_uid, series_uid;
  std::string bytes;  // the DICOM file
};

struct OutputRow {
  int64_t id = 0, job_id = 0;
  std::string kind, sop_class_uid, sop_instance_uid, series_uid;
  int64_t size = 0;
};

enum class ExportState { kPending, kDelivered, kDead, kCancelled };
const char* ExportStateName(ExportState s);  // "pending", "delivered", "dead", "cancelled"
std::optional<ExportState> ParseExportState(const std::string& name);

struct ExportRow {
  int64_t id = 0, job_id = 0, output_id = 0;
  std::string destination;
  ExportState state = ExportState::kPending;
  int attempts = 0;
  double next_at = 0;        // when the next attempt is due (pending)
  double delivered_at = 0;
  std::string last_error;
};

// One claim of an export (NextExport): the export's id and the claim's random token.
struct ExportClaim {
  int64_t export_id = 0;
  std::string owner;
};

// An export that is due, with the object to send, leased to the caller.
struct ExportTask {
  ExportRow row;
  std::string sop_instance_uid;
  std::string bytes;
  std::string owner;  // this claim's token
  ExportClaim claim() const { return {row.id, owner}; }
};

struct AuditRow {
  int64_t id = 0;
  double at = 0;
  int64_t job_id = 0;     // 0: not about one job
  std::string study_id;   // Orthanc ID, may be empty
  std::string event;      // "received", "routed", "not-routed", "queued", "started", "finished", "failed",
                          // "exported", "export-failed", "dead", "retried", "cancelled", "superseded", "recovered",
                          // "lease-lost" (a runner's result refused: its claim no longer owned the job)
  std::string detail;     // human-readable, no patient data
};

// A node's heartbeat (Store::Heartbeat): who it is and what it does. No patient data.
struct NodeBeat {
  std::string name;     // Curia.NodeName (config::NodeNameProblem accepts it); empty: refused
  std::string version;  // Curia Node's version
  std::string role;     // its Curia.Role: "all", "ingest" or "work"
  int64_t workers = 0;  // job runners (Queue.Workers)
  int64_t pid = 0;      // its process, 0: not given
  std::string host;     // its host name, may be empty
};

// A node the database has heard of (Store::ListNodes).
struct NodeRow : NodeBeat {
  double first_seen = 0;  // its first heartbeat (0: never beat; known only from a recovered lease)
  double last_seen = 0;   // its last heartbeat, the store's clock (the `now` it was given)
  int64_t running = 0;    // jobs running now under its claims (owner tokens "<name>/...")
  // Its claims whose lease expired and were taken back by RecoverExpiredLeases (any node's), and
  // the expired claims (its own or other nodes') that it took back.
  int64_t leases_lost = 0, leases_recovered = 0;
};

struct JobFilter {
  std::optional<JobState> state;
  std::string study_id;  // empty: any
  std::string rule;      // empty: any
  int64_t offset = 0;
  int64_t limit = 100;   // newest first (by id)
};

struct QueueCount {
  int priority = 1;
  JobState state = JobState::kQueued;
  int64_t jobs = 0;
};

struct ExportPolicy {
  int max_attempts = 8;
  double backoff_min_s = 2, backoff_max_s = 600;  // delay after attempt n: min(max, min * 2^(n-1))
};

// The store's interface. Implementations document how they keep these promises across processes.
class Store {
 public:
  virtual ~Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Where the data lives, for messages and the effective configuration: a file path, or a URL
  // without its credentials.
  virtual const std::string& path() const = 0;
  // True when other nodes may use the same database at the same time (PostgreSQL): a node starting
  // must then not take back the jobs others run (RecoverExpiredLeases' `every_running`), and
  // WaitForWork hears their work.
  virtual bool SharedByNodes() const = 0;
  // Blocks until another connection announces work (a job queued or queued again, exports made)
  // or `timeout_s` passes; true when woken by an announcement. Announcements are hints that can be
  // lost (PostgreSQL's NOTIFY while the listener reconnects): callers poll as well. A store without
  // announcements (SQLite: one node, which wakes its own threads) sleeps `timeout_s` and returns
  // false.
  virtual bool WaitForWork(double timeout_s) = 0;

  // This node's name (Curia.NodeName): every claim's owner token then starts with it
  // ("<name>/<random>") and the "started" audit names it, so the store records which node ran what
  // without a column of its own. Set it before the first Claim (not thread-safe against claims).
  // Throws kInvalidArgument for a name config::NodeNameProblem refuses. Empty (the default): tokens carry no
  // name.
  void SetNodeName(const std::string& name);
  const std::string& node_name() const { return node_name_; }

  // --- arrivals: one cheap upsert per study's first instance, then per batch of its instances
  // (calling/called AET of the last one) ---
  // `instances` > 1 records several at once (arrivals the node could not record when they came).
  virtual void RecordArrival(const std::string& study_id, const std::string& calling_aet,
                             const std::string& called_aet, double now, int64_t instances = 1) = 0;
  struct Arrival {
    std::string study_id, calling_aet, called_aet;
    double first_at = 0, last_at = 0, routed_at = 0;  // routed_at 0: never
    int64_t instances = 0;                             // arrivals recorded
  };
  virtual std::optional<Arrival> GetArrival(const std::string& study_id) = 0;
  // Studies with arrivals after their last routing (or never routed) whose last arrival is older
  // than `quiet_before`: what a crash or restart left unrouted.
  virtual std::vector<std::string> UnroutedStudies(double quiet_before) = 0;
  virtual void MarkRouted(const std::string& study_id, double at) = 0;

  // --- jobs ---
  // Inserts the job unless one with the same idempotency key exists: {id, true} or {existing id,
  // false}. A queued (not yet started) job of the same rule, series UID and region scope is superseded
  // by it.
  // Audits "queued".
  virtual std::pair<int64_t, bool> Enqueue(const NewJob& job, double now) = 0;
  // The most urgent queued job (priority, then oldest): running, attempts + 1, leased until
  // now + lease_s, owned by a new random token (JobRow::owner; ClaimOf gives the claim). Audits
  // "started". nullopt when none is queued. Two callers never get the same job, across processes
  // and nodes.
  virtual std::optional<JobRow> Claim(double now, double lease_s) = 0;
  // False when the claim no longer owns the job (cancelled, superseded, or its lease expired and
  // it was recovered): the worker should stop.
  virtual bool RenewLease(const JobClaim& claim, double until) = 0;
  // False (nothing written) when the claim no longer owns the job.
  virtual bool SetProgress(const JobClaim& claim, int64_t done, int64_t total) = 0;
  // Processing succeeded: stores the result and the objects and one pending export per object and
  // destination, in one transaction. State exporting (done when there is nothing to export). Older
  // done or exporting jobs of the same rule, series UID and region scope become superseded (their pending exports
  // cancelled).
  // Returns false (and stores nothing) when the claim no longer owns the job.
  virtual bool Complete(const JobClaim& claim, const std::string& findings_json, const std::string& timings_json,
                        const std::string& model_digest, const std::vector<NewOutput>& outputs, double now) = 0;
  // Processing failed: queued again when `retryable` and attempts < max_attempts, else failed with
  // the error. Audits "failed" with the error either way. Returns false (nothing written) when the
  // claim no longer owns the job (cancelled, superseded or recovered meanwhile). Throws kNotFound
  // for an unknown job.
  virtual bool Fail(const JobClaim& claim, const std::string& error, bool retryable, int max_attempts,
                    double now) = 0;
  // queued | running | exporting | dead -> cancelled (pending exports cancelled). False otherwise.
  virtual bool Cancel(int64_t job_id, double now) = 0;
  // failed | cancelled -> queued (attempts reset); dead -> exporting (dead and cancelled exports of
  // it pending again, attempts reset, due now). False otherwise. Audits "retried".
  virtual bool Retry(int64_t job_id, double now) = 0;
  // Running jobs whose lease ended before `now` -> queued, or failed when out of attempts (a worker
  // that hung). Audits "recovered". Returns how many. Counts each in the nodes table: a lease lost
  // by the node its owner token names, a lease recovered by this node (when they have names).
  // `every_running` (at start-up, when this node is the database's only user): every running job
  // was interrupted by Orthanc stopping (a restart, a kill, a power cut); it is queued again without
  // using up an attempt, up to kMaxInterruptions times (a job that makes Orthanc crash then fails
  // instead of crashing it for ever), and every export's lease is released (sent again at once).
  // Never with `every_running` on a store SharedByNodes: other nodes' jobs are running there.
  virtual int RecoverExpiredLeases(double now, int max_attempts, bool every_running = false) = 0;
  static constexpr int kMaxInterruptions = 10;

  // --- exports ---
  // The oldest due pending export (next_at <= now, not leased) with its object, nullopt when none
  // is due. It is leased to the caller until now + lease_s under a new token (ExportTask::owner):
  // no other caller, process or node gets it meanwhile; after that it is due again (a sender that
  // stopped).
  virtual std::optional<ExportTask> NextExport(double now, double lease_s) = 0;
  // When the next pending export is due, or its lease ends (nullopt: none pending).
  virtual std::optional<double> NextExportDue() = 0;
  // Delivered; the job is done when all its exports are (dead when one of them died). Recorded
  // whoever holds the export's lease: the object did reach the destination (a second copy, from a
  // sender whose lease had expired, has the same SOP Instance UID). Throws kNotFound for an
  // unknown export.
  virtual void ExportDelivered(int64_t export_id, double now) = 0;
  // attempts + 1; pending again after the policy's backoff, or dead after max_attempts. Audits
  // "export-failed" / "dead". The job's other exports go on; once none is pending the job is done,
  // or dead (with "<destination>: <error>" of its first dead export as its error) when one died.
  // Returns false when the claim no longer holds the export (another sender's claim, or settled
  // meanwhile): only the failure is counted. Throws kNotFound for an unknown export.
  virtual bool ExportFailed(const ExportClaim& claim, const std::string& error, const ExportPolicy& policy,
                            double now) = 0;

  // --- reading ---
  virtual std::optional<JobRow> GetJob(int64_t job_id) = 0;
  virtual std::vector<JobRow> Jobs(const JobFilter& filter) = 0;  // without findings/timings JSON (list view)
  virtual int64_t CountJobs(const JobFilter& filter) = 0;         // ignores offset/limit
  virtual std::vector<OutputRow> Outputs(int64_t job_id) = 0;
  virtual std::optional<std::string> OutputBytes(int64_t output_id) = 0;
  virtual std::vector<ExportRow> Exports(int64_t job_id) = 0;
  virtual std::vector<AuditRow> Audit(int64_t job_id) = 0;                   // oldest first
  virtual std::vector<AuditRow> StudyAudit(const std::string& study_id) = 0;  // oldest first
  virtual std::vector<QueueCount> CountByPriorityAndState() = 0;
  virtual int64_t CountExportFailures() = 0;  // failed export attempts ever recorded

  // --- nodes (several nodes sharing a database see each other) ---
  // Records the node's heartbeat at `now`: its row made at the first, last_seen and what it does
  // updated at each. Unconditional (an upsert). Throws kInvalidArgument for an empty name.
  virtual void Heartbeat(const NodeBeat& beat, double now) = 0;
  // Every node heard of, by name, with the jobs each runs now and its lease counts. A node known
  // only from a recovered lease (a node that never beat) has first_seen and last_seen 0.
  virtual std::vector<NodeRow> ListNodes() = 0;

  // --- audit ---
  virtual void AddAudit(int64_t job_id, const std::string& study_id, const std::string& event,
                        const std::string& detail, double now) = 0;

 protected:
  Store() = default;
  // A new owner token for a claim: "<node name>/<32 hex digits>", or the hex digits alone.
  std::string NewClaimToken() const;

 private:
  std::string node_name_;
};


// Opens the store that `path_or_url` names: a file path opens (creating and migrating) a
// SqliteStore; "postgresql://..." or "postgres://..." a PgStore (connecting, creating or migrating
// its schema). Other URLs: curia::Error kInvalidArgument naming the URL without its credentials.
// Throws as the implementation's constructor does.
std::unique_ptr<Store> OpenStore(const std::string& path_or_url);
// The URL without what may hold a secret (the password of "user:password@", and the query or
// fragment, "?password=..."), for messages and logs. A file path is returned as it is.
std::string RedactUrl(const std::string& url);

}  // namespace curia::storage
