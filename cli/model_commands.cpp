// SPDX-License-Identifier: GPL-3.0-or-later
// curia demo-model | info | forward, and the runtime options they share.
#include <ATen/ATen.h>

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include "commands.h"
#include "curia/config/error.h"
#include "curia/config/sha256.h"
#include "curia/model/demo_model.h"
#include "curia/model/dinov2_config.h"
#include "curia/model/safetensors.h"
#include "curia/nn/tensor_io.h"
#include "version.h"

namespace curia::cli {

void AddRuntimeOptions(ArgParser& p) {
  p.Option("--device", "D", "cpu, cuda or cuda:N", false, "cpu");
  p.Option("--precision", "P", "fp32, bf16 or fp16", false, "fp32");
  p.Option("--threads", "N", "intra-op CPU threads (0 = one per core)", false, "0");
}

nn::BackboneOptions RuntimeFromArgs(const ArgParser& p) {
  nn::BackboneOptions o;
  o.device = nn::ParseDevice(p.Get("--device"));
  o.precision = nn::ParsePrecision(p.Get("--precision"));
  int threads = static_cast<int>(p.GetInt("--threads", 0, 1024));
  if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  nn::SetIntraOpThreads(threads);
  return o;
}

std::string RuntimeSummary(const nn::BackboneOptions& o) {
  std::string s = o.device.ToString() + ", " + nn::PrecisionName(o.precision);
  if (!o.device.is_cuda()) {
    s += ", " + std::to_string(nn::IntraOpThreads()) + " threads, BLAS: " + nn::DetectBlas().library;
  }
  return s + ", LibTorch " + nn::TorchVersion();
}

int DemoModelCommand(const Args& args) {
  ArgParser p("curia demo-model",
              "Writes a model folder in the Hugging Face layout of raidium/curia (config.json,\n"
              "model.safetensors, preprocessor_config.json) with deterministic random weights.\n"
              "It is marked as a DEMO everywhere: its outputs are meaningless.");
  p.Option("--out", "DIR", "folder to write (created if needed)", true)
      .Option("--size", "SIZE", "tiny (tests, demo) or base (Curia-B shapes, ~344 MB)", false, "tiny")
      .Option("--seed", "N", "random seed", false, "0");
  if (!p.Parse(args)) return 0;
  const model::DemoSize size = model::ParseDemoSize(p.Get("--size"));
  const uint64_t seed = static_cast<uint64_t>(p.GetInt("--seed", 0, INT64_MAX));
  model::WriteDemoModel(p.Get("--out"), size, seed);
  std::cout << "wrote DEMO model (" << p.Get("--size") << ", seed " << seed << ") to " << p.Get("--out")
            << " -- not Curia weights, meaningless output\n";
  return 0;
}

int InfoCommand(const Args& args) {
  ArgParser p("curia info",
              "Checks a backbone folder (config.json + model.safetensors, e.g. a download of\n"
              "raidium/curia) without loading it onto a device, and prints what it holds.");
  p.Option("--model", "DIR", "model folder", true);
  if (!p.Parse(args)) return 0;
  const std::string dir = p.Get("--model");
  const model::Dinov2Config cfg = model::LoadDinov2Config(dir + "/config.json");
  auto file = model::SafetensorsFile::Open(dir + "/model.safetensors");
  model::CheckBackboneTensors(*file, cfg);
  int64_t params = 0;
  for (const auto& t : file->tensors()) params += t.NumElements();
  std::cout << "model        " << dir << (cfg.demo ? "  (DEMO weights: meaningless output)" : "") << "\n"
            << "backbone     DINOv2, hidden " << cfg.hidden_size << ", " << cfg.num_hidden_layers << " layers, "
            << cfg.num_attention_heads << " heads, " << (cfg.use_swiglu_ffn ? "SwiGLU" : "GELU") << " MLP "
            << cfg.MlpHiddenSize() << ", patch " << cfg.patch_size << ", image " << cfg.image_size << ", "
            << cfg.num_channels << " channel(s), " << cfg.num_register_tokens << " registers\n"
            << "weights      " << file->tensors().size() << " tensors, " << params << " values, "
            << file->file_size() << " bytes\n"
            << "sha256       " << config::Sha256File(file->path()) << "\n";
  return 0;
}

int ForwardCommand(const Args& args) {
  ArgParser p("curia forward",
              "Runs the backbone on tensor 'pixel_values' (B,C,H,W float32) of a safetensors file and\n"
              "writes 'last_hidden_state' (B,T,D) and 'pooler_output' (B,D) as float32.");
  p.Option("--model", "DIR", "backbone folder (config.json + model.safetensors)", true)
      .Option("--input", "FILE", "safetensors file with pixel_values", true)
      .Option("--output", "FILE", "safetensors file to write", true)
      .Option("--batch", "N", "images per forward pass", false, "8")
      .Flag("--hidden-states", "also write 'hidden_states' (L+1,B,T,D): embeddings, then each layer, pre-LayerNorm");
  AddRuntimeOptions(p);
  if (!p.Parse(args)) return 0;
  const nn::BackboneOptions runtime = RuntimeFromArgs(p);
  const int64_t batch = p.GetInt("--batch", 1, 4096);
  const bool all_states = p.IsSet("--hidden-states");

  auto input = model::SafetensorsFile::Open(p.Get("--input"));
  const model::TensorView& view = input->Get("pixel_values");
  if (!model::IsFloatingDType(view.dtype)) {
    throw Error(ErrorCode::kInvalidArgument, input->path() + ": tensor 'pixel_values' has dtype " +
                                                 model::DTypeName(view.dtype) + ", expected a floating type");
  }
  const at::Tensor pixels = nn::ToTensor(view).to(at::kFloat);
  if (pixels.dim() != 4 || pixels.size(0) == 0) {
    throw Error(ErrorCode::kInvalidArgument, input->path() + ": tensor 'pixel_values' has shape " +
                                                 model::ShapeString(view.shape) + ", expected (B, C, H, W) with B >= 1");
  }
  auto backbone = nn::Dinov2Backbone::Load(p.Get("--model"), runtime);

  std::vector<at::Tensor> last, pooled;
  std::vector<std::vector<at::Tensor>> states;
  const int64_t total = pixels.size(0);
  for (int64_t start = 0; start < total; start += batch) {
    nn::BackboneOutput out = backbone->Forward(pixels.narrow(0, start, std::min(batch, total - start)), all_states);
    last.push_back(out.last_hidden_state.to(at::kCPU, at::kFloat));
    pooled.push_back(out.pooler_output.to(at::kCPU, at::kFloat));
    if (all_states) {
      std::vector<at::Tensor> cpu;
      for (const at::Tensor& h : out.hidden_states) cpu.push_back(h.to(at::kCPU, at::kFloat));
      states.push_back(std::move(cpu));
    }
  }
  model::SafetensorsWriter writer;
  writer.SetMetadata("curia_version", CURIA_VERSION_STRING);
  writer.SetMetadata("model", p.Get("--model"));
  writer.SetMetadata("runtime", RuntimeSummary(runtime));
  if (backbone->config().demo) writer.SetMetadata("curia_demo", "DEMO model: meaningless output");
  nn::AddTensor(writer, "last_hidden_state", at::cat(last, 0));
  nn::AddTensor(writer, "pooler_output", at::cat(pooled, 0));
  if (all_states) {
    std::vector<at::Tensor> per_layer;
    for (size_t l = 0; l < states.front().size(); ++l) {
      std::vector<at::Tensor> parts;
      for (const auto& s : states) parts.push_back(s[l]);
      per_layer.push_back(at::cat(parts, 0));
    }
    nn::AddTensor(writer, "hidden_states", at::stack(per_layer, 0));
  }
  writer.Write(p.Get("--output"));
  std::cout << "wrote " << p.Get("--output") << ": " << total << " image(s) on " << RuntimeSummary(runtime) << "\n";
  return 0;
}

}  // namespace curia::cli
