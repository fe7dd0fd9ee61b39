// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// An Orthanc server's REST API as a source of studies for the tool (`curia features --orthanc`):
// plain HTTP/1.1 with Boost.Beast, HTTP Basic authentication, one connection per request (the
// instances are read from the pool's threads; a loopback connection costs far less than a slice).
//
//   OrthancClient orthanc("http://127.0.0.1:8042", "curia", password);
//   auto series = orthanc.SeriesOf("1.2.840...");          // a Study or Series Instance UID
//   OrthancInstances source(orthanc);                       // dicom::IInstanceSource: id = Orthanc ID
//   ScanResult scan = dicom::LoadSeries(source, series[0].instances, {});
//
// Thread safety: const methods may be called from any thread.
#include <string>
#include <vector>

#include "curia/config/json.h"
#include "curia/dicom/instance_source.h"

namespace curia::cli {

class OrthancClient {
 public:
  // `url`: http://HOST[:PORT][/PREFIX]. Throws UsageError for another scheme or a malformed URL.
  OrthancClient(const std::string& url, std::string user, std::string password);

  // GET; throws curia::Error naming the URL and the HTTP status (kNotFound for 404
  // (kInvalidArgument for 401/403: the credentials; kUnavailable when the server does not answer).
  std::string Get(const std::string& path) const;
  config::Json GetJson(const std::string& path) const;
  config::Json PostJson(const std::string& path, const std::string& body) const;

  struct Series {
    std::string orthanc_id, series_uid, modality;
    std::vector<std::string> instances;  // Orthanc IDs
  };
  // The series of a Study Instance UID (every series of the study) or of a Series Instance UID
  // (that one). Throws curia::Error(kNotFound) when Orthanc has neither.
  std::vector<Series> SeriesOf(const std::string& uid) const;
  const std::string& url() const { return url_; }

 private:
  std::string Request(const std::string& method, const std::string& path, const std::string& body) const;

  std::string url_, host_, port_, prefix_, authorization_;
};

// Instances read from Orthanc on demand (GET /instances/{id}/file): nothing is kept in memory.
class OrthancInstances : public dicom::IInstanceSource {
 public:
  explicit OrthancInstances(const OrthancClient& client) : client_(client) {}
  std::string Bytes(const std::string& id) const override;
  std::string Name(const std::string& id) const override { return "Orthanc instance " + id; }

 private:
  const OrthancClient& client_;
};

}  // namespace curia::cli
