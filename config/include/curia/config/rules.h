// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Routing rules: which series of a stable study (or a stable series) are analysed, by which tasks,
// at which priority, and where the results go. Parsed with the rest of the settings
// ("Curia.Rules"); evaluated by Route, a pure function of the settings and the study's facts, so
// that the same call serves the router and the explanation ("why was this study not analysed?").
//
//   "Rules": [
//     { "Name": "head-ct", "Priority": "stat",
//       "Match": { "All": [ { "Tag": "Modality", "Equals": "CT" },
//                           { "Tag": "BodyPartExamined", "Regex": "(?i)^(HEAD|BRAIN)$" },
//                           { "CalledAET": "CURIA" } ] },
//       "Series": { "Modalities": ["CT"], "Orientation": "axial", "MinSlices": 20, "Thickness": [0.5, 5.0] },
//       "Tasks": ["ich"], "Outputs": ["SR", "SC"], "Destinations": ["pacs"] } ]
//
//   Routing r = Route(settings, facts);
//   for (const RoutedJob& j : r.jobs) Enqueue(j);
//   log(Dump(RoutingToJson(r)));
//
// Conditions: {"Tag": K, "Equals"|"In"|"Regex"|"Range"|"Exists": ...}, {"All": [...]},
// {"Any": [...]}, {"Not": c}, and the shorthands {"CalledAET": "X"}, {"CallingAET": "X"}. Values
// compare as strings with leading and trailing spaces trimmed (DICOM padding); a Regex is RE2
// syntax (Perl-like, UTF-8; no back-references or lookaround, refused at load time) searched
// anywhere in the value, case-insensitive when it starts with "(?i)"; RE2 matches in time linear
// in the value's length, so values of any length are searched. A Range reads the first value of a
// multi-valued string as a number.
//
// Thread safety: settings are immutable once parsed; Route may run on many threads at once.
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "curia/config/json.h"
#include "curia/config/json_fields.h"
#include "curia/config/task.h"

namespace curia::config {

struct CuriaSettings;

// The compiled form of a pattern (an RE2 object, defined in rules.cpp: RE2 stays out of this
// header). Immutable; matched from many threads at once.
struct CompiledRegex;

// A regular expression as written (for messages) and compiled.
struct RulePattern {
  std::string source;  // as written, "(?i)" included
  bool icase = false;
  std::shared_ptr<const CompiledRegex> regex;  // null only in a pattern that failed to compile
};

struct RuleCondition {
  enum class Kind { kEquals, kIn, kRegex, kRange, kExists, kAll, kAny, kNot };
  Kind kind = Kind::kAll;
  std::string path;                   // JSON path of the condition object
  std::string tag;                    // keyword or pseudo-tag (CalledAET, CallingAET); leaves only
  std::vector<std::string> values;    // Equals: one value; In: the alternatives (trimmed)
  RulePattern pattern;                // Regex
  std::optional<double> min, max;     // Range: open ends are nullopt
  bool exists = true;                 // Exists
  std::vector<RuleCondition> children;  // All, Any: one or more; Not: exactly one
};

struct SeriesSelector {
  std::string path;                     // "$.Curia.Rules[0].Series" (also when absent, for messages)
  std::vector<std::string> modalities;  // empty: any
  std::string orientation = "any";      // "axial" | "coronal" | "sagittal" | "any"
  int64_t min_slices = 1;
  int64_t max_slices = std::numeric_limits<int64_t>::max();
  std::optional<RulePattern> description;           // on SeriesDescription
  std::optional<double> thickness_min, thickness_max;  // on SliceThickness
  bool has_thickness = false;                          // "Thickness" was given
};

struct RuleSettings {
  std::string name;
  std::string path;                       // "$.Curia.Rules[0]"
  std::string priority = "routine";       // "stat" | "routine" | "off-peak"
  std::optional<RuleCondition> match;     // absent: every series matches
  SeriesSelector series;
  std::vector<std::string> tasks;         // names of Curia.Tasks, in order, at least one
  std::vector<std::string> outputs = {"SR", "SC"};
  std::vector<std::string> destinations;  // Orthanc DicomModalities names (the plugin checks them)
  bool enabled = true;
};

// Reads "Curia.Rules" (`value` at `path`), checking task names against `task_names` (whose JSON
// path is `tasks_path`, for messages). Every problem goes to `diag`. Used by ParseCuriaSettings.
std::vector<RuleSettings> ReadRules(const Json& value, const std::string& path,
                                    const std::vector<std::string>& task_names, const std::string& tasks_path,
                                    Diagnostics& diag);

// A regular expression as the rules read it (RE2, "(?i)" prefix for case-insensitive, back-references
// and lookaround refused with the reason), for other settings that take one (a task's
// "Region.Label"). Problems go to `diag` at `path`; nullopt then.
std::optional<RulePattern> ReadRegexPattern(const Json& value, const std::string& path, Diagnostics& diag);
// Whether the pattern is found anywhere in `text` (false for a pattern that failed to compile).
bool RegexFound(const RulePattern& pattern, const std::string& text);

// Whether a mask-prompted task's Region selects a region: `kind` "SEG" or "RTSTRUCT", its label
// (Segment Label / ROI Name) and type code (Segmented Property Type / RT ROI Identification Code;
// empty when it has none). Pure, thread-safe.
bool RegionSelects(const RegionSelection& selection, const std::string& kind, const std::string& label,
                   const CodedConcept& type);

// (keyword, JSON path of its "Tag" member) of every Tag of every rule's conditions, pseudo-tags
// excluded: the plugin checks the keywords against the DICOM dictionary.
std::vector<std::pair<std::string, std::string>> RuleTagKeywords(const CuriaSettings& settings);

// keyword -> value (multi-valued joined by '\'), as Orthanc's simplified tags of a series' first
// instance (study, series and instance levels together).
using TagMap = std::map<std::string, std::string>;

struct SeriesFacts {
  std::string id;           // Orthanc series ID
  std::string uid;          // Series Instance UID
  TagMap tags;
  int64_t slices = 0;       // images (instances, or frames of multi-frame ones)
  std::string orientation;  // "axial" | "coronal" | "sagittal" | "" (unknown; computed by the caller)
  bool own_output = false;  // made by Curia Node itself (the caller decides): never routed
};

struct StudyFacts {
  std::string id, uid;
  std::string called_aet, calling_aet;
  std::vector<SeriesFacts> series;
};

struct SeriesDecision {
  std::string series_id, series_uid;
  bool matched = false;  // the rule's Match holds for this series
  bool chosen = false;   // matched, accepted by the Series selector, and given a job
  // Why not matched / not chosen, each naming the JSON path of the failing condition or criterion:
  //   $.Curia.Rules[0].Match.All[0]: Modality is "MR", expected "CT"
  //   $.Curia.Rules[0].Series.MinSlices: 12 slices, at least 20 wanted
  std::vector<std::string> reasons;
};

struct RuleDecision {
  std::string rule;
  std::string path;
  bool enabled = true;
  // The rule selects at least one series. In first-match mode a rule after the first matching
  // one may be matched yet give no job: its series say "first-match: rule <name> already matched".
  bool matched = false;
  std::vector<SeriesDecision> series;
};

struct RoutedJob {
  std::string rule;
  std::string series_id, series_uid;
  std::vector<std::string> tasks;
  std::string priority;
  std::vector<std::string> outputs, destinations;
};

struct Routing {
  std::vector<RuleDecision> rules;  // one per rule, in order
  std::vector<RoutedJob> jobs;      // one per chosen (rule, series)
};

// Evaluates every rule on every series of the study (the Match tree sees the series' tags plus
// the pseudo-tags CalledAET and CallingAET of the study). Pure: no I/O, no clock.
Routing Route(const CuriaSettings& settings, const StudyFacts& study);

// {"Rules": [{"Name", "Path", "Enabled", "Matched", "Series": [{"ID", "SeriesInstanceUID",
//  "Matched", "Chosen", "Reasons": [...]}]}],
//  "Jobs": [{"Rule", "Series", "SeriesInstanceUID", "Tasks", "Priority", "Outputs", "Destinations"}]}
Json RoutingToJson(const Routing& routing);

}  // namespace curia::config
