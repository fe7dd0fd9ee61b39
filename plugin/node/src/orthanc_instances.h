// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Instances read from Orthanc by their Orthanc IDs, for the DICOM and region readers: the router's
// reads (region object headers) and the job runner's (a job's series and region object, renewing
// the job's lease before each read through `before_read`). Thread-safe when `before_read` is.
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "curia/config/error.h"
#include "curia/dicom/instance_source.h"
#include "curia/node/orthanc.h"

namespace curia::node::internal {

class OrthancInstances : public dicom::IInstanceSource {
 public:
  explicit OrthancInstances(IOrthanc& orthanc, std::function<void()> before_read = {})
      : orthanc_(orthanc), before_read_(std::move(before_read)) {}
  std::string Bytes(const std::string& id) const override {
    if (before_read_) before_read_();
    std::optional<std::string> bytes = orthanc_.Get("/instances/" + id + "/file");
    if (!bytes) throw Error(ErrorCode::kNotFound, "instance " + id + " is no longer in Orthanc");
    return std::move(*bytes);
  }
  std::string Name(const std::string& id) const override { return "instance " + id; }

 private:
  IOrthanc& orthanc_;
  const std::function<void()> before_read_;
};

}  // namespace curia::node::internal
