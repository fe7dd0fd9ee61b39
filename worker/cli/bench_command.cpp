// SPDX-License-Identifier: GPL-3.0-or-later
// curia bench model: backbone throughput and its ratio to a plain matrix product, in one run.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/model/demo_model.h"
#include "curia/nn/bench.h"
#include "scratch_dir.h"
#include "version.h"

namespace curia::cli {
namespace {

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

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
  const nn::BackboneBenchResult r = nn::BenchBackbone(*backbone, batch, image, image, iterations);
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
            << " s, " << Fixed(r.gemm_flops_per_second / 1e9, 1) << " GFLOP/s\n"
            << "  ratio       backbone / matmul FLOP rate = " << Fixed(r.ratio, 3) << "   [backbone_gemm_ratio]\n";

  if (p.Has("--json")) {
    config::Json j = config::Json::Object{};
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
    j["gemm_shape"] = config::Json::Array{config::Json(r.gemm.m), config::Json(r.gemm.k), config::Json(r.gemm.n)};
    j["gemm_gflops"] = r.gemm_flops_per_second / 1e9;
    j["backbone_gemm_ratio"] = r.ratio;
    std::ofstream out(p.Get("--json"));
    out << j.Dump() << "\n";
    if (!out) throw Error(ErrorCode::kInvalidArgument, p.Get("--json") + ": write failed");
  }
  return 0;
}

}  // namespace

int BenchCommand(const Args& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << "usage: curia bench model [options]   (curia bench model --help)\n\n"
                 "  model   backbone throughput against a plain matrix product (backbone_gemm_ratio)\n";
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "model") return BenchModel(Args(args.begin() + 1, args.end()));
  throw UsageError("unknown benchmark '" + args[0] + "' (available: model)");
}

}  // namespace curia::cli
