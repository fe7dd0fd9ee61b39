// SPDX-License-Identifier: GPL-3.0-or-later
// curia run: a folder of DICOM files -> series -> volumes -> the worker pool -> an SR and key images
// per series, in one folder per study, with a summary. Every series ends processed or refused with
// its reason.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <algorithm>
#include <map>
#include <mutex>

#include "commands.h"
#include "progress.h"
#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/config/sha256.h"
#include "curia/dicom/series.h"
#include "curia/dicomsr/outputs.h"
#include "curia/model/demo_model.h"
#include "curia/nn/torch_model.h"
#include "curia/pool/findings_json.h"
#include "curia/pool/pool.h"
#include "curia/region/job.h"
#include "curia/region/region.h"
#include "version.h"

namespace curia::cli {
namespace {

using Clock = std::chrono::steady_clock;

std::string DemoModelDir() {
  const char* cache = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const std::string base = cache && *cache ? cache : home && *home ? std::string(home) + "/.cache" : "/tmp";
  return base + "/curia/demo-model";
}

// The demo model (generated on first use) with one 2-D and one 3-D demo task, and the demo region task
// (the demo mask-prompted head on every SEG segment and RTSTRUCT ROI of the folder).
config::CuriaSettings DemoSettings(const std::string& dir) {
  if (!std::filesystem::exists(dir + "/config.json")) {
    std::cout << "generating the DEMO model in " << dir << " (random weights: meaningless output)\n";
    model::WriteDemoModel(dir, model::DemoSize::kTiny, 0);
  }
  config::Json root(::Json::objectValue);
  root["Tasks"] = config::ParseJson(model::DemoTasksJson(), "demo tasks");
  const config::Json region = config::ParseJson(model::DemoRegionTasksJson(), "demo region tasks");
  for (const auto& [name, task] : config::MembersInFileOrder(region)) root["Tasks"][name] = *task;
  root["Dicom"] = config::ParseJson(R"json({"KeyImages": "all", "HeatMap": true})json", "demo settings");
  root["Model"] = config::Json(::Json::objectValue);
  root["Model"]["Path"] = dir;
  return config::ParseCuriaSettings(root, "demo settings", "");
}

// A SEG or RTSTRUCT of the folder: the series it belongs to, or why it cannot be used.
struct RegionObject {
  std::string file, kind;
  std::string series_uid;  // of the image series its regions are on (when read)
  std::string refusal;     // the whole object's, with the reason
  size_t regions = 0, refused = 0;
};

struct Outcome {
  std::string series_uid, study_uid, modality, description, folder;
  int64_t slices = 0, instances = 0;
  std::string status = "refused";  // "done", "refused", "failed"
  std::string reason;
  std::vector<std::string> files;
  worker::StudyFindings findings;
  std::shared_ptr<dicom::DicomVolume> volume;
  std::vector<worker::JobRegion> regions;  // of its SEGs and RTSTRUCTs
};

// Identifies a job's results: the same images, tasks and weights give the same UIDs.
std::string JobKey(const dicom::DicomVolume& v, const worker::StudyFindings& f) {
  config::Sha256 h;
  h.Update(v.study_uid + "|" + v.series_uid + "|" + f.backbone_digest);
  for (const auto& s : v.slices()) h.Update("|" + s.sop_instance_uid + "#" + std::to_string(s.frame));
  for (const auto& t : f.findings) h.Update("|" + t.task + "=" + t.head_digest);
  return h.HexDigest();
}

std::string Safe(const std::string& uid) {
  std::string s;
  for (char c : uid) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '_';
  return s.empty() ? "unknown" : s;
}

void WriteOutputs(Outcome& o, const config::CuriaSettings& settings, const std::string& out_dir) {
  const worker::VolumeInfo info = o.volume->Info();
  const dicomsr::SourceSeries source{&o.volume->header(), info.references, info.modality};
  const dicomsr::Identity identity = dicomsr::Identity::Now(JobKey(*o.volume, o.findings), CURIA_VERSION_STRING);
  const std::string folder = out_dir + "/" + Safe(o.study_uid);
  std::filesystem::create_directories(folder);
  const std::string stem = folder + "/" + Safe(o.series_uid);
  auto save = [&](const std::string& path, const std::string& bytes) {
    config::WriteFileAtomic(path, {bytes});
    o.files.push_back(path);
  };
  std::map<std::string, int> per_task;  // a region task has one key image per region: numbered
  for (const dicomsr::ResultObject& r : dicomsr::WriteResults(source, *o.volume, o.findings, settings, identity)) {
    if (r.kind == "SR") {
      // A region object's findings have an SR of their own (dicomsr::WriteResults).
      const std::string sr_stem = stem + "-sr" + (r.region_object.empty() ? "" : "-" + Safe(r.region_object));
      save(sr_stem + ".dcm", r.object.bytes);
      save(sr_stem + ".html", dicomsr::RenderHtml(r.object.bytes));
    } else {
      const int n = ++per_task[r.task];
      save(stem + "-sc-" + Safe(r.task) + (n > 1 ? "-" + std::to_string(n) : "") + ".dcm", r.object.bytes);
    }
  }
}

// The findings of the folder for scripts and tests (--json): every series with its status and, when
// done, its findings as the node stores them (pool::FindingsToJson).
config::Json FindingsJson(const std::vector<Outcome>& outcomes) {
  config::Json root(::Json::objectValue);
  root["curia_version"] = CURIA_VERSION_STRING;
  config::Json series(::Json::arrayValue);
  for (const Outcome& o : outcomes) {
    config::Json s(::Json::objectValue);
    s["series_uid"] = o.series_uid;
    s["study_uid"] = o.study_uid;
    s["modality"] = o.modality;
    s["status"] = o.status;
    if (!o.reason.empty()) s["reason"] = o.reason;
    s["slices"] = o.slices;
    if (o.status == "done") s["findings"] = pool::FindingsToJson(o.findings);
    series.append(std::move(s));
  }
  root["series"] = std::move(series);
  return root;
}

std::string Percent(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * p);
  return buf;
}

}  // namespace

int RunCommand(const Args& args) {
  ArgParser p("curia run",
              "Processes a folder of DICOM files end to end: groups the files into series, builds each CT or MR\n"
              "series' volume, runs the tasks of the configuration through the worker pool, and writes an SR\n"
              "(TID 1500) and key images (Secondary Capture) per series into OUT/<Study Instance UID>/, with\n"
              "OUT/summary.txt. Without --config it uses the demo model and demo tasks (generated on first use:\n"
              "meaningless output). Every series ends processed, or refused with its reason (exit status 0).");
  p.Positional("DIR", "folder of DICOM files (searched recursively)")
      .Option("--out", "DIR", "output folder", true)
      .Option("--config", "FILE", "configuration (the Curia section of an Orthanc configuration, or a file of it)")
      .Option("--priority", "P", "stat, routine or off-peak", false, "routine")
      .Option("--json", "FILE", "also write every series' findings as JSON (class probabilities as the pool gave them)");
  if (!p.Parse(args)) return 0;
  dicom::QuietDcmtkLogging();
  const pool::Priority priority = pool::ParsePriority(p.Get("--priority"));
  const std::string out_dir = p.Get("--out");
  const config::CuriaSettings settings =
      p.Has("--config") ? config::LoadCuriaSettings(p.Get("--config")) : DemoSettings(DemoModelDir());
  if (settings.tasks.empty()) {
    throw Error(ErrorCode::kInvalidArgument, settings.source + ": $.Curia.Tasks: no task to run");
  }

  const std::vector<std::string> files = dicom::FindDicomFiles(p.Get("DIR"));
  if (files.empty()) throw Error(ErrorCode::kNotFound, p.Get("DIR") + ": no DICOM files found");
  dicom::FileSource source;
  // SEGs and RTSTRUCTs (by SOP Class UID) are regions for the series they reference, not series of
  // their own: put aside, then read against the volumes of the scan.
  std::vector<std::string> images;
  std::vector<RegionObject> objects;
  for (const std::string& f : files) {
    try {
      const region::RegionObjectInfo info = region::PeekRegionObject(source, f);
      objects.push_back({f, region::ObjectKindName(info.kind), "", "", 0, 0});
    } catch (const Error&) {
      images.push_back(f);  // not a region object (or not readable: the scan says why)
    }
  }
  const dicom::ScanResult scan = dicom::LoadSeries(source, images, {});
  std::cout << "found " << files.size() << " DICOM file(s): " << scan.series.size() << " series, "
            << scan.unreadable.size() << " unreadable file(s)";
  if (!objects.empty()) std::cout << ", " << objects.size() << " region object(s) (SEG, RTSTRUCT)";
  std::cout << "\n";

  std::vector<Outcome> outcomes;
  for (const dicom::SeriesResult& s : scan.series) {
    Outcome o;
    o.series_uid = s.series_uid;
    o.study_uid = s.study_uid;
    o.modality = s.modality;
    o.description = s.description;
    o.instances = static_cast<int64_t>(s.instances.size());
    o.folder = std::filesystem::path(s.instances.front()).parent_path().string();
    if (!s.volume) {
      o.reason = s.error;
    } else if (s.modality != "CT" && s.modality != "MR") {
      o.reason = "modality " + (s.modality.empty() ? std::string("(none)") : s.modality) + ": only CT and MR are analysed";
    } else {
      try {
        s.volume->Verify();
        o.volume = s.volume;
        o.slices = s.volume->Info().slices;
        o.status = "queued";
      } catch (const Error& e) {
        o.reason = e.what();
      }
    }
    outcomes.push_back(std::move(o));
  }

  // Region objects onto the grids of their series. Refusals (the series is not in the folder, another
  // Frame of Reference, a transfer syntax dcmseg cannot decode, ...) are results with their reason.
  const std::vector<const dicom::DicomVolume*> volumes = region::Volumes(scan);
  for (RegionObject& object : objects) {
    region::RegionSet set = region::ReadRegions(source, object.file, volumes);
    object.series_uid = set.series_uid;
    if (set.refusal != region::Refusal::kNone) {
      object.refusal = set.error.empty() ? region::RefusalName(set.refusal) : set.error;
    }
    Outcome* target = nullptr;
    for (Outcome& o : outcomes) {
      const auto& refs = set.object.referenced_series_uids;
      const bool referenced = o.series_uid == set.series_uid || std::find(refs.begin(), refs.end(), o.series_uid) != refs.end();
      if (referenced && o.status == "queued") target = &o;
    }
    if (!target) continue;
    if (!object.refusal.empty()) {
      // The whole object refused for a series that is here: its region tasks say why.
      target->regions.push_back(region::RefusedObject(set, target->series_uid));
      continue;
    }
    for (region::Region& r : set.regions) {
      ++object.regions;
      object.refused += r.refusal != region::Refusal::kNone ? 1 : 0;
      target->regions.push_back(region::ToJobRegion(set, r));
    }
  }

  size_t queued = 0;
  for (const Outcome& o : outcomes) queued += o.status == "queued" ? 1 : 0;
  if (queued > 0) {
    auto model = nn::TorchModel::Load(settings);
    Progress progress(::isatty(STDERR_FILENO));
    for (size_t i = 0; i < outcomes.size(); ++i) {
      if (outcomes[i].status == "queued") progress.Expect(std::to_string(i), outcomes[i].slices);
    }
    std::mutex mu;
    std::condition_variable cv;
    size_t finished = 0;
    {
      pool::WorkerPool pool(*model, settings.model);
      for (size_t i = 0; i < outcomes.size(); ++i) {
        Outcome& o = outcomes[i];
        if (o.status != "queued") continue;
        const std::string id = std::to_string(i);
        pool.Submit(
            {id, priority, o.volume, {}, settings.dicom.heat_map, std::move(o.regions)},
            [&, i](pool::JobResult r) {
              Outcome& done = outcomes[i];
              if (r.status == pool::JobStatus::kDone) {
                done.findings = std::move(r.findings);
                try {
                  WriteOutputs(done, settings, out_dir);
                  done.status = "done";
                } catch (const std::exception& e) {
                  done.status = "failed";
                  done.reason = std::string("writing the results: ") + e.what();
                }
              } else {
                done.status = "refused";
                done.reason = r.error.empty() ? pool::JobStatusName(r.status) : r.error;
              }
              progress.Line(done.modality + " series " + done.series_uid + ": " + done.status +
                            (done.reason.empty() ? "" : " (" + done.reason + ")"));
              std::lock_guard<std::mutex> lock(mu);
              ++finished;
              cv.notify_all();
            },
            [&progress](const pool::JobProgress& pr) { progress.Update(pr.id, pr.done, pr.total); });
      }
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return finished == queued; });
    }
  }

  // Summary: on the terminal and in OUT/summary.txt.
  std::filesystem::create_directories(out_dir);
  std::ostringstream summary;
  summary << "Curia Node " << CURIA_VERSION_STRING << " - " << p.Get("DIR") << " - RESEARCH USE ONLY\n";
  if (settings.model.path.find("demo-model") != std::string::npos) {
    summary << "DEMO model and tasks: the findings are meaningless\n";
  }
  int done = 0, refused = 0, failed = 0;
  for (const Outcome& o : outcomes) {
    summary << "\n" << (o.modality.empty() ? "??" : o.modality) << " series " << o.series_uid;
    if (!o.description.empty()) summary << " \"" << o.description << "\"";
    summary << " (" << o.instances << " file(s) in " << o.folder << ")\n  " << o.status;
    if (o.status == "done") {
      ++done;
      summary << ": " << o.slices << " slices\n";
      for (const worker::TaskFinding& f : o.findings.findings) {
        if (!f.region.kind.empty()) {
          // One line per (task, region): which region, what the head says of it.
          const worker::RegionReference& g = f.region;
          summary << "  " << f.task << ": " << g.kind << (g.kind == "RTSTRUCT" ? " ROI " : " segment ") << g.number
                  << " \"" << g.label << "\": " << f.finding.meaning << " "
                  << (f.regression ? std::to_string(f.probability)
                                   : std::string(f.present ? "PRESENT" : "absent") + " (p = " + Percent(f.probability) + ")");
          if (!g.predicted_class.empty()) {
            summary << ", predicted class " << g.predicted_class
                    << ", agreement with its label " << (g.agreement.empty() ? "n/a (not a class of the head)" : g.agreement);
          }
          summary << ", key slice " << f.key_slice + 1 << ", " << g.slices_used << " slice(s)\n";
          continue;
        }
        summary << "  " << f.task << ": " << f.finding.meaning << " "
                << (f.regression ? std::to_string(f.probability)
                                 : std::string(f.present ? "PRESENT" : "absent") + " (p = " + Percent(f.probability) + ")")
                << ", key slice " << f.key_slice + 1 << "\n";
      }
      for (const worker::SkippedTask& s : o.findings.skipped) summary << "  " << s.task << ": not applicable: " << s.reason << "\n";
      for (const std::string& f : o.files) summary << "  -> " << f << "\n";
    } else {
      (o.status == "failed" ? failed : refused) += 1;
      summary << ": " << o.reason << "\n";
    }
  }
  for (const RegionObject& r : objects) {
    summary << "\n" << r.kind << " " << r.file << "\n  ";
    if (!r.refusal.empty()) {
      summary << "refused: " << r.refusal << "\n";
    } else {
      summary << r.regions << " region(s) on series " << r.series_uid
              << (r.refused ? " (" + std::to_string(r.refused) + " refused: see the series' tasks)" : "") << "\n";
    }
  }
  for (const dicom::InstanceError& u : scan.unreadable) summary << "\nunreadable: " << u.error << "\n";
  size_t objects_refused = 0;
  for (const RegionObject& r : objects) objects_refused += r.refusal.empty() ? 0 : 1;
  summary << "\n" << done << " series processed, " << refused << " refused with their reason, " << failed << " failed, "
          << scan.unreadable.size() << " unreadable file(s)\n";
  if (!objects.empty()) {
    summary << objects.size() << " region object(s) (SEG, RTSTRUCT): " << objects.size() - objects_refused << " read, "
            << objects_refused << " refused with their reason\n";
  }
  std::cout << summary.str();
  config::WriteFileAtomic(out_dir + "/summary.txt", {summary.str()});
  std::cout << "summary written to " << out_dir << "/summary.txt\n";
  if (p.Has("--json")) {
    config::WriteFileAtomic(p.Get("--json"), {config::Dump(FindingsJson(outcomes)) + "\n"});
    std::cout << "findings written to " << p.Get("--json") << "\n";
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace curia::cli
