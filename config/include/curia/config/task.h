// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A task's settings and the small enums the worker's interfaces share: light on purpose (no JSON,
// no rules), so that the worker contracts (curia/worker/*.h) and the outputs include this header and
// not the whole configuration (settings.h, which brings the routing rules).
#include <cstdint>
#include <optional>
#include <string>

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
};

}  // namespace curia::config
