// SPDX-License-Identifier: GPL-3.0-or-later
// The web UI: the dashboard's files (plugin/node/ui, compiled in), the data only the pages need
// (/curia/stats), and the results as a browser shows them (the SR as HTML, key images as PNG).
#include "ui.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmimgle/dcmimage.h>  // before dipipng.h: it defines the export macros diplugin.h uses
#include <dcmtk/dcmimage/dipipng.h>
#include <dcmtk/dcmimage/diregist.h>  // colour images (RGB, palette, YBR) for DicomImage

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>

#include "curia/config/error.h"
#include "curia/config/text.h"
#include "curia/dicom/read.h"
#include "curia/dicomsr/outputs.h"
#include "http.h"

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
  const std::optional<int64_t> job_id = ParseId(job_text), output_id = ParseId(output_text);
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

std::string DicomImageToPng(const std::string& dicom_bytes) {
  const std::unique_ptr<DcmFileFormat> file = dicom::ReadBytes(dicom_bytes, "the image");
  DcmDataset* ds = file->getDataset();
  DicomImage image(ds, ds->getOriginalXfer(), 0UL, 0UL, 1UL);
  if (image.getStatus() != EIS_Normal) {
    throw Error(ErrorCode::kInvalidArgument, std::string("rendering the image: ") + DicomImage::getString(image.getStatus()));
  }
  if (image.isMonochrome()) {
    // The image's own VOI window; else, for more than 8 bits, its pixel range (the full range of
    // 12 or 16 bits would be dark); 8-bit images as stored. MONOCHROME1 comes out inverted.
    if (image.getWindowCount() > 0) {
      image.setWindow(0);
    } else if (image.getDepth() > 8) {
      image.setMinMaxWindow();
    }
  }
  DiPNGPlugin png;
  png.setInterlaceType(E_pngInterlaceNone);
  png.setMetainfoType(E_pngNoMetainfo);
  // DiPNGPlugin writes to a FILE*: a memory stream (POSIX) keeps it off the disk.
  char* buffer = nullptr;
  size_t size = 0;
  FILE* stream = open_memstream(&buffer, &size);
  if (!stream) throw Error(ErrorCode::kUnavailable, "PNG: no memory for the image");
  const int written = image.writePluginFormat(&png, stream, 0);
  std::fclose(stream);  // sets buffer and size
  std::unique_ptr<char, decltype(&std::free)> owned(buffer, &std::free);
  if (!written || size == 0) throw Error(ErrorCode::kInvalidArgument, "PNG: DCMTK could not write the image");
  return std::string(buffer, size);
}

namespace {

HttpResponse ServeFile(const std::string& path) {
  // A file is found by its name (the folder is flat), so that relative links work whether the
  // page was opened as /curia/ui or /curia/ui/.
  const std::string name = path.substr(path.rfind('/') + 1);
  const UiFile* f = FindUiFile(name);
  if (!f) return Problem(404, "no such file: " + name);
  HttpResponse r;
  r.content_type = f->content_type;
  r.body.assign(reinterpret_cast<const char*>(f->data), f->size);
  return r;
}

// The bytes of output a[1] of job a[0] when it is of `kind`; else the error answer.
std::optional<HttpResponse> OutputOfKind(const UiContext& ctx, const RouteArgs& a, const std::string& kind,
                                         const std::string& what, std::string* bytes) {
  storage::OutputRow row;
  if (std::optional<HttpResponse> problem = FindOutput(ctx, a[0], a[1], &row, bytes)) return problem;
  if (row.kind != kind) return Problem(404, "output " + a[1] + " is " + row.kind + ", not " + what);
  return std::nullopt;
}

HttpResponse SrHtml(const UiContext& ctx, const RouteArgs& a) {
  std::string bytes;
  if (std::optional<HttpResponse> problem = OutputOfKind(ctx, a, "SR", "an SR", &bytes)) return *problem;
  std::string html = dicomsr::RenderHtml(bytes);
  if (LooksActive(html)) {
    html = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Structured report</title></head><body><pre>" +
           config::HtmlEscape(html) + "</pre></body></html>";
  }
  HttpResponse r;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::move(html);
  return r;
}

HttpResponse KeyImage(const UiContext& ctx, const RouteArgs& a) {
  std::string bytes;
  if (std::optional<HttpResponse> problem = OutputOfKind(ctx, a, "SC", "an image", &bytes)) return *problem;
  HttpResponse r;
  r.content_type = "image/png";
  r.body = DicomImageToPng(bytes);
  return r;
}

}  // namespace

void AddUiRoutes(RouteTable& table, const UiContext& context) {
  const UiContext* ctx = &context;
  table.Add("GET", "/ui", [](const HttpRequest&, const RouteArgs&) { return ServeFile("index.html"); });
  table.Add("GET", "/ui/{*}", [](const HttpRequest&, const RouteArgs& a) { return ServeFile(a[0]); });
  table.Add("GET", "/stats", [ctx](const HttpRequest&, const RouteArgs&) { return JsonAnswer(Stats(*ctx)); });
  table.Add("GET", "/jobs/{id}/outputs/{output}/html", [ctx](const HttpRequest&, const RouteArgs& a) { return SrHtml(*ctx, a); });
  table.Add("GET", "/jobs/{id}/outputs/{output}/image", [ctx](const HttpRequest&, const RouteArgs& a) { return KeyImage(*ctx, a); });
}

}  // namespace internal
}  // namespace curia::node
