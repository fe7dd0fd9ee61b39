// SPDX-License-Identifier: GPL-3.0-or-later
// curia head: one study's slices through the backbone and a task head.
#include <ATen/ATen.h>

#include <algorithm>
#include <iostream>
#include <map>

#include "commands.h"
#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/model/safetensors.h"
#include "curia/nn/head.h"
#include "curia/nn/tensor_io.h"
#include "version.h"

namespace curia::cli {
namespace {

at::Tensor ReadFloat(const model::SafetensorsFile& file, const std::string& name, bool required) {
  const model::TensorView* view = file.Find(name);
  if (!view) {
    if (required) throw Error(ErrorCode::kNotFound, file.path() + ": tensor '" + name + "' is missing");
    return {};
  }
  if (view->shape.size() != 4 || view->shape[0] < 1 || view->shape[1] != 1) {
    throw Error(ErrorCode::kInvalidArgument, file.path() + ": tensor '" + name + "' has shape " +
                                                 model::ShapeString(view->shape) + ", expected (S, 1, H, W): one study's slices");
  }
  return nn::ToTensor(*view).to(at::kFloat);
}

}  // namespace

int HeadCommand(const Args& args) {
  ArgParser p("curia head",
              "Runs one study's slices through the backbone and a task head (a Hugging Face head\n"
              "subfolder such as raidium/curia/ich). Reads 'pixel_values' (S,1,H,W) and, for mask heads,\n"
              "'mask' (S,1,H,W) weights in [0,1]; writes 'logits' and 'probabilities': (S,classes) for a\n"
              "2-D head (one row per slice), (1,classes) for a 3-D head (the window of slices it pools).");
  p.Option("--model", "DIR", "backbone folder", true)
      .Option("--head", "DIR", "head folder (config.json + model.safetensors)", true)
      .Option("--input", "FILE", "safetensors file with pixel_values (and mask)", true)
      .Option("--output", "FILE", "safetensors file to write", true)
      .Option("--batch", "N", "slices per forward pass", false, "8");
  AddRuntimeOptions(p);
  if (!p.Parse(args)) return 0;
  const nn::BackboneOptions runtime = RuntimeFromArgs(p);
  const int64_t batch = p.GetInt("--batch", 1, 4096);

  auto input = model::SafetensorsFile::Open(p.Get("--input"));
  const at::Tensor pixels = ReadFloat(*input, "pixel_values", true);
  const at::Tensor mask = ReadFloat(*input, "mask", false);
  if (mask.defined() && !mask.sizes().equals(pixels.sizes())) {
    throw Error(ErrorCode::kInvalidArgument, input->path() + ": 'mask' must have the shape of 'pixel_values'");
  }
  auto backbone = nn::Dinov2Backbone::Load(p.Get("--model"), runtime);
  auto head = nn::TaskHead::Load(p.Get("--head"), *backbone);
  const int64_t slices = pixels.size(0);

  at::Tensor logits;
  std::string kept_text;
  if (!head->config().Is3D()) {
    std::vector<at::Tensor> parts;
    for (int64_t s = 0; s < slices; s += batch) {
      const int64_t n = std::min(batch, slices - s);
      parts.push_back(head->Logits2D(backbone->Forward(pixels.narrow(0, s, n)),
                                     mask.defined() ? mask.narrow(0, s, n) : at::Tensor()));
    }
    logits = at::cat(parts, 0);
  } else {
    // Only the slices the head pools go through the backbone (each once, even where the window wraps).
    const std::vector<int64_t> kept = head->KeptSlices(slices, mask);
    std::vector<int64_t> unique = kept;
    std::sort(unique.begin(), unique.end());
    unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
    std::map<int64_t, at::Tensor> tokens;
    for (size_t i = 0; i < unique.size(); i += static_cast<size_t>(batch)) {
      const size_t n = std::min(unique.size() - i, static_cast<size_t>(batch));
      const at::Tensor index = at::tensor(std::vector<int64_t>(unique.begin() + i, unique.begin() + i + n));
      const at::Tensor enc = backbone->Forward(pixels.index_select(0, index)).encoder_output;
      for (size_t j = 0; j < n; ++j) {
        const int64_t s = unique[i + j];
        tokens[s] = head->SliceTokens(enc[static_cast<int64_t>(j)], mask.defined() ? mask[s] : at::Tensor());
      }
    }
    std::vector<at::Tensor> ordered;
    for (int64_t s : kept) {
      ordered.push_back(tokens.at(s));
      kept_text += (kept_text.empty() ? "" : ",") + std::to_string(s);
    }
    logits = head->VolumeLogits(ordered);
  }
  const at::Tensor probabilities = head->Probabilities(logits);

  model::SafetensorsWriter writer;
  writer.SetMetadata("curia_version", CURIA_VERSION_STRING);
  writer.SetMetadata("head", p.Get("--head"));
  writer.SetMetadata("head_digest", head->digest());
  writer.SetMetadata("backbone_digest", backbone->digest());
  config::Json labels(::Json::arrayValue);
  for (const auto& l : head->config().labels) labels.append(l);
  writer.SetMetadata("labels", config::Dump(labels, -1));
  if (!kept_text.empty()) writer.SetMetadata("slices", kept_text);
  if (backbone->config().demo || head->config().demo) writer.SetMetadata("curia_demo", "DEMO weights: meaningless output");
  nn::AddTensor(writer, "logits", logits);
  nn::AddTensor(writer, "probabilities", probabilities);
  writer.Write(p.Get("--output"));
  std::cout << "wrote " << p.Get("--output") << ": " << (head->config().Is3D() ? "3-D" : "2-D") << " head, logits "
            << logits.size(0) << " x " << logits.size(1);
  if (!kept_text.empty()) std::cout << " (slices " << kept_text << ")";
  std::cout << "\n";
  return 0;
}

}  // namespace curia::cli
