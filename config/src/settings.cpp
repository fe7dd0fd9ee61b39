// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/settings.h"

#include <unistd.h>

#include <algorithm>
#include <limits>

#include "curia/config/hints.h"
#include "curia/config/json_fields.h"

namespace curia::config {
namespace {

constexpr int64_t kSchemaVersion = 1;

std::string Resolve(const std::string& path, const std::string& base_dir) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return base_dir + "/" + path;
}

std::optional<CodedConcept> ReadConcept(ObjectReader& parent, const char* key, bool required) {
  Diagnostics& diag = parent.diagnostics();
  const Json* v = parent.Get(key);
  if (!v) {
    if (required && parent.ok()) diag.Add(parent.PathOf(key), "required member is missing (an object {\"Code\", \"Scheme\", \"Meaning\"})");
    return std::nullopt;
  }
  ObjectReader r(*v, parent.PathOf(key), diag);
  CodedConcept c;
  c.value = r.RequiredString("Code");
  c.scheme = r.RequiredString("Scheme");
  c.meaning = r.RequiredString("Meaning");
  r.RejectUnknownKeys();
  // DICOM limits: Code Value SH/UC (16 chars for SH), Coding Scheme Designator SH, Code Meaning LO.
  if (c.value.size() > 16) diag.Add(r.PathOf("Code"), "longer than 16 characters");
  if (c.scheme.size() > 16) diag.Add(r.PathOf("Scheme"), "longer than 16 characters");
  if (c.meaning.size() > 64) diag.Add(r.PathOf("Meaning"), "longer than 64 characters");
  return c;
}

void ReadModel(ObjectReader& r, ModelSettings& m, const std::string& base_dir) {
  Diagnostics& diag = r.diagnostics();
  m.path = Resolve(r.RequiredString("Path"), base_dir);
  if (const Json* d = r.Get("Devices")) {
    m.devices.clear();
    if (!d->isArray() || d->empty()) {
      diag.Add(r.PathOf("Devices"), "expected a non-empty array such as [\"cuda:0\"], found " + Describe(*d));
    } else {
      for (Json::ArrayIndex i = 0; i < d->size(); ++i) {
        const Json& e = (*d)[i];
        const std::string text = e.isString() ? e.asString() : std::string();
        bool ok = text == "cpu" || text == "cuda";
        if (!ok && text.rfind("cuda:", 0) == 0 && text.size() > 5 && text.size() <= 8) {
          ok = text.find_first_not_of("0123456789", 5) == std::string::npos;
        }
        if (!ok) {
          diag.Add(JsonPath(r.PathOf("Devices"), i), "expected \"cpu\", \"cuda\" or \"cuda:N\", found " + Describe(e));
        } else {
          m.devices.push_back(text);
        }
      }
    }
  }
  m.precision = r.Enum("Precision", "fp32", {"fp32", "bf16", "fp16"});
  m.threads = r.Int("Threads", 0, 0, 1024);
  m.workers_per_device = r.Int("WorkersPerDevice", 1, 1, 64);
  m.max_batch = r.Int("MaxBatch", 8, 1, 4096);
  m.max_batch_delay_ms = r.Int("MaxBatchDelayMs", 5, 0, 60000);
  m.preprocess_threads = r.Int("PreprocessThreads", 0, 0, 256);
  m.host_threads_per_device = r.Int("HostThreadsPerDevice", 0, 0, 256);
  m.queued_slices = r.Int("QueuedSlices", 32, 1, 100000);
  m.max_active_jobs = r.Int("MaxActiveJobs", 4, 1, 1024);
  m.aging_seconds = r.Number("AgingSeconds", 60.0, 0.001, 1e7);
  r.RejectUnknownKeys();
  if (m.queued_slices < m.max_batch) {
    diag.Add(r.PathOf("QueuedSlices"), std::to_string(m.queued_slices) + " is below MaxBatch " +
                                           std::to_string(m.max_batch) + ": batches could never fill");
  }
}

// "Region" of a mask-prompted task: which SEG segments and RTSTRUCT ROIs it runs on, and how its
// per-slice results become one per region.
RegionSelection ReadRegion(ObjectReader& r, Diagnostics& diag) {
  RegionSelection region;
  const std::vector<std::string> kinds = {"SEG", "RTSTRUCT"};
  if (const Json* from = r.Get("From")) {
    const std::string path = r.PathOf("From");
    if (!from->isArray() || from->empty()) {
      diag.Add(path, "expected a non-empty array of \"SEG\" and \"RTSTRUCT\", found " +
                         (from->isArray() ? std::string("an empty array") : Describe(*from)));
    } else {
      region.from_seg = region.from_rtstruct = false;
      for (Json::ArrayIndex i = 0; i < from->size(); ++i) {
        const Json& e = (*from)[i];
        const std::string text = e.isString() ? e.asString() : std::string();
        bool& flag = text == "SEG" ? region.from_seg : region.from_rtstruct;
        if (text != "SEG" && text != "RTSTRUCT") {
          const std::string near = e.isString() ? Nearest(text, kinds) : "";
          diag.Add(JsonPath(path, i), "expected \"SEG\" or \"RTSTRUCT\", found " + Describe(e) +
                                          (near.empty() ? "" : "; did you mean \"" + near + "\"?"));
        } else if (flag) {
          diag.Add(JsonPath(path, i), "\"" + text + "\" is listed twice");
        } else {
          flag = true;
        }
      }
    }
  }
  if (const Json* label = r.Get("Label")) {
    if (auto pattern = ReadRegexPattern(*label, r.PathOf("Label"), diag)) {
      region.label = pattern->source;
      region.label_regex = pattern->regex;
    }
  }
  if (const Json* codes = r.Get("Codes")) {
    const std::string path = r.PathOf("Codes");
    if (!codes->isArray() || codes->empty()) {
      diag.Add(path, "expected a non-empty array of {\"Code\", \"Scheme\"} objects, found " +
                         (codes->isArray() ? std::string("an empty array") : Describe(*codes)));
    } else {
      for (Json::ArrayIndex i = 0; i < codes->size(); ++i) {
        ObjectReader cr((*codes)[i], JsonPath(path, i), diag);
        CodedConcept c;
        c.value = cr.RequiredString("Code");
        c.scheme = cr.RequiredString("Scheme");
        c.meaning = cr.String("Meaning", "");
        cr.RejectUnknownKeys();
        if (cr.ok()) region.codes.push_back(std::move(c));
      }
    }
  }
  region.min_pixels = r.Int("MinPixels", region.min_pixels, 1, std::numeric_limits<int32_t>::max());
  region.aggregate = r.EnumOf<Aggregation>(
      "Aggregation", Aggregation::kMean,
      {{"mean", Aggregation::kMean}, {"max", Aggregation::kMax}, {"top-k-mean", Aggregation::kTopKMean}});
  region.top_k = r.Int("TopK", 3, 1, 100000);
  if (r.Has("TopK") && region.aggregate != Aggregation::kTopKMean) {
    diag.Add(r.PathOf("TopK"), "only used with \"Aggregation\": \"top-k-mean\"");
  }
  // With the nearest known key: a misspelt "Label" would otherwise be the only problem of a task that
  // runs on every region.
  r.RejectUnknownKeys(/*suggest=*/true);
  return region;
}

TaskSettings ReadTask(const std::string& name, const Json& value, const std::string& path, const std::string& model_path,
                      Diagnostics& diag) {
  ObjectReader r(value, path, diag);
  TaskSettings t;
  t.name = name;
  t.path = path;
  t.head = Resolve(r.RequiredString("Head"), model_path);
  if (const Json* c = r.Get("Class")) {
    if (c->isString() && !c->asString().empty()) {
      t.positive_class = c->asString();
    } else if (c->isInt64() && c->asInt64() >= 0) {
      t.positive_class = std::to_string(c->asInt64());
    } else {
      diag.Add(r.PathOf("Class"), "expected a class label or a class index, found " + Describe(*c));
    }
  }
  t.aggregate = r.EnumOf<Aggregation>(
      "Aggregate", Aggregation::kMax,
      {{"max", Aggregation::kMax}, {"mean", Aggregation::kMean}, {"top-k-mean", Aggregation::kTopKMean}});
  t.top_k = r.Int("TopK", 3, 1, 100000);
  if (r.Has("TopK") && t.aggregate != Aggregation::kTopKMean) {
    diag.Add(r.PathOf("TopK"), "only used with \"Aggregate\": \"top-k-mean\"");
  }
  t.threshold = r.Number("Threshold", 0.5, std::numeric_limits<double>::lowest(), std::numeric_limits<double>::max());
  t.normalization = r.EnumOf<Normalization>(
      "Normalization", Normalization::kAuto,
      {{"auto", Normalization::kAuto}, {"per-slice", Normalization::kPerSlice}, {"per-volume", Normalization::kPerVolume}});
  if (auto f = ReadConcept(r, "Finding", true)) t.finding = *f;
  t.finding_site = ReadConcept(r, "FindingSite", false);
  if (const Json* region = r.Get("Region")) {
    ObjectReader rr(*region, r.PathOf("Region"), diag);
    t.region = ReadRegion(rr, diag);
  }
  if (const Json* w = r.Get("Window")) {
    ObjectReader wr(*w, r.PathOf("Window"), diag);
    t.window_center = wr.RequiredNumber("Center", -100000, 100000);
    t.window_width = wr.RequiredNumber("Width", 1, 200000);
    wr.RejectUnknownKeys();
  }
  r.RejectUnknownKeys();
  return t;
}

bool IsUidRoot(const std::string& root) {
  if (root.empty() || root.size() > 24 || root.front() == '.' || root.back() == '.') return false;
  for (size_t i = 0; i < root.size(); ++i) {
    const char c = root[i];
    if (c == '.') {
      if (root[i + 1] == '.') return false;
    } else if (c < '0' || c > '9') {
      return false;
    } else if (c == '0' && (i == 0 || root[i - 1] == '.') && i + 1 < root.size() && root[i + 1] != '.') {
      return false;  // no leading zeros in a component
    }
  }
  return true;
}

void ReadDicom(ObjectReader& r, DicomSettings& d) {
  Diagnostics& diag = r.diagnostics();
  d.uid_root = r.String("UidRoot", "2.25");
  if (!IsUidRoot(d.uid_root)) {
    diag.Add(r.PathOf("UidRoot"), "\"" + d.uid_root + "\" is not a UID root (digits and dots, no leading zeros, "
                                   "at most 24 characters so that derived UIDs fit in 64)");
  }
  d.series_number = r.Int("SeriesNumber", 9901, 1, 2147483647);
  d.manufacturer = r.String("Manufacturer", "Curia Node");
  d.institution = r.String("InstitutionName", "");
  d.comprehensive_3d = r.EnumOf<bool>("SrClass", true, {{"comprehensive-3d", true}, {"comprehensive", false}});
  d.multiframe_sc = r.EnumOf<bool>("ScClass", false, {{"secondary-capture", false}, {"multi-frame-true-color", true}});
  d.key_images_for_all = r.EnumOf<bool>("KeyImages", false, {{"positive", false}, {"all", true}});
  d.heat_map = r.Bool("HeatMap", false);
  if (d.manufacturer.empty() || d.manufacturer.size() > 64) diag.Add(r.PathOf("Manufacturer"), "expected 1 to 64 characters");
  if (d.institution.size() > 64) diag.Add(r.PathOf("InstitutionName"), "longer than 64 characters");
  r.RejectUnknownKeys();
}

void ReadQueue(ObjectReader& r, QueueSettings& q) {
  q.lease_seconds = r.Number("LeaseSeconds", 60, 1, 86400);
  q.max_attempts = r.Int("MaxAttempts", 3, 1, 100);
  q.workers = r.Int("Workers", 2, 1, 64);
  r.RejectUnknownKeys();
}

void ReadExport(ObjectReader& r, ExportSettings& e) {
  Diagnostics& diag = r.diagnostics();
  e.max_attempts = r.Int("MaxAttempts", 8, 1, 1000);
  if (const Json* b = r.Get("BackoffSeconds")) {
    const bool pair = b->isArray() && b->size() == 2 && (*b)[0].isNumeric() &&
                      (*b)[1].isNumeric();
    const double lo = pair ? (*b)[0].asDouble() : 0, hi = pair ? (*b)[1].asDouble() : 0;
    if (!pair || !(lo > 0 && lo <= hi && hi <= 86400)) {
      diag.Add(r.PathOf("BackoffSeconds"),
               "expected [min, max] with 0 < min <= max <= 86400 (seconds), found " + Dump(*b, -1));
    } else {
      e.backoff_min_s = lo;
      e.backoff_max_s = hi;
    }
  }
  r.RejectUnknownKeys();
}

}  // namespace

const TaskSettings* CuriaSettings::FindTask(const std::string& name) const {
  for (const TaskSettings& t : tasks) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

int64_t HostThreads(const ModelSettings& model, unsigned cores) {
  if (model.preprocess_threads > 0) return model.preprocess_threads;
  int64_t gpus = 0;
  for (const std::string& d : model.devices) gpus += d == "cpu" ? 0 : 1;
  const int64_t per_gpu = std::clamp<int64_t>((static_cast<int64_t>(cores) - 1) / std::max<int64_t>(gpus, 1), 1, 16);
  int64_t total = 0;
  for (const std::string& d : model.devices) {
    const int64_t automatic = d == "cpu" ? 1 : per_gpu;
    total += model.host_threads_per_device > 0 ? model.host_threads_per_device : automatic;
  }
  return std::clamp<int64_t>(total, 1, 256);
}

CuriaSettings ParseCuriaSettings(const Json& doc, const std::string& source, const std::string& base_dir) {
  Diagnostics diag(source);
  CuriaSettings s;
  s.source = source;
  // A whole Orthanc configuration, or the Curia section alone.
  const Json* section = Find(doc, "Curia");
  const std::string root = section ? "$.Curia" : "$";
  if (!section) section = &doc;
  ObjectReader r(*section, root, diag);
  if (r.ok()) {
    s.schema_version = r.Int("SchemaVersion", kSchemaVersion, 1, 1000);
    if (s.schema_version != kSchemaVersion) {
      diag.Add(r.PathOf("SchemaVersion"), std::to_string(s.schema_version) + " is not supported by this version (" +
                                              std::to_string(kSchemaVersion) + ")");
    }
    if (const Json* m = r.Get("Model")) {
      ObjectReader mr(*m, r.PathOf("Model"), diag);
      if (mr.ok()) ReadModel(mr, s.model, base_dir);
    } else {
      diag.Add(r.PathOf("Model"), "required member is missing (at least {\"Path\": \"<model folder>\"})");
    }
    if (const Json* d = r.Get("Dicom")) {
      ObjectReader dr(*d, r.PathOf("Dicom"), diag);
      if (dr.ok()) ReadDicom(dr, s.dicom);
    }
    if (const Json* tasks = r.Get("Tasks")) {
      if (!tasks->isObject()) {
        diag.Add(r.PathOf("Tasks"), "expected an object of named tasks, found " + Describe(*tasks));
      } else {
        for (const auto& [name, value] : MembersInFileOrder(*tasks)) {
          s.tasks.push_back(ReadTask(name, *value, JsonPath(r.PathOf("Tasks"), name), s.model.path, diag));
        }
      }
    }
    // A URL (postgresql://...) names a server, not a file: kept as written.
    const std::string database = r.String("Database", "");
    s.database = UrlScheme(database).empty() ? Resolve(database, base_dir) : database;
    // Not a string: OptionalString reports it.
    const std::optional<std::string> node_name = r.OptionalString("NodeName");
    s.node_name = node_name ? *node_name : DefaultNodeName();
    if (node_name && !NodeNameProblem(*node_name).empty()) {
      diag.Add(r.PathOf("NodeName"), "'" + *node_name + "' " + NodeNameProblem(*node_name));
    }
    s.role = r.EnumOf<NodeRole>("Role", NodeRole::kAll,
                                {{"all", NodeRole::kAll}, {"ingest", NodeRole::kIngest}, {"work", NodeRole::kWork}});
    if (s.role != NodeRole::kAll && UrlScheme(database).empty()) {
      diag.Add(r.PathOf("Role"), std::string("\"") + NodeRoleName(s.role) +
                                     "\" is a role in a cluster of nodes on one database: it needs a shared \"Database\" "
                                     "(postgresql://USER@HOST/DATABASE), not " +
                                     (database.empty() ? std::string("the node's own SQLite file") : "'" + database + "'"));
    }
    s.trigger =
        r.EnumOf<Trigger>("Trigger", Trigger::kStudy, {{"study", Trigger::kStudy}, {"series", Trigger::kSeries}});
    s.routing_mode = r.EnumOf<RoutingMode>(
        "RoutingMode", RoutingMode::kFirstMatch,
        {{"first-match", RoutingMode::kFirstMatch}, {"all-matches", RoutingMode::kAllMatches}});
    if (const Json* q = r.Get("Queue")) {
      ObjectReader qr(*q, r.PathOf("Queue"), diag);
      if (qr.ok()) ReadQueue(qr, s.queue);
    }
    if (const Json* e = r.Get("Export")) {
      ObjectReader er(*e, r.PathOf("Export"), diag);
      if (er.ok()) ReadExport(er, s.export_);
    }
    if (const Json* rules = r.Get("Rules")) {
      std::vector<std::string> task_names;
      for (const TaskSettings& t : s.tasks) task_names.push_back(t.name);
      s.rules = ReadRules(*rules, r.PathOf("Rules"), task_names, r.PathOf("Tasks"), diag);
    }
    r.RejectUnknownKeys();
  }
  diag.ThrowIfAny();
  return s;
}

CuriaSettings LoadCuriaSettings(const std::string& path) {
  const size_t slash = path.rfind('/');
  // A configuration file may carry comments, as Orthanc's do (curia init writes them).
  const Json doc = ParseJsonFile(path, JsonDialect::kOrthanc);
  return ParseCuriaSettings(doc, path, slash == std::string::npos ? "." : path.substr(0, slash));
}

const char* NodeRoleName(NodeRole role) {
  switch (role) {
    case NodeRole::kAll: return "all";
    case NodeRole::kIngest: return "ingest";
    case NodeRole::kWork: return "work";
  }
  return "?";
}

std::string NodeNameProblem(const std::string& name) {
  if (name.empty()) return "is empty";
  if (name.size() > 64) return "has " + std::to_string(name.size()) + " characters (at most 64)";
  for (char c : name) {
    if (c == '/') return "holds a '/' (it separates the node name from the random part of a claim's token)";
    if (c < 0x21 || c > 0x7E) return "holds a space, a control or a non-ASCII character (printable ASCII only)";
  }
  return "";
}

std::string DefaultNodeName() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || !NodeNameProblem(host).empty()) return "curia-node";
  return host;
}

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

}  // namespace curia::config
