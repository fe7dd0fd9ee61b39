// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// What the node needs from Orthanc: its REST API, called from the node's own threads (which the
// SDK allows). plugin/ implements it with OrthancPluginRestApiGet/Post; nothing else here knows
// the SDK.
#include <optional>
#include <string>

namespace curia::node {

class IOrthanc {
 public:
  virtual ~IOrthanc() = default;
  // GET on Orthanc's REST API: the answer body, or nullopt when the resource does not exist.
  // Throws curia::Error(kUnavailable) with Orthanc's error description otherwise.
  virtual std::optional<std::string> Get(const std::string& uri) = 0;
  // POST: the answer body. Throws curia::Error (kNotFound for an unknown resource, kUnavailable
  // otherwise) with Orthanc's error description.
  virtual std::string Post(const std::string& uri, const std::string& body) = 0;
};

}  // namespace curia::node
