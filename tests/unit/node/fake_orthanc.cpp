// SPDX-License-Identifier: GPL-3.0-or-later
#include "fake_orthanc.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>

#include <algorithm>
#include <sstream>

#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/config/sha256.h"

namespace curia::test {
namespace {

// Orthanc's IDs are hashes of the UIDs; a short hash here.
std::string IdOf(const std::string& kind, const std::string& uids) {
  config::Sha256 h;
  h.Update(kind + "|" + uids);
  return kind + "-" + h.HexDigest().substr(0, 12);
}

std::vector<std::string> Split(const std::string& uri) {
  std::vector<std::string> parts;
  std::istringstream in(uri);
  std::string part;
  while (std::getline(in, part, '/')) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

// Every top-level element with a string form, by keyword, as Orthanc's simplified-tags
// (multiple values joined by a backslash); sequences and pixel data left out.
std::map<std::string, std::string> ReadTags(const std::string& dicom) {
  DcmFileFormat file;
  DcmInputBufferStream in;
  in.setBuffer(dicom.data(), static_cast<offile_off_t>(dicom.size()));
  in.setEos();
  file.transferInit();
  const OFCondition read = file.read(in);
  file.transferEnd();
  if (read.bad()) throw Error(ErrorCode::kInvalidArgument, std::string("FakeOrthanc: not DICOM: ") + read.text());
  std::map<std::string, std::string> tags;
  DcmDataset& ds = *file.getDataset();
  for (unsigned long i = 0; i < ds.card(); ++i) {
    DcmElement* e = ds.getElement(i);
    if (!e || e->ident() == EVR_SQ || e->getTag() == DCM_PixelData || e->getTag().getGroup() == 0x7fe0) continue;
    OFString value;
    DcmTag tag = e->getTag();
    if (e->getOFStringArray(value).good()) tags[tag.getTagName()] = value.c_str();
  }
  return tags;
}

config::Json Main(const char* key, const std::string& value) {
  config::Json tags(::Json::objectValue);
  tags[key] = value;
  return tags;
}

}  // namespace

FakeOrthanc::Ids FakeOrthanc::Add(const std::string& dicom, const std::string& calling_aet, const std::string& called_aet) {
  Instance inst;
  inst.tags = ReadTags(dicom);
  const std::string study_uid = inst.tags["StudyInstanceUID"], series_uid = inst.tags["SeriesInstanceUID"];
  inst.sop_uid = inst.tags["SOPInstanceUID"];
  inst.bytes = dicom;
  inst.calling_aet = calling_aet;
  inst.called_aet = called_aet;
  Ids ids{IdOf("study", study_uid), IdOf("series", study_uid + "|" + series_uid),
          IdOf("instance", study_uid + "|" + series_uid + "|" + inst.sop_uid), study_uid};
  inst.id = ids.instance;
  inst.series = ids.series;
  std::lock_guard<std::mutex> lock(mu_);
  Study& study = studies_[ids.study];
  study.id = ids.study;
  study.uid = study_uid;
  if (std::find(study.series.begin(), study.series.end(), ids.series) == study.series.end()) study.series.push_back(ids.series);
  Series& series = series_[ids.series];
  series.id = ids.series;
  series.study = ids.study;
  series.uid = series_uid;
  if (std::find(series.instances.begin(), series.instances.end(), ids.instance) == series.instances.end()) {
    series.instances.push_back(ids.instance);
  }
  instances_[ids.instance] = std::move(inst);
  return ids;
}

void FakeOrthanc::RemoveSeries(const std::string& series_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = series_.find(series_id);
  if (it == series_.end()) return;
  for (const std::string& i : it->second.instances) instances_.erase(i);
  std::vector<std::string>& of_study = studies_[it->second.study].series;
  of_study.erase(std::remove(of_study.begin(), of_study.end(), series_id), of_study.end());
  series_.erase(it);
}

void FakeOrthanc::RemoveStudy(const std::string& study_id) {
  std::vector<std::string> series;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = studies_.find(study_id);
    if (it == studies_.end()) return;
    series = it->second.series;
  }
  for (const std::string& s : series) RemoveSeries(s);
  std::lock_guard<std::mutex> lock(mu_);
  studies_.erase(study_id);
}

void FakeOrthanc::RefuseExports(int n) {
  std::lock_guard<std::mutex> lock(mu_);
  refuse_ = n;
}

std::vector<FakeOrthanc::Export> FakeOrthanc::Exports() const {
  std::lock_guard<std::mutex> lock(mu_);
  return exports_;
}

void FakeOrthanc::SetStable(const std::string& series_id, bool stable) {
  std::lock_guard<std::mutex> lock(mu_);
  unstable_[series_id] = !stable;
}

void FakeOrthanc::SetTranscoded(const std::string& instance_id, std::string bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  transcoded_[instance_id] = std::move(bytes);
}

std::vector<std::pair<std::string, std::string>> FakeOrthanc::Modifications() const {
  std::lock_guard<std::mutex> lock(mu_);
  return modifications_;
}

void FakeOrthanc::OnFileRead(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(mu_);
  on_file_read_ = std::move(hook);
}

std::optional<std::string> FakeOrthanc::Get(const std::string& uri) {
  if (unavailable_) throw Error(ErrorCode::kUnavailable, "GET " + uri + ": Orthanc is unavailable (fake)");
  const std::vector<std::string> p = Split(uri);
  if (p.size() == 3 && p[0] == "instances" && p[2] == "file") {
    std::optional<std::string> bytes;
    std::function<void()> hook;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = instances_.find(p[1]); it != instances_.end()) bytes = it->second.bytes;
      hook = on_file_read_;
    }
    if (hook) hook();
    return bytes;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (p.size() == 2 && p[0] == "studies") {
    auto it = studies_.find(p[1]);
    if (it == studies_.end()) return std::nullopt;
    config::Json j(::Json::objectValue);
    j["ID"] = it->second.id;
    j["MainDicomTags"] = Main("StudyInstanceUID", it->second.uid);
    config::Json series(::Json::arrayValue);
    for (const std::string& s : it->second.series) series.append(s);
    j["Series"] = std::move(series);
    return config::Dump(j, -1);
  }
  if (p.size() >= 2 && p[0] == "series") {
    auto it = series_.find(p[1]);
    if (it == series_.end()) return std::nullopt;
    if (p.size() == 2) {
      config::Json j(::Json::objectValue);
      j["ID"] = it->second.id;
      j["ParentStudy"] = it->second.study;
      j["MainDicomTags"] = Main("SeriesInstanceUID", it->second.uid);
      auto u = unstable_.find(p[1]);
      j["IsStable"] = u == unstable_.end() || !u->second;
      return config::Dump(j, -1);
    }
    if (p.size() == 3 && p[2] == "instances") {
      config::Json list(::Json::arrayValue);
      for (const std::string& id : it->second.instances) {
        config::Json i(::Json::objectValue);
        i["ID"] = id;
        i["MainDicomTags"] = Main("SOPInstanceUID", instances_.at(id).sop_uid);
        list.append(std::move(i));
      }
      return config::Dump(list, -1);
    }
  }
  if (p.size() >= 3 && p[0] == "instances") {
    auto it = instances_.find(p[1]);
    if (it == instances_.end()) return std::nullopt;
    const Instance& inst = it->second;
    if (p.size() == 3 && p[2] == "simplified-tags") {
      config::Json j(::Json::objectValue);
      for (const auto& [key, value] : inst.tags) j[key] = value;
      return config::Dump(j, -1);
    }
    if (p.size() == 4 && p[2] == "metadata") {
      if (p[3] == "RemoteAET") return inst.calling_aet;
      if (p[3] == "CalledAET") return inst.called_aet;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::string FakeOrthanc::Post(const std::string& uri, const std::string& body) {
  if (unavailable_) throw Error(ErrorCode::kUnavailable, "POST " + uri + ": Orthanc is unavailable (fake)");
  const std::vector<std::string> p = Split(uri);
  std::lock_guard<std::mutex> lock(mu_);
  if (uri == "/tools/lookup") {
    config::Json found(::Json::arrayValue);
    for (const auto& [id, study] : studies_) {
      if (study.uid != body) continue;
      config::Json r(::Json::objectValue);
      r["ID"] = id;
      r["Type"] = "Study";
      r["Path"] = "/studies/" + id;
      found.append(std::move(r));
    }
    return config::Dump(found, -1);
  }
  if (p.size() == 3 && p[0] == "instances" && p[2] == "modify") {
    modifications_.emplace_back(uri, body);
    if (!instances_.count(p[1])) throw Error(ErrorCode::kNotFound, "POST " + uri + ": no such instance (fake)");
    auto it = transcoded_.find(p[1]);
    if (it == transcoded_.end()) throw Error(ErrorCode::kUnavailable, "POST " + uri + ": no codec for this transfer syntax (fake)");
    return it->second;
  }
  if (p.size() == 3 && p[0] == "modalities" && p[2] == "store-straight") {
    if (refuse_ != 0) {
      if (refuse_ > 0) --refuse_;
      ++refused_;
      throw Error(ErrorCode::kUnavailable, "C-STORE to " + p[1] + ": association rejected (fake PACS)");
    }
    const std::map<std::string, std::string> tags = ReadTags(body);
    exports_.push_back({p[1], tags.count("SOPInstanceUID") ? tags.at("SOPInstanceUID") : "",
                        tags.count("Modality") ? tags.at("Modality") : ""});
    return "{}";
  }
  throw Error(ErrorCode::kNotFound, "POST " + uri + ": no such resource (fake)");
}

}  // namespace curia::test
