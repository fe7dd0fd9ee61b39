// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// An in-memory Orthanc for the node's unit tests: the REST resources the node reads (studies,
// series, instances with their tags, metadata and DICOM files; /tools/lookup) over DICOM files
// given to it, and store-straight to a modality recorded as an export, with failures to inject
// (Orthanc unavailable, a PACS that refuses N times or always). Thread-safe (the worker pool
// reads instance files from its own threads).
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "curia/node/orthanc.h"

namespace curia::test {

class FakeOrthanc : public node::IOrthanc {
 public:
  struct Ids {
    std::string study, series, instance;  // Orthanc IDs
    std::string study_uid;
  };
  struct Export {
    std::string destination, sop_instance_uid, modality;
  };

  // Stores a DICOM file as Orthanc would (IDs made from its UIDs), with the AETs of the
  // association it came on (instance metadata RemoteAET and CalledAET).
  Ids Add(const std::string& dicom, const std::string& calling_aet = "CT1", const std::string& called_aet = "CURIA");
  void RemoveSeries(const std::string& series_id);
  void RemoveStudy(const std::string& study_id);

  // While set, every call throws curia::Error(kUnavailable), as when Orthanc's database fails.
  void SetUnavailable(bool unavailable) { unavailable_ = unavailable; }
  // The next `n` store-straight calls fail (the PACS refuses the association); -1: every one.
  void RefuseExports(int n);
  std::vector<Export> Exports() const;  // delivered, in order
  // Called on every read of an instance's file (outside the fake's lock), e.g. to move a test's
  // clock as a slow Orthanc would.
  void OnFileRead(std::function<void()> hook);
  int64_t RefusedExports() const { return refused_; }
  // GET /series/{id} says "IsStable": false for this series until set back (default: stable).
  void SetStable(const std::string& series_id, bool stable);
  // POST /instances/{id}/modify (Orthanc's transcoding) answers `bytes` for this instance; the
  // calls are recorded (uri and body). Without bytes set, it fails as an Orthanc without the codec.
  void SetTranscoded(const std::string& instance_id, std::string bytes);
  std::vector<std::pair<std::string, std::string>> Modifications() const;

  std::optional<std::string> Get(const std::string& uri) override;
  std::string Post(const std::string& uri, const std::string& body) override;

 private:
  struct Instance {
    std::string id, series, sop_uid, bytes, calling_aet, called_aet;
    std::map<std::string, std::string> tags;  // as /simplified-tags (keyword -> value)
  };
  struct Series {
    std::string id, study, uid;
    std::vector<std::string> instances;
  };
  struct Study {
    std::string id, uid;
    std::vector<std::string> series;
  };

  mutable std::mutex mu_;
  std::map<std::string, Study> studies_;
  std::map<std::string, Series> series_;
  std::map<std::string, Instance> instances_;
  std::atomic<bool> unavailable_{false};
  int refuse_ = 0;
  std::atomic<int64_t> refused_{0};
  std::vector<Export> exports_;
  std::map<std::string, bool> unstable_;
  std::map<std::string, std::string> transcoded_;
  std::vector<std::pair<std::string, std::string>> modifications_;
  std::function<void()> on_file_read_;
};

}  // namespace curia::test
