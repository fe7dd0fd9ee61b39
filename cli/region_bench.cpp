// SPDX-License-Identifier: GPL-3.0-or-later
// curia bench region: the cost of region tasks. A phantom series and a SEG of N segments that each
// cover every slice; a job running the demo mask-prompted head on all N segments against a plain
// job running the demo 2-D head, on the same series, through the same worker pool. The backbone runs
// once per slice whatever the number of segments, so the ratio of their slices/s should be near 1.
#include "region_bench.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include "bench_util.h"
#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/dicom/series.h"
#include "curia/model/demo_model.h"
#include "curia/nn/device.h"
#include "curia/nn/torch_model.h"
#include "curia/phantom/regions.h"
#include "curia/phantom/series.h"
#include "curia/pool/pool.h"
#include "curia/region/job.h"
#include "curia/region/region.h"
#include "scratch_dir.h"
#include "version.h"

namespace curia::cli {
namespace {

using Clock = std::chrono::steady_clock;

// N rectangular segments in a grid over the middle of the slice (columns x rows cells, a one-pixel
// gap between them), the same on every slice: each segment has pixels on every slice.
phantom::PhantomLabelPainter BlockLabels(int64_t segments, int64_t rows, int64_t cols) {
  const int64_t grid_cols = std::max<int64_t>(1, (segments + 1) / 2), grid_rows = segments > 1 ? 2 : 1;
  return [=](int64_t, uint8_t* out) {
    std::fill(out, out + rows * cols, uint8_t{0});
    const int64_t r0 = rows / 4, c0 = cols / 8, height = rows / 2, width = cols - 2 * c0;
    for (int64_t s = 0; s < segments; ++s) {
      const int64_t gr = s / grid_cols, gc = s % grid_cols;
      const int64_t top = r0 + gr * height / grid_rows, bottom = r0 + (gr + 1) * height / grid_rows - 1;
      const int64_t left = c0 + gc * width / grid_cols, right = c0 + (gc + 1) * width / grid_cols - 1;
      for (int64_t r = top; r < bottom; ++r) {
        for (int64_t c = left; c < right; ++c) out[r * cols + c] = static_cast<uint8_t>(s + 1);
      }
    }
  };
}

std::vector<phantom::PhantomStructure> BlockStructures(int64_t segments) {
  std::vector<phantom::PhantomStructure> out;
  for (int64_t s = 0; s < segments; ++s) {
    phantom::PhantomStructure st;
    st.label = static_cast<int>(s + 1);
    st.name = "Block " + std::to_string(s + 1);
    st.category = {"85756007", "SCT", "Tissue"};
    st.type = {"85756007", "SCT", "Tissue"};
    st.rgb = {static_cast<uint8_t>(40 + 20 * s), 128, static_cast<uint8_t>(220 - 20 * s)};
    out.push_back(st);
  }
  return out;
}

config::CuriaSettings Settings(const std::string& model_dir, int64_t batch) {
  const config::Json tasks = config::ParseJson(R"json({
    "plain": {"Head": "demo-2d", "Finding": {"Code": "C1", "Scheme": "99DEMO", "Meaning": "Demo finding"}},
    "region": {"Head": "demo-mask", "Region": {"From": ["SEG"]},
               "Finding": {"Code": "C2", "Scheme": "99DEMO", "Meaning": "Demo region class"}}
  })json", "bench region tasks");
  config::Json model(::Json::objectValue);
  model["Path"] = model_dir;
  model["MaxBatch"] = batch;
  model["QueuedSlices"] = std::max<int64_t>(2 * batch, 8);
  config::Json root(::Json::objectValue);
  root["Model"] = std::move(model);
  root["Tasks"] = tasks;
  config::CuriaSettings settings = config::ParseCuriaSettings(root, "bench region settings", "");
  settings.model.threads = nn::IntraOpThreads();  // as set by the caller
  return settings;
}

struct JobRun {
  double seconds = 0;
  int64_t backbone_slices = 0;
  worker::StudyFindings findings;
};

// One job alone through a fresh pool (as `curia bench pool` runs them): submit to findings.
JobRun RunJob(worker::IModel& model, const config::ModelSettings& settings, pool::JobRequest request) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  pool::JobResult result;
  JobRun run;
  const Clock::time_point start = Clock::now();
  {
    pool::WorkerPool pool(model, settings);
    pool.Submit(std::move(request), [&](pool::JobResult r) {
      std::lock_guard<std::mutex> lock(mu);
      result = std::move(r);
      done = true;
      cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    run.backbone_slices = pool.Stats().slices;
  }
  if (result.status != pool::JobStatus::kDone) {
    throw Error(ErrorCode::kInternal, "benchmark job " + result.id + " " + pool::JobStatusName(result.status) + ": " + result.error);
  }
  run.findings = std::move(result.findings);
  return run;
}

}  // namespace

RegionBenchResult MeasureRegionRatio(const RegionBenchOptions& o, const std::string& dir) {
  RegionBenchResult out;
  out.model = "DEMO " + o.size + (o.size == "base" ? " (Curia-B shapes)" : " (tiny shapes)");
  out.segments = o.segments;
  const std::string model_dir = dir + "/model";
  model::WriteDemoModel(model_dir, model::ParseDemoSize(o.size), 0);

  // The series and its SEG (DCMTK writers), read back as `curia run` and the node read them.
  phantom::PhantomSeriesOptions series;
  series.phantom.slices = o.slices;
  series.phantom.rows = series.phantom.cols = o.image;
  series.phantom.pixel_mm = 256.0 / static_cast<double>(o.image);
  series.seed = 17;
  series.software_version = CURIA_VERSION_STRING;
  phantom::PhantomStudyDateTime(series, series.study_date, series.study_time);
  dicom::QuietDcmtkLogging();
  phantom::WritePhantomSeries(series, dir + "/series");
  const std::string seg_path = dir + "/seg.dcm";
  phantom::WritePhantomSegmentation(series, BlockStructures(o.segments), BlockLabels(o.segments, o.image, o.image), seg_path);
  dicom::FileSource source;
  const dicom::ScanResult scan = dicom::LoadSeries(source, dicom::FindDicomFiles(dir + "/series"), {});
  if (scan.series.size() != 1 || !scan.series[0].volume) {
    throw Error(ErrorCode::kInternal, "bench region: the phantom series did not load as one volume");
  }
  const std::shared_ptr<dicom::DicomVolume> volume = scan.series[0].volume;
  out.slices = volume->Info().slices;
  const Clock::time_point read_start = Clock::now();
  region::RegionSet set = region::ReadRegions(source, seg_path, region::Volumes(scan));
  std::vector<worker::JobRegion> regions;
  for (region::Region& r : set.regions) regions.push_back(region::ToJobRegion(set, r));
  out.seg_read_seconds = std::chrono::duration<double>(Clock::now() - read_start).count();
  if (set.refusal != region::Refusal::kNone || static_cast<int64_t>(regions.size()) != o.segments) {
    throw Error(ErrorCode::kInternal, "bench region: the SEG gave " + std::to_string(regions.size()) + " region(s) for " +
                                          std::to_string(o.segments) + " segments (" + set.error + ")");
  }
  for (const worker::JobRegion& r : regions) {
    if (!r.refusal.empty()) throw Error(ErrorCode::kInternal, "bench region: segment refused: " + r.refusal);
  }

  const config::CuriaSettings settings = Settings(model_dir, o.batch);
  auto model = nn::TorchModel::Load(settings);
  auto plain = [&](const std::string& id) {
    return pool::JobRequest{id, pool::Priority::kRoutine, volume, {"plain"}, false, {}};
  };
  auto with_regions = [&](const std::string& id) {
    return pool::JobRequest{id, pool::Priority::kRoutine, volume, {"region"}, false, regions};  // regions copied
  };
  RunJob(*model, settings.model, plain("warm-up"));  // allocator, threads, caches
  std::vector<double> plain_times, region_times;
  for (int64_t r = 0; r < o.rounds; ++r) {
    // A then B, then B then A: a drift of the machine's speed hits both.
    for (int k = 0; k < 2; ++k) {
      const bool region_first = r % 2 == 1;
      if ((k == 0) != region_first) {
        const JobRun run = RunJob(*model, settings.model, plain("plain-" + std::to_string(r)));
        plain_times.push_back(run.seconds);
        out.plain_backbone_slices = run.backbone_slices;
      } else {
        const JobRun run = RunJob(*model, settings.model, with_regions("region-" + std::to_string(r)));
        region_times.push_back(run.seconds);
        out.region_backbone_slices = run.backbone_slices;
        out.region_findings = static_cast<int64_t>(run.findings.findings.size());
      }
    }
    out.ratios.push_back(plain_times.back() / region_times.back());
  }
  if (out.region_findings != o.segments) {
    throw Error(ErrorCode::kInternal, "bench region: the region job gave " + std::to_string(out.region_findings) +
                                          " findings for " + std::to_string(o.segments) + " segments");
  }
  const double slices = static_cast<double>(out.slices);
  out.plain_rate = slices / Median(plain_times);
  out.region_rate = slices / Median(region_times);
  out.ratio = Median(out.ratios);
  return out;
}

config::Json RegionResultJson(const RegionBenchOptions& o, const RegionBenchResult& r) {
  config::Json j(::Json::objectValue);
  j["model"] = r.model;
  j["batch"] = o.batch;
  j["image_size"] = o.image;
  j["slices"] = r.slices;
  j["segments"] = r.segments;
  j["rounds"] = o.rounds;
  j["plain_slices_per_second"] = r.plain_rate;
  j["region_slices_per_second"] = r.region_rate;
  j["plain_backbone_slices"] = r.plain_backbone_slices;
  j["region_backbone_slices"] = r.region_backbone_slices;
  j["region_findings"] = r.region_findings;
  j["seg_read_seconds"] = r.seg_read_seconds;
  config::Json rounds(::Json::arrayValue);
  for (double v : r.ratios) rounds.append(v);
  j["region_ratios"] = std::move(rounds);
  j["region_ratio"] = r.ratio;
  return j;
}

int BenchRegion(const Args& args) {
  ArgParser p("curia bench region",
              "The cost of region tasks: a phantom series and a SEG of --segments segments that each cover\n"
              "every slice (DCMTK writers, read back as `curia run` and the node read them); in alternated\n"
              "rounds, a job running the demo mask-prompted head on every segment and a plain job running\n"
              "the demo 2-D head, each alone through the worker pool, on the same series:\n"
              "  region_ratio = slices/s of the region job / slices/s of the plain job (median over rounds)\n"
              "The backbone runs once per slice whatever the number of segments: target >= 0.9.");
  p.Option("--size", "SIZE", "demo model: tiny or base (Curia-B shapes)", false, "base")
      .Option("--slices", "N", "slices of the series", false, "8")
      .Option("--image", "N", "slice size (pixels; resized to the model's 512)", false, "512")
      .Option("--segments", "N", "segments of the SEG (each on every slice)", false, "10")
      .Option("--batch", "N", "MaxBatch of the pool", false, "4")
      .Option("--rounds", "N", "rounds of (plain, region) jobs, order alternated", false, "3")
      .Option("--threads", "N", "intra-op CPU threads (0 = one per core)", false, "0")
      .Option("--json", "FILE", "also write the figures as JSON");
  if (!p.Parse(args)) return 0;
  RegionBenchOptions o;
  o.size = p.Get("--size");
  model::ParseDemoSize(o.size);
  o.slices = p.GetInt("--slices", 1, 10000);
  o.image = p.GetInt("--image", 16, 4096);
  o.segments = p.GetInt("--segments", 1, 200);
  o.batch = p.GetInt("--batch", 1, 1024);
  o.rounds = p.GetInt("--rounds", 1, 100);
  int threads = static_cast<int>(p.GetInt("--threads", 0, 1024));
  if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  nn::SetIntraOpThreads(threads);
  ScratchDir dir("curia-bench-region");
  const RegionBenchResult r = MeasureRegionRatio(o, dir.path());
  std::string ratio_list;
  for (double v : r.ratios) ratio_list += (ratio_list.empty() ? "" : ", ") + Fixed(v, 3);
  std::cout << "Curia region benchmark (curia " CURIA_VERSION_STRING ")\n"
            << "  model       " << r.model << ", cpu fp32, " << threads << " threads, batches of " << o.batch << "\n"
            << "  series      " << r.slices << " phantom slices of " << o.image << "x" << o.image << "; SEG of "
            << r.segments << " segments, each on every slice (read in " << Fixed(r.seg_read_seconds, 2) << " s)\n"
            << "  plain job   demo 2-D head: " << Fixed(r.plain_rate, 3) << " slices/s (median of " << o.rounds
            << "), backbone passes " << r.plain_backbone_slices << "\n"
            << "  region job  demo mask head on " << r.segments << " segments: " << Fixed(r.region_rate, 3)
            << " slices/s (median), backbone passes " << r.region_backbone_slices << ", " << r.region_findings
            << " findings\n"
            << "  ratio       region / plain slices/s = " << Fixed(r.ratio, 3) << " (rounds: " << ratio_list
            << ")   [region_ratio]\n";
  if (p.Has("--json")) {
    config::Json j = RegionResultJson(o, r);
    j["benchmark"] = "region";
    j["curia_version"] = CURIA_VERSION_STRING;
    j["threads"] = threads;
    WriteJsonFile(p.Get("--json"), j);
  }
  return 0;
}

}  // namespace curia::cli
