// SPDX-License-Identifier: GPL-3.0-or-later
// curia bench model: backbone throughput and its ratio to a plain matrix product, in one run.
// curia bench gpu: accuracy of every precision on a device against a float64 CPU reference, then
// throughput by batch size and precision with the same ratio.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "bench_all.h"
#include "commands.h"
#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/model/demo_model.h"
#include "backbone_bench.h"
#include "gpu_check.h"
#include "scratch_dir.h"
#include "train_bench.h"
#include "version.h"

#ifdef CURIA_WITH_STORAGE
#include "queue_bench.h"
#endif

#ifdef CURIA_WITH_POOL
#include <ATen/ATen.h>

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <regex>

#include "curia/model/preprocess.h"
#include "curia/nn/torch_model.h"
#include "curia/phantom/volume_source.h"
#include "curia/pool/pool.h"
#include "host_bench.h"
#include "region_bench.h"
#endif

namespace curia::cli {
namespace {

int BenchModel(const Args& args) {
  ArgParser p("curia bench model",
              "Times the backbone on random 1-channel images and, in the same run, a plain LibTorch\n"
              "matrix product of the backbone's dominant shape (the MLP input projection). Prints both\n"
              "FLOP rates and their ratio (backbone_gemm_ratio): efficiency against the machine's own limit.");
  p.Option("--size", "SIZE", "demo model shapes when --model is not given: tiny or base (Curia-B)", false, "base")
      .Option("--model", "DIR", "benchmark this model folder instead of a generated demo model")
      .Option("--batch", "N", "images per forward pass", false, "1")
      .Option("--image-size", "N", "input height and width (default: the model's image_size)")
      .Option("--iterations", "N", "timed forward passes (median reported)", false, "3")
      .Option("--json", "FILE", "also write the figures as JSON");
  AddRuntimeOptions(p);
  if (!p.Parse(args)) return 0;
  const nn::BackboneOptions runtime = RuntimeFromArgs(p);
  const int64_t batch = p.GetInt("--batch", 1, 4096);
  const int iterations = static_cast<int>(p.GetInt("--iterations", 1, 1000));

  std::unique_ptr<ScratchDir> scratch;
  std::string model_dir = p.Get("--model");
  std::string model_name = model_dir;
  if (model_dir.empty()) {
    scratch = std::make_unique<ScratchDir>("curia-bench");
    model_dir = scratch->path();
    model::WriteDemoModel(model_dir, model::ParseDemoSize(p.Get("--size")), 0);
    model_name = "DEMO " + p.Get("--size") + " (random weights, " +
                 (p.Get("--size") == "base" ? "Curia-B shapes)" : "tiny shapes)");
  }
  auto backbone = nn::Dinov2Backbone::Load(model_dir, runtime);
  const model::Dinov2Config& cfg = backbone->config();
  const int64_t image = p.Has("--image-size") ? p.GetInt("--image-size", cfg.patch_size, 8192) : cfg.image_size;
  const BackboneBenchResult r = BenchBackbone(*backbone, batch, image, image, iterations);
  const int64_t tokens = 1 + cfg.num_register_tokens + (image / cfg.patch_size) * (image / cfg.patch_size);

  std::cout << "Curia backbone benchmark (curia " CURIA_VERSION_STRING ")\n"
            << "  model       " << model_name << ", " << Fixed(backbone->num_parameters() / 1e6, 1)
            << " M parameters\n"
            << "  runtime     " << RuntimeSummary(runtime) << "\n"
            << "  input       batch " << batch << " x " << cfg.num_channels << " x " << image << " x " << image << " ("
            << tokens << " tokens), " << r.iterations << " timed passes\n"
            << "  backbone    " << Fixed(r.seconds_per_batch, 3) << " s/batch, " << Fixed(r.images_per_second, 2)
            << " slices/s, " << Fixed(r.backbone_flops_per_second / 1e9, 1) << " GFLOP/s ("
            << Fixed(r.flops_per_image / 1e12, 4) << " TFLOP/slice)\n"
            << "  matmul      " << r.gemm.m << "x" << r.gemm.k << "x" << r.gemm.n << ": " << Fixed(r.gemm_seconds, 4)
            << " s, " << Fixed(r.gemm_flops_per_second / 1e9, 1) << " GFLOP/s (best of " << r.gemm_runs
            << " runs between the passes; median " << Fixed(r.gemm_median_seconds, 4) << " s)\n"
            << "  ratio       backbone / matmul FLOP rate = " << Fixed(r.ratio, 3) << "   [backbone_gemm_ratio]\n";
  PrintTimeSplit(std::cout, r, model::BackboneFlopsByPart(cfg, image, image));

  if (p.Has("--json")) {
    config::Json j(::Json::objectValue);
    j["benchmark"] = "model";
    j["curia_version"] = CURIA_VERSION_STRING;
    j["model"] = model_name;
    j["runtime"] = RuntimeSummary(runtime);
    j["device"] = runtime.device.ToString();
    j["precision"] = nn::PrecisionName(runtime.precision);
    j["threads"] = nn::IntraOpThreads();
    j["batch"] = batch;
    j["image_size"] = image;
    j["tokens"] = tokens;
    j["seconds_per_batch"] = r.seconds_per_batch;
    j["slices_per_second"] = r.images_per_second;
    j["flops_per_slice"] = r.flops_per_image;
    j["backbone_gflops"] = r.backbone_flops_per_second / 1e9;
    for (int64_t d : {r.gemm.m, r.gemm.k, r.gemm.n}) j["gemm_shape"].append(d);
    j["gemm_gflops"] = r.gemm_flops_per_second / 1e9;
    j["gemm_median_gflops"] = r.gemm.Flops() / r.gemm_median_seconds / 1e9;
    j["gemm_runs"] = r.gemm_runs;
    j["backbone_gemm_ratio"] = r.ratio;
    const nn::ForwardTimes& t = r.split;
    config::Json split(::Json::objectValue);
    split["embed"] = t.embed;
    split["norms"] = t.norms;
    split["projections"] = t.projections;
    split["attention_products"] = t.attention_products;
    split["softmax"] = t.softmax;
    split["mlp"] = t.mlp;
    j["time_split_seconds"] = split;
    WriteJsonFile(p.Get("--json"), j);
  }
  return 0;
}

// The accuracy limits of `curia bench gpu`: worst relative error ||a-b||/||b|| of an image's
// last_hidden_state or pooler_output against the float64 reference. Unit roundoffs: fp32 6e-8,
// fp16 4.9e-4, bf16 3.9e-3. The half precisions keep the weights and the residual stream in 16
// bits, so errors build up over the layers: Curia-B shapes in bf16 on the CPU give 1.3e-2
// (last_hidden_state) and 2.6e-2 (pooler_output, a single token); the limits are about ten unit
// roundoffs, far below what a wrong kernel gives (order 1).
double AccuracyLimit(nn::Precision p) {
  switch (p) {
    case nn::Precision::kFp32: return 1e-5;
    case nn::Precision::kFp16: return 5e-3;
    case nn::Precision::kBf16: return 4e-2;
  }
  return 0;
}

std::vector<std::string> SplitList(const std::string& text, const std::string& option) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) throw UsageError(option + ": empty item in '" + text + "'");
    items.push_back(item);
  }
  if (items.empty()) throw UsageError(option + " needs at least one value");
  return items;
}

std::string Sci(double v) {
  if (!std::isfinite(v)) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", v);
  return buf;
}

std::string Pad(std::string s, size_t width, bool right = false) {
  if (s.size() >= width) return s + " ";
  const std::string fill(width - s.size(), ' ');
  return (right ? fill + s : s + fill) + " ";
}

config::Json Finite(double v) { return std::isfinite(v) ? config::Json(v) : config::Json(); }

int BenchGpu(const Args& args) {
  ArgParser p("curia bench gpu",
              "The GPU check of the model code. Computes a float64 reference of the backbone on the CPU\n"
              "(an independent, plain formulation of transformers' Dinov2Model) on a fixed random batch,\n"
              "runs the backbone on --device in every precision on the same batch and reports the worst\n"
              "relative error ||a-b||/||b|| of an image's last_hidden_state and pooler_output, and the\n"
              "largest absolute error, against a limit per precision (fp32 1e-5, fp16 5e-3, bf16 4e-2).\n"
              "Then times the backbone at each batch size and precision, with its FLOP rate and the ratio\n"
              "to a plain matrix product of the backbone's dominant shape at the same precision on the\n"
              "same device (as `curia bench model`), and host/dev: the time of a forward pass on pixels\n"
              "already on the device / the time of the worker's path from host memory (pinned staging,\n"
              "asynchronous copy on the worker's own stream) to the pooled features back on the host.\n"
              "A precision or batch the device cannot run is reported in its row. Exit status 1 when an\n"
              "accuracy is over its limit.");
  p.Option("--size", "SIZE", "demo model shapes when --model is not given: tiny or base (Curia-B)", false, "base")
      .Option("--model", "DIR", "check this model folder instead of a generated demo model")
      .Option("--device", "D", "cpu, cuda or cuda:N", false, "cuda:0")
      .Option("--precisions", "LIST", "comma-separated precisions to check and time", false, "fp32,fp16,bf16")
      .Option("--batches", "LIST", "comma-separated batch sizes to time", false, "1,8,32,64,128")
      .Option("--image-size", "N", "input height and width (default: the model's image_size)")
      .Option("--check-batch", "N", "images in the accuracy check", false, "2")
      .Option("--seed", "N", "seed of the check images", false, "0")
      .Option("--iterations", "N", "timed forward passes per row (median reported)", false, "5")
      .Option("--threads", "N", "intra-op CPU threads for the reference and CPU runs (0 = one per core)", false, "0")
      .Flag("--accuracy-only", "skip the throughput table")
      .Option("--json", "FILE", "also write every figure as JSON");
  if (!p.Parse(args)) return 0;
  const bool throughput = !p.IsSet("--accuracy-only");
  const nn::Device device = nn::ParseDevice(p.Get("--device"));
  std::vector<nn::Precision> precisions;
  for (const std::string& s : SplitList(p.Get("--precisions"), "--precisions")) {
    try {
      precisions.push_back(nn::ParsePrecision(s));
    } catch (const Error& e) {
      throw UsageError(std::string("--precisions: ") + e.what());
    }
  }
  std::vector<int64_t> batches;
  for (const std::string& s : SplitList(p.Get("--batches"), "--batches")) {
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (*end != '\0' || v < 1 || v > 65536) throw UsageError("--batches: '" + s + "' is not a batch size (1 to 65536)");
    batches.push_back(v);
  }
  const int64_t check_batch = p.GetInt("--check-batch", 1, 1024);
  const uint64_t seed = static_cast<uint64_t>(p.GetInt("--seed", 0, INT64_MAX));
  const int iterations = static_cast<int>(p.GetInt("--iterations", 1, 1000));
  int threads = static_cast<int>(p.GetInt("--threads", 0, 1024));
  if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  nn::SetIntraOpThreads(threads);
  nn::CheckDeviceAvailable(device);

  std::unique_ptr<ScratchDir> scratch;
  std::string model_dir = p.Get("--model");
  std::string model_name = model_dir;
  if (model_dir.empty()) {
    scratch = std::make_unique<ScratchDir>("curia-bench-gpu");
    model_dir = scratch->path();
    model::WriteDemoModel(model_dir, model::ParseDemoSize(p.Get("--size")), 0);
    model_name = "DEMO " + p.Get("--size") + " (random weights, " +
                 (p.Get("--size") == "base" ? "Curia-B shapes)" : "tiny shapes)");
  }
  const model::Dinov2Config cfg = model::LoadDinov2Config(model_dir + "/config.json");
  const int64_t image = p.Has("--image-size") ? p.GetInt("--image-size", cfg.patch_size, 8192) : cfg.image_size;
  const double flops_per_slice = model::BackboneFlopsPerImage(cfg, image, image);

  std::cout << "Curia GPU check (curia " CURIA_VERSION_STRING ")\n"
            << "  model       " << model_name << ": hidden " << cfg.hidden_size << ", " << cfg.num_hidden_layers
            << " layers, " << (cfg.use_swiglu_ffn ? "SwiGLU" : "GELU") << "\n"
            << "  device      " << device.ToString() << ", LibTorch " << nn::TorchVersion() << "; CPU: " << threads
            << " threads, BLAS: " << nn::DetectBlas().library << "\n"
            << "  input       " << image << "x" << image << " slices, " << Fixed(flops_per_slice / 1e12, 4)
            << " TFLOP/slice\n"
            << std::flush;
  auto reference = BackboneReference::Compute(model_dir, check_batch, image, image, seed);
  std::cout << "  reference   float64 on cpu, " << check_batch << (check_batch == 1 ? " image" : " images")
            << " of N(0,1) pixels (seed " << seed << "), " << reference->tokens() << " tokens, "
            << Fixed(reference->seconds(), 2) << " s\n\n"
            << "Accuracy against the float64 reference (relative: ||a-b||/||b||, worst image; absolute: max |a-b|)\n"
            << "  " << Pad("precision", 10) << Pad("last_hidden rel", 16) << Pad("abs", 9) << Pad("pooler rel", 11)
            << Pad("abs", 9) << Pad("limit", 8) << "result\n"
            << std::flush;

  config::Json accuracy_json(::Json::arrayValue);
  std::vector<std::string> failures;
  for (nn::Precision precision : precisions) {
    const char* name = nn::PrecisionName(precision);
    const double limit = AccuracyLimit(precision);
    AccuracyResult a;
    const std::string error = ErrorMessageOf([&] {
      auto backbone = nn::Dinov2Backbone::Load(model_dir, {device, precision});
      a = reference->Check(*backbone);
    });
    config::Json row(::Json::objectValue);
    row["precision"] = name;
    row["limit"] = limit;
    std::cout << "  " << Pad(name, 10);
    if (!error.empty()) {
      std::cout << "not run: " << error << "\n";
      row["error"] = error;
    } else {
      const bool ok = a.Worst() <= limit;  // false for NaN
      if (!ok) failures.push_back(std::string(name) + " (" + Sci(a.Worst()) + " > " + Sci(limit) + ")");
      std::cout << Pad(Sci(a.last_hidden_rel), 16) << Pad(Sci(a.last_hidden_max_abs), 9) << Pad(Sci(a.pooler_rel), 11)
                << Pad(Sci(a.pooler_max_abs), 9) << Pad(Sci(limit), 8) << (ok ? "ok" : "OVER LIMIT") << "\n";
      row["last_hidden_rel"] = Finite(a.last_hidden_rel);
      row["last_hidden_max_abs"] = Finite(a.last_hidden_max_abs);
      row["pooler_rel"] = Finite(a.pooler_rel);
      row["pooler_max_abs"] = Finite(a.pooler_max_abs);
      row["ok"] = ok;
    }
    std::cout << std::flush;
    accuracy_json.append(std::move(row));
  }
  reference.reset();

  config::Json throughput_json(::Json::arrayValue);
  double target_ratio = -1;
  if (throughput) {
    std::cout << "\nThroughput (median of " << iterations
              << " passes; matmul: the backbone's dominant product m x k x n at the same precision, interleaved)\n"
              << "  " << Pad("precision", 10) << Pad("batch", 6, true) << Pad("ms/batch", 10, true)
              << Pad("slices/s", 10, true) << Pad("TFLOP/s", 9, true) << Pad("matmul TFLOP/s", 15, true)
              << Pad("ratio", 7, true) << Pad("host/dev", 9, true) << "  matmul m x k x n\n"
              << std::flush;
    for (nn::Precision precision : precisions) {
      const char* name = nn::PrecisionName(precision);
      std::unique_ptr<nn::Dinov2Backbone> backbone;
      const std::string load_error = ErrorMessageOf([&] {
        backbone = nn::Dinov2Backbone::Load(model_dir, {device, precision});
      });
      for (int64_t batch : batches) {
        BackboneBenchResult r;
        const std::string error =
            load_error.empty()
                ? ErrorMessageOf([&] { r = BenchBackbone(*backbone, batch, image, image, iterations, true); })
                : load_error;
        config::Json row(::Json::objectValue);
        row["precision"] = name;
        row["batch"] = batch;
        std::cout << "  " << Pad(name, 10) << Pad(std::to_string(batch), 6, true);
        if (!error.empty()) {
          std::cout << "  not run: " << error << "\n" << std::flush;
          row["error"] = error;
          throughput_json.append(std::move(row));
          if (!load_error.empty()) break;  // one line for a precision that does not load
          continue;
        }
        std::cout << Pad(Fixed(r.seconds_per_batch * 1e3, 2), 10, true) << Pad(Fixed(r.images_per_second, 1), 10, true)
                  << Pad(Fixed(r.backbone_flops_per_second / 1e12, 3), 9, true)
                  << Pad(Fixed(r.gemm_flops_per_second / 1e12, 3), 15, true) << Pad(Fixed(r.ratio, 3), 7, true)
                  << Pad(Fixed(r.host_input_ratio, 3), 9, true) << "  " << r.gemm.m << " x " << r.gemm.k << " x " << r.gemm.n << "\n"
                  << std::flush;
        row["seconds_per_batch"] = r.seconds_per_batch;
        row["slices_per_second"] = r.images_per_second;
        row["backbone_tflops"] = r.backbone_flops_per_second / 1e12;
        for (int64_t d : {r.gemm.m, r.gemm.k, r.gemm.n}) row["gemm_shape"].append(d);
        row["gemm_tflops"] = r.gemm_flops_per_second / 1e12;
        row["ratio"] = r.ratio;
        row["host_input_ratio"] = r.host_input_ratio;
        throughput_json.append(std::move(row));
        if (precision == nn::Precision::kBf16 && batch == 64) target_ratio = r.ratio;
      }
    }
  }

  std::cout << "\n";
  if (target_ratio >= 0) {
    std::cout << "design target: bf16, batch 64: backbone / matmul FLOP rate = " << Fixed(target_ratio, 3)
              << " (target >= 0.5: " << (target_ratio >= 0.5 ? "met" : "NOT met") << ")\n";
  }
  if (failures.empty()) {
    std::cout << "accuracy: every precision that ran is within its limit\n";
  } else {
    std::cout << "accuracy: OVER LIMIT:";
    for (const std::string& f : failures) std::cout << " " << f;
    std::cout << "\n";
  }

  if (p.Has("--json")) {
    config::Json j(::Json::objectValue);
    j["benchmark"] = "gpu";
    j["curia_version"] = CURIA_VERSION_STRING;
    j["model"] = model_name;
    j["device"] = device.ToString();
    j["libtorch"] = nn::TorchVersion();
    j["threads"] = threads;
    j["image_size"] = image;
    j["flops_per_slice"] = flops_per_slice;
    config::Json ref(::Json::objectValue);
    ref["dtype"] = "float64";
    ref["device"] = "cpu";
    ref["batch"] = check_batch;
    ref["seed"] = seed;
    j["reference"] = std::move(ref);
    j["accuracy"] = std::move(accuracy_json);
    if (throughput) {
      j["iterations"] = iterations;
      j["throughput"] = std::move(throughput_json);
    }
    if (target_ratio >= 0) j["bf16_batch64_ratio"] = target_ratio;
    j["accuracy_ok"] = failures.empty();
    WriteJsonFile(p.Get("--json"), j);
  }
  return failures.empty() ? 0 : 1;
}

#ifdef CURIA_WITH_POOL
// Peak resident memory of this process (VmHWM), and its reset (Linux >= 4.0).
int64_t PeakRssKb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  std::smatch m;
  while (std::getline(status, line)) {
    if (std::regex_match(line, m, std::regex(R"(VmHWM:\s+(\d+) kB)"))) return std::stoll(m[1]);
  }
  throw Error(ErrorCode::kUnavailable, "/proc/self/status has no VmHWM: cannot measure peak memory here");
}

void ResetPeakRss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  if (!clear) throw Error(ErrorCode::kUnavailable, "cannot reset the peak RSS (/proc/self/clear_refs)");
}

config::CuriaSettings PoolSettings(const std::string& model_dir, int64_t batch, bool with_3d) {
  config::Json tasks(::Json::objectValue);
  tasks["finding-2d"] = config::ParseJson(
      R"({"Head": "demo-2d", "Finding": {"Code": "C1", "Scheme": "99DEMO", "Meaning": "Demo finding"}})", "bench");
  if (with_3d) {
    tasks["finding-3d"] = config::ParseJson(
        R"({"Head": "demo-3d", "Finding": {"Code": "C2", "Scheme": "99DEMO", "Meaning": "Demo 3-D finding"}})", "bench");
  }
  config::Json model(::Json::objectValue);
  model["Path"] = model_dir;
  model["MaxBatch"] = batch;
  model["QueuedSlices"] = std::max<int64_t>(2 * batch, 8);
  config::Json root(::Json::objectValue);
  root["Model"] = std::move(model);
  root["Tasks"] = std::move(tasks);
  return config::ParseCuriaSettings(root, "bench settings", "");
}

// Runs `jobs` phantom studies of `slices` slices through a pool; returns the wall time.
// `features`: jobs for `curia features` (every slice's CLS, no head; the model must have no task).
double RunPool(worker::IModel& model, const config::ModelSettings& settings, int64_t jobs, int64_t slices,
               int64_t size, bool features = false) {
  std::mutex mu;
  std::condition_variable cv;
  int64_t done = 0;
  std::string failure;
  const auto start = std::chrono::steady_clock::now();
  {
    pool::WorkerPool pool(model, settings);
    for (int64_t j = 0; j < jobs; ++j) {
      phantom::PhantomOptions o;
      o.slices = slices;
      o.rows = o.cols = size;
      o.pixel_mm = 256.0 / static_cast<double>(size);
      o.seed = static_cast<uint64_t>(j);
      pool::JobRequest request{"bench-" + std::to_string(j), pool::Priority::kRoutine, std::make_shared<phantom::PhantomSource>(o), {}};
      request.slice_features = features;
      pool.Submit(std::move(request),
                  [&](pool::JobResult r) {
                    std::lock_guard<std::mutex> lock(mu);
                    if (r.status != pool::JobStatus::kDone) failure = r.id + ": " + r.error;
                    ++done;
                    cv.notify_all();
                  });
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done == jobs; });
  }
  if (!failure.empty()) throw Error(ErrorCode::kInternal, "benchmark job failed: " + failure);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The raw backbone (and the 2-D head) on the same preprocessed slices, in batches of `batch`.
double RunRaw(const nn::Dinov2Backbone& backbone, int64_t slices, int64_t batch, int64_t size) {
  const int64_t image = backbone.config().image_size;
  phantom::PhantomOptions o;
  o.slices = std::min<int64_t>(slices, 4);
  o.rows = o.cols = size;
  o.pixel_mm = 256.0 / static_cast<double>(size);
  const phantom::PhantomVolume volume = phantom::MakeHeadPhantom(o);
  std::vector<model::TensorView> views;
  for (int64_t k = 0; k < o.slices; ++k) {
    model::TensorView v;
    v.name = "slice";
    v.dtype = model::DType::kI16;
    v.shape = {size, size};
    v.data = reinterpret_cast<const uint8_t*>(volume.Slice(k));
    v.nbytes = static_cast<size_t>(size * size) * 2;
    views.push_back(v);
  }
  model::PreprocessOptions opt;
  opt.crop_size = image;
  const model::PreprocessResult pre = model::Preprocess(views, opt);
  const at::Tensor pool = at::from_blob(const_cast<float*>(pre.pixel_values.data()), pre.shape);
  at::Tensor x = at::empty({batch, 1, image, image});
  for (int64_t i = 0; i < batch; ++i) x[i].copy_(pool[i % o.slices]);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < slices; s += batch) {
    const int64_t n = std::min(batch, slices - s);
    (void)backbone.Forward(x.narrow(0, 0, n)).pooler_output.sum().item<float>();
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int BenchPool(const Args& args) {
  ArgParser p("curia bench pool",
              "Throughput of the worker pool against the raw backbone in the same run, and how its peak\n"
              "memory grows with the size of a study:\n"
              "  pool_ratio = slices/s through the pool (phantom studies, read, preprocessed, batched, backbone\n"
              "               and a 2-D head) / slices/s of the backbone alone on the same batches\n"
              "  rss_ratio  = peak RSS processing one 1,000-slice study / one 100-slice study (2-D and 3-D\n"
              "               tasks; tiny model by default: the pool's memory does not depend on the backbone)");
  p.Option("--size", "SIZE", "demo model for pool_ratio: tiny or base (Curia-B)", false, "base")
      .Option("--batch", "N", "MaxBatch of the pool and batch of the raw backbone", false, "4")
      .Option("--jobs", "N", "studies through the pool per round", false, "2")
      .Option("--slices", "N", "slices per study", false, "4")
      .Option("--rounds", "N", "rounds of (pool, features) runs, each between two raw backbone runs on as many\n"
                               "                          slices; the median ratio and its spread are reported", false, "3")
      .Option("--image", "N", "phantom slice size (pixels; resized to the model's 512)", false, "512")
      .Option("--rss-size", "SIZE", "demo model for rss_ratio: tiny or base", false, "tiny")
      .Option("--rss-slices", "A,B", "the two study sizes for rss_ratio", false, "100,1000")
      .Option("--json", "FILE", "also write the figures as JSON");
  AddRuntimeOptions(p);
  if (!p.Parse(args)) return 0;
  const nn::BackboneOptions runtime = RuntimeFromArgs(p);
  const int64_t batch = p.GetInt("--batch", 1, 1024), jobs = p.GetInt("--jobs", 1, 10000);
  const int64_t slices = p.GetInt("--slices", 1, 100000), image = p.GetInt("--image", 16, 4096);
  const int64_t rounds = p.GetInt("--rounds", 1, 100);
  int64_t small = 100, large = 1000;
  if (std::sscanf(p.Get("--rss-slices").c_str(), "%ld,%ld", &small, &large) != 2 || small < 1 || large < small) {
    throw UsageError("--rss-slices must be two slice counts A,B with 1 <= A <= B");
  }

  // pool_ratio: rounds of the pool on as many slices as a raw backbone run, every pool run between
  // two raw runs (raw, pool, raw, features, raw, pool, ...), its ratio against the mean of the two,
  // so that the machine's speed drifting meanwhile hits both sides; the median of the rounds'
  // ratios is reported with their spread.
  ScratchDir dir("curia-bench-pool");
  model::WriteDemoModel(dir.path() + "/throughput", model::ParseDemoSize(p.Get("--size")), 0);
  config::CuriaSettings settings = PoolSettings(dir.path() + "/throughput", batch, false);
  settings.model.devices = {runtime.device.ToString()};
  settings.model.precision = nn::PrecisionName(runtime.precision);
  settings.model.threads = nn::IntraOpThreads();
  auto model = nn::TorchModel::Load(settings);
  // `curia features`' jobs: the same model without its task, every slice's CLS kept.
  config::CuriaSettings features_settings = settings;
  features_settings.tasks.clear();
  auto features_model = nn::TorchModel::Load(features_settings);
  auto backbone = nn::Dinov2Backbone::Load(dir.path() + "/throughput", runtime);
  const int64_t total = jobs * slices;
  RunRaw(*backbone, batch, batch, image);  // warm-up
  std::vector<double> raw_times{RunRaw(*backbone, total, batch, image)};
  std::vector<double> pool_times, ratios, features_times, features_ratios;
  // Runs `run` (seconds), then the raw backbone again; the ratio against the raw runs either side.
  auto bracketed = [&](auto run, std::vector<double>& times, std::vector<double>& out) {
    times.push_back(run());
    raw_times.push_back(RunRaw(*backbone, total, batch, image));
    out.push_back(0.5 * (raw_times[raw_times.size() - 2] + raw_times.back()) / times.back());
  };
  for (int64_t r = 0; r < rounds; ++r) {
    bracketed([&] { return RunPool(*model, settings.model, jobs, slices, image); }, pool_times, ratios);
    bracketed([&] { return RunPool(*features_model, settings.model, jobs, slices, image, true); }, features_times,
              features_ratios);
  }
  // "a, b, c; spread low-high"
  auto listed = [](const std::vector<double>& v) {
    std::string text;
    for (double r : v) text += (text.empty() ? "" : ", ") + Fixed(r, 3);
    return text + "; spread " + Spread(v);
  };
  const double raw_rate = static_cast<double>(total) / Median(raw_times);
  const double pool_rate = static_cast<double>(total) / Median(pool_times);
  const double pool_ratio = Median(ratios);
  const double features_rate = static_cast<double>(total) / Median(features_times);
  const double features_ratio = Median(features_ratios);
  const std::string ratio_list = listed(ratios), features_list = listed(features_ratios);
  backbone.reset();
  model.reset();
  features_model.reset();
  ::malloc_trim(0);  // give the throughput model's memory back before measuring peaks

  // rss_ratio: the same pool on one small and one large study.
  model::WriteDemoModel(dir.path() + "/memory", model::ParseDemoSize(p.Get("--rss-size")), 0);
  config::CuriaSettings rss_settings = PoolSettings(dir.path() + "/memory", batch, true);
  rss_settings.model.devices = settings.model.devices;
  rss_settings.model.threads = settings.model.threads;
  auto rss_model = nn::TorchModel::Load(rss_settings);
  RunPool(*rss_model, rss_settings.model, 1, 8, image);  // warm-up: allocator, threads, caches
  ResetPeakRss();
  const double small_seconds = RunPool(*rss_model, rss_settings.model, 1, small, image);
  const int64_t small_kb = PeakRssKb();
  ResetPeakRss();
  const double large_seconds = RunPool(*rss_model, rss_settings.model, 1, large, image);
  const int64_t large_kb = PeakRssKb();
  const double rss_ratio = static_cast<double>(large_kb) / static_cast<double>(small_kb);

  std::cout << "Curia worker pool benchmark (curia " CURIA_VERSION_STRING ")\n"
            << "  runtime     " << RuntimeSummary(runtime) << "\n"
            << "  throughput  DEMO " << p.Get("--size") << " model, " << rounds << " rounds of " << jobs << " studies x "
            << slices << " slices of " << image << "x" << image << ", batches of " << batch
            << ", each run between two raw backbone runs\n"
            << "    raw backbone  " << Fixed(raw_rate, 3) << " slices/s (median)\n"
            << "    pool          " << Fixed(pool_rate, 3) << " slices/s (median)\n"
            << "    ratio         pool / raw = " << Fixed(pool_ratio, 3) << " (median; rounds: " << ratio_list
            << "; target >= 0.9)   [pool_ratio]\n"
            << "    features      " << Fixed(features_rate, 3) << " slices/s (median; `curia features`' jobs: every slice's CLS)\n"
            << "    ratio         features / raw = " << Fixed(features_ratio, 3) << " (median; rounds: " << features_list
            << "; target >= 0.9)   [features_ratio]\n"
            << "  memory      DEMO " << p.Get("--rss-size") << " model, 2-D and 3-D tasks\n"
            << "    " << small << " slices  peak RSS " << Fixed(small_kb / 1024.0, 1) << " MiB (" << Fixed(small_seconds, 1)
            << " s)\n"
            << "    " << large << " slices peak RSS " << Fixed(large_kb / 1024.0, 1) << " MiB (" << Fixed(large_seconds, 1)
            << " s)\n"
            << "    ratio         " << large << " / " << small << " = " << Fixed(rss_ratio, 3)
            << " (target <= 1.2)   [rss_ratio]\n";
  if (p.Has("--json")) {
    config::Json j(::Json::objectValue);
    j["benchmark"] = "pool";
    j["curia_version"] = CURIA_VERSION_STRING;
    j["runtime"] = RuntimeSummary(runtime);
    j["model"] = "DEMO " + p.Get("--size");
    j["batch"] = batch;
    j["jobs"] = jobs;
    j["rounds"] = rounds;
    j["slices_per_job"] = slices;
    j["raw_slices_per_second"] = raw_rate;
    j["pool_slices_per_second"] = pool_rate;
    j["pool_ratio"] = pool_ratio;
    j["features_slices_per_second"] = features_rate;
    j["features_ratio"] = features_ratio;
    for (double v : ratios) j["pool_ratios"].append(v);
    for (double v : features_ratios) j["features_ratios"].append(v);
    for (double v : raw_times) j["raw_seconds_runs"].append(v);
    j["rss_model"] = "DEMO " + p.Get("--rss-size");
    j["rss_small_slices"] = small;
    j["rss_large_slices"] = large;
    j["rss_small_kib"] = small_kb;
    j["rss_large_kib"] = large_kb;
    j["rss_ratio"] = rss_ratio;
    WriteJsonFile(p.Get("--json"), j);
  }
  return 0;
}
#endif

}  // namespace

int BenchCommand(const Args& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << "usage: curia bench all|model|gpu|train|pool|region|host|queue [options]   (curia bench <name> --help)\n\n"
                 "  all     the whole table of design.md section 5 in one run: backbone_gemm_ratio, e2e_ratio,\n"
                 "          ingest_ratio, latency_overhead_s, rss_ratio (a node Orthanc with the plugin and a\n"
                 "          PACS Orthanc on loopback, via bench/plugin_bench.py) and throughput by batch size\n"
                 "  model   backbone throughput against a plain matrix product (backbone_gemm_ratio)\n"
                 "  gpu     accuracy of each precision on a device against a float64 CPU reference, and\n"
                 "          throughput by batch size and precision against a plain matrix product\n"
                 "  train   a cross-validated logistic head with our trainer against scikit-learn's GridSearchCV\n"
                 "          on the same data (train_ratio)\n"
                 "  pool    worker pool throughput against the raw backbone (pool_ratio), memory growth (rss_ratio)\n"
                 "  region  slices/s of a 10-segment SEG job / slices/s of a plain job on the same series (region_ratio)\n"
                 "  host    the pool's host path per CPU thread (DICOM decode to the float staging buffer) against\n"
                 "          a plain memcpy of the same bytes, for uncompressed, JPEG-Lossless and RLE CT and a resized MR\n"
                 "  queue   job claims/s of the node's queue (SQLite or PostgreSQL) with concurrent claimers, each\n"
                 "          job checked to be claimed and completed exactly once\n";
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "all") return BenchAll(Args(args.begin() + 1, args.end()));
  if (args[0] == "model") return BenchModel(Args(args.begin() + 1, args.end()));
  if (args[0] == "gpu") return BenchGpu(Args(args.begin() + 1, args.end()));
  if (args[0] == "train") return BenchTrain(Args(args.begin() + 1, args.end()));
#ifdef CURIA_WITH_POOL
  if (args[0] == "pool") return BenchPool(Args(args.begin() + 1, args.end()));
  if (args[0] == "region") return BenchRegion(Args(args.begin() + 1, args.end()));
  if (args[0] == "host") return BenchHost(Args(args.begin() + 1, args.end()));
#endif
#ifdef CURIA_WITH_STORAGE
  if (args[0] == "queue") return BenchQueue(Args(args.begin() + 1, args.end()));
#endif
  throw UsageError("unknown benchmark '" + args[0] + "' (available: all, model, gpu, train" +
#ifdef CURIA_WITH_POOL
                   std::string(", pool, region, host, queue") +
#else
                   std::string(" in this model-only build") +
#endif
                   ")");
}

}  // namespace curia::cli
