// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A task's settings and the small enums the worker's interfaces share: light on purpose (no JSON,
// no rules), so that the worker contracts (curia/worker/*.h) and the outputs include this header and
// not the whole configuration (settings.h, which brings the routing rules).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace curia::config {

// A coded concept for the SR: (code value, coding scheme designator, code meaning).
struct CodedConcept {
  std::string value;
  std::string scheme;
  std::string meaning;
};

enum class Aggregation { kMax, kMean, kTopKMean };

// How slices are z-scored before the backbone: each slice alone (the 2-D heads' training), or one
// z-score over the whole volume (the processor's 3-D path). kAuto: per slice for 2-D heads, per
// volume for 3-D heads.
enum class Normalization { kAuto, kPerSlice, kPerVolume };

// The compiled form of a regular expression (RE2, defined in rules.cpp: RE2 stays out of headers).
struct CompiledRegex;

// Which regions a mask-prompted task runs on ("Region" of a task, issue 17). A region of a DICOM SEG
// (segment) or RTSTRUCT (ROI) is selected when its object kind is in `from` and, when `label` or
// `codes` is given, its label (Segment Label / ROI Name) matches `label` (RE2, partial match, "(?i)"
// for case-insensitive) OR its type code (Segmented Property Type / RT ROI Identification Code) is
// one of `codes` (value and scheme; the meaning is not compared). See RegionSelects (rules.h).
struct RegionSelection {
  bool from_seg = true, from_rtstruct = true;
  std::string label;                                 // as written; empty: no label condition
  std::shared_ptr<const CompiledRegex> label_regex;  // null when `label` is empty
  std::vector<CodedConcept> codes;                   // value and scheme; meaning optional
  // A 2-D task runs on the slices where the region has at least this many pixels (of the series'
  // grid). Default 16: see docs/configuration.md ("Region").
  int64_t min_pixels = 16;
  Aggregation aggregate = Aggregation::kMean;  // over the region's slices
  int64_t top_k = 3;
};

struct TaskSettings {
  std::string name;
  std::string head;  // folder, resolved against Model.Path when relative
  // The class whose probability is the finding: a label or an index. Empty: the last class of a
  // two-class head (a regression head needs none).
  std::string positive_class;
  Aggregation aggregate = Aggregation::kMax;
  int64_t top_k = 3;
  double threshold = 0.5;
  Normalization normalization = Normalization::kAuto;
  CodedConcept finding;
  std::optional<CodedConcept> finding_site;
  // Display window of the key image for CT (Hounsfield units); other modalities use the 1st-99th
  // percentiles of the slice.
  double window_center = 40, window_width = 400;
  std::string path;  // JSON path of the task, for messages that come later ("$.Curia.Tasks.ich")
  // Mask-prompted heads: where their regions come from (required for them, refused for others).
  std::optional<RegionSelection> region;
};

}  // namespace curia::config
