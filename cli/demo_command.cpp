// SPDX-License-Identifier: GPL-3.0-or-later
// curia demo: the demo model and an analytic head phantom through Curia's preprocessing and the
// backbone, end to end on this machine. (The Orthanc node demo builds on the same pieces.)
#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "curia/config/error.h"
#include "curia/model/demo_model.h"
#include "curia/phantom/phantom.h"
#include "curia/model/preprocess.h"
#include "curia/nn/tensor_io.h"
#include "version.h"

namespace curia::cli {
namespace {

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int DemoCommand(const Args& args) {
  ArgParser p("curia demo",
              "Generates the demo model (if needed) and an analytic CT head phantom, runs Curia's\n"
              "preprocessing and the backbone on every slice, and writes the phantom and the features.\n"
              "The demo model has random weights: the features show the pipeline works, not a finding.");
  p.Option("--out", "DIR", "output folder", true)
      .Option("--model", "DIR", "backbone folder (default: DIR/demo-model, generated on first use)")
      .Option("--slices", "N", "phantom slices (512 x 512, 5 mm apart)", false, "16")
      .Option("--batch", "N", "slices per forward pass", false, "8");
  AddRuntimeOptions(p);
  if (!p.Parse(args)) return 0;
  const nn::BackboneOptions runtime = RuntimeFromArgs(p);
  const std::string out = p.Get("--out");
  const int64_t slices = p.GetInt("--slices", 1, 2000);
  const int64_t batch = p.GetInt("--batch", 1, 1024);
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) throw Error(ErrorCode::kInvalidArgument, out + ": cannot create folder (" + ec.message() + ")");

  std::string model_dir = p.Get("--model");
  if (model_dir.empty()) {
    model_dir = out + "/demo-model";
    if (!std::filesystem::exists(model_dir + "/config.json")) {
      model::WriteDemoModel(model_dir, model::DemoSize::kTiny, 0);
      std::cout << "[1/4] wrote the DEMO model to " << model_dir << " (random weights, meaningless output)\n";
    } else {
      std::cout << "[1/4] using the DEMO model in " << model_dir << "\n";
    }
  } else {
    std::cout << "[1/4] using the model in " << model_dir << "\n";
  }

  auto t0 = std::chrono::steady_clock::now();
  phantom::PhantomOptions po;
  po.slices = slices;
  const phantom::PhantomVolume vol = phantom::MakeHeadPhantom(po);
  // Save it as the processor takes a volume: (H, W, S) int16 HU.
  {
    std::vector<uint8_t> bytes(vol.hu.size() * 2);
    int16_t* dst = reinterpret_cast<int16_t*>(bytes.data());
    for (int64_t k = 0; k < vol.slices; ++k) {
      for (int64_t i = 0; i < vol.rows * vol.cols; ++i) dst[i * vol.slices + k] = vol.Slice(k)[i];
    }
    model::SafetensorsWriter w;
    w.SetMetadata("description", "analytic CT head phantom, HU, axial PL slices, (rows, cols, slices)");
    w.Add("image", model::DType::kI16, {vol.rows, vol.cols, vol.slices}, std::move(bytes));
    w.Write(out + "/phantom.safetensors");
  }
  std::cout << "[2/4] head phantom: " << vol.slices << " axial slices of " << vol.rows << " x " << vol.cols
            << " HU (" << out << "/phantom.safetensors), " << Since(t0) << " s\n";

  auto backbone = nn::Dinov2Backbone::Load(model_dir, runtime);
  const model::Dinov2Config& cfg = backbone->config();
  t0 = std::chrono::steady_clock::now();
  std::vector<model::TensorView> views;
  for (int64_t k = 0; k < vol.slices; ++k) {
    model::TensorView v;
    v.name = "slice " + std::to_string(k);
    v.dtype = model::DType::kI16;
    v.shape = {vol.rows, vol.cols};
    v.data = reinterpret_cast<const uint8_t*>(vol.Slice(k));
    v.nbytes = static_cast<size_t>(vol.rows * vol.cols) * 2;
    views.push_back(v);
  }
  model::PreprocessOptions opt;
  opt.crop_size = cfg.image_size;
  const model::PreprocessResult pre = model::Preprocess(views, opt);
  std::cout << "[3/4] Curia preprocessing (int16, /32767, resize to " << cfg.image_size
            << ", z-score per slice): " << Since(t0) << " s\n";

  t0 = std::chrono::steady_clock::now();
  const at::Tensor pixels =
      at::from_blob(const_cast<float*>(pre.pixel_values.data()), pre.shape, at::TensorOptions().dtype(at::kFloat));
  std::vector<at::Tensor> pooled, tokens;
  for (int64_t s = 0; s < vol.slices; s += batch) {
    nn::BackboneOutput o = backbone->Forward(pixels.narrow(0, s, std::min(batch, vol.slices - s)));
    pooled.push_back(o.pooler_output.to(at::kCPU, at::kFloat));
    tokens.push_back(o.last_hidden_state.to(at::kCPU, at::kFloat));
  }
  const double seconds = Since(t0);
  const at::Tensor cls = at::cat(pooled, 0);
  model::SafetensorsWriter w;
  w.SetMetadata("curia_version", CURIA_VERSION_STRING);
  if (cfg.demo) w.SetMetadata("curia_demo", "DEMO model: meaningless output");
  nn::AddTensor(w, "pooler_output", cls);
  nn::AddTensor(w, "last_hidden_state", at::cat(tokens, 0));
  w.Write(out + "/features.safetensors");
  std::printf("[4/4] backbone on %s: %lld slices in %.2f s (%.1f slices/s)\n", RuntimeSummary(runtime).c_str(),
              static_cast<long long>(vol.slices), seconds, static_cast<double>(vol.slices) / seconds);

  const at::Tensor norms = cls.norm(2, {1});
  std::printf("\nCLS features (pooler_output, %lld x %lld) written to %s/features.safetensors\n",
              static_cast<long long>(cls.size(0)), static_cast<long long>(cls.size(1)), out.c_str());
  std::printf("  slice   z (mm)   |CLS|   first values\n");
  for (int64_t k = 0; k < vol.slices; k += std::max<int64_t>(1, vol.slices / 6)) {
    const double z = (static_cast<double>(k) - (vol.slices - 1) / 2.0) * vol.slice_mm;
    std::printf("  %5lld  %7.1f  %6.2f   %+.3f %+.3f %+.3f\n", static_cast<long long>(k), z,
                norms[k].item<float>(), cls[k][0].item<float>(), cls[k][1].item<float>(), cls[k][2].item<float>());
  }
  if (cfg.demo) std::printf("\nDEMO model: these numbers show the pipeline runs; they mean nothing clinically.\n");
  return 0;
}

}  // namespace curia::cli
