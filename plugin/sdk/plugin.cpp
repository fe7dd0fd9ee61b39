// SPDX-License-Identifier: GPL-3.0-or-later
// Curia Node as an Orthanc plugin: the four entry points and the callbacks. Callbacks only record
// and enqueue (orthanc-plugin.md section 4); the node's threads start on OrthancStarted and are
// joined on OrthancStopped.
#include <malloc.h>
#include <orthanc/OrthancCPlugin.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "crash_report.h"
#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/config/log.h"
#include "curia/config/orthanc_config.h"
#include "curia/config/settings.h"
#include "curia/dicom/read.h"
#include "curia/dicom/series.h"
#include "curia/nn/torch_model.h"
#include "curia/node/node.h"
#include "orthanc_rest.h"
#include "protect.h"
#include "sdk_memory.h"

namespace curia::sdk {
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
  const OrthancString text(g_context, OrthancPluginGetConfiguration(g_context));
  if (!text) throw Error(ErrorCode::kUnavailable, "Orthanc did not give its configuration");
  return config::ParseJson(text.c_str(), "Orthanc configuration");
}

// The Curia section parsed, and checked against the rest of Orthanc's configuration by the checks
// `curia validate-config` runs too (config/orthanc_config.h): every error in one curia::Error
// (Orthanc stops with it), warnings logged. nullopt without a Curia section: the plugin stays idle.
std::optional<config::CuriaSettings> ReadSettings(const config::Json& doc) {
  config::OrthancCheckOptions options;
  options.complete = true;  // all Orthanc reads: what it lacks, Orthanc lacks
  options.is_dicom_keyword = dicom::IsDicomKeyword;
  std::string errors;
  for (const config::ConfigFinding& f : config::CheckOrthancConfiguration(doc, options)) {
    if (f.severity == config::Severity::kWarning || !config::Find(doc, "Curia")) {
      log::Warning("plugin", "Orthanc configuration: " + config::Describe(f));
    } else {
      errors += (errors.empty() ? "" : "\n") + std::string("Orthanc configuration: ") + config::Describe(f);
    }
  }
  if (!config::Find(doc, "Curia")) return std::nullopt;
  std::optional<config::CuriaSettings> settings;
  std::string problems;
  try {
    settings = config::ParseCuriaSettings(doc, "Orthanc configuration", ".");
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kInvalidArgument) throw;
    problems = e.what();  // one line per problem of the section
  }
  if (!errors.empty()) problems += (problems.empty() ? "" : "\n") + errors;
  if (!problems.empty()) throw Error(ErrorCode::kInvalidArgument, problems);
  return settings;
}

// The study UID of a received instance: read from its bytes by the structure check's walk over
// the element headers (Orthanc's simplified JSON of the whole instance, made and parsed again for
// this one value, cost a few percent of a C-STORE; docs/performance.md), from that JSON where the
// walk refuses the bytes.
std::optional<std::string> StudyUidOf(const OrthancPluginDicomInstance* instance) {
  const void* data = OrthancPluginGetInstanceData(g_context, instance);
  const int64_t size = OrthancPluginGetInstanceSize(g_context, instance);
  if (data != nullptr && size > 0) {
    if (std::optional<std::string> uid =
            dicom::ReadStudyInstanceUid(static_cast<const uint8_t*>(data), static_cast<size_t>(size))) {
      return uid;
    }
  }
  const OrthancString json(g_context, OrthancPluginGetInstanceSimplifiedJson(g_context, instance));
  if (!json) return std::nullopt;
  const config::Json tags = config::ParseJson(json.c_str(), "instance");
  const config::Json* uid = config::Find(tags, "StudyInstanceUID");
  if (!uid || !uid->isString() || uid->asString().empty()) return std::nullopt;
  return uid->asString();
}

OrthancPluginErrorCode OnStoredInstance(const OrthancPluginDicomInstance* instance, const char* instance_id) {
  if (!g_plugin) return OrthancPluginErrorCode_Success;
  return Protect("stored-instance callback", instance_id, [&] {
    if (OrthancPluginGetInstanceOrigin(g_context, instance) == OrthancPluginInstanceOrigin_Plugin) {
      return;  // made by a plugin (ours or another): never work for us
    }
    const std::optional<std::string> uid = StudyUidOf(instance);
    if (!uid) return;
    // Both strings are Orthanc's (lent, not to be freed).
    const char* calling = OrthancPluginGetInstanceRemoteAet(g_context, instance);
    const char* called = OrthancPluginHasInstanceMetadata(g_context, instance, "CalledAET")
                             ? OrthancPluginGetInstanceMetadata(g_context, instance, "CalledAET")
                             : nullptr;
    g_plugin->node->OnInstanceStored(*uid, calling ? calling : "", called ? called : "");
  });
}

OrthancPluginErrorCode OnChange(OrthancPluginChangeType type, OrthancPluginResourceType /*level*/, const char* id) {
  if (!g_plugin) return OrthancPluginErrorCode_Success;
  return Protect("change callback", id, [&] {
    switch (type) {
      case OrthancPluginChangeType_OrthancStarted: g_plugin->node->Start(); break;
      case OrthancPluginChangeType_OrthancStopped: g_plugin->node->Stop(); break;
      case OrthancPluginChangeType_StableStudy: g_plugin->node->OnStable(false, id ? id : ""); break;
      case OrthancPluginChangeType_StableSeries: g_plugin->node->OnStable(true, id ? id : ""); break;
      default: break;
    }
  });
}

// The methods of the /curia API (plugin/node/src/api.cpp). A request with another one is answered
// 405 here, as is a 405 of the node (a known path, another method; Allow then names that path's
// methods): the SDK sends a 405 only through OrthancPluginSendMethodNotAllowed.
constexpr std::array<std::string_view, 2> kApiMethods = {"GET", "POST"};

const std::string& AllowedMethods() {
  static const std::string allowed = [] {
    std::string s;
    for (std::string_view m : kApiMethods) s += (s.empty() ? "" : ",") + std::string(m);
    return s;
  }();
  return allowed;
}

// The request's method as the node names it; nullopt when the node does not serve it (or the SDK
// sends a value this build does not know).
std::optional<std::string> ApiMethod(OrthancPluginHttpMethod method) {
  std::string name;
  switch (method) {
    case OrthancPluginHttpMethod_Get: name = "GET"; break;
    case OrthancPluginHttpMethod_Post: name = "POST"; break;
    case OrthancPluginHttpMethod_Put: name = "PUT"; break;
    case OrthancPluginHttpMethod_Delete: name = "DELETE"; break;
    default: return std::nullopt;
  }
  return std::find(kApiMethods.begin(), kApiMethods.end(), name) != kApiMethods.end() ? std::optional(name) : std::nullopt;
}

OrthancPluginErrorCode OnRest(OrthancPluginRestOutput* output, const char* url, const OrthancPluginHttpRequest* request) {
  return ProtectRest(g_context, output, url, [&] {
    const std::optional<std::string> method = ApiMethod(request->method);
    if (!method) {
      OrthancPluginSendMethodNotAllowed(g_context, output, AllowedMethods().c_str());
      return;
    }
    node::HttpRequest r;
    r.method = *method;
    r.path = "/" + std::string(request->groupsCount > 0 ? request->groups[0] : "");
    for (uint32_t i = 0; i < request->getCount; ++i) r.query[request->getKeys[i]] = request->getValues[i];
    if (request->body && request->bodySize) r.body.assign(static_cast<const char*>(request->body), request->bodySize);
    const node::HttpResponse answer = g_plugin->node->Handle(r);
    if (answer.body.size() > UINT32_MAX) throw Error(ErrorCode::kInternal, "answer larger than 4 GB");
    if (answer.status == 200) {
      OrthancPluginAnswerBuffer(g_context, output, answer.body.data(), static_cast<uint32_t>(answer.body.size()),
                                answer.content_type.c_str());
    } else if (answer.status == 405) {
      // The node's Allow names the methods of that path ("GET" for /health); else every method.
      std::string allow = AllowedMethods();
      for (const auto& [name, value] : answer.headers) {
        if (name == "Allow") allow = value;
      }
      OrthancPluginSendMethodNotAllowed(g_context, output, allow.c_str());
    } else {
      OrthancPluginSendHttpStatus(g_context, output, static_cast<uint16_t>(answer.status), answer.body.data(),
                                  static_cast<uint32_t>(answer.body.size()));
    }
  });
}

void OnRefreshMetrics() {
  if (!g_plugin) return;
  Protect("metrics callback", nullptr, [] {
    for (const auto& [name, value] : g_plugin->node->Metrics()) {
      OrthancPluginSetMetricsValue(g_context, name.c_str(), static_cast<float>(value), OrthancPluginMetricsType_Default);
    }
  });
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
  std::optional<config::CuriaSettings> parsed = ReadSettings(doc);
  if (!parsed) return;  // no Curia section: idle (ReadSettings logged why)
  config::CuriaSettings settings = std::move(*parsed);
  FixMmapThreshold();
  if (settings.rules.empty()) log::Warning("plugin", "no routing rule: studies are kept but nothing is analysed");
  if (settings.role == config::NodeRole::kWork) {
    // A work node receives nothing: what it would receive, it would route like an "all" node,
    // unseen by whoever set the roles. Orthanc's default is a listener.
    const config::Json* listener = config::Find(doc, "DicomServerEnabled");
    if (!listener || !listener->isBool() || listener->asBool()) {
      throw Error(ErrorCode::kInvalidArgument, "Curia.Role \"work\" is a node without a DICOM listener: set "
                                               "\"DicomServerEnabled\": false in the Orthanc configuration (modalities "
                                               "send to the ingest nodes), or use Role \"all\"");
    }
  }
  const std::string database = settings.database.empty() ? config::DefaultDatabasePath(doc) : settings.database;
  node::NodeInfo info;
  info.version = CURIA_VERSION_STRING;
  info.stable_age_s = config::StableAgeSeconds(doc);
  info.section = *config::Find(doc, "Curia");
  info.destinations = config::Json(::Json::objectValue);
  if (const config::Json* modalities = config::Find(doc, "DicomModalities")) {
    for (const config::RuleSettings& rule : settings.rules) {
      for (const std::string& d : rule.destinations) {
        if (const config::Json* entry = config::Find(*modalities, d)) info.destinations[d] = *entry;
      }
    }
  }

  auto plugin = std::make_unique<Plugin>();
  std::unique_ptr<storage::Store> store = storage::OpenStore(database);
  store->SetNodeName(settings.node_name);
  plugin->model = nn::TorchModel::Load(settings);
  plugin->orthanc = std::make_unique<OrthancRest>(g_context);
  log::Info("plugin", "model " + plugin->model->info().path + " (" + plugin->model->info().backbone_digest.substr(0, 12) +
                          (plugin->model->info().demo ? ", DEMO weights: meaningless output" : "") + "), " +
                          std::to_string(settings.tasks.size()) + " task(s), " + std::to_string(settings.rules.size()) +
                          " rule(s), database " + store->path() + ", node " +
                          store->node_name());
  plugin->node = std::make_unique<node::Node>(std::move(settings), std::move(store), *plugin->model, *plugin->orthanc,
                                              std::move(info));
  g_plugin = plugin.release();

  OrthancPluginRegisterOnStoredInstanceCallback(g_context, OnStoredInstance);
  OrthancPluginRegisterOnChangeCallback(g_context, OnChange);
  OrthancPluginRegisterRestCallbackNoLock(g_context, "/curia/(.*)", OnRest);
  OrthancPluginRegisterRefreshMetricsCallback(g_context, OnRefreshMetrics);
  // The Curia panel on Orthanc Explorer's study page (plugin/node/ui/explorer.js; the dashboard is /curia/ui).
  const std::string explorer = node::ExplorerScript();
  if (!explorer.empty()) OrthancPluginExtendOrthancExplorer(g_context, explorer.c_str());
}

}  // namespace
}  // namespace curia::sdk

extern "C" {

ORTHANC_PLUGINS_API int32_t OrthancPluginInitialize(OrthancPluginContext* context) {
  using namespace curia::sdk;
  g_context = context;
  if (!OrthancPluginCheckVersion(context)) {
    OrthancPluginLogError(context, "Curia Node: this Orthanc is older than the plugin SDK it was built with (1.10.1)");
    return -1;
  }
  OrthancPluginSetDescription(context, "Curia Node: the Curia radiology foundation model on studies sent to Orthanc "
                                       "(RESEARCH USE ONLY)");
  InstallLogSink();
  InstallCrashReport();
  if (Protect("cannot start, so Orthanc stops", nullptr, Initialize) != OrthancPluginErrorCode_Success) {
    curia::log::SetSink({});
    return -1;
  }
  return 0;
}

ORTHANC_PLUGINS_API void OrthancPluginFinalize() {
  using namespace curia::sdk;
  Protect("finalize", nullptr, [] {
    std::unique_ptr<Plugin> plugin(g_plugin);
    g_plugin = nullptr;
    if (plugin) plugin->node->Stop();
  });
  curia::log::SetSink({});
}

ORTHANC_PLUGINS_API const char* OrthancPluginGetName() { return curia::sdk::kName; }

ORTHANC_PLUGINS_API const char* OrthancPluginGetVersion() { return CURIA_VERSION_STRING; }
}
