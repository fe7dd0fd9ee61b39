// SPDX-License-Identifier: GPL-3.0-or-later
// curia validate-config FILE|DIR: what the plugin would say about a configuration when Orthanc
// starts, without starting Orthanc. Every problem is printed on its own line with its JSON path
// and a hint; exit status 0 when the node would start, 1 when it would not.
//
// FILE is an Orthanc configuration with a "Curia" section (comments allowed), or a file holding the
// Curia section alone (as `curia run --config` takes). DIR is a configuration folder as Orthanc
// reads it (`Orthanc /etc/orthanc`): every *.json file in it, merged, a top-level key defined twice
// being an error as it is for Orthanc.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "commands.h"
#include "curia/config/error.h"
#include "curia/config/hints.h"
#include "curia/config/json.h"
#include "curia/config/log.h"
#include "curia/config/orthanc_config.h"
#include "curia/config/settings.h"
#include "plugin_path.h"
#include "curia/dicom/series.h"
#include "curia/model/demo_model.h"
#include "curia/nn/torch_model.h"

namespace curia::cli {
namespace {

namespace fs = std::filesystem;

using config::ConfigFinding;
using config::Nearest;
using config::QuoteList;
using Problem = ConfigFinding;  // a finding of severity kError

// The members each object of the Curia section accepts (config/src/settings.cpp, rules.cpp), for
// "did you mean" hints on unknown keys.
const std::map<std::string, std::vector<std::string>>& KnownKeys() {
  static const std::map<std::string, std::vector<std::string>> keys = {
      {"Curia", {"SchemaVersion", "Model", "Dicom", "Tasks", "Database", "NodeName", "Trigger", "RoutingMode", "Queue", "Export", "Rules"}},
      {"Model", {"Path", "Devices", "Precision", "Threads", "WorkersPerDevice", "MaxBatch", "MaxBatchDelayMs",
                 "PreprocessThreads", "HostThreadsPerDevice", "QueuedSlices", "MaxActiveJobs", "AgingSeconds"}},
      {"Task", {"Head", "Class", "Aggregate", "TopK", "Threshold", "Normalization", "Finding", "FindingSite", "Window"}},
      {"Concept", {"Code", "Scheme", "Meaning"}},
      {"Window", {"Center", "Width"}},
      {"Dicom", {"UidRoot", "SeriesNumber", "Manufacturer", "InstitutionName", "SrClass", "ScClass", "KeyImages", "HeatMap"}},
      {"Queue", {"LeaseSeconds", "MaxAttempts", "Workers"}},
      {"Export", {"MaxAttempts", "BackoffSeconds"}},
      {"Rule", {"Name", "Priority", "Match", "Series", "Tasks", "Outputs", "Destinations", "Enabled"}},
      {"Series", {"Modalities", "Orientation", "MinSlices", "MaxSlices", "Description", "Thickness"}},
      {"Condition", {"Tag", "Equals", "In", "Regex", "Range", "Exists", "All", "Any", "Not", "CalledAET", "CallingAET"}},
  };
  return keys;
}

// "$.Curia.Tasks.ich.Treshold" -> ("$.Curia.Tasks.ich", "Treshold"); bracketed keys and indexes too.
std::pair<std::string, std::string> SplitLast(const std::string& path) {
  if (!path.empty() && path.back() == ']') {
    const size_t open = path.rfind('[');
    std::string key = path.substr(open + 1, path.size() - open - 2);
    if (key.size() >= 2 && key.front() == '"') key = key.substr(1, key.size() - 2);
    return {path.substr(0, open), key};
  }
  const size_t dot = path.rfind('.');
  if (dot == std::string::npos) return {path, ""};
  return {path.substr(0, dot), path.substr(dot + 1)};
}

// Which kind of object a JSON path names (a key of KnownKeys), "" when unknown.
std::string KindOf(const std::string& parent, const std::string& root) {
  static const std::regex rule(R"(\.Rules\[\d+\]$)");
  static const std::regex task(R"(^.*\.Tasks(\.[A-Za-z_][A-Za-z0-9_-]*|\[[^\]]*\])$)");
  if (parent == root) return "Curia";
  if (parent.find(".Match") != std::string::npos) return "Condition";
  if (std::regex_search(parent, rule)) return "Rule";
  const std::string last = SplitLast(parent).second;
  if (last == "Series" && parent.find(".Rules[") != std::string::npos) return "Series";
  if (last == "Finding" || last == "FindingSite") return "Concept";
  if (last == "Window") return "Window";
  if (parent.find(".Rules[") == std::string::npos && std::regex_match(parent, task) &&
      SplitLast(parent).first == root + ".Tasks") {
    return "Task";
  }
  if (SplitLast(parent).first == root && KnownKeys().count(last)) return last;
  return "";
}

// A hint for one problem of the parser, from its message and path.
std::string HintFor(const std::string& path, const std::string& message, const std::string& root,
                    const std::vector<std::string>& task_names) {
  if (message == "unknown key") {
    const auto [parent, key] = SplitLast(path);
    const std::string kind = KindOf(parent, root);
    if (kind.empty()) return "remove it";
    const std::vector<std::string>& known = KnownKeys().at(kind);
    const std::string near = Nearest(key, known);
    if (!near.empty()) return "did you mean \"" + near + "\"?";
    return "known keys here: " + QuoteList(known) + " (docs/configuration.md)";
  }
  if (message.find("is not a task of") != std::string::npos) {
    const size_t q = message.find('"');
    const size_t q2 = message.find('"', q + 1);
    const std::string name = q != std::string::npos && q2 != std::string::npos ? message.substr(q + 1, q2 - q - 1) : "";
    const std::string near = Nearest(name, task_names);
    if (!near.empty()) return "did you mean \"" + near + "\"?";
    return task_names.empty() ? "define the task under " + root + ".Tasks first (docs/configuration.md)"
                              : "use one of the tasks defined under " + root + ".Tasks, or define it there";
  }
  if (path == root + ".Model" || path == root + ".Model.Path") {
    return "point Model.Path to a model folder: `curia demo-model --out /var/lib/curia/demo-model` writes the demo "
           "model; the real weights: docs/real-weights.md";
  }
  if (path == root + ".Model.QueuedSlices") return "raise QueuedSlices or lower MaxBatch";
  if (path.find(".Devices") != std::string::npos) return "\"cpu\", \"cuda\" (the first GPU) or \"cuda:N\"";
  if (path.find(".Finding") != std::string::npos && message.find("missing") != std::string::npos) {
    return "e.g. {\"Code\": \"50960005\", \"Scheme\": \"SCT\", \"Meaning\": \"Hemorrhage\"} (docs/configuration.md)";
  }
  if (path.find(".Head") != std::string::npos) {
    return "Head is a head subfolder of Model.Path (holding config.json and model.safetensors)";
  }
  if (message.find("invalid regular expression") != std::string::npos) {
    return "RE2 syntax (no back-references or lookaround); write \"(?i)\" at the start for case-insensitive matching, "
           "and double backslashes in JSON";
  }
  if (message.find("is already the name of") != std::string::npos) return "give each rule its own Name";
  if (message.find("UID root") != std::string::npos) return "\"2.25\" (the default) or your organisation's root";
  if (path == root + ".SchemaVersion") return "remove it or write 1";
  if (message.rfind("expected one of ", 0) == 0) {
    // expected one of "a", "b", found "X"
    static const std::regex quoted("\"([^\"]*)\"");
    std::vector<std::string> values;
    for (auto it = std::sregex_iterator(message.begin(), message.end(), quoted); it != std::sregex_iterator(); ++it) {
      values.push_back((*it)[1]);
    }
    if (values.size() >= 2 && message.find(", found \"") != std::string::npos) {
      const std::string found = values.back();
      values.pop_back();
      const std::string near = Nearest(found, values);
      if (!near.empty()) return "did you mean \"" + near + "\"? (the values are case-sensitive)";
    }
    return "the values are case-sensitive";
  }
  if (message.find("required member is missing") != std::string::npos) return "add it (docs/configuration.md)";
  return "";
}

// "source: $.path: message" lines of a curia::Error from the parser -> problems.
std::vector<Problem> ProblemsOf(const std::string& text, const std::string& source, const std::string& root,
                                const std::vector<std::string>& task_names) {
  std::vector<Problem> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(source + ": ", 0) == 0) line = line.substr(source.size() + 2);
    Problem p;
    const size_t sep = line.find(": ");
    if (line.rfind("$", 0) == 0 && sep != std::string::npos) {
      p.path = line.substr(0, sep);
      p.message = line.substr(sep + 2);
    } else {
      p.path = root;
      p.message = line;
    }
    p.hint = HintFor(p.path, p.message, root, task_names);
    out.push_back(p);
  }
  return out;
}

// The task names of the section as written (even when some of them are invalid), for hints.
std::vector<std::string> TaskNames(const config::Json* section) {
  std::vector<std::string> names;
  const config::Json* tasks = section && section->isObject() ? config::Find(*section, "Tasks") : nullptr;
  if (tasks && tasks->isObject()) {
    for (const auto& [name, value] : config::MembersInFileOrder(*tasks)) names.push_back(name);
  }
  return names;
}

struct Loaded {
  config::Json doc;
  std::string base_dir;  // relative paths are resolved against it, as the tool does
  std::vector<std::string> files;
};

// A file, or a folder merged as Orthanc merges it (problems: duplicate top-level keys).
Loaded Load(const std::string& path, std::vector<Problem>& problems, std::vector<std::string>& warnings) {
  Loaded l;
  if (fs::is_directory(path)) {
    l.base_dir = path;
    for (const auto& entry : fs::directory_iterator(path)) {
      if (entry.is_regular_file() && entry.path().extension() == ".json") l.files.push_back(entry.path().string());
    }
    std::sort(l.files.begin(), l.files.end());
    if (l.files.empty()) throw Error(ErrorCode::kNotFound, path + ": no *.json file in this folder");
    config::Json merged(::Json::objectValue);
    std::map<std::string, std::string> origin;
    for (const std::string& file : l.files) {
      std::string text;
      try {
        text = config::ReadTextFile(file);
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kNotFound) throw;
        // Debian's credentials.json is readable by root and the orthanc group only.
        warnings.push_back(std::string(e.what()) + ": skipped (run as root, e.g. with sudo, to check it too)");
        continue;
      }
      const config::Json doc = config::ParseJson(text, file, config::JsonDialect::kOrthanc);
      if (!doc.isObject()) throw Error(ErrorCode::kInvalidArgument, file + ": expected a JSON object");
      for (const auto& [key, value] : config::MembersInFileOrder(doc)) {
        if (origin.count(key)) {
          problems.push_back({config::JsonPath("$", key),
                              "defined in both " + origin[key] + " and " + file + ": Orthanc refuses to start",
                              "keep it in one file (the Curia section in curia-node.json, DicomModalities in orthanc.json)",
                              config::Severity::kError});
          continue;
        }
        origin[key] = file;
        merged[key] = *value;
      }
    }
    l.doc = std::move(merged);
  } else {
    const size_t slash = path.rfind('/');
    l.base_dir = slash == std::string::npos ? "." : path.substr(0, slash);
    l.files.push_back(path);
    l.doc = config::ParseJsonFile(path, config::JsonDialect::kOrthanc);
  }
  return l;
}

}  // namespace

int ValidateConfigCommand(const Args& args) {
  ArgParser p("curia validate-config",
              "Checks a Curia Node configuration as the plugin does when Orthanc starts, without starting it:\n"
              "the Curia section (every key, task and rule), rule destinations against DicomModalities,\n"
              "rule tags against the DICOM dictionary, the plugin path, and that the model and its heads\n"
              "load. FILE is an Orthanc configuration (comments allowed) or a file with the Curia section\n"
              "alone; a folder (/etc/orthanc) is read as Orthanc reads it: every *.json file, merged.\n"
              "Prints every problem on one line with its JSON path and a hint. Exit status: 0 valid, 1 not.");
  p.Positional("FILE", "the configuration file or folder")
      .Flag("--skip-model", "do not load the model (only check the file)");
  if (!p.Parse(args)) return 0;
  log::SetMinLevel(log::Level::kWarning);  // the model loader's progress lines are noise here
  const std::string path = p.Get("FILE");
  if (!fs::exists(path)) throw Error(ErrorCode::kNotFound, path + ": no such file or folder");

  std::vector<Problem> problems;
  std::vector<std::string> warnings;
  const Loaded loaded = Load(path, problems, warnings);
  const config::Json& doc = loaded.doc;
  const bool orthanc = config::IsOrthancConfiguration(doc);
  const config::Json* section = config::Find(doc, "Curia");
  const std::string root = section || orthanc ? "$.Curia" : "$";

  // What the plugin checks against the rest of Orthanc's configuration (config/orthanc_config.h),
  // plus the Plugins list. Rule tags and destinations are read from the JSON as written: checked
  // even when other parts of the section are wrong, so that one run shows every problem.
  config::OrthancCheckOptions options;
  options.section_alone = !orthanc;
  options.plugin_file = kPluginFile;
  options.is_dicom_keyword = dicom::IsDicomKeyword;
  for (ConfigFinding& f : config::CheckOrthancConfiguration(doc, options)) {
    if (f.severity == config::Severity::kWarning) {
      warnings.push_back(config::Describe(f));
    } else {
      problems.push_back(std::move(f));
    }
  }

  std::optional<config::CuriaSettings> settings;
  if (section || !orthanc) {
    try {
      settings = config::ParseCuriaSettings(doc, path, loaded.base_dir);
    } catch (const Error& e) {
      for (Problem& pr : ProblemsOf(e.what(), path, root, TaskNames(section ? section : &doc))) problems.push_back(pr);
    }
  }

  // The model and heads, as the plugin loads them, once the file itself is right.
  std::string model_line;
  if (settings && problems.empty() && !p.IsSet("--skip-model")) {
    try {
      const auto model = nn::TorchModel::Load(*settings);
      const worker::ModelInfo& info = model->info();
      model_line = info.path + " (backbone " + info.backbone_digest.substr(0, 12) + (info.demo ? ", DEMO: meaningless findings" : "") +
                   "), devices";
      for (const std::string& d : info.devices) model_line += " " + d;
    } catch (const Error& e) {
      std::string hint;
      const std::string text = e.what();
      if (!fs::exists(settings->model.path + "/config.json")) {
        hint = "no model at " + settings->model.path + ": `curia demo-model --out " + settings->model.path +
               "` writes the demo model; the real weights: docs/real-weights.md";
      } else if (text.find("cuda") != std::string::npos || text.find("CUDA") != std::string::npos) {
        hint = "no usable GPU here: set Model.Devices to [\"cpu\"], or check the NVIDIA driver (nvidia-smi)";
      }
      for (Problem& pr : ProblemsOf(text, path, root, TaskNames(section ? section : &doc))) {
        if (!hint.empty()) pr.hint = hint;
        problems.push_back(pr);
      }
    }
  }

  for (const std::string& w : warnings) std::cout << "warning: " << w << "\n";
  if (!problems.empty()) {
    for (const Problem& pr : problems) std::cout << path << ": " << config::Describe(pr) << "\n";
    std::cout << problems.size() << " problem" << (problems.size() == 1 ? "" : "s")
              << ": the node would not start (Orthanc stops with these messages)\n";
    return 1;
  }

  const config::CuriaSettings& s = *settings;
  std::cout << path << ": valid Curia Node configuration\n";
  std::cout << "  model         " << (model_line.empty() ? s.model.path + " (not loaded: --skip-model)" : model_line) << "\n";
  std::cout << "  tasks         " << s.tasks.size();
  for (size_t i = 0; i < s.tasks.size(); ++i) std::cout << (i ? ", " : ": ") << s.tasks[i].name;
  std::cout << "\n  rules         " << s.rules.size();
  std::set<std::string> destinations;
  for (size_t i = 0; i < s.rules.size(); ++i) {
    const config::RuleSettings& r = s.rules[i];
    std::cout << (i ? "; " : ": ") << r.name << " (" << r.priority << (r.enabled ? "" : ", disabled") << ")";
    destinations.insert(r.destinations.begin(), r.destinations.end());
  }
  std::cout << "\n  destinations  " << destinations.size();
  const config::Json* modalities = config::Find(doc, "DicomModalities");
  size_t i = 0;
  for (const std::string& d : destinations) {
    std::cout << (i++ ? ", " : ": ") << d;
    const config::Json* m = modalities ? config::Find(*modalities, d) : nullptr;
    if (m && m->isObject() && config::Find(*m, "AET") && config::Find(*m, "Host") && config::Find(*m, "Port")) {
      const auto text = [](const config::Json* v) { return v->isString() ? v->asString() : config::Dump(*v, -1); };
      std::cout << " (" << text(config::Find(*m, "AET")) << "@" << text(config::Find(*m, "Host")) << ":"
                << text(config::Find(*m, "Port")) << ")";
    } else if (m && m->isArray() && m->size() >= 3) {
      std::cout << " (" << config::Dump(*m, -1) << ")";
    }
  }
  std::cout << "\n  node          " << s.node_name << "\n";
  if (s.rules.empty()) std::cout << "note: no rule: the node keeps studies but analyses none\n";
  if (!s.rules.empty() && destinations.empty()) std::cout << "note: no rule has Destinations: results stay on the node\n";
  return 0;
}

}  // namespace curia::cli
