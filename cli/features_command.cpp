// SPDX-License-Identifier: GPL-3.0-or-later
// curia features: labelled studies (a CSV) -> the backbone's features of each, through the worker
// pool -> a feature store (train/feature_store.h) that `curia train-head`, `curia evaluate` and
// `curia fewshot` read. Resumable: every finished case is appended to OUT/cases.jsonl at once, and a
// rerun computes only the cases not in it. A case that cannot be read is listed with its reason and
// skipped, never fatal.
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "commands.h"
#include "orthanc_client.h"
#include "progress.h"
#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/config/sha256.h"
#include "curia/dicom/series.h"
#include "curia/model/head_config.h"
#include "curia/nn/torch_model.h"
#include "curia/pool/pool.h"
#include "curia/region/job.h"
#include "curia/region/region.h"
#include "curia/train/feature_store.h"
#include "version.h"

namespace curia::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kLikeTask = "features";  // the --like head's task

struct LabelledCase {
  train::FeatureCase c;
  std::string segment;  // region heads: the SEG segment label or RTSTRUCT ROI name of the case's region
  std::string source;  // the case's folder
  int line = 0;        // in the labels file
};

// One CSV record: fields split on commas, RFC 4180 quoting ("a ""b""", c). Our own: a labels file is
// a few columns of plain text and Debian 12 has no CSV library worth a dependency for it.
std::vector<std::string> CsvFields(const std::string& line, const std::string& where) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"' && fields.back().empty()) {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  if (quoted) throw Error(ErrorCode::kInvalidArgument, where + ": a quoted field is not closed");
  for (std::string& f : fields) {
    const auto b = f.find_first_not_of(" \t"), e = f.find_last_not_of(" \t");
    f = b == std::string::npos ? "" : f.substr(b, e - b + 1);
  }
  return fields;
}

// The labels file: a header naming the columns "case" and "label" or "target", optionally "split"
// and "group"; one case per line. A relative case path is taken from `root`.
std::vector<LabelledCase> ReadLabels(const std::string& path, const std::string& root) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::kNotFound, path + ": cannot read the labels file");
  std::string line;
  int number = 0;
  std::map<std::string, size_t> column;
  std::vector<LabelledCase> cases;
  std::set<std::string> ids;
  while (std::getline(in, line)) {
    ++number;
    const std::string where = path + ":" + std::to_string(number);
    if (line.find_first_not_of(" \t\r") == std::string::npos || line[0] == '#') continue;
    std::vector<std::string> f = CsvFields(line, where);
    if (column.empty()) {
      for (size_t i = 0; i < f.size(); ++i) {
        std::string name = f[i];
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
        if (name != "case" && name != "label" && name != "target" && name != "split" && name != "group" && name != "segment") {
          throw Error(ErrorCode::kInvalidArgument, where + ": unknown column '" + f[i] +
                                                       "' (the columns are case, label or target, split, group, segment)");
        }
        if (!column.emplace(name, i).second) throw Error(ErrorCode::kInvalidArgument, where + ": column '" + name + "' twice");
      }
      if (!column.count("case") || column.count("label") == column.count("target")) {
        throw Error(ErrorCode::kInvalidArgument, where + ": the header must name the column 'case' and one of 'label' "
                                                         "(classification) or 'target' (regression)");
      }
      continue;
    }
    if (f.size() != column.size()) {
      throw Error(ErrorCode::kInvalidArgument, where + ": " + std::to_string(f.size()) + " fields, the header has " +
                                                   std::to_string(column.size()));
    }
    LabelledCase lc;
    lc.line = number;
    lc.c.id = f[column.at("case")];
    if (lc.c.id.empty()) throw Error(ErrorCode::kInvalidArgument, where + ": the case is empty");
    if (!ids.insert(lc.c.id).second) throw Error(ErrorCode::kInvalidArgument, where + ": case '" + lc.c.id + "' is listed twice");
    if (column.count("label")) {
      lc.c.label = f[column.at("label")];
      if (lc.c.label.empty()) throw Error(ErrorCode::kInvalidArgument, where + ": case '" + lc.c.id + "' has no label");
    } else {
      const std::string& t = f[column.at("target")];
      char* end = nullptr;
      const double v = std::strtod(t.c_str(), &end);
      if (t.empty() || *end != '\0' || !std::isfinite(v)) {
        throw Error(ErrorCode::kInvalidArgument, where + ": case '" + lc.c.id + "': target '" + t + "' is not a number");
      }
      lc.c.target = v;
    }
    if (column.count("split")) lc.c.split = f[column.at("split")];
    if (column.count("group")) lc.c.group = f[column.at("group")];
    if (column.count("segment")) lc.segment = f[column.at("segment")];
    const fs::path p(lc.c.id);
    lc.source = p.is_absolute() ? p.string() : (fs::path(root) / p).string();
    cases.push_back(std::move(lc));
  }
  if (column.empty()) throw Error(ErrorCode::kInvalidArgument, path + ": empty (a header line and one line per case are expected)");
  if (cases.empty()) throw Error(ErrorCode::kInvalidArgument, path + ": no case below the header");
  return cases;
}

// The case's series: of the CT and MR series in its folder that are volumes, the one with the most
// slices (the first of equals). Throws curia::Error with the reason there is none.
struct CaseSeries {
  std::shared_ptr<const dicom::IInstanceSource> source;  // outlives the volume
  std::shared_ptr<dicom::DicomVolume> volume;
  std::string series_uid;
  int64_t slices = 0;
  // Region heads: the folder's SEGs and RTSTRUCTs and the scan they are read against, then (when the
  // case's job is about to start: masks are large) the case's segment from them.
  std::vector<std::string> region_objects;
  std::shared_ptr<const dicom::ScanResult> scan;
  std::vector<worker::JobRegion> regions;
  std::string region_names;
};

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

CaseSeries ChooseSeries(std::shared_ptr<const dicom::IInstanceSource> source, const std::vector<dicom::ScanResult>& scans);

// The folder's series (its headers) and, when `segment` is set (region heads), the SEGs and
// RTSTRUCTs it holds, for ReadSegment.
CaseSeries ReadCase(const std::string& folder, const std::string& segment) {
  if (!fs::is_directory(folder)) throw Error(ErrorCode::kNotFound, "no such folder");
  const std::vector<std::string> files = dicom::FindDicomFiles(folder);
  if (files.empty()) throw Error(ErrorCode::kNotFound, "no DICOM files in the folder");
  auto source = std::make_shared<dicom::FileSource>();
  std::vector<std::string> images, objects;
  for (const std::string& f : files) {
    try {
      region::PeekRegionObject(*source, f);
      objects.push_back(f);  // a SEG or an RTSTRUCT: regions, not images
    } catch (const Error&) {
      images.push_back(f);
    }
  }
  auto scan = std::make_shared<const dicom::ScanResult>(dicom::LoadSeries(*source, images, {}));
  CaseSeries out = ChooseSeries(source, {*scan});
  if (segment.empty()) return out;
  out.region_objects = std::move(objects);
  out.scan = std::move(scan);
  return out;
}

// The regions named `segment` (SEG segment label or RTSTRUCT ROI name, any case) that the case's
// SEGs and RTSTRUCTs have on its series, into out.regions; none is an error naming those it has.
void ReadSegment(CaseSeries& out, const std::string& segment) {
  std::set<std::string> seen;
  for (const std::string& object : out.region_objects) {
    region::RegionSet set = region::ReadRegions(*out.source, object, region::Volumes(*out.scan));
    if (set.refusal != region::Refusal::kNone || set.series_uid != out.series_uid) continue;
    for (region::Region& r : set.regions) {
      seen.insert(r.label);
      if (Lower(r.label) != Lower(segment)) continue;
      if (r.refusal != region::Refusal::kNone) throw Error(ErrorCode::kInvalidArgument, "segment '" + r.label + "': " + r.error);
      out.region_names += (out.region_names.empty() ? "" : ", ") + std::string(region::ObjectKindName(set.object.kind)) + " " + std::to_string(r.number);
      out.regions.push_back(region::ToJobRegion(set, r));
    }
  }
  if (out.regions.empty()) {
    std::string labels;
    for (const std::string& l : seen) labels += (labels.empty() ? "" : ", ") + ("'" + l + "'");
    throw Error(ErrorCode::kNotFound, "no segment '" + segment + "' on series " + out.series_uid +
                                          (labels.empty() ? std::string(" (no SEG or RTSTRUCT for it in the folder)")
                                                          : " (its segments: " + labels + ")"));
  }
}

// The case from a node's Orthanc: `uid` is a Study or Series Instance UID; only its CT and MR series
// are read (their headers: Orthanc's file of each instance).
CaseSeries ReadOrthancCase(const OrthancClient& orthanc, const std::string& uid) {
  auto source = std::make_shared<OrthancInstances>(orthanc);
  std::vector<dicom::ScanResult> scans;
  std::string others;
  for (const OrthancClient::Series& s : orthanc.SeriesOf(uid)) {
    if (s.modality != "CT" && s.modality != "MR") {
      others += (others.empty() ? "" : ", ") + (s.modality.empty() ? std::string("(no modality)") : s.modality);
      continue;
    }
    scans.push_back(dicom::LoadSeries(*source, s.instances, {}));
  }
  if (scans.empty()) throw Error(ErrorCode::kInvalidArgument, "no CT or MR series in Orthanc (only " + others + ")");
  return ChooseSeries(source, scans);
}

CaseSeries ChooseSeries(std::shared_ptr<const dicom::IInstanceSource> source, const std::vector<dicom::ScanResult>& scans) {
  CaseSeries out;
  out.source = std::move(source);
  std::string reasons;
  for (const dicom::ScanResult& scan : scans) {
    for (const dicom::SeriesResult& s : scan.series) {
      if (s.modality != "CT" && s.modality != "MR") continue;
      if (!s.volume) {
        reasons += (reasons.empty() ? "" : "; ") + ("series " + s.series_uid + ": " + s.error);
        continue;
      }
      const int64_t n = s.volume->Info().slices;
      if (n > out.slices) {
        out.volume = s.volume;
        out.series_uid = s.series_uid;
        out.slices = n;
      }
    }
  }
  if (!out.volume) {
    throw Error(ErrorCode::kInvalidArgument,
                "no CT or MR series that is a volume" + (reasons.empty() ? std::string() : " (" + reasons + ")"));
  }
  out.volume->Verify();
  return out;
}

// float32 in 9 significant digits: it reads back as the same float.
std::string FloatText(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
  return buf;
}

// OUT/cases.jsonl: a first line saying what made the features, then one line per finished case.
struct CaseCache {
  std::string path;
  config::Json header;
  std::map<std::string, std::pair<config::Json, std::vector<float>>> done;  // id -> (record, features)
};

CaseCache OpenCache(const std::string& path, const config::Json& header) {
  CaseCache cache{path, header, {}};
  std::ifstream in(path);
  if (!in) {
    config::WriteFileAtomic(path, {config::Dump(header, -1) + "\n"});
    return cache;
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    config::Json j;
    try {
      j = config::ParseJson(line, path + ":" + std::to_string(number));
    } catch (const Error&) {
      // The last line of a run that was killed while writing it: that case is computed again.
      std::cerr << "warning: " << path << ":" << number << ": an incomplete line (an interrupted run), ignored\n";
      continue;
    }
    if (number == 1) {
      for (const char* key : {"backbone_digest", "normalization", "feature"}) {
        if (j[key] != header[key]) {
          throw Error(ErrorCode::kInvalidArgument,
                      path + ": made with " + key + " " + config::Dump(j[key], -1) + ", this run has " +
                          config::Dump(header[key], -1) + ": use another --out folder, or delete it to start again");
        }
      }
      continue;
    }
    std::vector<float> f;
    for (const auto& v : j["features"]) f.push_back(v.asFloat());
    const std::string id = j["id"].asString();
    j.removeMember("features");
    cache.done[id] = {j, std::move(f)};
  }
  return cache;
}

void AppendToCache(const CaseCache& cache, const config::Json& record, const std::vector<float>& features) {
  std::string line = config::Dump(record, -1);
  line.pop_back();  // the closing brace
  line += ",\"features\":[";
  for (size_t i = 0; i < features.size(); ++i) line += (i ? "," : "") + FloatText(features[i]);
  line += "]}\n";
  std::ofstream out(cache.path, std::ios::app | std::ios::binary);
  out << line;
  out.flush();
  if (!out) throw Error(ErrorCode::kInternal, cache.path + ": cannot append (disk full?)");
}

}  // namespace

int FeaturesCommand(const Args& args) {
  ArgParser p("curia features",
              "Computes the backbone features of labelled studies for training and evaluating heads: per case,\n"
              "the CT or MR series with the most slices in the case's folder, every slice through the worker\n"
              "pool (batches, devices and precision of the configuration), the post-LN CLS token of each slice\n"
              "(what a 2-D head reads), averaged over the series. Writes a feature store to OUT\n"
              "(features.safetensors, index.json) with OUT/extraction.json (how it was made, the cases skipped\n"
              "and why). Resumable: finished cases are kept in OUT/cases.jsonl and a rerun computes only the\n"
              "others. The labels file is a CSV with a header: case (a folder, relative to --root), label (a\n"
              "class name) or target (a number), and optionally split (train, validation, test) and group\n"
              "(e.g. the patient, for grouped cross-validation).");
  p.Option("--labels", "CSV", "the labelled cases", true)
      .Option("--out", "DIR", "the feature store to write (created; resumed when it holds cases.jsonl)", true)
      .Option("--root", "DIR", "folder that relative case paths start from (default: the CSV's folder)")
      .Option("--model", "DIR", "the backbone folder (a raidium/curia download, or `curia demo-model`)")
      .Option("--config", "FILE", "take the model and the pool's settings (devices, batches) from this configuration")
      .Option("--normalization", "HOW", "per-slice or per-volume z-score, as the head's task will have it", false, "per-slice")
      .Option("--like", "HEAD", "make 3-D tokens (\"tokens3d\") for training a 3-D attention head with this 3-D head's\n"
              "geometry (window, per-slice tokens, CLS; its weights are not used) instead of CLS features")
      .Option("--orthanc", "URL", "read the cases from this Orthanc (e.g. a node's http://127.0.0.1:8042): the case\n"
              "column then holds Study (or Series) Instance UIDs")
      .Option("--orthanc-user", "USER", "Orthanc user (the password: CURIA_ORTHANC_PASSWORD or --orthanc-password-file)")
      .Option("--orthanc-password-file", "FILE", "file whose first line is the Orthanc user's password");
  if (!p.Parse(args)) return 0;
  dicom::QuietDcmtkLogging();
  if (p.Has("--model") == p.Has("--config")) throw UsageError("give --model DIR or --config FILE (one of them)");
  const std::string norm_text = p.Get("--normalization");
  if (norm_text != "per-slice" && norm_text != "per-volume") {
    throw UsageError("--normalization must be per-slice or per-volume, got '" + norm_text + "'");
  }
  const config::Normalization normalization =
      norm_text == "per-volume" ? config::Normalization::kPerVolume : config::Normalization::kPerSlice;
  config::CuriaSettings settings;
  if (p.Has("--config")) {
    settings = config::LoadCuriaSettings(p.Get("--config"));
  } else {
    settings.model.path = p.Get("--model");
    settings.source = "--model";
  }
  settings.tasks.clear();  // features only: no head runs, or the --like head for its 3-D input alone
  std::optional<train::VolumeGeometry> geometry;
  bool regions = false;  // a 2-D mask-prompted --like head: features of each case's segment
  if (p.Has("--like")) {
    const std::string like = fs::absolute(p.Get("--like")).string();
    const model::HeadConfig head = model::LoadHeadConfig(like + "/config.json");
    if (head.Is3D()) {
      geometry = train::GeometryOf(head, like);
    } else if (head.requires_mask) {
      regions = true;
    } else {
      throw UsageError("--like: " + like + " is a 2-D head without a mask: its features are the CLS, made without --like");
    }
    config::TaskSettings task;
    if (regions) task.region = config::RegionSelection{};  // the case's segment alone is in its job
    task.name = kLikeTask;
    task.head = like;
    task.normalization = normalization;
    task.finding = {"FEATURES", "99CURIA", "features"};
    task.path = "--like";
    settings.tasks.push_back(task);
  }
  const std::string feature = geometry ? train::kTokens3dFeature : regions ? "region" : "cls";

  std::unique_ptr<OrthancClient> orthanc;
  if (p.Has("--orthanc")) {
    std::string password;
    if (p.Has("--orthanc-password-file")) {
      std::ifstream in(p.Get("--orthanc-password-file"));
      if (!in) throw UsageError("--orthanc-password-file: cannot read " + p.Get("--orthanc-password-file"));
      std::getline(in, password);
    } else if (const char* env = std::getenv("CURIA_ORTHANC_PASSWORD")) {
      password = env;
    }
    orthanc = std::make_unique<OrthancClient>(p.Get("--orthanc"), p.Has("--orthanc-user") ? p.Get("--orthanc-user") : "",
                                              password);
    orthanc->GetJson("/system");  // reachable, and the credentials right: say so before any case
  }
  const std::string labels_path = p.Get("--labels");
  const std::string root = p.Has("--root") ? p.Get("--root") : fs::absolute(labels_path).parent_path().string();
  const std::vector<LabelledCase> cases = ReadLabels(labels_path, root);
  for (const LabelledCase& c : cases) {
    if (regions && c.segment.empty()) {
      throw Error(ErrorCode::kInvalidArgument, labels_path + ":" + std::to_string(c.line) + ": case '" + c.c.id +
                                                   "' names no segment: a region head's features need the 'segment' column");
    }
    if (!regions && !c.segment.empty()) {
      throw Error(ErrorCode::kInvalidArgument, labels_path + ":" + std::to_string(c.line) +
                                                   ": a segment is given: region features need --like with a mask-prompted head");
    }
  }
  if (regions && p.Has("--orthanc")) throw UsageError("--orthanc: region features (the segment column) read folders only, for now");
  const std::string out = p.Get("--out");
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw Error(ErrorCode::kInvalidArgument, out + ": cannot create the folder (" + ec.message() + ")");

  auto model = nn::TorchModel::Load(settings);
  const worker::ModelInfo& info = model->info();
  config::Json header(::Json::objectValue);
  header["format"] = "curia-feature-cache";
  header["backbone_digest"] = info.backbone_digest;
  header["normalization"] = norm_text;
  header["feature"] = geometry ? feature + " " + geometry->ToString() : feature;
  CaseCache cache = OpenCache(out + "/cases.jsonl", header);

  size_t kept = 0;
  for (const LabelledCase& c : cases) kept += cache.done.count(c.c.id);
  std::cout << cases.size() << " case(s) in " << labels_path << "; " << kept << " already done in " << cache.path << "\n";

  // Read the cases' headers first (no pixels), so that the progress bar knows the work.
  struct Pending {
    const LabelledCase* c;
    CaseSeries series;
  };
  std::vector<Pending> pending;
  std::map<std::string, std::string> skipped;  // id -> reason
  for (const LabelledCase& c : cases) {
    if (cache.done.count(c.c.id)) continue;
    try {
      pending.push_back({&c, orthanc ? ReadOrthancCase(*orthanc, c.c.id) : ReadCase(c.source, c.segment)});
    } catch (const std::exception& e) {
      skipped[c.c.id] = e.what();
      std::cerr << "case " << c.c.id << " (line " << c.line << "): skipped: " << e.what() << "\n";
    }
  }

  if (!pending.empty()) {
    Progress progress(::isatty(STDERR_FILENO));
    for (size_t i = 0; i < pending.size(); ++i) progress.Expect(std::to_string(i), pending[i].series.slices);
    std::mutex mu;
    std::condition_variable cv;
    size_t finished = 0, in_pool = 0;
    std::string fatal;
    const size_t window = static_cast<size_t>(std::max<int64_t>(2, settings.model.max_active_jobs * 2));
    pool::WorkerPool pool(*model, settings.model);
    for (size_t i = 0; i < pending.size(); ++i) {
      {
        // A bounded number of cases in the pool: memory stays flat however long the list.
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return in_pool < window || !fatal.empty(); });
        if (!fatal.empty()) break;
        ++in_pool;
      }
      if (!pending[i].c->segment.empty()) {
        try {
          ReadSegment(pending[i].series, pending[i].c->segment);
        } catch (const std::exception& e) {
          const std::string& id = pending[i].c->c.id;
          std::lock_guard<std::mutex> lock(mu);
          skipped[id] = e.what();
          --in_pool;
          progress.Update(std::to_string(i), pending[i].series.slices, pending[i].series.slices);
          progress.Line("case " + id + " (line " + std::to_string(pending[i].c->line) + "): skipped: " + e.what());
          continue;
        }
      }
      pool::JobRequest request{std::to_string(i), pool::Priority::kRoutine, pending[i].series.volume, {}};
      request.features_normalization = normalization;
      request.volume_inputs = geometry.has_value();
      request.region_features = regions;
      request.slice_features = !geometry && !regions;
      if (geometry || regions) request.tasks = {kLikeTask};
      request.regions = std::move(pending[i].series.regions);
      pool.Submit(
          std::move(request),
          [&, i](pool::JobResult r) {
            const Pending& pc = pending[i];
            const std::string& id = pc.c->c.id;
            std::string line;
            std::unique_lock<std::mutex> lock(mu);
            if (r.status == pool::JobStatus::kDone && ((geometry && !r.volume_inputs.count(kLikeTask)) ||
                                                       (regions && r.region_features.empty()))) {
              // The 3-D head's window does not fit this series (too few slices): the reason is the skip.
              std::string reason = geometry ? "no 3-D tokens" : "no slice of the segment to run on";
              for (const worker::SkippedTask& t : r.findings.skipped) reason = t.reason;
              r.status = pool::JobStatus::kFailed;
              r.error = reason;
            }
            if (r.status == pool::JobStatus::kDone) {
              std::vector<float> values;
              config::Json record(::Json::objectValue);
              record["id"] = id;
              record["series_uid"] = pc.series.series_uid;
              record["slices"] = static_cast<Json::Int64>(pc.series.slices);
              if (regions) {
                // The mean over the segment's slices (of every region of that name) of the masked
                // mean of the patch tokens, as the head classifies each slice; summed in double.
                std::vector<double> sum;
                size_t n = 0;
                for (const pool::RegionFeatures& rf : r.region_features) {
                  for (const auto& f : rf.features) {
                    sum.resize(f.size(), 0.0);
                    for (size_t k = 0; k < f.size(); ++k) sum[k] += f[k];
                    ++n;
                  }
                }
                values.resize(sum.size());
                for (size_t k = 0; k < sum.size(); ++k) values[k] = static_cast<float>(sum[k] / static_cast<double>(n));
                record["regions"] = pc.series.region_names;
                record["region_slices"] = static_cast<Json::UInt64>(n);
              } else if (geometry) {
                // The 3-D head's input: its rows, each `dim` wide.
                worker::SliceTokens& t = r.volume_inputs.at(kLikeTask);
                record["tokens"] = static_cast<Json::Int64>(t.rows);
                record["dim"] = static_cast<Json::Int64>(t.cols);
                values = std::move(t.values);
              } else {
                // The mean over the series' slices, summed in double.
                const size_t d = r.slice_features.empty() ? 0 : r.slice_features[0].size();
                std::vector<double> sum(d, 0.0);
                for (const auto& f : r.slice_features) {
                  for (size_t k = 0; k < d && k < f.size(); ++k) sum[k] += f[k];
                }
                values.resize(d);
                for (size_t k = 0; k < d; ++k) values[k] = static_cast<float>(sum[k] / static_cast<double>(r.slice_features.size()));
              }
              try {
                AppendToCache(cache, record, values);
                cache.done[id] = {record, std::move(values)};
                line = "case " + id + ": done (" + std::to_string(pc.series.slices) + " slices)";
              } catch (const std::exception& e) {
                fatal = e.what();
              }
            } else {
              skipped[id] = r.error.empty() ? pool::JobStatusName(r.status) : r.error;
              line = "case " + id + ": skipped: " + skipped[id];
            }
            --in_pool;
            ++finished;
            cv.notify_all();
            lock.unlock();
            if (!line.empty()) progress.Line(line);
          },
          [&progress](const pool::JobProgress& pr) { progress.Update(pr.id, pr.done, pr.total); });
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return in_pool == 0; });
    if (!fatal.empty()) throw Error(ErrorCode::kInternal, fatal);
  }

  // The store: the cases of the labels file that have features, in the file's order.
  train::FeatureStore store;
  store.backbone_digest = info.backbone_digest;
  store.model_name = info.path;
  store.feature = feature;
  store.geometry = geometry;
  std::vector<const std::vector<float>*> rows;
  config::Json done_cases(::Json::arrayValue);
  for (const LabelledCase& c : cases) {
    auto it = cache.done.find(c.c.id);
    if (it == cache.done.end()) continue;
    store.cases.push_back(c.c);
    rows.push_back(&it->second.second);
    done_cases.append(it->second.first);
  }
  config::Json extraction(::Json::objectValue);
  extraction["format"] = "curia-feature-extraction";
  extraction["curia_version"] = CURIA_VERSION_STRING;
  extraction["labels"] = fs::absolute(labels_path).string();
  extraction["labels_sha256"] = config::Sha256File(labels_path);
  extraction["model"] = info.path;
  extraction["backbone_digest"] = info.backbone_digest;
  extraction["image_size"] = static_cast<Json::Int64>(info.image_size);
  extraction["normalization"] = norm_text;
  extraction["feature"] =
      geometry  ? "the 3-D head's attention-module input (tokens3d) for the geometry of " + p.Get("--like")
      : regions ? std::string("the mean of the post-LN patch tokens under the case's segment (max-pooled to the patch grid), as a "
                              "2-D mask head classifies it, averaged over the segment's slices (Region.MinPixels 16)")
                : std::string("the post-LN CLS token (pooler_output) of every slice, averaged over the series' slices");
  extraction["source"] = orthanc ? "Orthanc at " + orthanc->url() : std::string("folders");
  extraction["series_selection"] = "per case, the CT or MR series with the most slices";
  extraction["cases"] = done_cases;
  config::Json skipped_json(::Json::arrayValue);
  for (const LabelledCase& c : cases) {
    auto it = skipped.find(c.c.id);
    if (it == skipped.end()) continue;
    config::Json s(::Json::objectValue);
    s["id"] = c.c.id;
    s["line"] = c.line;
    s["reason"] = it->second;
    skipped_json.append(s);
  }
  extraction["skipped"] = skipped_json;
  config::WriteFileAtomic(out + "/extraction.json", {config::Dump(extraction) + "\n"});
  if (rows.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "no case could be read (" + std::to_string(skipped.size()) +
                                                 " skipped, reasons in " + out + "/extraction.json)");
  }
  size_t d = rows[0]->size();
  if (geometry) {
    d = static_cast<size_t>(done_cases[0]["dim"].asInt64());
    store.token_dim = d;
    store.offsets = {0};
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i]->size() % d != 0 || static_cast<size_t>(done_cases[static_cast<Json::ArrayIndex>(i)]["dim"].asInt64()) != d) {
        throw Error(ErrorCode::kInternal, "case " + store.cases[i].id + ": tokens of another width than the others'");
      }
      store.tokens.insert(store.tokens.end(), rows[i]->begin(), rows[i]->end());
      store.offsets.push_back(static_cast<int64_t>(store.tokens.size() / d));
    }
  } else {
    store.features = train::Matrix(rows.size(), d);
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i]->size() != d) {
        throw Error(ErrorCode::kInternal, "case " + store.cases[i].id + ": " + std::to_string(rows[i]->size()) +
                                              " features, the others have " + std::to_string(d));
      }
      for (size_t k = 0; k < d; ++k) store.features(i, k) = (*rows[i])[k];
    }
  }
  train::WriteFeatureStore(out, store);
  std::cout << "feature store written to " << out << ": " << rows.size() << " case(s) of "
            << (geometry ? std::to_string(store.offsets.back()) + " token rows of " : std::string()) << d << " features";
  if (!skipped.empty()) std::cout << "; " << skipped.size() << " skipped (reasons in " << out << "/extraction.json)";
  std::cout << "\n";
  return 0;
}

}  // namespace curia::cli
