// SPDX-License-Identifier: GPL-3.0-or-later
#include "backbone_bench.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <c10/core/StreamGuard.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"
#include "curia/nn/device_input.h"
#include "curia/nn/tensor_io.h"

namespace curia::cli {

using nn::Device;
using nn::DeviceInput;
using nn::Dinov2Backbone;
using nn::Precision;
using nn::ToFloatVector;
namespace {

// Reading one element back waits for the device (a no-op cost on CPU).
void Sync(const at::Tensor& t) { (void)t.reshape({-1})[0].item<float>(); }

template <typename F>
double TimeOnce(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

BackboneBenchResult BenchBackbone(const Dinov2Backbone& backbone, int64_t batch, int64_t height, int64_t width,
                                  int iterations, bool host_input) {
  c10::InferenceMode guard;
  BackboneBenchResult r;
  r.batch = batch;
  r.height = height;
  r.width = width;
  r.iterations = std::max(1, iterations);
  const model::Dinov2Config& cfg = backbone.config();
  const Device& dev = backbone.device();
  const at::Device device = dev.is_cuda() ? at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(dev.index))
                                          : at::Device(at::kCPU);
  const at::ScalarType dtype = backbone.precision() == Precision::kFp32   ? at::kFloat
                               : backbone.precision() == Precision::kBf16 ? at::kBFloat16
                                                                           : at::kHalf;
  at::Tensor pixels = at::randn({batch, cfg.num_channels, height, width}, at::TensorOptions().device(device));
  r.gemm = model::DominantGemm(cfg, height, width, batch);
  const auto opts = at::TensorOptions().device(device).dtype(dtype);
  at::Tensor a = at::randn({r.gemm.m, r.gemm.k}, opts);
  at::Tensor w = at::randn({r.gemm.n, r.gemm.k}, opts);  // (out, in), used transposed like a Linear
  at::Tensor c = at::mm(a, w.t());
  auto forward = [&] { Sync(backbone.Forward(pixels).pooler_output); };
  auto gemm = [&] {
    at::mm_out(c, a, w.t());
    Sync(c);
  };
  // The worker's path: pageable host slices in, pooled features out on the host.
  std::vector<float> host_pixels;
  std::unique_ptr<DeviceInput> input;
  if (host_input) {
    host_pixels = ToFloatVector(pixels);
    input = std::make_unique<DeviceInput>(dev, std::vector<int64_t>{cfg.num_channels, height, width});
  }
  auto from_host = [&] {
    const c10::OptionalStreamGuard on_stream(input->stream());
    (void)ToFloatVector(backbone.Forward(input->Upload(host_pixels.data(), batch)).pooler_output);
  };

  // Warm-up (allocator, kernels, caches), then rounds that time one forward pass and then the
  // matrix product for about a third of that time, so that both see the same machine conditions.
  forward();
  gemm();
  if (input) from_host();
  std::vector<double> times, gemm_times, host_times;
  for (int64_t i = 0; i < r.iterations; ++i) {
    const double t = TimeOnce(forward);
    times.push_back(t);
    if (input) host_times.push_back(TimeOnce(from_host));
    double spent = 0;
    for (int k = 0; k < 3 || (spent < t / 3 && k < 1000); ++k) {
      const double g = TimeOnce(gemm);
      gemm_times.push_back(g);
      spent += g;
    }
  }
  r.profiled_seconds = TimeOnce([&] { Sync(backbone.Forward(pixels, false, &r.split).pooler_output); });
  r.seconds_per_batch = Median(times);
  r.images_per_second = static_cast<double>(batch) / r.seconds_per_batch;
  r.flops_per_image = model::BackboneFlopsPerImage(cfg, height, width);
  r.backbone_flops_per_second = r.flops_per_image * static_cast<double>(batch) / r.seconds_per_batch;
  // The reference is an upper bound only at its best: the fastest of its runs, each warm and
  // interleaved with the backbone's passes (a median let a slow phase of the machine make the
  // backbone look faster than its own dominant product: a ratio of 1.134 on 2026-12-01).
  r.gemm_runs = static_cast<int64_t>(gemm_times.size());
  r.gemm_seconds = *std::min_element(gemm_times.begin(), gemm_times.end());
  r.gemm_median_seconds = Median(gemm_times);
  r.gemm_flops_per_second = r.gemm.Flops() / r.gemm_seconds;
  r.ratio = r.backbone_flops_per_second / r.gemm_flops_per_second;
  if (input) {
    r.host_seconds_per_batch = Median(host_times);
    r.host_input_ratio = r.seconds_per_batch / r.host_seconds_per_batch;
  }
  return r;
}

void PrintTimeSplit(std::ostream& out, const BackboneBenchResult& r, const model::BackboneFlops& flops) {
  const nn::ForwardTimes& t = r.split;
  const double total = t.Total();
  if (total <= 0) return;
  const double images = static_cast<double>(r.batch);
  struct Part {
    const char* name;
    double seconds;
    double flops;                   // 0: element-wise, not counted
    const char* if_none = nullptr;  // printed instead of "0.0 %" when the part took no time of its own
  };
  const Part parts[] = {{"projections", t.projections, flops.projections * images},
                        {"attn products", t.attention_products, flops.attention_products * images},
                        {"softmax", t.softmax, 0, "in attn products (fused attention kernel)"},
                        {"norms", t.norms, 0},
                        {"mlp", t.mlp, flops.mlp * images},
                        {"embed", t.embed, flops.embed * images}};
  out << "  time split  one profiled pass, " << Fixed(r.profiled_seconds, 3) << " s (part: share of the time"
      << (r.gemm_flops_per_second > 0 ? ", GFLOP/s, / matmul rate)\n" : ")\n");
  for (const Part& p : parts) {
    std::string name = p.name;
    name.resize(14, ' ');
    if (p.seconds == 0 && p.if_none != nullptr) {
      out << "    " << name << p.if_none << "\n";
      continue;
    }
    out << "    " << name << Fixed(100.0 * p.seconds / total, 1) << " %";
    if (p.flops > 0 && p.seconds > 0) {
      const double rate = p.flops / p.seconds;
      out << ", " << Fixed(rate / 1e9, 1) << " GFLOP/s";
      if (r.gemm_flops_per_second > 0) out << ", " << Fixed(rate / r.gemm_flops_per_second, 2);
    }
    out << "\n";
  }
}

}  // namespace curia::cli
