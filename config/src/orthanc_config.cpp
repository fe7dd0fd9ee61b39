// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/orthanc_config.h"

#include <cctype>
#include <filesystem>
#include <optional>
#include <string_view>

#include "curia/config/hints.h"

namespace curia::config {
namespace {

namespace fs = std::filesystem;

// --- The JSON reads of this file, in one place (so that a change of JSON library touches these).

const Json* Member(const Json* object, std::string_view key) {
  return object && object->isObject() ? Find(*object, key) : nullptr;
}
// The value as a string; nullptr when absent or not a string.
std::optional<std::string> StringOf(const Json* value) {
  if (value && value->isString()) return value->asString();
  return std::nullopt;
}
bool IsTrue(const Json* value) { return value && value->isBool() && value->asBool(); }
// Elements of an array (none for anything else).
std::vector<const Json*> Elements(const Json* value) {
  std::vector<const Json*> out;
  if (value && value->isArray()) {
    for (const Json& e : *value) out.push_back(&e);
  }
  return out;
}
// Member names of an object (none for anything else).
std::vector<std::string> Keys(const Json* value) {
  std::vector<std::string> out;
  if (value && value->isObject()) {
    for (const auto& [key, member] : MembersInFileOrder(*value)) out.push_back(key);
  }
  return out;
}
// "a string", "an array", ... for messages.
std::string Kind(const Json& value) { return Describe(value); }

// --- The checks.

using Findings = std::vector<ConfigFinding>;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A missing section: say why when we can tell (the packaged inert one, a wrongly cased key, a
// section inside another object, where Orthanc never looks).
void CheckSection(const Json& doc, Findings& out) {
  const std::vector<std::string> keys = Keys(&doc);
  if (Member(&doc, "Curia")) {
    if (Member(&doc, kDisabledSectionKey)) {
      out.push_back({JsonPath("$", kDisabledSectionKey), "ignored (a \"Curia\" section is there too)", "", Severity::kWarning});
    }
    return;
  }
  std::string hint = "add a Curia section (curia init writes a complete configuration)";
  if (Member(&doc, kDisabledSectionKey)) {
    hint = "the packaged example is disabled: rename \"" + std::string(kDisabledSectionKey) + "\" to \"Curia\" (docs/installation.md)";
  } else {
    for (const std::string& key : keys) {
      if (Lower(key) == "curia") {
        hint = "keys are case-sensitive: rename \"" + key + "\" to \"Curia\"";
        break;
      }
      if (Member(Member(&doc, key), "Curia")) {
        hint = JsonPath(JsonPath("$", key), "Curia") + " is not read: move the section to the top level of the configuration";
        break;
      }
    }
  }
  out.push_back({"$.Curia", "no \"Curia\" section: the plugin stays idle", hint, Severity::kError});
}

// Whether Orthanc's "Plugins" list loads `plugin_file`; each entry must exist.
void CheckPlugins(const Json& doc, const std::string& plugin_file, Findings& out) {
  const Json* plugins = Member(&doc, "Plugins");
  if (!plugins) return;
  if (!plugins->isArray()) {
    out.push_back({"$.Plugins", "expected an array of files and folders, found " + Kind(*plugins), "", Severity::kError});
    return;
  }
  // A file loads the node when its name has the library's ("OrthancCuriaNode" of
  // "libOrthancCuriaNode.so": versioned or renamed copies count).
  std::string core = fs::path(plugin_file).stem().string();
  if (core.rfind("lib", 0) == 0) core = core.substr(3);
  bool found = false;
  const std::vector<const Json*> entries = Elements(plugins);
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::optional<std::string> p = StringOf(entries[i]);
    if (!p) continue;
    std::error_code ec;
    if (!fs::exists(*p, ec)) {
      out.push_back({JsonPath("$.Plugins", i),
                     "\"" + *p + "\" does not exist: Orthanc starts without it (logging \"Inexistent path to plugins\")",
                     "build the plugin, or point to the installed /usr/share/orthanc/plugins/" + plugin_file, Severity::kError});
    } else if (fs::is_directory(*p, ec)) {
      found = found || fs::exists(fs::path(*p) / plugin_file, ec);
    } else {
      found = found || fs::path(*p).filename().string().find(core) != std::string::npos;
    }
  }
  if (!found) {
    out.push_back({"$.Plugins", "no entry loads " + plugin_file + ": Orthanc would not run the node", "", Severity::kWarning});
  }
}

// Orthanc's own settings that the node relies on. Orthanc refuses to start on a wrong type of
// these (its configuration reader throws BadParameterType); saying it here names the path.
void CheckOrthancSettings(const Json& doc, Findings& out) {
  if (const Json* age = Member(&doc, "StableAge"); age && !(age->isInt64() && age->asInt64() >= 0)) {
    out.push_back({"$.StableAge", "expected a whole number of seconds, found " + Kind(*age) + ": Orthanc refuses to start",
                   "Orthanc's default is 60; a study is analysed StableAge seconds after its last instance", Severity::kError});
  }
  for (const char* key : {"StorageDirectory", "IndexDirectory"}) {
    if (const Json* dir = Member(&doc, key); dir && !StringOf(dir)) {
      out.push_back({JsonPath("$", key), "expected a folder, found " + Kind(*dir) + ": Orthanc refuses to start", "",
                     Severity::kError});
    }
  }
  // Without Curia.Database the node's database goes beside Orthanc's index. Orthanc resolves a
  // relative folder against its configuration's folder, the node (SQLite) against the folder
  // Orthanc runs in: the two would part.
  const char* index_key = Member(&doc, "IndexDirectory") ? "IndexDirectory" : "StorageDirectory";
  const std::optional<std::string> index = StringOf(Member(&doc, index_key));
  if (Member(&doc, "Curia") && !Member(Member(&doc, "Curia"), "Database") && index && !index->empty() &&
      fs::path(*index).is_relative()) {
    out.push_back({JsonPath("$", index_key),
                   "\"" + *index + "\" is relative: Orthanc reads it from its configuration's folder, but the node's "
                   "database (" + DefaultDatabasePath(doc) + ") would be relative to the folder Orthanc runs in",
                   "write an absolute path, or set Curia.Database", Severity::kWarning});
  }
  if (const Json* aet = Member(&doc, "DicomAet")) {
    const std::optional<std::string> text = StringOf(aet);
    if (!text) {
      out.push_back({"$.DicomAet", "expected a string, found " + Kind(*aet) + ": Orthanc refuses to start", "", Severity::kError});
    } else if (text->empty() || text->size() > 16) {
      out.push_back({"$.DicomAet", "\"" + *text + "\" is not a DICOM application entity title (1 to 16 characters)",
                     "peers refuse associations from or to it; e.g. \"CURIA\"", Severity::kWarning});
    }
  }
}

// Every {"Tag": K} of a Match tree, against the DICOM dictionary (CalledAET and CallingAET are the
// rules' own pseudo-tags; an empty or malformed one is the rule parser's to report).
void CheckTags(const Json* condition, const std::string& path, const OrthancCheckOptions& options, Findings& out) {
  if (const std::optional<std::string> tag = StringOf(Member(condition, "Tag"));
      tag && !tag->empty() && *tag != "CalledAET" && *tag != "CallingAET" && !options.is_dicom_keyword(*tag)) {
    out.push_back({path + ".Tag", "\"" + *tag + "\" is not a DICOM keyword",
                   "keywords are as in DICOM PS3.6 and case-sensitive, e.g. \"Modality\", \"BodyPartExamined\", "
                   "\"SeriesDescription\"",
                   Severity::kError});
  }
  for (const char* list : {"All", "Any"}) {
    const std::vector<const Json*> children = Elements(Member(condition, list));
    for (size_t i = 0; i < children.size(); ++i) CheckTags(children[i], JsonPath(path + "." + list, i), options, out);
  }
  if (const Json* n = Member(condition, "Not")) CheckTags(n, path + ".Not", options, out);
}

// Each rule's Destinations against DicomModalities (any name goes when Orthanc keeps its
// modalities in its database: they may be added at run time).
void CheckDestinations(const Json& doc, const Json* rules, const std::string& rules_path, const OrthancCheckOptions& options,
                       Findings& out) {
  const Json* modalities = Member(&doc, "DicomModalities");
  if (IsTrue(Member(&doc, "DicomModalitiesInDatabase"))) return;
  const std::vector<std::string> known = Keys(modalities);
  bool unchecked = false;
  const std::vector<const Json*> list = Elements(rules);
  for (size_t i = 0; i < list.size(); ++i) {
    const std::vector<const Json*> destinations = Elements(Member(list[i], "Destinations"));
    for (size_t k = 0; k < destinations.size(); ++k) {
      const std::optional<std::string> name = StringOf(destinations[k]);
      if (!name || Member(modalities, *name)) continue;
      if (!modalities && !options.complete) {
        unchecked = true;
        continue;
      }
      const std::string near = Nearest(*name, known);
      out.push_back({JsonPath(JsonPath(rules_path, i) + ".Destinations", k), "\"" + *name + "\" is not in Orthanc's DicomModalities",
                     !near.empty() ? "did you mean \"" + near + "\"?"
                                   : "add \"" + *name + "\": {\"AET\": \"PACS\", \"Host\": \"10.0.0.5\", \"Port\": 104} to "
                                     "DicomModalities" + (known.empty() ? "" : " (known: " + QuoteList(known) + ")"),
                     Severity::kError});
    }
  }
  if (unchecked) {
    out.push_back({"$.DicomModalities", "not in this file: rule destinations not checked",
                   "validate the whole configuration, e.g. the folder /etc/orthanc", Severity::kWarning});
  }
}

}  // namespace

std::string Describe(const ConfigFinding& finding) {
  return finding.path + ": " + finding.message + (finding.hint.empty() ? "" : " (hint: " + finding.hint + ")");
}

std::vector<ConfigFinding> CheckOrthancConfiguration(const Json& doc, const OrthancCheckOptions& options) {
  Findings out;
  if (!options.section_alone) {
    CheckSection(doc, out);
    if (!options.plugin_file.empty()) CheckPlugins(doc, options.plugin_file, out);
    CheckOrthancSettings(doc, out);
  }
  const std::string root = options.section_alone ? "$" : "$.Curia";
  const Json* section = options.section_alone ? &doc : Member(&doc, "Curia");
  const Json* rules = Member(section, "Rules");
  const std::string rules_path = root + ".Rules";
  if (options.is_dicom_keyword) {
    const std::vector<const Json*> list = Elements(rules);
    for (size_t i = 0; i < list.size(); ++i) {
      if (const Json* match = Member(list[i], "Match")) CheckTags(match, JsonPath(rules_path, i) + ".Match", options, out);
    }
  }
  CheckDestinations(doc, rules, rules_path, options, out);
  return out;
}

bool IsOrthancConfiguration(const Json& doc) {
  for (const char* key : {"Plugins", "DicomAet", "DicomPort", "HttpPort", "StorageDirectory", "DicomModalities", kDisabledSectionKey}) {
    if (Member(&doc, key)) return true;
  }
  return false;
}

double StableAgeSeconds(const Json& doc) {
  const Json* age = Member(&doc, "StableAge");
  return age && age->isNumeric() && age->asDouble() > 0 ? age->asDouble() : 60;
}

std::string DefaultDatabasePath(const Json& doc) {
  const std::optional<std::string> storage = StringOf(Member(&doc, "StorageDirectory"));
  const std::optional<std::string> index = StringOf(Member(&doc, "IndexDirectory"));
  return (index ? *index : storage ? *storage : std::string("OrthancStorage")) + "/curia.sqlite";
}

}  // namespace curia::config
