// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// What the Curia section and the rest of Orthanc's configuration must agree on, checked by one
// function for both callers: the plugin when Orthanc starts (an error stops Orthanc, a warning is
// logged) and `curia validate-config` (prints every finding with its hint). The Curia section's
// own keys are ParseCuriaSettings' business (settings.h); this reads the JSON as written, so that
// it also reports when the section does not parse.
//
//   OrthancCheckOptions options;
//   options.is_dicom_keyword = dicom::IsDicomKeyword;   // config/ has no DICOM dictionary
//   for (const ConfigFinding& f : CheckOrthancConfiguration(doc, options)) {
//     std::cout << (f.severity == Severity::kWarning ? "warning: " : "") << Describe(f) << "\n";
//   }
//   const double stable_age = StableAgeSeconds(doc);     // what the node reconciles with
//
// Pure functions of the document (and, for "Plugins", of the file system); thread-safe.
#include <functional>
#include <string>
#include <vector>

#include "curia/config/json.h"

namespace curia::config {

// The packaged example's inert section (/etc/orthanc/curia-node.json ships with it).
inline constexpr const char* kDisabledSectionKey = "CuriaDisabled";

enum class Severity {
  kError,    // the node would not start: the plugin stops Orthanc with it
  kWarning,  // the node starts, but probably not as meant
};

struct ConfigFinding {
  std::string path;     // JSON path in Orthanc's configuration, "$.Curia.Rules[0].Destinations[1]"
  std::string message;  // what is wrong (names keys and values of the configuration, nothing else)
  std::string hint;     // how to fix it; may be empty
  Severity severity = Severity::kError;
};

// "path: message (hint: hint)", the line both callers print.
std::string Describe(const ConfigFinding& finding);

struct OrthancCheckOptions {
  // The document is a Curia section alone (as `curia run --config` takes), not Orthanc's
  // configuration: its paths start at "$" and the Orthanc-side checks are skipped.
  bool section_alone = false;
  // The document is all of Orthanc's configuration (the plugin's view). A single file may be one of
  // several that Orthanc merges: then what is absent from it (DicomModalities) is not an error.
  bool complete = false;
  // When set, "Plugins" is checked: every entry exists and one of them loads this file
  // ("libOrthancCuriaNode.so"). A running plugin has nothing to learn from it.
  std::string plugin_file;
  // The DICOM dictionary, for the keywords of the rules' {"Tag": ...} conditions (config/ has no
  // dictionary; dicom::IsDicomKeyword). Unset: not checked.
  std::function<bool(const std::string&)> is_dicom_keyword;
};

// Every finding, errors and warnings in document order:
// - the Curia section: missing (with why: the packaged "CuriaDisabled", a wrongly cased key, a
//   section nested in another object), or beside a "CuriaDisabled" one;
// - Plugins (see plugin_file);
// - Orthanc settings the node relies on: StableAge, StorageDirectory and IndexDirectory (where the
//   node's database goes when Curia.Database is not set), DicomAet;
// - the rules: each {"Tag": K} of a Match is a DICOM keyword, each Destinations entry is one of
//   Orthanc's DicomModalities (unless DicomModalitiesInDatabase).
std::vector<ConfigFinding> CheckOrthancConfiguration(const Json& doc, const OrthancCheckOptions& options);

// The document has keys of Orthanc's own (rather than being a Curia section alone).
bool IsOrthancConfiguration(const Json& doc);

// Orthanc's StableAge in seconds (60, Orthanc's default, when absent or not positive).
double StableAgeSeconds(const Json& doc);

// Where the node keeps its database when Curia.Database is not set: beside Orthanc's index
// (IndexDirectory, else StorageDirectory, else Orthanc's default "OrthancStorage").
std::string DefaultDatabasePath(const Json& doc);

}  // namespace curia::config
