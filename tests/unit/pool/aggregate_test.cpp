// SPDX-License-Identifier: GPL-3.0-or-later
// Per-slice scores to study findings, without threads or a model.
#include "curia/pool/aggregate.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "curia/config/error.h"

namespace curia::pool {
namespace {

using config::Aggregation;
using worker::TaskFinding;
using worker::TaskInfo;

// A two-class 2-D head scored on class 1, as the demo heads are.
TaskInfo Task(Aggregation how = Aggregation::kMax, int64_t top_k = 3, double threshold = 0.5) {
  TaskInfo t;
  t.name = "ich";
  t.head = "heads/ich";
  t.head_digest = "abc123";
  t.labels = {"absent", "present"};
  t.positive_class = 1;
  t.settings.aggregate = how;
  t.settings.top_k = top_k;
  t.settings.threshold = threshold;
  t.settings.finding = {"C1", "99DEMO", "Demo finding"};
  return t;
}

// Every slice's class probabilities from its positive-class score.
std::vector<std::vector<float>> TwoClass(const std::vector<float>& scores) {
  std::vector<std::vector<float>> out;
  for (float s : scores) out.push_back({1.0f - s, s});
  return out;
}

TEST(AggregateSlicesTest, MaxMeanAndTopKMean) {
  const std::vector<float> scores = {0.1f, 0.7f, 0.3f, 0.5f};
  SliceAggregate a = AggregateSlices(scores, Aggregation::kMax, 3);
  EXPECT_DOUBLE_EQ(a.probability, 0.7f);
  EXPECT_EQ(a.key_slice, 1);
  a = AggregateSlices(scores, Aggregation::kMean, 3);
  EXPECT_NEAR(a.probability, 0.4, 1e-7);
  EXPECT_EQ(a.key_slice, 1);  // the key slice is the highest score whatever the aggregation
  a = AggregateSlices(scores, Aggregation::kTopKMean, 2);
  EXPECT_NEAR(a.probability, 0.6, 1e-7);  // (0.7 + 0.5) / 2
  a = AggregateSlices(scores, Aggregation::kTopKMean, 3);
  EXPECT_NEAR(a.probability, 0.5, 1e-7);  // (0.7 + 0.5 + 0.3) / 3
  // TopK in the settings is not used by max and mean.
  EXPECT_DOUBLE_EQ(AggregateSlices(scores, Aggregation::kMax, 100).probability, 0.7f);
  EXPECT_NEAR(AggregateSlices(scores, Aggregation::kMean, 1).probability, 0.4, 1e-7);
}

TEST(AggregateSlicesTest, TopKLargerThanTheVolumeIsTheMeanOfEverySlice) {
  const std::vector<float> scores = {0.2f, 0.8f, 0.5f};
  const SliceAggregate a = AggregateSlices(scores, Aggregation::kTopKMean, 10);
  EXPECT_NEAR(a.probability, 0.5, 1e-7);
  EXPECT_DOUBLE_EQ(a.probability, AggregateSlices(scores, Aggregation::kMean, 3).probability);
  EXPECT_DOUBLE_EQ(AggregateSlices({0.25f}, Aggregation::kTopKMean, 3).probability, 0.25);
}

TEST(AggregateSlicesTest, TiesGoToTheFirstSlice) {
  EXPECT_EQ(AggregateSlices({0.2f, 0.9f, 0.4f, 0.9f}, Aggregation::kMax, 3).key_slice, 1);
  EXPECT_EQ(AggregateSlices({0.5f, 0.5f, 0.5f}, Aggregation::kMean, 3).key_slice, 0);
  EXPECT_EQ(AggregateSlices({0.1f, 0.2f, 0.3f}, Aggregation::kMax, 3).key_slice, 2);
  // The same rule for a heat map whose slices arrive in any order.
  EXPECT_TRUE(BetterKeySlice(0.9f, 1, 0.9f, 3));
  EXPECT_FALSE(BetterKeySlice(0.9f, 3, 0.9f, 1));
  EXPECT_FALSE(BetterKeySlice(0.9f, 2, 0.9f, 2));
  EXPECT_TRUE(BetterKeySlice(0.95f, 7, 0.9f, 1));
  EXPECT_FALSE(BetterKeySlice(0.5f, 0, 0.9f, 1));
}

TEST(AggregateSlicesTest, RefusesNothingToAggregateAndTopKBelowOne) {
  try {
    AggregateSlices({}, Aggregation::kMax, 3);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_THROW(AggregateSlices({0.5f}, Aggregation::kTopKMean, 0), Error);
  EXPECT_NO_THROW(AggregateSlices({0.5f}, Aggregation::kMax, 0));  // TopK is not used there
}

TEST(Aggregate2DTest, DescribesTheTaskAndScoresThePositiveClass) {
  TaskInfo task = Task(Aggregation::kTopKMean, 2, 0.5);
  task.settings.finding_site = config::CodedConcept{"T-A0100", "SRT", "Brain"};
  const std::vector<std::vector<float>> outputs = TwoClass({0.1f, 0.6f, 0.3f});
  const TaskFinding f = Aggregate2D(task, outputs);
  EXPECT_EQ(f.task, "ich");
  EXPECT_EQ(f.head, "heads/ich");
  EXPECT_EQ(f.head_digest, "abc123");
  EXPECT_FALSE(f.is3d);
  EXPECT_FALSE(f.regression);
  EXPECT_EQ(f.labels, task.labels);
  EXPECT_EQ(f.positive_class, 1);
  EXPECT_EQ(f.positive_label, "present");
  EXPECT_EQ(f.aggregation, Aggregation::kTopKMean);
  EXPECT_EQ(f.finding.value, "C1");
  EXPECT_TRUE(f.has_finding_site);
  EXPECT_EQ(f.finding_site.meaning, "Brain");
  EXPECT_EQ(f.slice_scores, (std::vector<float>{0.1f, 0.6f, 0.3f}));
  EXPECT_NEAR(f.probability, 0.45, 1e-7);
  EXPECT_EQ(f.key_slice, 1);
  EXPECT_EQ(f.class_probabilities, outputs[1]);  // the key slice's
  EXPECT_FALSE(f.present);  // 0.45 < 0.5 although the key slice is above
  EXPECT_TRUE(f.heat_map.values.empty());
  EXPECT_TRUE(f.pooled_slices.empty());
  EXPECT_FALSE(Aggregate2D(Task(), TwoClass({0.1f})).has_finding_site);
}

TEST(Aggregate2DTest, ThresholdIsInclusive) {
  // 0.25 and 0.75 are exact in float and double: the boundary itself is tested.
  EXPECT_TRUE(Aggregate2D(Task(Aggregation::kMax, 3, 0.25), TwoClass({0.1f, 0.25f})).present);
  EXPECT_FALSE(Aggregate2D(Task(Aggregation::kMax, 3, 0.25), TwoClass({0.1f, 0.2499f})).present);
  EXPECT_TRUE(Aggregate2D(Task(Aggregation::kMean, 3, 0.5), TwoClass({0.25f, 0.75f})).present);
  EXPECT_FALSE(Aggregate2D(Task(Aggregation::kMean, 3, 0.5000001), TwoClass({0.25f, 0.75f})).present);
}

TEST(Aggregate2DTest, ThePositiveClassChoosesTheScores) {
  TaskInfo task = Task();
  task.labels = {"a", "b", "c"};
  task.positive_class = 0;
  const std::vector<std::vector<float>> outputs = {{0.2f, 0.7f, 0.1f}, {0.6f, 0.3f, 0.1f}, {0.5f, 0.1f, 0.4f}};
  TaskFinding f = Aggregate2D(task, outputs);
  EXPECT_EQ(f.positive_label, "a");
  EXPECT_EQ(f.slice_scores, (std::vector<float>{0.2f, 0.6f, 0.5f}));
  EXPECT_EQ(f.key_slice, 1);
  EXPECT_EQ(f.class_probabilities, outputs[1]);
  task.positive_class = 2;
  f = Aggregate2D(task, outputs);
  EXPECT_EQ(f.positive_label, "c");
  EXPECT_EQ(f.key_slice, 2);
  EXPECT_DOUBLE_EQ(f.probability, 0.4f);
  EXPECT_EQ(f.class_probabilities, outputs[2]);
  // A slice without the class is an error, not a read past its end.
  EXPECT_THROW(Aggregate2D(task, {{0.5f, 0.5f}}), std::out_of_range);
  EXPECT_THROW(Aggregate2D(task, {}), Error);
}

TEST(Aggregate2DTest, RegressionHeadsAggregateTheirValueAndAreNeverPresent) {
  TaskInfo task = Task(Aggregation::kMax, 3, 0.5);
  task.regression = true;
  task.labels = {"volume"};
  task.positive_class = -1;
  const TaskFinding f = Aggregate2D(task, {{3.5f}, {7.25f}, {1.0f}});
  EXPECT_TRUE(f.regression);
  EXPECT_EQ(f.positive_label, "");
  EXPECT_EQ(f.slice_scores, (std::vector<float>{3.5f, 7.25f, 1.0f}));
  EXPECT_DOUBLE_EQ(f.probability, 7.25);
  EXPECT_EQ(f.key_slice, 1);
  EXPECT_FALSE(f.present);  // above the threshold, but a value is not a finding
  task.settings.aggregate = Aggregation::kMean;
  EXPECT_NEAR(Aggregate2D(task, {{3.5f}, {7.25f}, {1.0f}}).probability, 3.9166667, 1e-6);
}

TEST(Aggregate3DTest, TheHeadsOutputAndTheWindowsCentre) {
  TaskInfo task = Task();
  task.is3d = true;
  TaskFinding f = Aggregate3D(task, {0.3f, 0.7f}, {4, 5, 6, 7, 8});
  EXPECT_TRUE(f.is3d);
  EXPECT_DOUBLE_EQ(f.probability, 0.7f);
  EXPECT_EQ(f.class_probabilities, (std::vector<float>{0.3f, 0.7f}));
  EXPECT_EQ(f.pooled_slices, (std::vector<int64_t>{4, 5, 6, 7, 8}));
  EXPECT_EQ(f.key_slice, 6);
  EXPECT_TRUE(f.present);
  EXPECT_TRUE(f.slice_scores.empty());
  EXPECT_EQ(Aggregate3D(task, {0.5f, 0.5f}, {2, 3, 4, 5}).key_slice, 4);  // even window: the upper centre
  EXPECT_TRUE(Aggregate3D(task, {0.5f, 0.5f}, {0}).present);              // >= threshold
  EXPECT_FALSE(Aggregate3D(task, {0.6f, 0.4f}, {0}).present);
  task.regression = true;
  task.positive_class = -1;
  f = Aggregate3D(task, {12.5f}, {0, 1, 2});
  EXPECT_DOUBLE_EQ(f.probability, 12.5);
  EXPECT_FALSE(f.present);
  EXPECT_THROW(Aggregate3D(task, {}, {0}), std::out_of_range);
  EXPECT_THROW(Aggregate3D(task, {0.5f}, {}), Error);
}

TEST(AggregateRegionTest, MeanOfTheRegionsSlicesKeySliceOfLargestAreaAndAgreement) {
  TaskInfo organ = Task();
  organ.name = "organ";
  organ.labels = {"liver", "spleen", "kidney"};
  organ.positive_class = -1;  // no Class: the predicted class is the finding
  organ.mask_prompted = true;
  organ.settings.region = config::RegionSelection{};
  worker::RegionReference region;
  region.kind = "SEG";
  region.number = 2;
  region.label = "Segment 2";
  region.type = {"78961009", "SCT", "Spleen"};
  region.slice_pixels = {0, 40, 90, 90, 10};
  const std::vector<std::vector<float>> outputs = {{0.2f, 0.5f, 0.3f}, {0.1f, 0.6f, 0.3f}, {0.6f, 0.1f, 0.3f}};
  TaskFinding f = AggregateRegion(organ, region, {1, 2, 3}, outputs);
  EXPECT_EQ(f.key_slice, 2);  // 90 pixels on slices 2 and 3: the first
  EXPECT_NEAR(f.class_probabilities[0], 0.3, 1e-6);
  EXPECT_NEAR(f.class_probabilities[1], 0.4, 1e-6);
  EXPECT_EQ(f.positive_class, 1);
  EXPECT_EQ(f.positive_label, "spleen");
  EXPECT_NEAR(f.probability, 0.4, 1e-6);
  EXPECT_EQ(f.aggregation, Aggregation::kMean);
  EXPECT_TRUE(f.slice_scores.empty());
  EXPECT_EQ(f.region.slices_used, 3);
  EXPECT_EQ(f.region.predicted_class, "spleen");
  EXPECT_EQ(f.region.agreement, "agrees");  // by the type code's meaning, whatever the case
  region.type = {};
  region.label = "LIVER";
  EXPECT_EQ(AggregateRegion(organ, region, {1, 2, 3}, outputs).region.agreement, "disagrees");
  region.label = "tumour";
  EXPECT_EQ(AggregateRegion(organ, region, {1, 2, 3}, outputs).region.agreement, "");
  // Max per class, and a configured class stays the finding.
  organ.settings.region->aggregate = Aggregation::kMax;
  organ.positive_class = 0;
  f = AggregateRegion(organ, region, {1, 2, 3}, outputs);
  EXPECT_NEAR(f.probability, 0.6, 1e-6);
  EXPECT_EQ(f.positive_label, "liver");
  EXPECT_EQ(f.region.predicted_class, "liver");  // 0.6 for liver and spleen: the first class wins ties
  EXPECT_THROW(AggregateRegion(organ, region, {}, {}), Error);
}

}  // namespace
}  // namespace curia::pool
