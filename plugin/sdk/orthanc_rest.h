// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// node::IOrthanc over the SDK's REST calls (safe from the node's own threads); the SDK's answer
// buffers are owned by sdk_memory.h's MemoryBuffer.
#include <orthanc/OrthancCPlugin.h>

#include "curia/node/orthanc.h"

namespace curia::sdk {

class OrthancRest : public node::IOrthanc {
 public:
  explicit OrthancRest(OrthancPluginContext* context) : context_(context) {}
  std::optional<std::string> Get(const std::string& uri) override;
  std::string Post(const std::string& uri, const std::string& body) override;

 private:
  OrthancPluginContext* context_;
};

}  // namespace curia::sdk
