// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The node's configuration: the "Curia" section of Orthanc's configuration (or a file holding just
// that section, for the command-line tool). Parsed once into immutable structs with defaults
// filled in; every problem is reported with its JSON path, and unknown keys are errors.
//
//   CuriaSettings s = LoadCuriaSettings("/etc/orthanc/curia.json");
//   for (const TaskSettings& t : s.tasks) ...
//
// {
//   "Curia": {
//     "SchemaVersion": 1,
//     "Model": { "Path": "/var/lib/curia/curia-b", "Devices": ["cpu"], "Precision": "fp32",
//                "Threads": 0, "WorkersPerDevice": 1, "MaxBatch": 8, "MaxBatchDelayMs": 5,
//                "HostThreadsPerDevice": 0, "QueuedSlices": 32, "MaxActiveJobs": 4, "AgingSeconds": 60 },
//     "Tasks": {
//       "ich": { "Head": "ich", "Class": "hemorrhage", "Aggregate": "max", "Threshold": 0.5,
//                "Finding": { "Code": "50960005", "Scheme": "SCT", "Meaning": "Hemorrhage" },
//                "Window": { "Center": 40, "Width": 80 } } },
//     "Dicom": { "UidRoot": "2.25", "SeriesNumber": 9901, "Manufacturer": "Curia Node",
//                "SrClass": "comprehensive-3d", "ScClass": "secondary-capture", "KeyImages": "positive",
//                "HeatMap": false },
//     "Database": "curia.sqlite", "Trigger": "study", "RoutingMode": "first-match",
//     "Queue": { "LeaseSeconds": 60, "MaxAttempts": 3, "Workers": 2 },
//     "Export": { "MaxAttempts": 8, "BackoffSeconds": [2, 600] },
//     "Rules": [ { "Name": "head-ct", "Match": { "Tag": "Modality", "Equals": "CT" }, "Tasks": ["ich"] } ]
//   }
// }
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "curia/config/json.h"
#include "curia/config/rules.h"
#include "curia/config/task.h"

namespace curia::config {

struct ModelSettings {
  std::string path;                          // the backbone folder (a raidium/curia download)
  std::vector<std::string> devices = {"cpu"};
  std::string precision = "fp32";
  int64_t threads = 0;                       // intra-op CPU threads; 0: one per core
  int64_t workers_per_device = 1;
  int64_t max_batch = 8;                     // slices per backbone pass, across jobs
  int64_t max_batch_delay_ms = 5;            // how long a partial batch waits for more slices
  int64_t preprocess_threads = 0;            // CPU threads decoding and preprocessing ahead, all
                                             // devices together; 0: host_threads_per_device each
  int64_t host_threads_per_device = 0;       // 0: from the core count (HostThreads)
  int64_t queued_slices = 32;                // preprocessed slices waiting for a device, at most
  int64_t max_active_jobs = 4;               // jobs being read at once (memory bound)
  double aging_seconds = 60.0;               // a waiting job rises one priority level per period
};

// How results are written as DICOM objects.
struct DicomSettings {
  std::string uid_root = "2.25";  // "2.25" for UUID-derived UIDs, or an organisation's root
  int64_t series_number = 9901;
  std::string manufacturer = "Curia Node";
  std::string institution;  // Institution Name of the results, empty: none
  bool comprehensive_3d = true;   // SR class: Comprehensive 3D SR (else Comprehensive SR)
  bool multiframe_sc = false;     // key images as Multi-frame True Color SC (else SC Image)
  bool key_images_for_all = false;  // a key image for every finding (else only for present ones)
  bool heat_map = false;  // key images of 2-D classification tasks carry the patch heat map
};

// What makes a study ready for routing: Orthanc's StableStudy or StableSeries event.
enum class Trigger { kStudy, kSeries };

// first-match: the first rule (in file order) that matches gives the jobs; all-matches: every one.
enum class RoutingMode { kFirstMatch, kAllMatches };

// What a node of a cluster does (several nodes on one PostgreSQL database; design.md section 7):
// kAll routes the studies its Orthanc receives, runs jobs and exports; kIngest receives, routes and
// exports but runs no job (no worker pool: a host without a GPU in front of the modalities);
// kWork runs jobs and exports, and has no DICOM listener (Orthanc's DicomServerEnabled false): GPU
// hosts are added without changing what modalities send to. Ingest and work need a shared database.
enum class NodeRole { kAll, kIngest, kWork };
const char* NodeRoleName(NodeRole role);  // "all", "ingest", "work"

// The persistent job queue.
struct QueueSettings {
  double lease_seconds = 60;  // a job taken by a worker returns to the queue after this long
  int64_t max_attempts = 3;   // processing attempts before a job fails for good
  int64_t workers = 2;        // jobs loaded (read from Orthanc, processed) concurrently
};

// Sending results to the rule's destinations.
struct ExportSettings {
  int64_t max_attempts = 8;
  double backoff_min_s = 2, backoff_max_s = 600;  // exponential backoff between attempts, clamped
};

struct CuriaSettings {
  int64_t schema_version = 1;
  ModelSettings model;
  DicomSettings dicom;
  std::vector<TaskSettings> tasks;  // in file order
  // The node's database: a SQLite file, resolved against the configuration's folder (empty: the
  // plugin puts it in Orthanc's IndexDirectory), or a URL ("postgresql://user@host:port/db"), kept
  // as written.
  std::string database;
  // This node's name (NodeName; default: the host name): the owner tokens of its claims start with
  // it, so the store and /curia/jobs say which node ran what (docs/configuration.md).
  std::string node_name;
  NodeRole role = NodeRole::kAll;  // Role
  Trigger trigger = Trigger::kStudy;
  RoutingMode routing_mode = RoutingMode::kFirstMatch;
  QueueSettings queue;
  ExportSettings export_;
  std::vector<RuleSettings> rules;  // in file order
  std::string source;               // file name, for messages

  const TaskSettings* FindTask(const std::string& name) const;
};

// `doc` is an Orthanc configuration with a "Curia" member, or the Curia section itself. Relative
// paths are resolved against `base_dir` (the configuration file's folder). Throws curia::Error
// (kInvalidArgument) listing every problem as "<source>: <JSON path>: <what is wrong>".
// The pool's host (decoding and preprocessing) threads: PreprocessThreads when set, else
// HostThreadsPerDevice per device, whose default comes from `cores`: one for a CPU device (its
// backbone needs the cores), and for each GPU an equal share of the cores but one (up to 16: the
// host path runs at 500-1,400 slices/s per thread, docs/performance.md, and one GPU takes
// 2,000-3,800 slices/s of Curia-B).
int64_t HostThreads(const ModelSettings& model, unsigned cores);

CuriaSettings ParseCuriaSettings(const Json& doc, const std::string& source, const std::string& base_dir);
CuriaSettings LoadCuriaSettings(const std::string& path);

// The scheme of a URL ("postgresql" of "postgresql://host/db"), empty for anything else (a file
// path, even one holding "://" after a folder name). RFC 3986: a letter, then letters, digits,
// '+', '-', '.', then "://".
std::string UrlScheme(const std::string& s);

// Why `name` cannot be a node name (empty when it can): 1 to 64 printable ASCII characters
// (0x21-0x7E: no spaces, no control characters), without '/' (it ends the name in a claim's token).
std::string NodeNameProblem(const std::string& name);
// The host name when it is a valid node name, else "curia-node".
std::string DefaultNodeName();

}  // namespace curia::config
