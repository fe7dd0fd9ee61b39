// SPDX-License-Identifier: GPL-3.0-or-later
// The web UI: the dashboard's files (plugin/ui, compiled in), the data only the pages need
// (/curia/stats), and the results as a browser shows them (the SR as HTML, key images as BMP).
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "curia/config/error.h"
#include "curia/dicomsr/outputs.h"
#include "internal.h"

namespace curia::node {

std::string ExplorerScript() {
  const internal::UiFile* f = internal::FindUiFile("explorer.js");
  return f ? std::string(reinterpret_cast<const char*>(f->data), f->size) : std::string();
}

namespace internal {
namespace {

const storage::JobState kStates[] = {storage::JobState::kQueued,    storage::JobState::kRunning,
                                     storage::JobState::kExporting, storage::JobState::kDone,
                                     storage::JobState::kFailed,    storage::JobState::kDead,
                                     storage::JobState::kCancelled, storage::JobState::kSuperseded};

HttpResponse JsonAnswer(const config::Json& body) { return {200, "application/json", config::Dump(body, 2) + "\n"}; }

HttpResponse Problem(int status, const std::string& message) {
  config::Json j(::Json::objectValue);
  j["Error"] = message;
  return {status, "application/json", config::Dump(j, 2) + "\n"};
}

std::optional<int64_t> ParseNumber(const std::string& text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return std::atoll(text.c_str());
}

config::Json Strings(const std::vector<std::string>& values) {
  config::Json a(::Json::arrayValue);
  for (const std::string& v : values) a.append(v);
  return a;
}

std::string Escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// DCMTK escapes every string it renders; should a future version not, anything active in the
// page is refused rather than served: the SR is then shown as escaped text.
bool LooksActive(const std::string& html) {
  std::string lower(html.size(), ' ');
  std::transform(html.begin(), html.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* needle : {"<script", "javascript:", "<iframe", "<object", "<embed", "<img", "<svg", "<link", "<base", "http-equiv=\"refresh"}) {
    if (lower.find(needle) != std::string::npos) return true;
  }
  return false;
}

config::Json Stats(const UiContext& ctx) {
  config::Json j(::Json::objectValue);
  std::vector<std::pair<std::string, const config::RuleSettings*>> rules;
  for (const config::RuleSettings& r : ctx.settings.rules) rules.emplace_back(r.name, &r);
  rules.emplace_back("manual", nullptr);  // jobs queued by POST /curia/studies/{id}/process
  config::Json list(::Json::arrayValue);
  for (const auto& [name, rule] : rules) {
    storage::JobFilter filter;
    filter.rule = name;
    config::Json counts(::Json::objectValue);
    int64_t total = 0;
    for (storage::JobState s : kStates) {
      filter.state = s;
      const int64_t n = ctx.store.CountJobs(filter);
      counts[storage::JobStateName(s)] = n;
      total += n;
    }
    if (!rule && total == 0) continue;
    config::Json r(::Json::objectValue);
    r["Name"] = name;
    r["Configured"] = rule != nullptr;
    if (rule) {
      r["Enabled"] = rule->enabled;
      r["Priority"] = rule->priority;
      r["Tasks"] = Strings(rule->tasks);
      r["Outputs"] = Strings(rule->outputs);
      r["Destinations"] = Strings(rule->destinations);
    }
    r["Jobs"] = std::move(counts);
    r["Total"] = total;
    list.append(std::move(r));
  }
  j["Rules"] = std::move(list);
  j["ExportFailures"] = ctx.store.CountExportFailures();
  j["Warnings"] = Strings(ConfigurationWarnings(ctx.settings, ctx.model));
  return j;
}

// The output `output_id` of job `job_id` with its bytes, or an error answer.
std::optional<HttpResponse> FindOutput(const UiContext& ctx, const std::string& job_text, const std::string& output_text,
                                       storage::OutputRow* row, std::string* bytes) {
  const std::optional<int64_t> job_id = ParseNumber(job_text), output_id = ParseNumber(output_text);
  if (!job_id || !output_id) return Problem(404, "no output " + job_text + "/" + output_text);
  bool found = false;
  for (const storage::OutputRow& o : ctx.store.Outputs(*job_id)) {
    if (o.id == *output_id) {
      *row = o;
      found = true;
    }
  }
  if (!found) return Problem(404, "job " + job_text + " has no output " + output_text);
  std::optional<std::string> b = ctx.store.OutputBytes(*output_id);
  if (!b) return Problem(404, "output " + output_text + " has no stored object");
  *bytes = std::move(*b);
  return std::nullopt;
}

void PutLe(std::string& out, uint32_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

}  // namespace

const UiFile* FindUiFile(const std::string& name) {
  for (const UiFile& f : UiFiles()) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

std::vector<std::string> ConfigurationWarnings(const config::CuriaSettings& settings, const worker::ModelInfo& model) {
  std::vector<std::string> w;
  if (model.demo) w.push_back("the model has DEMO weights: its findings are meaningless (Curia.Model.Path)");
  if (settings.rules.empty()) w.push_back("no routing rule: studies are kept but nothing is analysed (Curia.Rules)");
  bool any_enabled = false;
  for (const config::RuleSettings& r : settings.rules) {
    any_enabled = any_enabled || r.enabled;
    const std::string where = "rule \"" + r.name + "\" (" + r.path + ")";
    if (!r.enabled) w.push_back(where + " is disabled");
    if (r.destinations.empty()) w.push_back(where + " has no destination: its results stay in the node");
    if (r.outputs.empty()) w.push_back(where + " makes no output (Outputs is empty)");
    for (const std::string& t : r.tasks) {
      if (model.FindTask(t) < 0) w.push_back(where + ": task \"" + t + "\" has no head loaded");
    }
  }
  if (!settings.rules.empty() && !any_enabled) w.push_back("every routing rule is disabled: nothing is analysed");
  std::vector<std::string> wanted = settings.model.devices, loaded = model.devices;
  std::sort(wanted.begin(), wanted.end());
  std::sort(loaded.begin(), loaded.end());
  if (!loaded.empty() && wanted != loaded) {
    std::string a, b;
    for (const std::string& d : settings.model.devices) a += (a.empty() ? "" : ", ") + d;
    for (const std::string& d : model.devices) b += (b.empty() ? "" : ", ") + d;
    w.push_back("Curia.Model.Devices asks for [" + a + "] but the model runs on [" + b + "]");
  }
  return w;
}

std::string EncodeBmp(int64_t cols, int64_t rows, const std::string& rgb) {
  if (cols <= 0 || rows <= 0 || cols > 65535 || rows > 65535 || static_cast<int64_t>(rgb.size()) != cols * rows * 3) {
    throw Error(ErrorCode::kInvalidArgument, "BMP: " + std::to_string(cols) + "x" + std::to_string(rows) +
                                                 " RGB image with " + std::to_string(rgb.size()) + " bytes");
  }
  const int64_t stride = (cols * 3 + 3) / 4 * 4;
  const uint32_t pixels = static_cast<uint32_t>(stride * rows), header = 14 + 40;
  std::string out;
  out.reserve(header + pixels);
  out += "BM";
  PutLe(out, header + pixels, 4);
  PutLe(out, 0, 4);
  PutLe(out, header, 4);
  PutLe(out, 40, 4);  // BITMAPINFOHEADER
  PutLe(out, static_cast<uint32_t>(cols), 4);
  PutLe(out, static_cast<uint32_t>(rows), 4);  // positive: bottom row first
  PutLe(out, 1, 2);
  PutLe(out, 24, 2);
  PutLe(out, 0, 4);  // BI_RGB
  PutLe(out, pixels, 4);
  PutLe(out, 2835, 4);  // 72 dpi
  PutLe(out, 2835, 4);
  PutLe(out, 0, 4);
  PutLe(out, 0, 4);
  for (int64_t y = rows - 1; y >= 0; --y) {
    const char* row = rgb.data() + y * cols * 3;
    for (int64_t x = 0; x < cols; ++x) {
      out.push_back(row[3 * x + 2]);  // BMP stores B, G, R
      out.push_back(row[3 * x + 1]);
      out.push_back(row[3 * x]);
    }
    out.append(static_cast<size_t>(stride - cols * 3), '\0');
  }
  return out;
}

std::string DicomImageToBmp(const std::string& dicom_bytes) {
  DcmFileFormat file;
  DcmInputBufferStream in;
  in.setBuffer(dicom_bytes.data(), static_cast<offile_off_t>(dicom_bytes.size()));
  in.setEos();
  file.transferInit();
  const OFCondition read = file.read(in);
  file.transferEnd();
  if (read.bad()) throw Error(ErrorCode::kInvalidArgument, std::string("reading the image: ") + read.text());
  DcmDataset& ds = *file.getDataset();
  Uint16 rows = 0, cols = 0, samples = 0, bits = 0, planar = 0;
  OFString photometric;
  ds.findAndGetUint16(DCM_Rows, rows);
  ds.findAndGetUint16(DCM_Columns, cols);
  ds.findAndGetUint16(DCM_SamplesPerPixel, samples);
  ds.findAndGetUint16(DCM_BitsAllocated, bits);
  ds.findAndGetUint16(DCM_PlanarConfiguration, planar);
  ds.findAndGetOFString(DCM_PhotometricInterpretation, photometric);
  const Uint8* pixels = nullptr;
  unsigned long count = 0;
  const bool rgb = samples == 3 && photometric == "RGB";
  const bool mono = samples == 1 && (photometric == "MONOCHROME2" || photometric == "MONOCHROME1");
  const size_t frame = static_cast<size_t>(rows) * cols * samples;
  if (bits != 8 || !(rgb || mono) || rows == 0 || cols == 0 || ds.findAndGetUint8Array(DCM_PixelData, pixels, &count).bad() ||
      !pixels || count < frame) {
    throw Error(ErrorCode::kInvalidArgument, "not an uncompressed 8-bit RGB or monochrome image (" + std::string(photometric.c_str()) +
                                                 ", " + std::to_string(bits) + " bits)");
  }
  std::string out(static_cast<size_t>(rows) * cols * 3, '\0');
  const size_t plane = static_cast<size_t>(rows) * cols;
  for (size_t i = 0; i < plane; ++i) {
    if (rgb && planar == 1) {
      for (int c = 0; c < 3; ++c) out[3 * i + c] = static_cast<char>(pixels[c * plane + i]);
    } else if (rgb) {
      for (int c = 0; c < 3; ++c) out[3 * i + c] = static_cast<char>(pixels[3 * i + c]);
    } else {
      const Uint8 v = photometric == "MONOCHROME1" ? static_cast<Uint8>(255 - pixels[i]) : pixels[i];
      for (int c = 0; c < 3; ++c) out[3 * i + c] = static_cast<char>(v);
    }
  }
  return EncodeBmp(cols, rows, out);
}

std::optional<HttpResponse> HandleUi(const HttpRequest& request, const std::vector<std::string>& parts,
                                     const UiContext& ctx) {
  if (request.method != "GET" || parts.empty()) return std::nullopt;
  if (parts[0] == "ui") {
    // /ui and /ui/ serve the dashboard; a file is found by its name (the folder is flat), so
    // that relative links work whether the page was opened as /curia/ui or /curia/ui/.
    const std::string name = parts.size() == 1 ? "index.html" : parts.back();
    const UiFile* f = FindUiFile(name);
    if (!f) return Problem(404, "no such file: " + name);
    return HttpResponse{200, f->content_type, std::string(reinterpret_cast<const char*>(f->data), f->size)};
  }
  if (parts.size() == 1 && parts[0] == "stats") return JsonAnswer(Stats(ctx));
  if (parts.size() == 5 && parts[0] == "jobs" && parts[2] == "outputs" && (parts[4] == "html" || parts[4] == "image")) {
    storage::OutputRow row;
    std::string bytes;
    if (std::optional<HttpResponse> problem = FindOutput(ctx, parts[1], parts[3], &row, &bytes)) return problem;
    if (parts[4] == "html") {
      if (row.kind != "SR") return Problem(404, "output " + parts[3] + " is " + row.kind + ", not an SR");
      std::string html = dicomsr::RenderHtml(bytes);
      if (LooksActive(html)) {
        html = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Structured report</title></head><body><pre>" +
               Escape(html) + "</pre></body></html>";
      }
      return HttpResponse{200, "text/html; charset=utf-8", std::move(html)};
    }
    if (row.kind != "SC") return Problem(404, "output " + parts[3] + " is " + row.kind + ", not an image");
    return HttpResponse{200, "image/bmp", DicomImageToBmp(bytes)};
  }
  return std::nullopt;
}

}  // namespace internal
}  // namespace curia::node
