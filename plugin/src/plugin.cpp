// SPDX-License-Identifier: GPL-3.0-or-later
// Curia Node as an Orthanc plugin: the four entry points and the callbacks. Callbacks only record
// and enqueue (orthanc-plugin.md section 4); the node's threads start on OrthancStarted and are
// joined on OrthancStopped.
#include <malloc.h>
#include <orthanc/OrthancCPlugin.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/config/log.h"
#include "curia/config/rules.h"
#include "curia/config/settings.h"
#include "curia/dicom/series.h"
#include "curia/nn/torch_model.h"
#include "curia/node/node.h"
#include "orthanc_rest.h"

namespace curia::plugin {
namespace {

constexpr const char* kName = "curia-node";

OrthancPluginContext* g_context = nullptr;

struct Plugin {
  std::unique_ptr<OrthancRest> orthanc;
  std::unique_ptr<worker::IModel> model;
  std::unique_ptr<node::Node> node;
};
Plugin* g_plugin = nullptr;

void InstallLogSink() {
  log::SetSink([](log::Level level, std::string_view module, std::string_view message) {
    const std::string line = "Curia Node [" + std::string(module) + "] " + std::string(message);
    switch (level) {
      case log::Level::kError: OrthancPluginLogError(g_context, line.c_str()); break;
      case log::Level::kWarning: OrthancPluginLogWarning(g_context, line.c_str()); break;
      default: OrthancPluginLogInfo(g_context, line.c_str()); break;
    }
  });
}

config::Json ReadOrthancConfiguration() {
  char* text = OrthancPluginGetConfiguration(g_context);
  if (!text) throw Error(ErrorCode::kUnavailable, "Orthanc did not give its configuration");
  std::string copy(text);
  OrthancPluginFreeString(g_context, text);
  return config::ParseJson(copy, "Orthanc configuration");
}

std::string StringOr(const config::Json& doc, const char* key, const std::string& fallback) {
  const config::Json* v = config::Find(doc, key);
  return v && v->isString() ? v->asString() : fallback;
}

// What the Curia section refers to in the rest of Orthanc's configuration, and the DICOM keywords
// of the rules (config/ checks their shape only).
void CheckAgainstOrthanc(const config::CuriaSettings& s, const config::Json& doc) {
  config::Diagnostics diag("Orthanc configuration");
  for (const auto& [keyword, path] : config::RuleTagKeywords(s)) {
    if (!dicom::IsDicomKeyword(keyword)) diag.Add(path, "\"" + keyword + "\" is not a DICOM keyword (e.g. \"SeriesDescription\")");
  }
  const config::Json* in_db = config::Find(doc, "DicomModalitiesInDatabase");
  const bool modalities_in_db = in_db && in_db->isBool() && in_db->asBool();
  const config::Json* modalities = config::Find(doc, "DicomModalities");
  for (size_t i = 0; i < s.rules.size(); ++i) {
    for (size_t k = 0; k < s.rules[i].destinations.size(); ++k) {
      const std::string& d = s.rules[i].destinations[k];
      if (modalities_in_db || (modalities && config::Find(*modalities, d))) continue;
      diag.Add(s.rules[i].path + ".Destinations[" + std::to_string(k) + "]",
               "\"" + d + "\" is not in Orthanc's DicomModalities");
    }
  }
  diag.ThrowIfAny();
}

OrthancPluginErrorCode OnStoredInstance(const OrthancPluginDicomInstance* instance, const char* /*instance_id*/) {
  if (!g_plugin) return OrthancPluginErrorCode_Success;
  try {
    if (OrthancPluginGetInstanceOrigin(g_context, instance) == OrthancPluginInstanceOrigin_Plugin) {
      return OrthancPluginErrorCode_Success;  // made by a plugin (ours or another): never work for us
    }
    char* json = OrthancPluginGetInstanceSimplifiedJson(g_context, instance);
    if (!json) return OrthancPluginErrorCode_Success;
    const config::Json tags = config::ParseJson(json, "instance");
    OrthancPluginFreeString(g_context, json);
    const config::Json* uid = config::Find(tags, "StudyInstanceUID");
    if (!uid || !uid->isString()) return OrthancPluginErrorCode_Success;
    const char* calling = OrthancPluginGetInstanceRemoteAet(g_context, instance);
    const char* called = OrthancPluginHasInstanceMetadata(g_context, instance, "CalledAET")
                             ? OrthancPluginGetInstanceMetadata(g_context, instance, "CalledAET")
                             : nullptr;
    g_plugin->node->OnInstanceStored(uid->asString(), calling ? calling : "", called ? called : "");
  } catch (const std::exception& e) {
    log::Error("plugin", std::string("stored-instance callback: ") + e.what());
  }
  return OrthancPluginErrorCode_Success;
}

OrthancPluginErrorCode OnChange(OrthancPluginChangeType type, OrthancPluginResourceType /*level*/, const char* id) {
  if (!g_plugin) return OrthancPluginErrorCode_Success;
  try {
    switch (type) {
      case OrthancPluginChangeType_OrthancStarted: g_plugin->node->Start(); break;
      case OrthancPluginChangeType_OrthancStopped: g_plugin->node->Stop(); break;
      case OrthancPluginChangeType_StableStudy: g_plugin->node->OnStable(false, id ? id : ""); break;
      case OrthancPluginChangeType_StableSeries: g_plugin->node->OnStable(true, id ? id : ""); break;
      default: break;
    }
  } catch (const std::exception& e) {
    log::Error("plugin", std::string("change callback: ") + e.what());
  }
  return OrthancPluginErrorCode_Success;
}

OrthancPluginErrorCode OnRest(OrthancPluginRestOutput* output, const char* /*url*/, const OrthancPluginHttpRequest* request) {
  node::HttpRequest r;
  switch (request->method) {
    case OrthancPluginHttpMethod_Get: r.method = "GET"; break;
    case OrthancPluginHttpMethod_Post: r.method = "POST"; break;
    case OrthancPluginHttpMethod_Put: r.method = "PUT"; break;
    default: r.method = "DELETE"; break;
  }
  r.path = "/" + std::string(request->groupsCount > 0 ? request->groups[0] : "");
  for (uint32_t i = 0; i < request->getCount; ++i) r.query[request->getKeys[i]] = request->getValues[i];
  if (request->body && request->bodySize) r.body.assign(static_cast<const char*>(request->body), request->bodySize);
  const node::HttpResponse answer = g_plugin->node->Handle(r);
  if (answer.status == 200) {
    OrthancPluginAnswerBuffer(g_context, output, answer.body.data(), static_cast<uint32_t>(answer.body.size()),
                              answer.content_type.c_str());
  } else {
    OrthancPluginSendHttpStatus(g_context, output, static_cast<uint16_t>(answer.status), answer.body.data(),
                                static_cast<uint32_t>(answer.body.size()));
  }
  return OrthancPluginErrorCode_Success;
}

void OnRefreshMetrics() {
  if (!g_plugin) return;
  try {
    for (const auto& [name, value] : g_plugin->node->Metrics()) {
      OrthancPluginSetMetricsValue(g_context, name.c_str(), static_cast<float>(value), OrthancPluginMetricsType_Default);
    }
  } catch (const std::exception& e) {
    log::Warning("plugin", std::string("metrics: ") + e.what());
  }
}

// glibc raises its mmap threshold each time a large block is freed (up to 32 MiB); from then on the
// node's 1 MiB per-slice buffers (decoded and preprocessed float pixels) come from the heap arenas
// of whichever thread allocates them and stay there, fragmented, so the Orthanc process's peak
// memory grew with the size of the study (1,000 slices: 370-413 MiB, against 296-303 MiB with a
// fixed threshold; docs/performance.md, rss_ratio). A fixed threshold sends such blocks to mmap and
// gives them back when freed. It lies above a 512x512 16-bit instance (0.5 MiB): mapping those too
// made every C-STORE slower (ingest_ratio 1.12-1.16 with 128 KiB). glibc's own
// MALLOC_MMAP_THRESHOLD_, when set in Orthanc's environment, wins.
void FixMmapThreshold() {
  constexpr int kThreshold = 640 * 1024;
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr) return;
  if (mallopt(M_MMAP_THRESHOLD, kThreshold) == 1) {
    log::Info("plugin", "memory: blocks of 640 KiB and more are mapped directly (MALLOC_MMAP_THRESHOLD_ overrides)");
  }
}

// Parses and checks everything, loads the model and opens the database: any problem stops Orthanc
// here, with the message, rather than later.
void Initialize() {
  const config::Json doc = ReadOrthancConfiguration();
  const config::Json* section = config::Find(doc, "Curia");
  if (!section) {
    log::Warning("plugin", "no \"Curia\" section in Orthanc's configuration: the plugin stays idle");
    return;
  }
  config::CuriaSettings settings = config::ParseCuriaSettings(doc, "Orthanc configuration", ".");
  CheckAgainstOrthanc(settings, doc);
  FixMmapThreshold();
  if (settings.rules.empty()) log::Warning("plugin", "no routing rule: studies are kept but nothing is analysed");
  std::string database = settings.database;
  if (database.empty()) database = StringOr(doc, "IndexDirectory", StringOr(doc, "StorageDirectory", "OrthancStorage")) + "/curia.sqlite";
  const config::Json* stable_age = config::Find(doc, "StableAge");
  node::NodeInfo info;
  info.version = CURIA_VERSION_STRING;
  info.stable_age_s = stable_age && stable_age->isNumeric() && stable_age->asDouble() > 0 ? stable_age->asDouble() : 60;
  info.section = *section;
  info.destinations = config::Json(::Json::objectValue);
  if (const config::Json* modalities = config::Find(doc, "DicomModalities")) {
    for (const config::RuleSettings& rule : settings.rules) {
      for (const std::string& d : rule.destinations) {
        if (const config::Json* entry = config::Find(*modalities, d)) info.destinations[d] = *entry;
      }
    }
  }

  auto plugin = std::make_unique<Plugin>();
  auto store = std::make_unique<storage::Store>(database);
  plugin->model = nn::TorchModel::Load(settings);
  plugin->orthanc = std::make_unique<OrthancRest>(g_context);
  log::Info("plugin", "model " + plugin->model->info().path + " (" + plugin->model->info().backbone_digest.substr(0, 12) +
                          (plugin->model->info().demo ? ", DEMO weights: meaningless output" : "") + "), " +
                          std::to_string(settings.tasks.size()) + " task(s), " + std::to_string(settings.rules.size()) +
                          " rule(s), database " + database);
  plugin->node = std::make_unique<node::Node>(std::move(settings), std::move(store), *plugin->model, *plugin->orthanc,
                                              std::move(info));
  g_plugin = plugin.release();

  OrthancPluginRegisterOnStoredInstanceCallback(g_context, OnStoredInstance);
  OrthancPluginRegisterOnChangeCallback(g_context, OnChange);
  OrthancPluginRegisterRestCallbackNoLock(g_context, "/curia/(.*)", OnRest);
  OrthancPluginRegisterRefreshMetricsCallback(g_context, OnRefreshMetrics);
  // The Curia panel on Orthanc Explorer's study page (plugin/ui/explorer.js; the dashboard is /curia/ui).
  const std::string explorer = node::ExplorerScript();
  if (!explorer.empty()) OrthancPluginExtendOrthancExplorer(g_context, explorer.c_str());
}

}  // namespace
}  // namespace curia::plugin

extern "C" {

ORTHANC_PLUGINS_API int32_t OrthancPluginInitialize(OrthancPluginContext* context) {
  using namespace curia::plugin;
  g_context = context;
  if (!OrthancPluginCheckVersion(context)) {
    OrthancPluginLogError(context, "Curia Node: this Orthanc is older than the plugin SDK it was built with (1.10.1)");
    return -1;
  }
  OrthancPluginSetDescription(context, "Curia Node: the Curia radiology foundation model on studies sent to Orthanc "
                                       "(RESEARCH USE ONLY)");
  InstallLogSink();
  try {
    Initialize();
  } catch (const std::exception& e) {
    const std::string message = std::string("Curia Node cannot start, so Orthanc stops: ") + e.what();
    OrthancPluginLogError(context, message.c_str());
    curia::log::SetSink({});
    return -1;
  }
  return 0;
}

ORTHANC_PLUGINS_API void OrthancPluginFinalize() {
  using namespace curia::plugin;
  if (g_plugin) {
    g_plugin->node->Stop();
    delete g_plugin;
    g_plugin = nullptr;
  }
  curia::log::SetSink({});
}

ORTHANC_PLUGINS_API const char* OrthancPluginGetName() { return curia::plugin::kName; }

ORTHANC_PLUGINS_API const char* OrthancPluginGetVersion() { return CURIA_VERSION_STRING; }
}
