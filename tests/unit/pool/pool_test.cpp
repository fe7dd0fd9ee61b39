// SPDX-License-Identifier: GPL-3.0-or-later
// The worker pool with the real LibTorch model (the tiny demo model and its demo heads) and
// generated phantom volumes.
#include "curia/pool/pool.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "curia/config/error.h"
#include "curia/model/demo_model.h"
#include "curia/model/mask.h"
#include "curia/model/preprocess.h"
#include "curia/nn/backbone.h"
#include "curia/nn/head.h"
#include "curia/nn/tensor_io.h"
#include "curia/nn/torch_model.h"
#include "curia/phantom/phantom.h"
#include "curia/phantom/volume_source.h"
#include "test_support.h"

namespace curia::pool {
namespace {

using namespace std::chrono_literals;
using phantom::PhantomSource;
using worker::IDeviceRunner;
using worker::IModel;
using worker::ModelInfo;
using worker::SliceRequest;
using worker::SliceResult;
using worker::SliceTokens;
using worker::TaskFinding;
using worker::VolumeInfo;

// Collects results; Wait blocks until `n` jobs have finished.
class Results {
 public:
  DoneCallback Callback() {
    return [this](JobResult r) {
      std::lock_guard<std::mutex> lock(mu_);
      order_.push_back(r.id);
      results_[r.id] = std::move(r);
      cv_.notify_all();
    };
  }
  bool Wait(size_t n, std::chrono::seconds timeout = 120s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return results_.size() >= n; });
  }
  JobResult Get(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    return results_.at(id);
  }
  std::vector<std::string> Order() {
    std::lock_guard<std::mutex> lock(mu_);
    return order_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, JobResult> results_;
  std::vector<std::string> order_;
};

std::shared_ptr<PhantomSource> Phantom(int64_t slices, int64_t size = 128, uint64_t seed = 0) {
  phantom::PhantomOptions o;
  o.slices = slices;
  o.rows = o.cols = size;
  o.pixel_mm = 256.0 / static_cast<double>(size);
  o.seed = seed;
  return std::make_shared<PhantomSource>(o);
}

// A volume whose slice `bad` cannot be read.
class BrokenSource : public PhantomSource {
 public:
  BrokenSource(phantom::PhantomOptions o, int64_t bad) : PhantomSource(o), bad_(bad) {}
  void ReadSlice(int64_t index, float* out) const override {
    if (index == bad_) throw Error(ErrorCode::kInvalidArgument, "pixel data truncated");
    PhantomSource::ReadSlice(index, out);
  }

 private:
  int64_t bad_;
};

// A SEG segment on a volume of `slices` slices of `plane` pixels: where inside(slice, pixel).
worker::JobRegion SegRegion(int64_t slices, int64_t plane, int number, const std::string& label,
                            const std::function<bool(int64_t, int64_t)>& inside) {
  worker::JobRegion r;
  r.reference.kind = "SEG";
  r.reference.number = number;
  r.reference.label = label;
  r.reference.slice_pixels.assign(static_cast<size_t>(slices), 0);
  r.mask.assign(static_cast<size_t>(slices * plane), 0);
  for (int64_t k = 0; k < slices; ++k) {
    for (int64_t i = 0; i < plane; ++i) {
      if (!inside(k, i)) continue;
      r.mask[static_cast<size_t>(k * plane + i)] = 1;
      ++r.reference.slice_pixels[static_cast<size_t>(k)];
      ++r.reference.pixels;
    }
  }
  return r;
}

// One job through a pool of its own; the pool's figures in `stats`.
JobResult RunAlone(IModel& model, const config::ModelSettings& settings, JobRequest request, PoolStats* stats) {
  Results results;
  const std::string id = request.id;
  WorkerPool pool(model, settings);
  pool.Submit(std::move(request), results.Callback());
  EXPECT_TRUE(results.Wait(1));
  *stats = pool.Stats();
  return results.Get(id);
}

// The real model on a slow device: every batch takes 100 ms longer, so that slices queue up.
class SlowDevice : public IModel {
 public:
  explicit SlowDevice(IModel& model) : model_(model) {}
  const ModelInfo& info() const override { return model_.info(); }
  std::unique_ptr<IDeviceRunner> CreateRunner(size_t device) override {
    return std::make_unique<Runner>(model_.CreateRunner(device));
  }
  std::vector<int64_t> KeptSlices(int task, int64_t slices, const std::vector<bool>& masked) const override {
    return model_.KeptSlices(task, slices, masked);
  }
  std::vector<float> Run3D(int task, const std::vector<const SliceTokens*>& slices) const override {
    return model_.Run3D(task, slices);
  }

 private:
  struct Runner : IDeviceRunner {
    explicit Runner(std::unique_ptr<IDeviceRunner> r) : runner(std::move(r)) {}
    void Run(const float* pixels, int64_t n, const std::vector<SliceRequest>& requests,
             std::vector<SliceResult>& results) override {
      std::this_thread::sleep_for(100ms);
      runner->Run(pixels, n, requests, results);
    }
    std::unique_ptr<IDeviceRunner> runner;
  };
  IModel& model_;
};

class PoolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    model::WriteDemoModel(dir_->path(), model::DemoSize::kTiny, 0);
  }
  static void TearDownTestSuite() { delete dir_; }

  // Two tasks on the demo heads: 2-D over every slice, 3-D over a window of 5.
  config::CuriaSettings Settings(const std::string& norm3d = "auto") {
    const std::string json = R"({"Curia": {
        "Model": {"Path": ")" + dir_->path() + R"(", "Threads": 1, "MaxBatch": 4, "MaxBatchDelayMs": 20,
                  "PreprocessThreads": 2, "QueuedSlices": 8, "MaxActiveJobs": 4},
        "Tasks": {
          "finding-2d": {"Head": "demo-2d", "Aggregate": "max", "Threshold": 0.5,
                         "Finding": {"Code": "C1", "Scheme": "99DEMO", "Meaning": "Demo finding"}},
          "finding-3d": {"Head": "demo-3d", "Normalization": ")" + norm3d + R"(",
                         "Finding": {"Code": "C2", "Scheme": "99DEMO", "Meaning": "Demo 3-D finding"}}}}})";
    return config::ParseCuriaSettings(config::ParseJson(json, "test.json"), "test.json", "");
  }

  static test::TempDir* dir_;
};

test::TempDir* PoolTest::dir_ = nullptr;

TEST_F(PoolTest, FindingsEqualTheDirectComputation) {
  const config::CuriaSettings settings = Settings();
  auto model = nn::TorchModel::Load(settings);
  Results results;
  auto volume = Phantom(12, 96);
  {
    WorkerPool pool(*model, settings.model);
    pool.Submit({"study", Priority::kRoutine, volume, {}, /*heat_maps=*/true}, results.Callback());
    // `curia features`' jobs: every slice's post-LN CLS, the slices z-scored alone or with the volume.
    for (const auto& [id, norm] : {std::pair{"features-slice", config::Normalization::kPerSlice},
                                   std::pair{"features-volume", config::Normalization::kPerVolume}}) {
      JobRequest request{id, Priority::kRoutine, volume, {"finding-3d"}};
      request.slice_features = true;
      request.features_normalization = norm;
      request.volume_inputs = true;  // and the 3-D head's input, as `curia features --like` stores it
      pool.Submit(std::move(request), results.Callback());
    }
    JobRequest bad{"features-auto", Priority::kRoutine, volume, {}};
    bad.slice_features = true;
    bad.features_normalization = config::Normalization::kAuto;
    pool.Submit(std::move(bad), results.Callback());
    ASSERT_TRUE(results.Wait(4));
  }
  const JobResult r = results.Get("study");
  EXPECT_TRUE(r.slice_features.empty());  // not asked for
  EXPECT_EQ(results.Get("features-auto").status, JobStatus::kFailed);
  EXPECT_NE(results.Get("features-auto").error.find("per slice or per volume"), std::string::npos);
  ASSERT_EQ(r.status, JobStatus::kDone) << r.error;
  ASSERT_EQ(r.findings.findings.size(), 2u);
  EXPECT_TRUE(r.findings.demo);
  EXPECT_EQ(r.findings.slices, 12);

  // The same study computed directly: Curia's processor on the whole (H, W, S) volume and on each
  // slice, the backbone, the heads.
  nn::BackboneOptions options;
  auto backbone = nn::Dinov2Backbone::Load(dir_->path(), options);
  auto head2d = nn::TaskHead::Load(dir_->path() + "/demo-2d", *backbone);
  auto head3d = nn::TaskHead::Load(dir_->path() + "/demo-3d", *backbone);
  const VolumeInfo info = volume->Info();
  std::vector<std::vector<float>> slices(12, std::vector<float>(96 * 96));
  std::vector<int16_t> hws(96 * 96 * 12);
  std::vector<std::vector<int16_t>> slices16(12, std::vector<int16_t>(96 * 96));
  for (int64_t k = 0; k < 12; ++k) {
    volume->ReadSlice(k, slices[static_cast<size_t>(k)].data());
    for (int i = 0; i < 96 * 96; ++i) {
      slices16[static_cast<size_t>(k)][static_cast<size_t>(i)] = static_cast<int16_t>(slices[static_cast<size_t>(k)][static_cast<size_t>(i)]);
      hws[static_cast<size_t>(i * 12 + k)] = slices16[static_cast<size_t>(k)][static_cast<size_t>(i)];
    }
  }
  auto view = [](const std::vector<int16_t>& v, std::vector<int64_t> shape) {
    model::TensorView t;
    t.name = "image";
    t.dtype = model::DType::kI16;
    t.shape = std::move(shape);
    t.data = reinterpret_cast<const uint8_t*>(v.data());
    t.nbytes = v.size() * 2;
    return t;
  };
  model::PreprocessOptions opt;
  opt.crop_size = 512;
  std::vector<model::TensorView> views;
  for (const auto& s : slices16) views.push_back(view(s, {96, 96}));
  const model::PreprocessResult per_slice = model::Preprocess(views, opt);
  const at::Tensor x2d = at::from_blob(const_cast<float*>(per_slice.pixel_values.data()), {12, 1, 512, 512});
  const nn::BackboneOutput out2d = backbone->Forward(x2d);
  const at::Tensor p2d = head2d->Probabilities(head2d->Logits2D(out2d));
  const TaskFinding& f2 = r.findings.findings[0];
  EXPECT_EQ(f2.task, "finding-2d");
  ASSERT_EQ(f2.slice_scores.size(), 12u);
  EXPECT_TRUE(test::AllClose(f2.slice_scores, nn::ToFloatVector(p2d.select(1, 1)), 1e-5));
  const JobResult features = results.Get("features-slice");
  ASSERT_EQ(features.status, JobStatus::kDone) << features.error;
  ASSERT_EQ(features.slice_features.size(), 12u);
  ASSERT_EQ(features.findings.findings.size(), 1u);  // its task ran too
  for (int64_t k = 0; k < 12; ++k) {
    EXPECT_TRUE(test::AllClose(features.slice_features[static_cast<size_t>(k)], nn::ToFloatVector(out2d.pooler_output[k]), 1e-5))
        << "slice " << k;
  }
  EXPECT_NEAR(f2.probability, p2d.select(1, 1).max().item<float>(), 1e-5);
  EXPECT_EQ(f2.key_slice, p2d.select(1, 1).argmax().item<int64_t>());
  EXPECT_EQ(f2.present, f2.probability >= 0.5);
  // The key slice's heat map: the head's classifier on each of the 32 x 32 patch tokens.
  ASSERT_EQ(f2.heat_map.rows, 32);
  ASSERT_EQ(f2.heat_map.cols, 32);
  const at::Tensor map = head2d->PatchProbabilities(out2d)[f2.key_slice].select(1, 1);
  EXPECT_TRUE(test::AllClose(f2.heat_map.values, nn::ToFloatVector(map), 1e-5));
  EXPECT_GT(map.max().item<float>() - map.min().item<float>(), 1e-3);  // a map, not a constant

  const model::PreprocessResult volume3d = model::Preprocess({view(hws, {96, 96, 12})}, opt);  // one z-score
  const at::Tensor x3d = at::from_blob(const_cast<float*>(volume3d.pixel_values.data()), {12, 1, 512, 512});
  const nn::BackboneOutput out3d = backbone->Forward(x3d);
  const at::Tensor p3d = head3d->Probabilities(head3d->Logits3D({out3d.encoder_output}));
  const JobResult features_volume = results.Get("features-volume");
  ASSERT_EQ(features_volume.status, JobStatus::kDone) << features_volume.error;
  ASSERT_EQ(features_volume.slice_features.size(), 12u);
  for (int64_t k = 0; k < 12; ++k) {
    EXPECT_TRUE(test::AllClose(features_volume.slice_features[static_cast<size_t>(k)], nn::ToFloatVector(out3d.pooler_output[k]), 1e-5))
        << "slice " << k;
  }
  // The 3-D head's attention-module input: the window's tokens (the task z-scores with the volume).
  std::vector<at::Tensor> window;
  for (int64_t k : head3d->KeptSlices(12)) window.push_back(head3d->SliceTokens(out3d.encoder_output[k]));
  const at::Tensor input = head3d->VolumeInput(window);
  ASSERT_EQ(features_volume.volume_inputs.count("finding-3d"), 1u);
  const SliceTokens& got = features_volume.volume_inputs.at("finding-3d");
  EXPECT_EQ(got.rows, input.size(0));
  EXPECT_EQ(got.cols, input.size(1));
  EXPECT_TRUE(test::AllClose(got.values, nn::ToFloatVector(input), 1e-5));
  EXPECT_TRUE(r.volume_inputs.empty());  // not asked for
  const TaskFinding& f3 = r.findings.findings[1];
  EXPECT_EQ(f3.pooled_slices, (std::vector<int64_t>{4, 5, 6, 7, 8}));
  EXPECT_EQ(f3.key_slice, 6);
  EXPECT_TRUE(f3.heat_map.values.empty());  // 3-D heads have no per-patch classifier
  EXPECT_NEAR(f3.probability, p3d[0][1].item<float>(), 1e-5);
  EXPECT_NEAR(f3.class_probabilities[0], p3d[0][0].item<float>(), 1e-5);
  EXPECT_GT(r.findings.timings.device_seconds, 0.0);
  EXPECT_GT(r.findings.timings.preprocess_seconds, 0.0);
}

TEST_F(PoolTest, TwentyConcurrentJobsStatFirstAndBatchedAcrossJobs) {
  const config::CuriaSettings settings = Settings("per-slice");
  auto model = nn::TorchModel::Load(settings);
  Results results;
  WorkerPool pool(*model, settings.model);
  pool.Pause();  // queue everything first, so that the order is the pool's doing
  std::map<std::string, Priority> priority;
  std::map<std::string, std::vector<int64_t>> progress;
  std::mutex progress_mu;
  for (int i = 0; i < 20; ++i) {
    const Priority p = i % 4 == 1 ? Priority::kStat : i % 4 == 3 ? Priority::kOffPeak : Priority::kRoutine;
    const std::string id = std::string(PriorityName(p)) + "-" + std::to_string(i);
    priority[id] = p;
    pool.Submit({id, p, Phantom(5 + i % 3, 64, static_cast<uint64_t>(i)), {}}, results.Callback(),
                [&, id](const JobProgress& pr) {
                  std::lock_guard<std::mutex> lock(progress_mu);
                  EXPECT_EQ(pr.id, id);
                  progress[id].push_back(pr.done);
                  EXPECT_LE(pr.done, pr.total);
                });
  }
  pool.Resume();
  ASSERT_TRUE(results.Wait(20));
  const std::vector<std::string> order = results.Order();
  ASSERT_EQ(order.size(), 20u);
  for (const auto& id : order) {
    EXPECT_EQ(results.Get(id).status, JobStatus::kDone) << id << results.Get(id).error;
    EXPECT_TRUE(results.Get(id).findings.findings.at(0).heat_map.values.empty()) << id;  // not asked for
  }
  // Every stat job finishes before any routine one, every routine one before any off-peak one.
  for (size_t i = 1; i < order.size(); ++i) {
    EXPECT_LE(static_cast<int>(priority[order[i - 1]]), static_cast<int>(priority[order[i]]))
        << order[i - 1] << " finished before " << order[i];
  }
  const PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.jobs_done, 20);
  EXPECT_GT(stats.largest_batch, 1);
  EXPECT_GT(stats.multi_job_batches, 0);
  EXPECT_LE(stats.peak_queued, 8);  // QueuedSlices
  // Progress only moves forward and ends at the total.
  for (const auto& [id, steps] : progress) {
    EXPECT_TRUE(std::is_sorted(steps.begin(), steps.end())) << id;
    // Both tasks z-score per slice here, so the 3-D window reuses the 2-D slices: one pass each.
    EXPECT_EQ(steps.back(), results.Get(id).findings.slices) << id;
  }
}

TEST_F(PoolTest, RoutineWorkIsNotStarvedByAStreamOfStatJobs) {
  config::CuriaSettings settings = Settings("per-slice");
  settings.model.aging_seconds = 0.3;
  auto model = nn::TorchModel::Load(settings);
  Results results;
  WorkerPool pool(*model, settings.model);
  pool.Submit({"routine", Priority::kRoutine, Phantom(6, 64), {"finding-2d"}}, results.Callback());
  // Keep stat jobs waiting for as long as the routine job has not finished (at most 60 s).
  std::atomic<int> submitted{0};
  const auto start = std::chrono::steady_clock::now();
  bool routine_done = false;
  while (!routine_done && std::chrono::steady_clock::now() - start < 60s) {
    while (submitted - static_cast<int>(pool.Stats().jobs_done) < 6) {
      pool.Submit({"stat-" + std::to_string(submitted++), Priority::kStat, Phantom(6, 64), {"finding-2d"}},
                  results.Callback());
    }
    std::this_thread::sleep_for(20ms);
    for (const auto& id : results.Order()) routine_done = routine_done || id == "routine";
  }
  EXPECT_TRUE(routine_done) << "the routine job starved behind " << submitted << " stat jobs";
  EXPECT_GT(submitted.load(), 6);  // it did have to compete
}

TEST_F(PoolTest, CancelFailureAndShortVolumesLeaveOtherJobsAlone) {
  const config::CuriaSettings settings = Settings();
  auto model = nn::TorchModel::Load(settings);
  Results results;
  WorkerPool pool(*model, settings.model);
  phantom::PhantomOptions broken;
  broken.slices = 6;
  broken.rows = broken.cols = 64;
  pool.Submit({"long", Priority::kRoutine, Phantom(300, 64), {"finding-2d"}}, results.Callback());
  pool.Submit({"broken", Priority::kRoutine, std::make_shared<BrokenSource>(broken, 3), {}}, results.Callback());
  pool.Submit({"short", Priority::kRoutine, Phantom(2, 64), {"finding-3d"}}, results.Callback());
  pool.Submit({"good", Priority::kRoutine, Phantom(7, 64), {}}, results.Callback());
  pool.Submit({"two-slices", Priority::kRoutine, Phantom(2, 64), {}}, results.Callback());
  EXPECT_THROW(pool.Submit({"good", Priority::kRoutine, Phantom(7, 64), {}}, results.Callback()), Error);
  EXPECT_THROW(pool.Submit({"x", Priority::kRoutine, Phantom(7, 64), {"no-such-task"}}, results.Callback()), Error);
  while (pool.Progress("long") && pool.Progress("long")->done < 10) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(pool.Cancel("long"));
  EXPECT_FALSE(pool.Cancel("nobody"));
  ASSERT_TRUE(results.Wait(5));
  EXPECT_EQ(results.Get("long").status, JobStatus::kCancelled);
  EXPECT_EQ(results.Get("broken").status, JobStatus::kFailed);
  EXPECT_EQ(results.Get("broken").error, "slice 3: pixel data truncated");
  EXPECT_EQ(results.Get("short").status, JobStatus::kFailed);
  EXPECT_NE(results.Get("short").error.find("task finding-3d: the volume has 2 slice(s): too few for the head's window of 5"),
            std::string::npos)
      << results.Get("short").error;
  EXPECT_EQ(results.Get("good").status, JobStatus::kDone) << results.Get("good").error;
  // Where a 3-D window does not fit, that task is skipped with its reason and the others run.
  const JobResult two = results.Get("two-slices");
  ASSERT_EQ(two.status, JobStatus::kDone) << two.error;
  ASSERT_EQ(two.findings.findings.size(), 1u);
  EXPECT_EQ(two.findings.findings[0].task, "finding-2d");
  ASSERT_EQ(two.findings.skipped.size(), 1u);
  EXPECT_EQ(two.findings.skipped[0].task, "finding-3d");
  EXPECT_NE(two.findings.skipped[0].reason.find("too few for the head's window of 5"), std::string::npos);
  EXPECT_FALSE(pool.Progress("long"));  // gone from the pool
}

// A job cancelled while its slices wait in the queue leaves when the device drops them: its callback
// runs while the pool lives, and its place among the active jobs goes to the next job.
TEST_F(PoolTest, CancelledQueuedWorkFreesItsPlace) {
  config::CuriaSettings settings = Settings();
  settings.model.max_batch = 2;
  settings.model.queued_slices = 4;
  settings.model.max_active_jobs = 1;
  settings.model.preprocess_threads = 1;
  settings.model.max_batch_delay_ms = 1;
  auto model = nn::TorchModel::Load(settings);
  SlowDevice slow(*model);
  Results results;
  WorkerPool pool(slow, settings.model);
  pool.Submit({"a", Priority::kRoutine, Phantom(100, 32), {"finding-2d"}}, results.Callback());
  while (!pool.Progress("a") || pool.Progress("a")->done < 2) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(50ms);  // the queue is full again: the pump waits for room
  ASSERT_TRUE(pool.Cancel("a"));
  ASSERT_TRUE(results.Wait(1, 10s)) << "the cancelled job never left the pool";
  EXPECT_EQ(results.Get("a").status, JobStatus::kCancelled);
  pool.Submit({"b", Priority::kRoutine, Phantom(4, 32), {"finding-2d"}}, results.Callback());
  ASSERT_TRUE(results.Wait(2, 20s)) << "the next job never started";
  EXPECT_EQ(results.Get("b").status, JobStatus::kDone) << results.Get("b").error;
}

// With several workers on a device, progress still only rises and never follows the job's end.
TEST_F(PoolTest, ProgressRisesAndStopsAtTheEndWithSeveralWorkers) {
  config::CuriaSettings settings = Settings("per-slice");
  settings.model.workers_per_device = 3;
  settings.model.max_batch = 1;
  auto model = nn::TorchModel::Load(settings);
  std::mutex mu;
  std::map<std::string, std::vector<int64_t>> steps;
  std::map<std::string, bool> ended;
  int late = 0;
  Results results;
  {
    WorkerPool pool(*model, settings.model);
    for (int i = 0; i < 4; ++i) {
      const std::string id = "job-" + std::to_string(i);
      pool.Submit({id, Priority::kRoutine, Phantom(12, 32, static_cast<uint64_t>(i)), {}},
                  [&, done = results.Callback()](JobResult r) {
                    {
                      std::lock_guard<std::mutex> lock(mu);
                      ended[r.id] = true;
                    }
                    done(std::move(r));
                  },
                  [&](const JobProgress& p) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(p.done % 3 * 4));  // uneven delivery
                    std::lock_guard<std::mutex> lock(mu);
                    if (ended[p.id]) ++late;
                    steps[p.id].push_back(p.done);
                  });
    }
    ASSERT_TRUE(results.Wait(4));
  }
  EXPECT_EQ(late, 0);
  for (const auto& [id, s] : steps) {
    EXPECT_TRUE(std::adjacent_find(s.begin(), s.end(), std::greater_equal<int64_t>()) == s.end()) << id;
    EXPECT_EQ(s.back(), 12) << id;
  }
}

TEST_F(PoolTest, MaskPromptedHeadsAreRefusedWithThePath) {
  std::string json = R"({"Model": {"Path": ")" + dir_->path() + R"("}, "Tasks": {"organ": {"Head": "demo-mask",
      "Class": "region A", "Finding": {"Code": "C3", "Scheme": "99DEMO", "Meaning": "Organ"}}}})";
  const auto settings = config::ParseCuriaSettings(config::ParseJson(json, "c.json"), "c.json", "");
  std::string msg = test::ErrorMessage([&] { nn::TorchModel::Load(settings); });
  EXPECT_NE(msg.find("c.json: $.Tasks.organ.Head: " + dir_->path() + "/demo-mask is a mask-prompted head"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("give the task a \"Region\""), std::string::npos) << msg;
  json = R"({"Model": {"Path": ")" + dir_->path() + R"("}, "Tasks": {"t": {"Head": "demo-2d", "Region": {},
      "Finding": {"Code": "C3", "Scheme": "99DEMO", "Meaning": "X"}}}})";
  msg = test::ErrorMessage(
      [&] { nn::TorchModel::Load(config::ParseCuriaSettings(config::ParseJson(json, "c.json"), "c.json", "")); });
  EXPECT_NE(msg.find("c.json: $.Tasks.t.Region: only for mask-prompted heads; " + dir_->path() + "/demo-2d classifies"),
            std::string::npos)
      << msg;
  json = R"({"Model": {"Path": ")" + dir_->path() + R"("}, "Tasks": {"t": {"Head": "demo-2d", "Class": "maybe",
      "Finding": {"Code": "C3", "Scheme": "99DEMO", "Meaning": "X"}}}})";
  msg = test::ErrorMessage(
      [&] { nn::TorchModel::Load(config::ParseCuriaSettings(config::ParseJson(json, "c.json"), "c.json", "")); });
  EXPECT_NE(msg.find("c.json: $.Tasks.t.Class: \"maybe\" is not a class of"), std::string::npos) << msg;
}

// Regions of one series for a mask-prompted task: one finding per selected region, the backbone once
// per slice that any region needs (not once per region), each slice's probabilities those of the
// backbone and head called directly with the reference's mask transform; refused and too small
// regions skipped with their reason.
TEST_F(PoolTest, RegionTasksShareTheBackbonePassOfTheirSlices) {
  const std::string json = R"({"Model": {"Path": ")" + dir_->path() + R"(", "Threads": 1, "MaxBatch": 4,
      "MaxBatchDelayMs": 20, "PreprocessThreads": 2, "QueuedSlices": 8},
      "Tasks": {"organ": {"Head": "demo-mask", "Region": {"From": ["SEG"]},
                          "Finding": {"Code": "C3", "Scheme": "99DEMO", "Meaning": "Organ"}}}})";
  const auto settings = config::ParseCuriaSettings(config::ParseJson(json, "c.json"), "c.json", "");
  auto model = nn::TorchModel::Load(settings);
  constexpr int64_t kSlices = 6, kSize = 64, kPlane = kSize * kSize;
  auto volume = Phantom(kSlices, kSize);
  phantom::PhantomOptions o;
  o.slices = kSlices;
  o.rows = o.cols = kSize;
  o.pixel_mm = 256.0 / kSize;
  std::vector<uint8_t> labels(static_cast<size_t>(kSlices * kPlane));
  for (int64_t k = 0; k < kSlices; ++k) phantom::MakeHeadPhantomLabels(o, k, labels.data() + k * kPlane);
  auto region = [&](int number, const std::string& label, const std::function<bool(int64_t, int64_t)>& inside) {
    return SegRegion(kSlices, kPlane, number, label, inside);
  };
  JobRequest request{"regions", Priority::kRoutine, volume, {}, false, {}};
  request.region_features = true;  // as `curia features` asks for a region head's features
  std::vector<int> structures;
  for (const phantom::PhantomStructure& st : phantom::PhantomStructures()) {
    request.regions.push_back(region(st.label, st.name, [&](int64_t k, int64_t i) {
      return labels[static_cast<size_t>(k * kPlane + i)] == st.label;
    }));
  }
  // A 6x6 square on slice 3 alone, named as a class of the head; 5 pixels on slice 1; a refused
  // segment; an RTSTRUCT ROI that the task's Region leaves out.
  request.regions.push_back(region(20, "Region B", [](int64_t k, int64_t i) {
    return k == 3 && i / kSize >= 30 && i / kSize < 36 && i % kSize >= 10 && i % kSize < 16;
  }));
  request.regions.push_back(region(21, "speck", [](int64_t k, int64_t i) { return k == 1 && i >= 2000 && i < 2005; }));
  worker::JobRegion refused;
  refused.reference.kind = "SEG";
  refused.reference.number = 22;
  refused.reference.label = "empty";
  refused.refusal = "empty: no pixel on the series grid";
  request.regions.push_back(refused);
  request.regions.push_back(region(1, "roi", [](int64_t, int64_t) { return true; }));
  request.regions.back().reference.kind = "RTSTRUCT";

  // What the backbone must see: every slice where a selected region has at least 16 pixels, once.
  std::set<int64_t> needed;
  size_t expected_findings = 0;
  for (const worker::JobRegion& r : request.regions) {
    if (r.reference.kind != "SEG" || !r.refusal.empty()) continue;
    bool any = false;
    for (int64_t k = 0; k < kSlices; ++k) {
      if (r.reference.slice_pixels[static_cast<size_t>(k)] >= 16) needed.insert(k), any = true;
    }
    expected_findings += any ? 1 : 0;
  }
  const std::vector<worker::JobRegion> regions = request.regions;
  PoolStats stats;
  const JobResult r = RunAlone(*model, settings.model, std::move(request), &stats);
  ASSERT_EQ(r.status, JobStatus::kDone) << r.error;
  EXPECT_EQ(stats.slices, static_cast<int64_t>(needed.size()));
  ASSERT_EQ(r.findings.findings.size(), expected_findings);
  EXPECT_GE(expected_findings, 6u);
  EXPECT_EQ(r.region_features.size(), expected_findings);  // one per region the task ran on
  // The phantom's structures too small at this size are skipped like the speck.
  std::vector<std::string> skipped;
  for (const worker::SkippedTask& k : r.findings.skipped) skipped.push_back(k.task + ": " + k.reason);
  ASSERT_GE(skipped.size(), 2u);
  EXPECT_EQ(skipped.size(), regions.size() - 1 - expected_findings);  // all but the RTSTRUCT ROI and the findings
  EXPECT_EQ(skipped[skipped.size() - 2],
            "organ: SEG segment 21 \"speck\": too few pixels (at most 5 on a slice, below Region.MinPixels 16)");
  EXPECT_EQ(skipped.back(), "organ: SEG segment 22 \"empty\": empty: no pixel on the series grid");

  nn::BackboneOptions options;
  auto backbone = nn::Dinov2Backbone::Load(dir_->path(), options);
  auto head = nn::TaskHead::Load(dir_->path() + "/demo-mask", *backbone);
  model::MaskResizer resizer(kSize, kSize, 512);
  for (const TaskFinding& f : r.findings.findings) {
    const worker::JobRegion* source = nullptr;
    for (const worker::JobRegion& g : regions) source = g.reference.kind == "SEG" && g.reference.number == f.region.number ? &g : source;
    ASSERT_NE(source, nullptr);
    SCOPED_TRACE(f.region.label);
    EXPECT_EQ(f.task, "organ");
    // The key slice is the largest area; its mask comes with the finding for the key image.
    const std::vector<int64_t>& area = source->reference.slice_pixels;
    EXPECT_EQ(f.key_slice, std::max_element(area.begin(), area.end()) - area.begin());
    ASSERT_EQ(f.region.key_slice_mask.size(), static_cast<size_t>(kPlane));
    EXPECT_TRUE(std::equal(f.region.key_slice_mask.begin(), f.region.key_slice_mask.end(),
                           source->mask.begin() + f.key_slice * kPlane));
    // No Class on a 3-class head: the finding is the predicted class, the mean over the slices.
    ASSERT_EQ(f.class_probabilities.size(), 3u);
    const auto predicted = std::max_element(f.class_probabilities.begin(), f.class_probabilities.end()) - f.class_probabilities.begin();
    EXPECT_EQ(f.positive_class, predicted);
    EXPECT_EQ(f.region.predicted_class, f.labels[static_cast<size_t>(predicted)]);
    EXPECT_NEAR(f.probability, f.class_probabilities[static_cast<size_t>(predicted)], 1e-6);
    EXPECT_EQ(f.region.agreement, f.region.label != "Region B" ? ""
                                  : f.region.predicted_class == "region B" ? "agrees" : "disagrees");
    std::vector<at::Tensor> per_slice;
    int64_t used = 0;
    for (int64_t k = 0; k < kSlices; ++k) {
      if (area[static_cast<size_t>(k)] < 16) continue;
      ++used;
      // The slice as Curia's processor makes it, the mask as the reference trainer does.
      std::vector<float> raw(kPlane);
      volume->ReadSlice(k, raw.data());
      std::vector<int16_t> hu(raw.begin(), raw.end());
      model::TensorView t;
      t.name = "image";
      t.dtype = model::DType::kI16;
      t.shape = {kSize, kSize};
      t.data = reinterpret_cast<const uint8_t*>(hu.data());
      t.nbytes = hu.size() * 2;
      model::PreprocessOptions opt;
      opt.crop_size = 512;
      const model::PreprocessResult x = model::Preprocess({t}, opt);
      std::vector<float> mask(512 * 512);
      resizer.Resize(source->mask.data() + k * kPlane, mask.data());
      const nn::BackboneOutput out =
          backbone->Forward(at::from_blob(const_cast<float*>(x.pixel_values.data()), {1, 1, 512, 512}));
      const at::Tensor mask_tensor = at::from_blob(mask.data(), {1, 1, 512, 512});
      per_slice.push_back(head->Probabilities(head->Logits2D(out, mask_tensor)));
      // The feature the head classifies there, as the pool hands it to `curia features`.
      const at::Tensor feature = head->MaskedFeatures2D(out, mask_tensor, {0});
      const RegionFeatures* got = nullptr;
      for (const RegionFeatures& rf : r.region_features) got = regions[rf.region].reference.number == f.region.number ? &rf : got;
      ASSERT_NE(got, nullptr);
      const auto at = std::find(got->slices.begin(), got->slices.end(), k);
      ASSERT_NE(at, got->slices.end());
      EXPECT_TRUE(test::AllClose(got->features[static_cast<size_t>(at - got->slices.begin())], nn::ToFloatVector(feature[0]), 1e-5));
    }
    EXPECT_EQ(f.region.slices_used, used);
    const at::Tensor mean = at::cat(per_slice).mean(0);
    EXPECT_TRUE(test::AllClose(f.class_probabilities, nn::ToFloatVector(mean), 1e-5));
  }
}

// A 3-D mask-prompted head on regions: per region, the head's window centred on the middle slice
// its mask covers, the tokens under the mask of each kept slice, the same probabilities as the head
// called directly on the whole volume with the reference's stacked mask (one threshold per stack);
// the backbone once per slice that any window needs; a region whose window leaves the volume is
// skipped with the reason.
TEST_F(PoolTest, ThreeDimensionalMaskHeadsPoolTheWindowAroundEachRegion) {
  const std::string head_dir = test::AddDemoMask3DHead(dir_->path());
  const std::string json = R"({"Model": {"Path": ")" + dir_->path() + R"(", "Threads": 1, "MaxBatch": 4,
      "MaxBatchDelayMs": 20, "PreprocessThreads": 2, "QueuedSlices": 8},
      "Tasks": {"lesion": {"Head": ")" + head_dir + R"(", "Region": {"From": ["SEG"]},
                           "Finding": {"Code": "C4", "Scheme": "99DEMO", "Meaning": "Lesion"}}}})";
  const auto settings = config::ParseCuriaSettings(config::ParseJson(json, "c.json"), "c.json", "");
  auto model = nn::TorchModel::Load(settings);
  constexpr int64_t kSlices = 12, kSize = 64, kPlane = kSize * kSize;
  auto volume = Phantom(kSlices, kSize);
  auto square = [&](int64_t k, int64_t i, int64_t row, int64_t col, int64_t side) {
    (void)k;
    return i / kSize >= row && i / kSize < row + side && i % kSize >= col && i % kSize < col + side;
  };
  JobRequest request{"regions3d", Priority::kRoutine, volume, {}, false, {}};
  // On slices 0, 1, 3 and 11: the window (5 slices) centres on the second masked slice (1), so it
  // is -1..3, -1 wrapping to 11 as the reference's Python indexing does; 2 has no mask: 11, 0, 1, 3.
  request.regions.push_back(SegRegion(kSlices, kPlane, 1, "a", [&](int64_t k, int64_t i) {
    return (k <= 3 || k == 11) && k != 2 && square(k, i, 20, 20, 4 + k);
  }));
  // On slices 4..8, growing then shrinking: window 4..8 around slice 6.
  request.regions.push_back(SegRegion(kSlices, kPlane, 2, "b", [&](int64_t k, int64_t i) {
    return k >= 4 && k <= 8 && square(k, i, 30, 10, 10 - std::abs(k - 6) * 2);
  }));
  // On slices 10 and 11: a window of 5 around slice 10 ends past the volume.
  request.regions.push_back(SegRegion(kSlices, kPlane, 3, "c", [&](int64_t k, int64_t i) {
    return k >= 10 && square(k, i, 5, 40, 6);
  }));
  const std::vector<worker::JobRegion> regions = request.regions;
  PoolStats stats;
  const JobResult r = RunAlone(*model, settings.model, std::move(request), &stats);
  ASSERT_EQ(r.status, JobStatus::kDone) << r.error;
  ASSERT_EQ(r.findings.findings.size(), 2u);
  ASSERT_EQ(r.findings.skipped.size(), 1u);
  EXPECT_EQ(r.findings.skipped[0].task, "lesion");
  EXPECT_NE(r.findings.skipped[0].reason.find("SEG segment 3 \"c\": the volume has 12 slice(s): too few for the head's "
                                              "window of 5 slices centred on slice 10"),
            std::string::npos)
      << r.findings.skipped[0].reason;
  EXPECT_EQ(stats.slices, 9);  // slices 0, 1, 3..8 and 11, each once

  // Directly: the processor's 3-D path (one z-score over the volume), the backbone on every slice,
  // the head on the volume with the region's stacked mask as the reference trainer makes it.
  nn::BackboneOptions options;
  auto backbone = nn::Dinov2Backbone::Load(dir_->path(), options);
  auto head = nn::TaskHead::Load(dir_->path() + "/" + head_dir, *backbone);
  std::vector<int16_t> hws(static_cast<size_t>(kPlane * kSlices));
  std::vector<float> raw(kPlane);
  for (int64_t k = 0; k < kSlices; ++k) {
    volume->ReadSlice(k, raw.data());
    for (int64_t i = 0; i < kPlane; ++i) hws[static_cast<size_t>(i * kSlices + k)] = static_cast<int16_t>(raw[static_cast<size_t>(i)]);
  }
  model::TensorView t;
  t.name = "image";
  t.dtype = model::DType::kI16;
  t.shape = {kSize, kSize, kSlices};
  t.data = reinterpret_cast<const uint8_t*>(hws.data());
  t.nbytes = hws.size() * 2;
  model::PreprocessOptions opt;
  opt.crop_size = 512;
  const model::PreprocessResult x = model::Preprocess({t}, opt);
  const at::Tensor enc = backbone->Forward(at::from_blob(const_cast<float*>(x.pixel_values.data()), {kSlices, 1, 512, 512})).encoder_output;
  model::MaskResizer resizer(kSize, kSize, 512);
  const std::vector<std::vector<int64_t>> windows = {{11, 0, 1, 3}, {4, 5, 6, 7, 8}};
  for (size_t n = 0; n < 2; ++n) {
    const TaskFinding& f = r.findings.findings[n];
    const worker::JobRegion& source = regions[n];
    SCOPED_TRACE(source.reference.label);
    EXPECT_EQ(f.region.number, source.reference.number);
    std::vector<float> mask(static_cast<size_t>(kSlices * 512 * 512));
    resizer.ResizeStack(source.mask.data(), kSlices, mask.data());
    const at::Tensor m = at::from_blob(mask.data(), {kSlices, 1, 512, 512});
    EXPECT_EQ(head->KeptSlices(kSlices, m), windows[n]);
    EXPECT_EQ(f.pooled_slices, windows[n]);
    EXPECT_EQ(f.region.slices_used, static_cast<int64_t>(windows[n].size()));
    const at::Tensor p = head->Probabilities(head->Logits3D({enc}, {m}))[0];
    EXPECT_TRUE(test::AllClose(f.class_probabilities, nn::ToFloatVector(p), 1e-5));
    // The key slice: the largest region area among the pooled slices, with its mask for the key image.
    EXPECT_EQ(f.key_slice, n == 0 ? 11 : 6);
    ASSERT_EQ(f.region.key_slice_mask.size(), static_cast<size_t>(kPlane));
    EXPECT_TRUE(std::equal(f.region.key_slice_mask.begin(), f.region.key_slice_mask.end(),
                           source.mask.begin() + f.key_slice * kPlane));
  }
  // The comparison sees the regions: their answers differ beyond the tolerance.
  EXPECT_GT(std::abs(r.findings.findings[0].class_probabilities[0] - r.findings.findings[1].class_probabilities[0]), 1e-4);
}

}  // namespace
}  // namespace curia::pool
