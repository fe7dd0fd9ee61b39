// SPDX-License-Identifier: GPL-3.0-or-later
// Region jobs (issue 17): a SEG or RTSTRUCT in a study starts a job for the mask-prompted tasks of
// the rule that routes the series it references, with the real router, store, region reader, pool
// and SR writer over the fake Orthanc; the phantom's own SEG and RTSTRUCT (DCMTK writers) are the
// region objects.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>

#include <functional>

#include "curia/phantom/regions.h"
#include "node_fixture.h"
#include "regions.h"

namespace curia::test {
namespace {

// Rule "head-ct" with a whole-slice task and a mask-prompted one on every SEG segment and RTSTRUCT
// ROI (MinPixels 1: the phantom is 32 x 32 pixels).
config::CuriaSettings RegionSettings(const std::string& from = R"(["SEG", "RTSTRUCT"])") {
  const std::string json = R"({"Curia": {
      "Model": {"Path": "/nonexistent/fixed-model", "Threads": 1, "MaxBatch": 4, "MaxBatchDelayMs": 1,
                "PreprocessThreads": 1},
      "Tasks": {"bleed": {"Head": "fixed-2d", "Threshold": 0.5,
                          "Finding": {"Code": "C1", "Scheme": "99TEST", "Meaning": "Test finding"}},
                "organ": {"Head": "fixed-mask", "Threshold": 0.5,
                          "Finding": {"Code": "C2", "Scheme": "99TEST", "Meaning": "Region finding"},
                          "Region": {"From": )" + from + R"(, "MinPixels": 1}}},
      "Queue": {"LeaseSeconds": 30, "MaxAttempts": 2, "Workers": 1},
      "Export": {"MaxAttempts": 3, "BackoffSeconds": [2, 10]},
      "Rules": [{"Name": "head-ct", "Priority": "stat", "Match": {"Tag": "Modality", "Equals": "CT"},
                 "Tasks": ["bleed", "organ"], "Outputs": ["SR"], "Destinations": ["pacs"]}]}})";
  return config::ParseCuriaSettings(config::ParseJson(json, "test.json"), "test.json", "");
}

DcmFileFormat Parse(const std::string& bytes) {
  DcmFileFormat file;
  DcmInputBufferStream in;
  in.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  in.setEos();
  file.transferInit();
  EXPECT_TRUE(file.read(in).good());
  file.transferEnd();
  file.loadAllDataIntoMemory();
  return file;
}

// The object with `edit` applied, written in `xfer` (through a file: DCMTK's memory output needs
// a loop of its own).
std::string Rewrite(const std::string& bytes, const std::function<void(DcmDataset&)>& edit, TempDir& dir,
                    E_TransferSyntax xfer = EXS_LittleEndianExplicit) {
  DcmFileFormat file = Parse(bytes);
  edit(*file.getDataset());
  const std::string path = dir.File("rewritten.dcm");
  const OFCondition saved = file.saveFile(path.c_str(), xfer);
  EXPECT_TRUE(saved.good()) << saved.text();
  return ReadFile(path);
}

constexpr const char* kNewerSegUid = "2.25.4242";

void SetString(DcmDataset& ds, const DcmTagKey& tag, const std::string& value) {
  ASSERT_TRUE(ds.putAndInsertString(tag, value.c_str()).good());
}

class RegionJobs : public NodeParts {
 protected:
  RegionJobs() : NodeParts(RegionSettings()) {}
  explicit RegionJobs(config::CuriaSettings settings) : NodeParts(std::move(settings)) {}

  static constexpr int64_t kSlices = 4;
  phantom::PhantomSeriesOptions Options() const { return PhantomOptions("CT", kSlices, 7); }

  // The study's images sent and routed: the whole-volume job (the first of `expected_jobs`).
  int64_t SendImages(size_t expected_jobs = 1) {
    study_ = Send(PhantomFiles("CT", kSlices, 7));
    std::vector<int64_t> jobs;
    router_.RouteStudy(study_.study, "", true, &jobs);
    EXPECT_EQ(jobs.size(), expected_jobs);
    return jobs.empty() ? 0 : jobs[0];
  }
  // A region object sent (as a modality sends it) and its study routed: the job IDs.
  std::vector<int64_t> SendObject(const std::string& bytes, FakeOrthanc::Ids* ids = nullptr) {
    const FakeOrthanc::Ids sent = orthanc_.Add(bytes);
    arrivals_.OnInstanceStored(sent.study_uid, "SEGMENTER", "CURIA");
    if (ids) *ids = sent;
    std::vector<int64_t> jobs;
    router_.RouteStudy(sent.study, "", true, &jobs);
    return jobs;
  }
  std::vector<storage::JobRow> RegionJobRows() {
    std::vector<storage::JobRow> out;
    for (const storage::JobRow& j : AllJobs()) {
      if (!j.region_instance.empty()) out.push_back(j);
    }
    return out;
  }
  // The region findings of a job's result: (object SOP Instance UID, segment / ROI number).
  std::vector<std::pair<std::string, int64_t>> RegionFindings(int64_t job) {
    std::vector<std::pair<std::string, int64_t>> out;
    const config::Json result = config::ParseJson(Job(job).findings_json, "findings");
    for (const config::Json& t : result["Tasks"]) {
      if (t.isMember("Region")) out.emplace_back(t["Region"]["SOPInstanceUID"].asString(), t["Region"]["Number"].asInt64());
    }
    return out;
  }

  FakeOrthanc::Ids study_;
};

TEST_F(RegionJobs, SegAfterTheImagesStartsOneRegionJob) {
  const int64_t whole = SendImages();
  RunAll();
  ASSERT_EQ(Job(whole).state, storage::JobState::kExporting) << Job(whole).error;
  const phantom::PhantomRegionInfo seg = phantom::MakePhantomSegmentation(Options());
  ASSERT_FALSE(seg.labels.empty());
  FakeOrthanc::Ids seg_ids;
  const std::vector<int64_t> jobs = SendObject(seg.bytes, &seg_ids);
  // The whole-volume job again (same images: same key) and one region job.
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0], whole);
  const storage::JobRow job = Job(jobs[1]);
  EXPECT_EQ(job.series_uid, Job(whole).series_uid);
  EXPECT_EQ(job.rule, "head-ct");
  EXPECT_EQ(job.tasks, std::vector<std::string>{"organ"});
  EXPECT_EQ(job.region_instance, seg_ids.instance);
  EXPECT_EQ(job.region_scope, "regions-only:SEG:" + seg.series_uid);
  EXPECT_EQ(job.priority, 0);  // the rule's "stat"
  EXPECT_EQ(AllJobs().size(), 2u);

  RunAll();
  const storage::JobRow done = Job(jobs[1]);
  ASSERT_EQ(done.state, storage::JobState::kExporting) << done.error;
  // One finding per segment, each about the SEG; one SR (the region object's), no whole-volume one.
  const auto findings = RegionFindings(jobs[1]);
  ASSERT_EQ(findings.size(), seg.labels.size());
  for (size_t i = 0; i < findings.size(); ++i) {
    EXPECT_EQ(findings[i].first, seg.sop_instance_uid);
    EXPECT_EQ(findings[i].second, static_cast<int64_t>(i + 1));
  }
  const std::vector<storage::OutputRow> outputs = store_->Outputs(jobs[1]);
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].kind, "SR");
  EXPECT_NE(outputs[0].sop_instance_uid, store_->Outputs(whole).at(0).sop_instance_uid);
  // Exported like every result; the whole-volume job is not superseded by it.
  while (exporter_.SendNext(now())) {
  }
  EXPECT_EQ(Job(jobs[1]).state, storage::JobState::kDone);
  EXPECT_EQ(Job(whole).state, storage::JobState::kDone);
  // REST: the job names its region object.
  const config::Json listed = CallJson("GET", "/jobs/" + std::to_string(jobs[1]));
  EXPECT_EQ(listed["RegionInstance"].asString(), seg_ids.instance);
  EXPECT_EQ(listed["RegionScope"].asString(), job.region_scope);
}

TEST_F(RegionJobs, ResendingTheSegIsIdempotent) {
  SendImages();
  const phantom::PhantomRegionInfo seg = phantom::MakePhantomSegmentation(Options());
  const std::vector<int64_t> first = SendObject(seg.bytes);
  const std::vector<int64_t> again = SendObject(seg.bytes);
  EXPECT_EQ(first, again);
  EXPECT_EQ(RegionJobRows().size(), 1u);
  EXPECT_EQ(AllJobs().size(), 2u);
}

TEST_F(RegionJobs, SegBeforeTheImagesWaitsThenRuns) {
  const phantom::PhantomRegionInfo seg = phantom::MakePhantomSegmentation(Options());
  FakeOrthanc::Ids seg_ids;
  EXPECT_TRUE(SendObject(seg.bytes, &seg_ids).empty());
  EXPECT_TRUE(AllJobs().empty());
  const std::vector<std::string> events = AuditEvents(seg_ids.study);
  EXPECT_NE(std::find(events.begin(), events.end(), "region-waiting"), events.end());
  EXPECT_EQ(std::find(events.begin(), events.end(), "not-routed"), events.end());
  // The dry run says why.
  const config::Json why = router_.RouteStudy(seg_ids.study, "", false, nullptr);
  ASSERT_EQ(why["RegionJobs"].size(), 1u);
  EXPECT_NE(why["RegionJobs"][0]["Waiting"].asString().find("is not in the study yet"), std::string::npos);
  const config::Json api = CallJson("POST", "/rules/test", R"({"Study": ")" + seg_ids.study + R"("})");
  EXPECT_EQ(api["Routing"]["RegionJobs"], why["RegionJobs"]);
  EXPECT_TRUE(AllJobs().empty());  // a dry run queues nothing
  // The images come: the next routing starts both jobs, and the region job runs.
  const int64_t whole = SendImages(2);
  EXPECT_TRUE(Job(whole).region_instance.empty());
  const std::vector<storage::JobRow> region_jobs = RegionJobRows();
  ASSERT_EQ(region_jobs.size(), 1u);
  EXPECT_EQ(region_jobs[0].region_instance, seg_ids.instance);
  RunAll();
  EXPECT_EQ(Job(whole).state, storage::JobState::kExporting) << Job(whole).error;
  EXPECT_EQ(Job(region_jobs[0].id).state, storage::JobState::kExporting) << Job(region_jobs[0].id).error;
  EXPECT_EQ(RegionFindings(region_jobs[0].id).size(), seg.labels.size());
}

TEST_F(RegionJobs, ASecondSegOfTheSameSeriesSupersedesTheFirst) {
  const int64_t whole = SendImages();
  const phantom::PhantomRegionInfo seg = phantom::MakePhantomSegmentation(Options());
  const int64_t first = SendObject(seg.bytes).back();
  RunAll();
  while (exporter_.SendNext(now())) {
  }
  ASSERT_EQ(Job(first).state, storage::JobState::kDone) << Job(first).error;
  // The same SEG series, a newer instance (another SOP Instance UID).
  const std::string newer = Rewrite(seg.bytes, [](DcmDataset& ds) {
    SetString(ds, DCM_SOPInstanceUID, kNewerSegUid);
  }, dir_);
  const std::vector<int64_t> jobs = SendObject(newer);
  ASSERT_EQ(RegionJobRows().size(), 2u);
  const int64_t second = RegionJobRows().back().id;
  EXPECT_EQ(Job(second).region_scope, Job(first).region_scope);
  RunAll();
  EXPECT_EQ(Job(second).state, storage::JobState::kExporting) << Job(second).error;
  EXPECT_EQ(Job(first).state, storage::JobState::kSuperseded);
  EXPECT_EQ(Job(first).superseded_by, second);
  EXPECT_EQ(Job(whole).state, storage::JobState::kDone);  // not a region job: untouched
  EXPECT_EQ(RegionFindings(second).at(0).first, kNewerSegUid);
}

TEST_F(RegionJobs, AnRtstructIsARegionJobOfItsOwnScope) {
  SendImages();
  const phantom::PhantomRegionInfo seg = phantom::MakePhantomSegmentation(Options());
  const phantom::PhantomRegionInfo rt = phantom::MakePhantomStructureSet(Options());
  const int64_t seg_job = SendObject(seg.bytes).back();
  FakeOrthanc::Ids rt_ids;
  const int64_t rt_job = SendObject(rt.bytes, &rt_ids).back();
  EXPECT_NE(seg_job, rt_job);
  EXPECT_EQ(Job(rt_job).region_scope, "regions-only:RTSTRUCT:" + rt.series_uid);
  RunAll();
  EXPECT_EQ(Job(seg_job).state, storage::JobState::kExporting) << Job(seg_job).error;
  EXPECT_EQ(Job(rt_job).state, storage::JobState::kExporting) << Job(rt_job).error;
  const auto findings = RegionFindings(rt_job);
  ASSERT_EQ(findings.size(), rt.labels.size());
  EXPECT_EQ(findings[0].first, rt.sop_instance_uid);
}

TEST_F(RegionJobs, OurOwnOutputsStartNothing) {
  const int64_t whole = SendImages();
  const phantom::PhantomRegionInfo seg = phantom::MakePhantomSegmentation(Options());
  const int64_t region_job = SendObject(seg.bytes).back();
  RunAll();
  ASSERT_EQ(Job(region_job).state, storage::JobState::kExporting) << Job(region_job).error;
  // Our SRs come back into Orthanc (a PACS echoing them, or a forward): routing again starts nothing.
  for (int64_t job : {whole, region_job}) {
    for (const storage::OutputRow& o : store_->Outputs(job)) {
      const std::optional<std::string> bytes = store_->OutputBytes(o.id);
      ASSERT_TRUE(bytes);
      orthanc_.Add(*bytes);
    }
  }
  std::vector<int64_t> jobs;
  router_.RouteStudy(study_.study, "", true, &jobs);
  EXPECT_EQ(jobs, (std::vector<int64_t>{whole, region_job}));
  EXPECT_EQ(AllJobs().size(), 2u);
}

TEST_F(RegionJobs, ARefusedObjectIsAFailedJobWithItsReason) {
  SendImages();
  const phantom::PhantomRegionInfo seg = phantom::MakePhantomSegmentation(Options());
  // Another Frame of Reference than the images': the masks cannot be placed.
  const std::string other_for = Rewrite(seg.bytes, [](DcmDataset& ds) {
    SetString(ds, DCM_FrameOfReferenceUID, "2.25.999");
  }, dir_);
  const int64_t job = SendObject(other_for).back();
  RunAll();
  const storage::JobRow failed = Job(job);
  EXPECT_EQ(failed.state, storage::JobState::kFailed);
  EXPECT_EQ(failed.attempts, 1);  // permanent: not retried
  EXPECT_NE(failed.error.find("SEG " + seg.sop_instance_uid + " refused: "), std::string::npos) << failed.error;
  EXPECT_NE(failed.error.find("Frame of Reference"), std::string::npos) << failed.error;
  const config::Json listed = CallJson("GET", "/jobs/" + std::to_string(job));
  EXPECT_EQ(listed["Error"].asString(), failed.error);
}

TEST_F(RegionJobs, ASegDcmsegCannotDecodeIsTranscodedByOrthanc) {
  SendImages();
  const phantom::PhantomRegionInfo seg = phantom::MakePhantomSegmentation(Options());
  // The same SEG with its pixel data encapsulated as JPEG 2000 (one fragment; never decoded here).
  const std::string j2k = Rewrite(seg.bytes, [](DcmDataset& ds) {
    ds.findAndDeleteElement(DCM_PixelData);
    auto* seq = new DcmPixelSequence(DcmTag(DCM_PixelData, EVR_OB));
    seq->insert(new DcmPixelItem(DcmTag(DCM_Item, EVR_OB)));  // empty offset table
    auto* fragment = new DcmPixelItem(DcmTag(DCM_Item, EVR_OB));
    const Uint8 data[4] = {0xff, 0x4f, 0xff, 0x51};
    fragment->putUint8Array(data, 4);
    seq->insert(fragment);
    auto* pixels = new DcmPixelData(DCM_PixelData);
    pixels->putOriginalRepresentation(EXS_JPEG2000LosslessOnly, nullptr, seq);
    ds.insert(pixels, true);
  }, dir_, EXS_JPEG2000LosslessOnly);
  FakeOrthanc::Ids ids;
  const int64_t job = SendObject(j2k, &ids).back();
  // Without a codec in Orthanc: refused with both reasons.
  RunAll();
  EXPECT_EQ(Job(job).state, storage::JobState::kFailed);
  EXPECT_NE(Job(job).error.find("transcode it first"), std::string::npos) << Job(job).error;
  EXPECT_NE(Job(job).error.find("no codec for this transfer syntax"), std::string::npos) << Job(job).error;
  // Orthanc transcodes it (here: the uncompressed original): the job runs.
  orthanc_.SetTranscoded(ids.instance, seg.bytes);
  ASSERT_TRUE(store_->Retry(job, now()));
  RunAll();
  EXPECT_EQ(Job(job).state, storage::JobState::kExporting) << Job(job).error;
  EXPECT_EQ(RegionFindings(job).size(), seg.labels.size());
  const auto calls = orthanc_.Modifications();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].first, "/instances/" + ids.instance + "/modify");
  const config::Json body = config::ParseJson(calls[1].second, "modify body");
  EXPECT_EQ(body["Transcode"].asString(), "1.2.840.10008.1.2.1");
  EXPECT_EQ(body["Keep"][0].asString(), "SOPInstanceUID");
  EXPECT_TRUE(body["Force"].asBool());
}

// A rule whose mask-prompted task takes RTSTRUCTs only: a SEG starts nothing, and says why.
class RegionJobsRtstructOnly : public RegionJobs {
 protected:
  RegionJobsRtstructOnly() : RegionJobs(RegionSettings(R"(["RTSTRUCT"])")) {}
};

TEST_F(RegionJobsRtstructOnly, ASegStartsNothing) {
  SendImages();
  const phantom::PhantomRegionInfo seg = phantom::MakePhantomSegmentation(Options());
  FakeOrthanc::Ids ids;
  EXPECT_EQ(SendObject(seg.bytes, &ids).size(), 1u);  // the whole-volume job only
  EXPECT_TRUE(RegionJobRows().empty());
  const config::Json why = router_.RouteStudy(ids.study, "", false, nullptr);
  ASSERT_EQ(why["RegionJobs"].size(), 1u);
  EXPECT_NE(why["RegionJobs"][0]["NotRouted"].asString().find("no mask-prompted task that takes SEG"), std::string::npos)
      << config::Dump(why, -1);
}

// Trigger "series": a SEG whose series is stable waits for its images' series to be stable too.
class RegionJobsSeriesTrigger : public RegionJobs {
 protected:
  static config::CuriaSettings Settings() {
    config::CuriaSettings s = RegionSettings();
    s.trigger = config::Trigger::kSeries;
    return s;
  }
  RegionJobsSeriesTrigger() : RegionJobs(Settings()) {}
};

TEST_F(RegionJobsSeriesTrigger, WaitsForTheImageSeriesToBeStable) {
  const FakeOrthanc::Ids images = Send(PhantomFiles("CT", kSlices, 7));
  orthanc_.SetStable(images.series, false);
  const phantom::PhantomRegionInfo seg = phantom::MakePhantomSegmentation(Options());
  const FakeOrthanc::Ids seg_ids = orthanc_.Add(seg.bytes);
  std::vector<int64_t> jobs;
  router_.RouteStudy(seg_ids.study, seg_ids.series, true, &jobs);  // the SEG series is stable
  EXPECT_TRUE(jobs.empty());
  EXPECT_TRUE(AllJobs().empty());
  // The image series becomes stable: its routing starts its job and the SEG's.
  orthanc_.SetStable(images.series, true);
  router_.RouteStudy(images.study, images.series, true, &jobs);
  EXPECT_EQ(jobs.size(), 2u);
  ASSERT_EQ(RegionJobRows().size(), 1u);
  EXPECT_EQ(RegionJobRows()[0].region_instance, seg_ids.instance);
}

}  // namespace
}  // namespace curia::test
