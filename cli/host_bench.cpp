// SPDX-License-Identifier: GPL-3.0-or-later
// curia bench host: the host path of the worker pool, timed per CPU thread. For each test series
// (CT 512x512 uncompressed, JPEG-Lossless and RLE; MR 256x256, which needs the resize) and each
// source (memory: the bytes as Orthanc hands them to the node's job runner, one copy per request;
// files: what `curia run` reads), the loader's DicomVolume::ReadSlice (decode, rescale,
// orientation) and the pool's SlicePreparer (int16, /32767, resize, z-score) write every slice into
// a float staging buffer, one slice per thread, as the pool's preprocessing threads do. The floor
// is a plain memcpy of the same instance bytes.
#include "host_bench.h"

#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcrleerg.h>
#include <dcmtk/dcmdata/dcrlerp.h>
#include <dcmtk/dcmjpeg/djencode.h>
#include <dcmtk/dcmjpeg/djrplol.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "bench_util.h"
#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/dicom/read.h"
#include "curia/dicom/instance_source.h"
#include "curia/dicom/series.h"
#include "curia/phantom/series.h"
#include "curia/pool/prepare.h"
#include "scratch_dir.h"
#include "version.h"

namespace curia::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// One test series: its instances as files and as bytes in memory.
struct TestSeries {
  std::string name;         // "ct-uncompressed"
  std::string label;        // "CT 512x512 uncompressed"
  std::string transfer_syntax;
  int64_t size = 0;
  std::vector<std::string> files;
  dicom::MemorySource memory;
  std::vector<std::string> ids;  // memory ids, in slice order
  std::vector<std::string> bytes;  // the same instances, for the memcpy floor
  int64_t total_bytes = 0;
};

void RegisterEncoders() {
  static std::once_flag once;
  std::call_once(once, [] {
    DJEncoderRegistration::registerCodecs();
    DcmRLEEncoderRegistration::registerCodecs();
  });
}

// Writes the phantom series in `xfer` (uncompressed explicit VR little endian as the phantom writer
// makes it, else re-encoded by DCMTK's encoders in this process) into `dir`.
TestSeries MakeSeries(const std::string& name, const std::string& label, const std::string& modality, int64_t size,
                      int64_t slices, E_TransferSyntax xfer, const std::string& dir) {
  TestSeries s;
  s.name = name;
  s.label = label;
  s.size = size;
  s.transfer_syntax = DcmXfer(xfer).getXferID();
  phantom::PhantomSeriesOptions o;
  o.modality = modality;
  o.phantom.rows = o.phantom.cols = size;
  o.phantom.slices = slices;
  o.phantom.pixel_mm = 250.0 / static_cast<double>(size);
  o.seed = 11;
  o.study_date = "20260101";
  o.study_time = "120000";
  phantom::MakePhantomSeries(o, [&](const phantom::PhantomInstance& in) {
    char file[64];
    std::snprintf(file, sizeof file, "/%s-%04lld.dcm", name.c_str(), static_cast<long long>(in.index + 1));
    const std::string path = dir + file;
    std::string bytes = in.bytes;
    if (xfer != EXS_LittleEndianExplicit) {
      std::unique_ptr<DcmFileFormat> ff = dicom::ReadBytes(in.bytes, "phantom slice");
      DcmDataset* ds = ff->getDataset();
      DJ_RPLossless jpeg;
      DcmRLERepresentationParameter rle;
      const DcmRepresentationParameter* param =
          xfer == EXS_RLELossless ? static_cast<const DcmRepresentationParameter*>(&rle) : &jpeg;
      if (ds->chooseRepresentation(xfer, param).bad() || !ds->canWriteXfer(xfer)) {
        throw Error(ErrorCode::kInternal, std::string("cannot encode the phantom in ") + DcmXfer(xfer).getXferName());
      }
      const OFCondition cond = ff->saveFile(path.c_str(), xfer);
      if (cond.bad()) throw Error(ErrorCode::kInternal, path + ": " + cond.text());
      std::ifstream f(path, std::ios::binary);
      std::ostringstream ss;
      ss << f.rdbuf();
      bytes = ss.str();
    } else {
      std::ofstream f(path, std::ios::binary);
      f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      if (!f) throw Error(ErrorCode::kInternal, path + ": write failed");
    }
    s.files.push_back(path);
    const std::string id = name + "-" + std::to_string(in.index + 1);
    s.ids.push_back(id);
    s.memory.Add(id, bytes);
    s.total_bytes += static_cast<int64_t>(bytes.size());
    s.bytes.push_back(std::move(bytes));
  });
  return s;
}

struct Timing {
  double slices_per_second = 0;         // all threads together, the best pass (wall clock)
  double median_slices_per_second = 0;  // the median pass
  double slices_per_cpu_second = 0;     // the best pass, over the threads' summed CPU time
  int passes = 0;
};

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Runs `work(thread, slice)` over every slice on `threads` threads (slice i on thread i % threads),
// pass after pass until `min_seconds` have gone by (at least one pass). On a machine shared with
// other work the best pass is the code's own speed; the median says how much the neighbours took.
template <typename Work>
Timing TimeSlices(int64_t slices, int threads, double min_seconds, Work work) {
  std::vector<double> pass_seconds, pass_cpu_seconds;
  const Clock::time_point start = Clock::now();
  do {
    const Clock::time_point pass_start = Clock::now();
    std::vector<std::thread> pool;
    std::vector<std::string> errors(static_cast<size_t>(threads));
    std::vector<double> cpu(static_cast<size_t>(threads), 0.0);
    for (int th = 0; th < threads; ++th) {
      pool.emplace_back([&, th] {
        const double cpu_start = ThreadCpuSeconds();
        try {
          for (int64_t i = th; i < slices; i += threads) work(th, i);
        } catch (const std::exception& e) {
          errors[static_cast<size_t>(th)] = e.what();
        }
        cpu[static_cast<size_t>(th)] = ThreadCpuSeconds() - cpu_start;
      });
    }
    for (std::thread& th : pool) th.join();
    for (const std::string& e : errors) {
      if (!e.empty()) throw Error(ErrorCode::kInternal, "bench host: " + e);
    }
    pass_seconds.push_back(std::max(1e-9, Seconds(Clock::now() - pass_start)));
    double cpu_total = 0;
    for (double c : cpu) cpu_total += c;
    pass_cpu_seconds.push_back(std::max(1e-9, cpu_total));
  } while (Seconds(Clock::now() - start) < min_seconds);
  Timing t;
  t.passes = static_cast<int>(pass_seconds.size());
  std::sort(pass_seconds.begin(), pass_seconds.end());
  std::sort(pass_cpu_seconds.begin(), pass_cpu_seconds.end());
  t.slices_per_cpu_second = static_cast<double>(slices) / pass_cpu_seconds.front();
  t.slices_per_second = static_cast<double>(slices) / pass_seconds.front();
  t.median_slices_per_second = static_cast<double>(slices) / pass_seconds[pass_seconds.size() / 2];
  return t;
}

std::vector<int> ParseThreads(const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 256) {
      throw UsageError("--threads: '" + item + "' is not a thread count (1 to 256)");
    }
    if (std::find(out.begin(), out.end(), static_cast<int>(v)) == out.end()) out.push_back(static_cast<int>(v));
  }
  if (out.empty()) throw UsageError("--threads needs at least one value");
  return out;
}

}  // namespace

int BenchHost(const Args& args) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  ArgParser p("curia bench host",
              "Times the host path of the worker pool per CPU thread: DICOM decode, rescale, orientation,\n"
              "Curia preprocessing (int16, /32767, resize, z-score) into a float staging buffer, for\n"
              "phantom CT series (uncompressed, JPEG-Lossless, RLE) and an MR series that needs the resize,\n"
              "from memory (the node's path: bytes as Orthanc hands them over) and from files (curia run).\n"
              "Prints slices/s per thread, ms/slice and the ratio to a plain memcpy of the same bytes.");
  p.Option("--ct-size", "N", "rows and columns of the CT series", false, "512")
      .Option("--mr-size", "N", "rows and columns of the MR series (resized to --image-size)", false, "256")
      .Option("--image-size", "N", "the model's input size (Curia: 512)", false, "512")
      .Option("--slices", "N", "slices per series", false, "24")
      .Option("--threads", "LIST", "thread counts to time, comma-separated", false,
              cores > 1 ? "1," + std::to_string(cores) : std::string("1"))
      .Option("--series", "LIST", "comma-separated (default: all): ct-uncompressed, ct-jpeg-lossless, ct-rle, mr-resize")
      .Option("--min-ms", "MS", "time each figure for at least this long (whole passes over the series)", false,
              "1000")
      .Option("--json", "FILE", "also write the figures as JSON");
  if (!p.Parse(args)) return 0;
  const int64_t ct_size = p.GetInt("--ct-size", 8, 4096);
  const int64_t mr_size = p.GetInt("--mr-size", 8, 4096);
  const int64_t image_size = p.GetInt("--image-size", 8, 4096);
  const int64_t slices = p.GetInt("--slices", 2, 10000);
  const double min_seconds = static_cast<double>(p.GetInt("--min-ms", 0, 600000)) / 1000.0;
  const std::vector<int> threads = ParseThreads(p.Get("--threads"));
  constexpr double kEps = 1e-6;  // the processor's default

  std::vector<std::string> wanted = {"ct-uncompressed", "ct-jpeg-lossless", "ct-rle", "mr-resize"};
  if (p.Has("--series")) {
    std::vector<std::string> chosen;
    std::stringstream in(p.Get("--series"));
    std::string item;
    while (std::getline(in, item, ',')) {
      if (std::find(wanted.begin(), wanted.end(), item) == wanted.end()) {
        throw UsageError("--series: unknown series '" + item + "' (ct-uncompressed, ct-jpeg-lossless, ct-rle, mr-resize)");
      }
      chosen.push_back(item);
    }
    if (chosen.empty()) throw UsageError("--series needs at least one series");
    wanted = chosen;
  }
  auto want = [&](const std::string& name) { return std::find(wanted.begin(), wanted.end(), name) != wanted.end(); };
  dicom::QuietDcmtkLogging();
  dicom::RegisterCodecs();
  RegisterEncoders();
  ScratchDir scratch("curia-bench-host");
  const std::string ct = "CT " + std::to_string(ct_size) + "x" + std::to_string(ct_size);
  std::vector<TestSeries> series;
  if (want("ct-uncompressed")) {
    series.push_back(MakeSeries("ct-uncompressed", ct + " uncompressed", "CT", ct_size, slices,
                                EXS_LittleEndianExplicit, scratch.path()));
  }
  if (want("ct-jpeg-lossless")) {
    series.push_back(MakeSeries("ct-jpeg-lossless", ct + " JPEG-Lossless", "CT", ct_size, slices,
                                EXS_JPEGProcess14SV1, scratch.path()));
  }
  if (want("ct-rle")) {
    series.push_back(MakeSeries("ct-rle", ct + " RLE", "CT", ct_size, slices, EXS_RLELossless, scratch.path()));
  }
  if (want("mr-resize")) {
    const std::string mr = "MR " + std::to_string(mr_size) + "x" + std::to_string(mr_size) + " uncompressed";
    series.push_back(MakeSeries("mr-resize", mr, "MR", mr_size, slices, EXS_LittleEndianExplicit, scratch.path()));
  }

  std::cout << "Curia host path benchmark (curia " CURIA_VERSION_STRING ")\n"
            << "  work        ReadSlice + int16/32767 + resize to " << image_size << "x" << image_size
            << " + z-score into a float staging buffer; " << slices << " slices a series, " << cores
            << " hardware thread(s)\n"
            << "  figures     best pass over the series (median in brackets): slices/s per thread (all threads /\n"
            << "              threads), ms/slice per thread; cpu ms = the threads' CPU time per slice (best pass:\n"
            << "              what neighbours on a shared machine do not inflate); memcpy x = CPU time over that of a\n"
            << "              plain memcpy of the same instance bytes; scan = LoadSeries (headers) CPU ms per slice\n\n";
  std::printf("  %-30s %-7s %-7s %9s %12s %9s %9s %9s %9s %9s\n", "series", "path", "threads", "KB/slice",
              "slices/s/thr", "(median)", "ms/slice", "cpu ms", "memcpy x", "scan ms");

  config::Json j(::Json::objectValue);
  j["benchmark"] = "host";
  j["curia_version"] = CURIA_VERSION_STRING;
  j["image_size"] = image_size;
  j["slices_per_series"] = slices;
  j["hardware_threads"] = cores;
  j["results"] = ::Json::Value(::Json::arrayValue);
  double headline = 0, headline_cpu = 0;  // uncompressed CT, one thread, the slower of the two paths
  bool headline_set = false;

  for (TestSeries& s : series) {
    const int64_t count = static_cast<int64_t>(s.ids.size());
    // The floor: each instance's bytes copied once, one slice per thread.
    const size_t largest = std::max_element(s.bytes.begin(), s.bytes.end(), [](const std::string& a, const std::string& b) {
                             return a.size() < b.size();
                           })->size();
    for (const std::string& path : {std::string("memory"), std::string("file")}) {
      dicom::FileSource files;
      const dicom::IInstanceSource& source = path == "memory" ? static_cast<const dicom::IInstanceSource&>(s.memory)
                                                              : static_cast<const dicom::IInstanceSource&>(files);
      const std::vector<std::string>& ids = path == "memory" ? s.ids : s.files;
      // The header scan, timed the second time (the first warms the page cache and the allocator).
      dicom::LoadSeries(source, ids, {});
      const double scan_start = ThreadCpuSeconds();
      const dicom::ScanResult scan = dicom::LoadSeries(source, ids, {});
      const double scan_seconds = ThreadCpuSeconds() - scan_start;
      if (scan.series.size() != 1 || !scan.series[0].volume) {
        throw Error(ErrorCode::kInternal, "bench host: the " + s.label + " series does not load: " +
                                              (scan.series.empty() ? std::string("no series") : scan.series[0].error));
      }
      const dicom::DicomVolume& volume = *scan.series[0].volume;
      const worker::VolumeInfo info = volume.Info();
      const int64_t plane = image_size * image_size;
      for (int n : threads) {
        std::vector<pool::SlicePreparer> preparers(static_cast<size_t>(n), pool::SlicePreparer(image_size));
        std::vector<std::vector<float>> staging(static_cast<size_t>(n), std::vector<float>(static_cast<size_t>(plane)));
        std::vector<std::vector<char>> copies(static_cast<size_t>(n), std::vector<char>(largest));
        // Warm: one pass (first-touch of buffers, resizer weights).
        TimeSlices(count, n, 0.0, [&](int th, int64_t i) {
          preparers[static_cast<size_t>(th)].PrepareZScored(volume, info.rows, info.cols, i, kEps,
                                                            staging[static_cast<size_t>(th)].data());
        });
        const Timing host = TimeSlices(count, n, min_seconds, [&](int th, int64_t i) {
          preparers[static_cast<size_t>(th)].PrepareZScored(volume, info.rows, info.cols, i, kEps,
                                                            staging[static_cast<size_t>(th)].data());
        });
        const Timing copy = TimeSlices(count, n, min_seconds, [&](int th, int64_t i) {
          const std::string& b = s.bytes[static_cast<size_t>(i)];
          std::memcpy(copies[static_cast<size_t>(th)].data(), b.data(), b.size());
        });
        const double per_thread = host.slices_per_second / n;
        const double ms = 1000.0 / per_thread;
        // CPU time on both sides: the floor is a few microseconds, which preemption would swamp.
        const double ratio = copy.slices_per_cpu_second / host.slices_per_cpu_second;
        const double scan_ms = 1000.0 * scan_seconds / static_cast<double>(count);
        const double kb = static_cast<double>(s.total_bytes) / static_cast<double>(count) / 1024.0;
        std::printf("  %-30s %-7s %-7d %9.1f %12.1f %9s %9.3f %9.3f %9.1f %9.3f\n", s.label.c_str(), path.c_str(), n,
                    kb, per_thread, ("(" + Fixed(host.median_slices_per_second / n, 0) + ")").c_str(), ms,
                    1000.0 / host.slices_per_cpu_second, ratio, scan_ms);
        std::fflush(stdout);
        config::Json r(::Json::objectValue);
        r["series"] = s.name;
        r["transfer_syntax"] = s.transfer_syntax;
        r["rows"] = s.size;
        r["cols"] = s.size;
        r["path"] = path;
        r["threads"] = n;
        r["bytes_per_slice"] = static_cast<double>(s.total_bytes) / static_cast<double>(count);
        r["slices_per_second"] = host.slices_per_second;
        r["slices_per_second_per_thread"] = per_thread;
        r["ms_per_slice"] = ms;
        r["median_slices_per_second_per_thread"] = host.median_slices_per_second / n;
        r["slices_per_cpu_second"] = host.slices_per_cpu_second;
        r["ms_cpu_per_slice"] = 1000.0 / host.slices_per_cpu_second;
        r["passes"] = host.passes;
        r["memcpy_slices_per_second"] = copy.slices_per_second;
        r["memcpy_slices_per_cpu_second"] = copy.slices_per_cpu_second;
        r["memcpy_ratio"] = ratio;
        r["scan_cpu_ms_per_slice"] = scan_ms;
        j["results"].append(r);
        if (s.name == "ct-uncompressed" && n == 1 && (!headline_set || per_thread < headline)) {
          headline = per_thread;
          headline_cpu = host.slices_per_cpu_second;
          headline_set = true;
        }
      }
    }
  }
  if (headline_set) {
    std::cout << "\n  uncompressed CT, one thread, slower path: " << Fixed(headline, 1)
              << " slices/s per thread (target >= 500)   [host_slices_per_second]\n"
              << "  the same per CPU second of the thread: " << Fixed(headline_cpu, 1)
              << " slices/s   [host_cpu_slices_per_second]\n";
    j["host_slices_per_second"] = headline;
    j["host_cpu_slices_per_second"] = headline_cpu;
  }
  if (p.Has("--json")) {
    WriteJsonFile(p.Get("--json"), j);
  }
  return 0;
}

}  // namespace curia::cli
