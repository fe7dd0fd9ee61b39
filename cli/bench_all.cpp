// SPDX-License-Identifier: GPL-3.0-or-later
// curia bench all: every figure of design.md section 5 that this machine can measure, in one run.
// The model figures (backbone_gemm_ratio, throughput by batch size) are measured here, in process;
// the plugin figures (e2e_ratio, ingest_ratio, latency_overhead_s, rss_ratio, pg_e2e_ratio and the
// queue's claims/s) by bench/plugin_bench.py, which starts real Orthanc processes with the plugin
// through the integration-test harness. This command runs the script, merges its JSON and prints one table.
#include "bench_all.h"

#include <malloc.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>
#include <tuple>
#include <vector>

#include "bench_util.h"
#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/model/demo_model.h"
#include "backbone_bench.h"
#include "curia/nn/backbone.h"
#include "curia/nn/device.h"
#include "gpu_check.h"
#include "plugin_path.h"
#include "scratch_dir.h"
#include "train_bench.h"
#include "version.h"

#ifdef CURIA_WITH_POOL
#include "host_bench.h"
#include "region_bench.h"
#endif

#ifndef CURIA_SOURCE_DIR
#define CURIA_SOURCE_DIR "."
#endif

namespace curia::cli {
namespace {

namespace fs = std::filesystem;

std::string Pad(const std::string& s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ') + " ";
}

fs::path SelfPath() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error(ErrorCode::kUnavailable, "cannot find this tool's path (/proc/self/exe): " + ec.message());
  return exe;
}

std::vector<int64_t> ParseBatches(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 4096) {
      throw UsageError("--sweep-batches: '" + item + "' is not a batch size (1 to 4096)");
    }
    out.push_back(v);
  }
  if (out.empty()) throw UsageError("--sweep-batches needs at least one batch size");
  return out;
}

std::vector<std::string> SplitWords(const std::string& text) {
  std::vector<std::string> words;
  std::stringstream in(text);
  std::string w;
  while (in >> w) words.push_back(w);
  return words;
}

std::string Today() {
  const std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::localtime(&now));
  return buf;
}

// Runs argv[0] with argv (TCP_NODELAY=1 in its environment); its output goes to ours. Exit status.
int RunChild(const std::vector<std::string>& argv) {
  std::cout << "$";
  for (const std::string& a : argv) std::cout << " " << a;
  std::cout << "\n" << std::flush;
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw Error(ErrorCode::kUnavailable, std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    setenv("TCP_NODELAY", "1", 1);
    execv(cargv[0], cargv.data());
    std::fprintf(stderr, "curia bench all: cannot run %s: %s\n", cargv[0], std::strerror(errno));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw Error(ErrorCode::kUnavailable, std::string("waitpid: ") + std::strerror(errno));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

const config::Json* Path(const config::Json& j, std::initializer_list<const char*> keys) {
  const config::Json* at = &j;
  for (const char* k : keys) {
    if (!at->isObject()) return nullptr;
    at = config::Find(*at, k);
    if (!at) return nullptr;
  }
  return at;
}

double Number(const config::Json& j, std::initializer_list<const char*> keys) {
  const config::Json* v = Path(j, keys);
  return v && v->isNumeric() ? v->asDouble() : std::nan("");
}

std::string Text(const config::Json& j, std::initializer_list<const char*> keys) {
  const config::Json* v = Path(j, keys);
  return v && v->isString() ? v->asString() : "";
}

struct Row {
  std::string figure, key, value, target, result, setup;
};

// "median of N alternated rounds (spread min-max)" for a figure's per-round ratios (a JSON array);
// "" when there are none.
std::string RoundsText(const config::Json& j, std::initializer_list<const char*> keys,
                       const char* what = "alternated rounds") {
  const config::Json* v = Path(j, keys);
  if (!v || !v->isArray() || v->empty()) return "";
  std::vector<double> values;
  for (const config::Json& x : *v) {
    if (!x.isNumeric()) return "";
    values.push_back(x.asDouble());
  }
  return "median of " + std::to_string(values.size()) + " " + what + " (spread " + Spread(values) + ")";
}

// "met" / "MISSED" for a measured value against a bound; "not run" for a missing one.
std::string Verdict(double v, double bound, bool at_least) {
  if (!std::isfinite(v)) return "not run";
  return (at_least ? v >= bound : v <= bound) ? "met" : "MISSED";
}

}  // namespace

int BenchAll(const Args& args) {
  const std::string default_script = std::string(CURIA_SOURCE_DIR) + "/bench/plugin_bench.py";
  ArgParser p("curia bench all",
              "The benchmark table of design.md section 5, every figure a ratio (or a difference) of two\n"
              "quantities measured in this one run (CPU, fp32, one intra-op thread per core):\n"
              "  1 backbone_gemm_ratio  backbone FLOP rate / plain matrix product of its dominant shape\n"
              "                         (Curia-B-shaped demo model, 512x512, batch 1; as `curia bench model`)\n"
              "  2 e2e_ratio            slices/s through a running node (Orthanc + plugin + a PACS Orthanc on\n"
              "                         loopback, studies queued, first job queued to last SR accepted by the\n"
              "                         PACS; the same from the first C-STORE reported beside it)\n"
              "                         / raw backbone slices/s of the same model, image size and batch\n"
              "                         (3 rounds of 3 studies x 10 slices, each between two raw backbone runs,\n"
              "                         median and spread)\n"
              "  3 ingest_ratio         C-STORE time of a 300-instance study into Orthanc with the plugin /\n"
              "                         without it (same configuration; 9 alternated pairs, median, spread)\n"
              "  4 latency_overhead_s   StableStudy -> SR accepted by the PACS, minus the job's model compute\n"
              "  5 rss_ratio            peak RSS (VmHWM) of the node's Orthanc for a 1,000-slice study /\n"
              "                         a 100-slice study (separate processes, same configuration)\n"
              "  6 throughput against batch size (rounds over the batches, median), drawn as a PNG (--plot)\n"
              "  7 region_ratio         slices/s of a job running a mask-prompted head on the 10 segments of a\n"
              "                         SEG / slices/s of a plain 2-D job on the same series (alternated\n"
              "                         rounds; as `curia bench region`, Curia-B shapes, 8 slices of 512x512)\n"
              "  8 host_slices_per_second  the pool's host path for uncompressed 512x512 CT, one thread, the\n"
              "                         slower of the memory and file paths (as `curia bench host`)\n"
              "  9 pg_e2e_ratio         slices/s of the e2e node with its job store in PostgreSQL (the script's own\n"
              "                         PostgreSQL 15 on loopback) / with its store in SQLite: two nodes, rounds\n"
              "                         alternated, median; and job claims/s of `curia bench queue` with 8\n"
              "                         claimers on each store (reported, no target). Skipped without PostgreSQL 15\n"
              " 10 train_ratio          time of a 5-fold cross-validated logistic head (1,000 x 768, 7 values of C,\n"
              "                         then the refit) with our trainer / scikit-learn's GridSearchCV on the same\n"
              "                         data, 5 alternated rounds, median ratio (as `curia bench train`)\n"
              "Every figure measured in rounds is the median of the rounds' ratios, printed with their spread.\n"
              "Parts 1, 6, 7, 8 and 10 run here; parts 2-5, 9 and the PNG are bench/plugin_bench.py, run with --python\n"
              "(the script is found in the source tree this tool was built from: " +
                  default_script +
                  ";\n"
                  "--script names another). It needs Orthanc, DCMTK's storescu and the built plugin\n"
                  "(--plugin) and, for part 9, PostgreSQL 15. About 12 minutes on 2 cores. Prints the table;\n"
                  "--json writes every figure.");
  p.Option("--json", "FILE", "also write every figure (and the script's details) as JSON")
      .Option("--plot", "FILE", "write the throughput-by-batch PNG here (default: beside --json, else none)")
      .Option("--iterations", "N", "timed passes for backbone_gemm_ratio (median)", false, "3")
      .Option("--sweep-size", "SIZE", "demo model of the batch sweep: tiny or base (Curia-B)", false, "base")
      .Option("--sweep-image", "N", "image size of the batch sweep", false, "224")
      .Option("--sweep-batches", "LIST", "comma-separated batch sizes of the sweep", false, "1,2,4,8")
      .Option("--sweep-rounds", "N", "rounds over the batch sizes (median per batch)", false, "3")
      .Option("--region-slices", "N", "slices of the region_ratio series (0: skip part 7)", false, "8")
      .Option("--region-rounds", "N", "rounds of (plain, region) jobs for region_ratio", false, "5")
      .Option("--host-slices", "N", "slices of the host path's CT series (0: skip part 8)", false, "24")
      .Option("--train-cases", "N", "cases of train_ratio's problem (0: skip part 10)", false, "1000")
      .Option("--script", "FILE", "the plugin benchmark script", false, default_script)
      .Option("--python", "EXE", "the python that runs it (needs pydicom)", false, "/usr/bin/python3")
      .Option("--plugin", "FILE", "libOrthancCuriaNode.so (default: the build tree's, else the installed one)")
      .Option("--script-args", "ARGS", "more options for the script, space-separated, e.g. \"--e2e-studies 8\"\n"
                                       "                          (python3 bench/plugin_bench.py --help lists them)")
      .Flag("--no-plugin", "run only the model parts (1, 6) and the plot: no Orthanc");
  if (!p.Parse(args)) return 0;
  const int iterations = static_cast<int>(p.GetInt("--iterations", 1, 1000));
  const int64_t sweep_image = p.GetInt("--sweep-image", 16, 8192);
  const std::vector<int64_t> batches = ParseBatches(p.Get("--sweep-batches"));
  const int rounds = static_cast<int>(p.GetInt("--sweep-rounds", 1, 100));
  const std::string sweep_size = p.Get("--sweep-size");
  const model::DemoSize sweep_demo = model::ParseDemoSize(sweep_size);
  const bool with_plugin = !p.IsSet("--no-plugin");
  const int64_t region_slices = p.GetInt("--region-slices", 0, 10000);
  const int64_t region_rounds = p.GetInt("--region-rounds", 1, 100);
  const int64_t host_slices = p.GetInt("--host-slices", 0, 10000);
  const int64_t train_cases = p.GetInt("--train-cases", 0, 1000000);
#ifndef CURIA_WITH_POOL
  (void)region_slices;  // parts 7 and 8 need the pool: not in a model-only build
  (void)region_rounds;
  (void)host_slices;
#endif
  const fs::path exe = SelfPath();
  const std::string plugin = p.Has("--plugin") ? fs::absolute(p.Get("--plugin")).string() : FindPlugin().path;
  std::string plot = p.Has("--plot") ? p.Get("--plot") : "";
  if (plot.empty() && p.Has("--json")) plot = fs::path(p.Get("--json")).replace_extension("").string() + "-batch.png";
  const std::string script = p.Get("--script");
  if ((with_plugin || !plot.empty()) && !fs::exists(script)) {
    throw Error(ErrorCode::kNotFound, "the benchmark script " + script + " does not exist (pass --script)");
  }
  if (with_plugin && !fs::exists(plugin)) {
    throw Error(ErrorCode::kNotFound, "the plugin " + plugin + " does not exist: build it, pass --plugin, or "
                                      "--no-plugin for the model parts alone");
  }
  const auto started = std::chrono::steady_clock::now();
  const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  nn::SetIntraOpThreads(threads);
  const nn::BackboneOptions runtime;  // cpu, fp32: what the node runs with its default settings
  const std::string runtime_text = "cpu, fp32, " + std::to_string(threads) + " threads, BLAS: " +
                                   nn::DetectBlas().library + ", LibTorch " + nn::TorchVersion();
  std::cout << "Curia benchmark table (curia " CURIA_VERSION_STRING ", " << Today() << ")\n"
            << "  runtime  " << runtime_text << "\n\n"
            << std::flush;

  ScratchDir scratch("curia-bench-all");
  // 1. backbone_gemm_ratio: Curia-B shapes at 512x512, batch 1.
  std::cout << "[1/8] backbone / matrix product: Curia-B-shaped demo model, 512x512, batch 1, " << iterations
            << " timed passes\n"
            << std::flush;
  const std::string base_dir = scratch.path() + "/base";
  model::WriteDemoModel(base_dir, model::DemoSize::kBase, 0);
  auto base = nn::Dinov2Backbone::Load(base_dir, runtime);
  const BackboneBenchResult model_r = BenchBackbone(*base, 1, 512, 512, iterations);
  std::cout << "      backbone " << Fixed(model_r.images_per_second, 3) << " slices/s, "
            << Fixed(model_r.backbone_flops_per_second / 1e9, 1) << " GFLOP/s; matmul " << model_r.gemm.m << "x"
            << model_r.gemm.k << "x" << model_r.gemm.n << " " << Fixed(model_r.gemm_flops_per_second / 1e9, 1)
            << " GFLOP/s; ratio " << Fixed(model_r.ratio, 3) << "\n"
            << std::flush;

  // 6. Throughput against batch size: rounds over the batch sizes so that every batch sees the same
  // machine, one timed pass per batch and round, the median per batch.
  std::unique_ptr<nn::Dinov2Backbone> sweep_model;
  if (sweep_demo != model::DemoSize::kBase) {
    base.reset();
    ::malloc_trim(0);
    const std::string dir = scratch.path() + "/sweep";
    model::WriteDemoModel(dir, sweep_demo, 0);
    sweep_model = nn::Dinov2Backbone::Load(dir, runtime);
  }
  const nn::Dinov2Backbone& sweep_backbone = sweep_model ? *sweep_model : *base;
  const std::string sweep_name =
      "DEMO " + sweep_size + (sweep_demo == model::DemoSize::kBase ? " (Curia-B shapes)" : " (tiny shapes)");
  std::cout << "[6/8] throughput against batch size: " << sweep_name << ", " << sweep_image << "x" << sweep_image
            << ", batches " << p.Get("--sweep-batches") << ", " << rounds << " rounds\n"
            << std::flush;
  std::map<int64_t, std::vector<double>> rates, sweep_ratios;
  for (int r = 0; r < rounds; ++r) {
    for (int64_t b : batches) {
      const BackboneBenchResult x = BenchBackbone(sweep_backbone, b, sweep_image, sweep_image, 1);
      rates[b].push_back(x.images_per_second);
      sweep_ratios[b].push_back(x.ratio);
    }
  }
  config::Json sweep_rows(::Json::arrayValue);
  std::string sweep_text;
  for (int64_t b : batches) {
    config::Json row(::Json::objectValue);
    row["batch"] = b;
    row["slices_per_second"] = Median(rates[b]);
    row["backbone_gemm_ratio"] = Median(sweep_ratios[b]);
    config::Json all(::Json::arrayValue);
    for (double v : rates[b]) all.append(v);
    row["rounds"] = std::move(all);
    sweep_rows.append(std::move(row));
    sweep_text += (sweep_text.empty() ? "" : ", ") + std::to_string(b) + ": " + Fixed(Median(rates[b]), 2);
    std::cout << "      batch " << b << ": " << Fixed(Median(rates[b]), 3) << " slices/s (median of " << rounds
              << "), ratio to matmul " << Fixed(Median(sweep_ratios[b]), 3) << "\n";
  }
  std::cout << std::flush;
  config::Json sweep(::Json::objectValue);
  sweep["model"] = sweep_name;
  sweep["image_size"] = sweep_image;
  sweep["title"] = sweep_size + " " + std::to_string(sweep_image) + "x" + std::to_string(sweep_image) + ", cpu fp32, " +
                   std::to_string(threads) + " threads";
  sweep["rows"] = std::move(sweep_rows);
  const std::string sweep_path = scratch.path() + "/sweep.json";
  {
    std::ofstream out(sweep_path);
    out << config::Dump(sweep) << "\n";
  }
  base.reset();
  sweep_model.reset();
  ::malloc_trim(0);

  // 7. region_ratio: a 10-segment SEG job against a plain job on the same series.
  double region_ratio = std::nan("");
  config::Json region_json(::Json::objectValue);
  std::string region_setup, region_error;
#ifdef CURIA_WITH_POOL
  if (region_slices > 0) {
    std::cout << "[7/8] region tasks: DEMO base (Curia-B shapes), " << region_slices
              << " slices of 512x512, a SEG of 10 segments, " << region_rounds << " rounds\n"
              << std::flush;
    RegionBenchOptions ro;
    ro.slices = region_slices;
    ro.rounds = region_rounds;
    region_error = ErrorMessageOf([&] {
      const RegionBenchResult rr = MeasureRegionRatio(ro, scratch.path() + "/region");
      region_ratio = rr.ratio;
      region_json = RegionResultJson(ro, rr);
      region_setup = rr.model + ", " + std::to_string(rr.slices) + " slices 512x512, " + std::to_string(rr.segments) +
                     " segments, batch " + std::to_string(ro.batch) + "; " + RoundsText(region_json, {"region_ratios"}) +
                     "; " + Fixed(rr.region_rate, 3) + " / " + Fixed(rr.plain_rate, 3) + " slices/s";
      std::cout << "      plain " << Fixed(rr.plain_rate, 3) << " slices/s, region " << Fixed(rr.region_rate, 3)
                << " slices/s; ratio " << Fixed(rr.ratio, 3) << "\n"
                << std::flush;
    });
    if (!region_error.empty()) std::cout << "      not measured: " << region_error << "\n" << std::flush;
    ::malloc_trim(0);
  }
#else
  region_error = "a model-only build has no worker pool";
#endif

  // 8. The host path (issue 19): `curia bench host` on the uncompressed CT series, one thread.
  double host_rate = std::nan("");
  config::Json host_json(::Json::objectValue);
  std::string host_error;
#ifdef CURIA_WITH_POOL
  if (host_slices > 0) {
    std::cout << "[8/8] host path: uncompressed CT 512x512, " << host_slices << " slices, one thread\n" << std::flush;
    const std::string host_file = scratch.path() + "/host.json";
    host_error = ErrorMessageOf([&] {
      BenchHost({"--series", "ct-uncompressed", "--threads", "1", "--slices", std::to_string(host_slices), "--json",
                 host_file});
      std::ifstream in(host_file);
      std::stringstream text;
      text << in.rdbuf();
      host_json = config::ParseJson(text.str(), host_file, config::JsonDialect::kStrict);
      host_rate = Number(host_json, {"host_slices_per_second"});
    });
    if (!host_error.empty()) std::cout << "      not measured: " << host_error << "\n" << std::flush;
  }
#else
  host_error = "a model-only build has no DICOM loader";
#endif
  // 10. Training time against scikit-learn (issue 18): `curia bench train`.
  double train_ratio = std::nan("");
  config::Json train_json(::Json::objectValue);
  std::string train_error, train_setup;
  if (train_cases > 0) {
    std::cout << "[10] training time: " << train_cases << " x 768, 5-fold, 7 values of C, ours against scikit-learn\n"
              << std::flush;
    const std::string train_file = scratch.path() + "/train.json";
    train_error = ErrorMessageOf([&] {
      BenchTrain({"--cases", std::to_string(train_cases), "--python", p.Get("--python"), "--json", train_file});
      std::ifstream in(train_file);
      std::stringstream text;
      text << in.rdbuf();
      train_json = config::ParseJson(text.str(), train_file, config::JsonDialect::kStrict);
      train_ratio = Number(train_json, {"train_ratio"});
      if (!std::isfinite(train_ratio)) return;
      train_setup = std::to_string(train_cases) + " x 768, 5 folds x 7 C + refit, tol 1e-4, max_iter 1000, ftol 2.2e-9; " +
                    RoundsText(train_json, {"ratios"}) + "; " + Fixed(Number(train_json, {"ours_seconds"}), 2) + " / " +
                    Fixed(Number(train_json, {"sklearn_seconds"}), 2) + " s";
    });
    if (train_json.isMember("skipped")) train_error = "skipped: " + train_json["skipped"].asString();
    if (!train_error.empty()) std::cout << "      not measured: " << train_error << "\n" << std::flush;
  }
  // The node and the raw backbones of the script get the memory back (malloc_trim above).

  // 2-5 (and the PNG): the script.
  config::Json plugin_json(::Json::objectValue);
  std::string script_error;
  if (with_plugin || !plot.empty()) {
    std::cout << "[2-5, 9] the plugin on loopback (bench/plugin_bench.py)\n" << std::flush;
    const std::string out_path = scratch.path() + "/plugin.json";
    std::vector<std::string> argv = {p.Get("--python"), script, "--curia", exe.string(), "--json", out_path};
    if (with_plugin) argv.insert(argv.end(), {"--plugin", plugin});
    if (!plot.empty()) argv.insert(argv.end(), {"--sweep", sweep_path, "--plot", plot});
    if (!with_plugin) argv.insert(argv.end(), {"--parts", "plot"});
    for (const std::string& w : SplitWords(p.Get("--script-args"))) argv.push_back(w);
    const int status = RunChild(argv);
    if (status != 0) {
      script_error = "bench/plugin_bench.py failed (exit status " + std::to_string(status) + ")";
    } else {
      std::ifstream in(out_path);
      std::stringstream text;
      text << in.rdbuf();
      plugin_json = config::ParseJson(text.str(), out_path);
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  // The table.
  const double e2e = Number(plugin_json, {"e2e_ratio"}), ingest = Number(plugin_json, {"ingest_ratio"});
  const double latency = Number(plugin_json, {"latency_overhead_s"}), rss = Number(plugin_json, {"rss_ratio"});
  const double pg_e2e = Number(plugin_json, {"pg_e2e_ratio"});
  const double pg_claims = Number(plugin_json, {"pg_claims_per_second"});
  const double sqlite_claims = Number(plugin_json, {"sqlite_claims_per_second"});
  const std::string pg_skipped = Text(plugin_json, {"pg", "skipped"});
  auto value = [](double v, int digits) { return std::isfinite(v) ? Fixed(v, digits) : std::string("-"); };
  std::vector<Row> rows;
  rows.push_back({"backbone FLOP rate / matmul FLOP rate", "backbone_gemm_ratio", Fixed(model_r.ratio, 3), ">= 0.7",
                  Verdict(model_r.ratio, 0.7, true),
                  "DEMO base (Curia-B shapes), 512x512, batch 1; " + Fixed(model_r.backbone_flops_per_second / 1e9, 1) +
                      " / " + Fixed(model_r.gemm_flops_per_second / 1e9, 1) + " GFLOP/s"});
  rows.push_back({"plugin slices/s / raw backbone slices/s", "e2e_ratio", value(e2e, 3), ">= 0.90", Verdict(e2e, 0.9, true),
                  std::isfinite(e2e)
                      ? Text(plugin_json, {"e2e", "model"}) + ", " +
                            std::to_string(static_cast<int64_t>(Number(plugin_json, {"e2e", "image_size"}))) + "x" +
                            std::to_string(static_cast<int64_t>(Number(plugin_json, {"e2e", "image_size"}))) +
                            ", batch " + std::to_string(static_cast<int64_t>(Number(plugin_json, {"e2e", "batch"}))) +
                            "; " + RoundsText(plugin_json, {"e2e", "ratios"}, "bracketed rounds") + " of " +
                            std::to_string(static_cast<int64_t>(Number(plugin_json, {"e2e", "studies"}))) +
                            " studies x " +
                            std::to_string(static_cast<int64_t>(Number(plugin_json, {"e2e", "slices_per_study"}))) +
                            " slices; " + Fixed(Number(plugin_json, {"e2e", "plugin_slices_per_second"}), 3) + " / " +
                            Fixed(Number(plugin_json, {"e2e", "raw_slices_per_second"}), 3) +
                            " slices/s; from the first C-STORE (a fill of " +
                            Fixed(Number(plugin_json, {"e2e", "fill_seconds"}), 1) + " s included) " +
                            Fixed(Number(plugin_json, {"e2e", "e2e_ratio_from_first_cstore"}), 3)
                      : ""});
  rows.push_back({"C-STORE time with plugin / without", "ingest_ratio", value(ingest, 3), "<= 1.05",
                  Verdict(ingest, 1.05, false),
                  std::isfinite(ingest)
                      ? std::to_string(static_cast<int64_t>(Number(plugin_json, {"ingest", "instances"}))) +
                            " instances, " + RoundsText(plugin_json, {"ingest", "ratios"}, "alternated pairs") + "; " +
                            Fixed(Number(plugin_json, {"ingest", "with_plugin_median_s"}), 2) +
                            " / " + Fixed(Number(plugin_json, {"ingest", "without_plugin_median_s"}), 2) + " s"
                      : ""});
  rows.push_back({"stable -> SR at PACS, minus model compute", "latency_overhead_s", value(latency, 3), "<= 1 s",
                  Verdict(latency, 1.0, false),
                  std::isfinite(latency)
                      ? Text(plugin_json, {"latency", "model"}) + ", median; stable -> SR " +
                            Fixed(Number(plugin_json, {"latency", "stable_to_sr_median_s"}), 3) + " s, compute " +
                            Fixed(Number(plugin_json, {"latency", "device_median_s"}), 3) + " s"
                      : ""});
  rows.push_back({"peak RSS 1,000-slice / 100-slice study", "rss_ratio", value(rss, 3), "<= 1.2", Verdict(rss, 1.2, false),
                  std::isfinite(rss)
                      ? Text(plugin_json, {"rss", "model"}) + "; " +
                            Fixed(Number(plugin_json, {"rss", "large", "peak_rss_kib"}) / 1024, 1) + " / " +
                            Fixed(Number(plugin_json, {"rss", "small", "peak_rss_kib"}) / 1024, 1) + " MiB"
                      : ""});
  auto count = [&](std::initializer_list<const char*> keys) {
    const double v = Number(plugin_json, keys);
    return std::isfinite(v) ? std::to_string(static_cast<int64_t>(v)) : std::string("?");
  };
  rows.push_back({"e2e slices/s, store PostgreSQL / SQLite", "pg_e2e_ratio", value(pg_e2e, 3), ">= 0.95",
                  Verdict(pg_e2e, 0.95, true),
                  std::isfinite(pg_e2e)
                      ? Text(plugin_json, {"pg", "model"}) + ", " + count({"pg", "studies"}) + " studies x " +
                            count({"pg", "slices_per_study"}) + " slices, " + RoundsText(plugin_json, {"pg", "ratios"})
                      : pg_skipped});
  for (const auto& [label, key, v] :
       {std::make_tuple("job claims/s of the queue, PostgreSQL", "pg_claims_per_second", pg_claims),
        std::make_tuple("job claims/s of the queue, SQLite", "sqlite_claims_per_second", sqlite_claims)}) {
    rows.push_back({label, key, value(v, 0), "-", std::isfinite(v) ? "report" : "not run",
                    std::isfinite(v) ? "curia bench queue --claimers " + count({"pg", "queue_claimers"}) + ", " +
                                           count({"pg", "queue_jobs"}) + " jobs, claim + complete"
                                     : pg_skipped});
  }
  rows.push_back({"region job slices/s / plain job slices/s", "region_ratio", value(region_ratio, 3), ">= 0.9",
                  Verdict(region_ratio, 0.9, true), region_setup.empty() ? region_error : region_setup});
  rows.push_back({"host path slices/s per thread, CT 512", "host_slices_per_second", value(host_rate, 1),
                  ">= 500", Verdict(host_rate, 500, true),
                  host_error.empty() ? std::to_string(host_slices) + " slices, one thread, slower of memory and file" : host_error});
  rows.push_back({"training time ours / scikit-learn's", "train_ratio", value(train_ratio, 3), "<= 1.0",
                  Verdict(train_ratio, 1.0, false), train_setup.empty() ? train_error : train_setup});
  rows.push_back({"backbone slices/s by batch size", "batch_sweep", sweep_text, "-", "-",
                  sweep_name + ", " + std::to_string(sweep_image) + "x" + std::to_string(sweep_image) +
                      (plot.empty() ? "" : "; plot " + plot)});

  std::cout << "\nCuria benchmark table (curia " CURIA_VERSION_STRING ", " << runtime_text << ", " << Fixed(seconds, 0)
            << " s)\n"
            << "  " << Pad("figure", 42) << Pad("[key]", 25) << Pad("value", 8) << Pad("target", 8) << Pad("result", 8)
            << "measured on\n";
  for (const Row& r : rows) {
    if (r.key == "batch_sweep") {
      std::cout << "  " << Pad(r.figure, 42) << Pad("", 25) << r.value << "\n"
                << "  " << Pad("", 42) << Pad("", 25) << Pad("", 8) << Pad("", 8) << Pad("", 8) << r.setup << "\n";
      continue;
    }
    std::cout << "  " << Pad(r.figure, 42) << Pad("[" + r.key + "]", 25) << Pad(r.value, 8) << Pad(r.target, 8)
              << Pad(r.result, 8) << r.setup << "\n";
  }
  if (!with_plugin) std::cout << "  (--no-plugin: parts 2-5 and 9 not run)\n";
  if (!script_error.empty()) std::cout << "  " << script_error << ": parts 2-5 and 9 not measured\n";

  if (p.Has("--json")) {
    config::Json j(::Json::objectValue);
    j["benchmark"] = "all";
    j["curia_version"] = CURIA_VERSION_STRING;
    j["runtime"] = runtime_text;
    j["seconds"] = seconds;
    j["backbone_gemm_ratio"] = model_r.ratio;
    auto put = [&](const char* key, double v) { j[key] = std::isfinite(v) ? config::Json(v) : config::Json(); };
    put("e2e_ratio", e2e);
    put("ingest_ratio", ingest);
    put("latency_overhead_s", latency);
    put("rss_ratio", rss);
    put("pg_e2e_ratio", pg_e2e);
    put("pg_claims_per_second", pg_claims);
    put("sqlite_claims_per_second", sqlite_claims);
    put("region_ratio", region_ratio);
    if (region_json.size() > 0) j["region"] = region_json;
    put("host_slices_per_second", host_rate);
    if (host_json.size() > 0) j["host"] = host_json;
    put("train_ratio", train_ratio);
    if (train_json.size() > 0) j["train"] = train_json;
    config::Json m(::Json::objectValue);
    m["model"] = "DEMO base (Curia-B shapes)";
    m["image_size"] = 512;
    m["batch"] = 1;
    m["iterations"] = model_r.iterations;
    m["slices_per_second"] = model_r.images_per_second;
    m["backbone_gflops"] = model_r.backbone_flops_per_second / 1e9;
    for (int64_t d : {model_r.gemm.m, model_r.gemm.k, model_r.gemm.n}) m["gemm_shape"].append(d);
    m["gemm_gflops"] = model_r.gemm_flops_per_second / 1e9;
    m["backbone_gemm_ratio"] = model_r.ratio;
    j["model"] = std::move(m);
    j["batch_sweep"] = sweep;
    if (!plot.empty() && script_error.empty()) j["plot"] = plot;
    j["plugin"] = plugin_json;
    if (!script_error.empty()) j["error"] = script_error;
    WriteJsonFile(p.Get("--json"), j);
  }
  return script_error.empty() ? 0 : 1;
}

}  // namespace curia::cli
