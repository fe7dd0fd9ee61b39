// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// What the worker pool returns for a study: one finding per task, with the per-slice scores that
// produced it, the identity of the algorithm (model and head digests) and timings. The SR and SC
// writers (dicomsr/) and storage/ consume it.
#include <cstdint>
#include <string>
#include <vector>

#include "curia/config/task.h"

namespace curia::worker {

// A 2-D head's classifier applied to each patch token: the positive class's probability per
// patch, (rows, cols) = the patch grid, row-major, covering the whole preprocessed slice.
struct HeatMap {
  int64_t rows = 0, cols = 0;
  std::vector<float> values;
};

// The region a mask-prompted task classified: a segment of a DICOM SEG or an ROI of an RTSTRUCT
// (issue 17). `kind` empty: the task ran on the whole volume. Filled by the worker from what
// region::ReadRegions gives; read by the SR writer (a measurement group per region referencing it)
// and the key image (its outline on the key slice).
struct RegionReference {
  std::string kind;               // "SEG" or "RTSTRUCT"; empty for whole-volume tasks
  std::string sop_class_uid;      // of the region object
  std::string sop_instance_uid;   // of the region object
  std::string series_uid;         // of the region object
  std::string source_series_uid;  // the image series it segments (the job's series)
  int64_t number = 0;             // Segment Number / ROI Number
  std::string label;              // Segment Label / ROI Name
  // Segmented Property Category / Type (SEG); RT ROI Identification Code as type (RTSTRUCT).
  // Empty (value and meaning "") where the object has none.
  config::CodedConcept category, type;
  std::string tracking_id, tracking_uid;  // SEG Tracking ID / UID where present
  int64_t pixels = 0;                     // region pixels on the series grid
  std::vector<int64_t> slice_pixels;      // per slice of the volume
  int64_t slices_used = 0;                // slices a 2-D task ran on (>= the configured minimum)
  // The region on the key slice, rows x cols of the slice as the volume gives it (1 inside), for
  // the key image's outline. Empty when there is no key slice.
  int64_t mask_rows = 0, mask_cols = 0;
  std::vector<uint8_t> key_slice_mask;
  // Multi-class heads on a labelled region (organ recognition): the predicted class, and whether it
  // agrees with the segment's own label or code. agreement: "agrees", "disagrees", or "" when the
  // region's label/code maps to none of the head's classes.
  std::string predicted_class;
  config::CodedConcept predicted_code;  // the predicted class's code where the head's labels map to one
  std::string agreement;
};

struct TaskFinding {
  std::string task;         // task name in the configuration
  std::string head;         // head folder
  std::string head_digest;  // SHA-256 of the head's config and weights
  bool is3d = false;
  bool regression = false;
  std::vector<std::string> labels;
  int64_t positive_class = -1;  // index into labels (-1 for regression)
  std::string positive_label;
  config::Aggregation aggregation = config::Aggregation::kMax;  // 2-D heads
  // Study-level probability of the positive class (2-D: aggregated over slices; 3-D: the head's
  // output), or the regressed value.
  double probability = 0;
  double threshold = 0.5;
  bool present = false;     // probability >= threshold (classification only)
  int64_t key_slice = -1;   // the slice that decided (2-D: highest score; 3-D: centre of its window)
  // Class probabilities: the key slice's (2-D) or the volume's (3-D).
  std::vector<float> class_probabilities;
  // 2-D: score of the positive class for every slice of the volume. 3-D and region findings: empty
  // (a region finding's slices are those where region.slice_pixels >= its Region.MinPixels).
  std::vector<float> slice_scores;
  // 3-D: the slices the head pooled, in order.
  std::vector<int64_t> pooled_slices;
  // 2-D classification heads, when asked for: the key slice's patch heat map (positive class).
  HeatMap heat_map;
  config::CodedConcept finding;
  // Mask-prompted tasks: the region this finding is about (one finding per task and region).
  RegionReference region;
  bool has_finding_site = false;
  config::CodedConcept finding_site;
};

struct JobTimings {
  double queued_seconds = 0;      // submitted -> first slice read
  double preprocess_seconds = 0;  // CPU time reading and preprocessing slices (summed over threads)
  double device_seconds = 0;      // this job's share of the backbone and head passes
  double total_seconds = 0;       // submitted -> findings ready
};

// A task that cannot apply to a volume (a 3-D window longer than the volume), and why.
struct SkippedTask {
  std::string task;
  std::string reason;
};

struct StudyFindings {
  std::string backbone;         // model folder
  std::string backbone_digest;  // model::BackboneDigest of the loaded weights
  bool demo = false;            // demo weights: the findings are meaningless
  int64_t slices = 0;
  std::vector<TaskFinding> findings;
  std::vector<SkippedTask> skipped;
  JobTimings timings;
};

}  // namespace curia::worker
