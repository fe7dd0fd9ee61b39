// SPDX-License-Identifier: GPL-3.0-or-later
// curia preprocess: Curia's image processor on a safetensors image, as the Python processor does it.
#include <cstring>
#include <iostream>

#include "commands.h"
#include "curia/config/error.h"
#include "curia/config/log.h"
#include "curia/model/preprocess.h"
#include "curia/model/safetensors.h"
#include "version.h"

namespace curia::cli {

int PreprocessCommand(const Args& args) {
  ArgParser p("curia preprocess",
              "Runs Curia's image processor (CuriaImageProcessor, Version A as published with\n"
              "raidium/curia) on tensor 'image' (see --input-tensor) of a safetensors file: (H,W) is one slice, (H,W,S) a\n"
              "volume sliced along the last axis, as the processor takes numpy arrays; several tensors\n"
              "'image_0', 'image_1', ... form a list. Writes 'pixel_values' exactly as the processor\n"
              "returns it: (B,1,N,N) for slices, (B,S,1,N,N) for volumes.");
  p.Option("--input", "FILE", "safetensors file with 'image' (or image_0, image_1, ...)", true)
      .Option("--output", "FILE", "safetensors file to write", true)
      .Option("--size", "N", "crop_size: output images are N x N", true)
      .Flag("--clip-below-air", "clamp values below -1000 after the resize (clip_below_air)")
      .Flag("--tensor-input", "treat the input as a torch tensor: no int16 cast, no /32767 (clip is then active)")
      .Option("--processor", "V", "A (published) or B (second public revision: float, per-slice z-score)", false, "A")
      .Option("--num-slices", "N", "Version B: resample the volume to N slices")
      .Flag("--no-normalize", "Version B: skip the z-score (Version A always normalises, as the reference)")
      .Option("--eps", "E", "z-score epsilon", false, "1e-6")
      .Option("--input-tensor", "NAME", "name of the input tensor (or prefix of NAME_0, NAME_1, ...)", false, "image");
  if (!p.Parse(args)) return 0;

  model::PreprocessOptions opt;
  opt.crop_size = p.GetInt("--size", 1, 16384);
  opt.clip_below_air = p.IsSet("--clip-below-air");
  opt.input_path = p.IsSet("--tensor-input") ? model::InputPath::kTensor : model::InputPath::kNumpy;
  const std::string version = p.Get("--processor");
  if (version != "A" && version != "B") throw UsageError("--processor must be A or B");
  opt.version = version == "A" ? model::ProcessorVersion::kA : model::ProcessorVersion::kB;
  if (p.Has("--num-slices")) {
    if (opt.version != model::ProcessorVersion::kB) throw UsageError("--num-slices needs --processor B");
    opt.num_slices = p.GetInt("--num-slices", 1, 100000);
  }
  if (p.IsSet("--no-normalize")) {
    if (opt.version != model::ProcessorVersion::kB) {
      throw UsageError("--no-normalize needs --processor B (Version A always normalises)");
    }
    opt.do_normalize = false;
  }
  if (p.IsSet("--tensor-input") && opt.version == model::ProcessorVersion::kB) {
    throw UsageError("--tensor-input is a Version A option (Version B always reads floats)");
  }
  try {
    opt.eps = std::stod(p.Get("--eps"));
  } catch (const std::exception&) {
    throw UsageError("--eps must be a number");
  }

  auto input = model::SafetensorsFile::Open(p.Get("--input"));
  const std::string name = p.Get("--input-tensor");
  std::vector<model::TensorView> images;
  if (const model::TensorView* single = input->Find(name)) {
    images.push_back(*single);
  } else {
    for (int i = 0;; ++i) {
      const model::TensorView* t = input->Find(name + "_" + std::to_string(i));
      if (!t) break;
      images.push_back(*t);
    }
  }
  if (images.empty()) {
    throw Error(ErrorCode::kNotFound,
                input->path() + ": no tensor '" + name + "' (or '" + name + "_0', '" + name + "_1', ...)");
  }
  const model::PreprocessResult r = model::Preprocess(images, opt);
  if (r.clamped_values > 0) {
    log::Warning("preprocess", std::to_string(r.clamped_values) +
                                   " value(s) outside the int16 range were clamped (the reference's cast is undefined there)");
  }
  model::SafetensorsWriter writer;
  writer.SetMetadata("curia_version", CURIA_VERSION_STRING);
  writer.SetMetadata("processor", "CuriaImageProcessor version " + version);
  writer.AddFloat32("pixel_values", r.shape, r.pixel_values);
  if (opt.version == model::ProcessorVersion::kB) {
    const int64_t slices = static_cast<int64_t>(r.slice_mask.size()) / static_cast<int64_t>(images.size());
    const std::vector<int64_t> shape = {static_cast<int64_t>(images.size()), slices};
    writer.Add("slice_mask", model::DType::kU8, shape, std::vector<uint8_t>(r.slice_mask.begin(), r.slice_mask.end()));
    std::vector<uint8_t> bytes(r.slice_indices.size() * 4);
    std::memcpy(bytes.data(), r.slice_indices.data(), bytes.size());
    writer.Add("slice_indices", model::DType::kI32, shape, std::move(bytes));
  }
  writer.Write(p.Get("--output"));
  std::cout << "wrote " << p.Get("--output") << ": pixel_values " << model::ShapeString(r.shape) << "\n";
  return 0;
}

}  // namespace curia::cli
