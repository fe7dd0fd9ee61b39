// SPDX-License-Identifier: GPL-3.0-or-later
#include "orthanc_rest.h"

#include "curia/config/error.h"
#include "sdk_memory.h"

namespace curia::sdk {
namespace {

Error Failure(OrthancPluginContext* context, const std::string& what, OrthancPluginErrorCode code) {
  std::string message = what + ": " + OrthancPluginGetErrorDescription(context, code) + " (Orthanc error " +
                        std::to_string(static_cast<int>(code)) + ")";
  if (code == OrthancPluginErrorCode_NetworkProtocol) message += ": the destination refused or is unreachable";
  return Error(code == OrthancPluginErrorCode_UnknownResource ? ErrorCode::kNotFound : ErrorCode::kUnavailable, message);
}

}  // namespace

std::optional<std::string> OrthancRest::Get(const std::string& uri) {
  MemoryBuffer answer(context_);
  const OrthancPluginErrorCode code = OrthancPluginRestApiGet(context_, answer.get(), uri.c_str());
  if (code == OrthancPluginErrorCode_UnknownResource) return std::nullopt;
  if (code != OrthancPluginErrorCode_Success) throw Failure(context_, "GET " + uri, code);
  return answer.str();
}

std::string OrthancRest::Post(const std::string& uri, const std::string& body) {
  if (body.size() > UINT32_MAX) throw Error(ErrorCode::kInvalidArgument, "POST " + uri + ": body larger than 4 GB");
  MemoryBuffer answer(context_);
  const OrthancPluginErrorCode code = OrthancPluginRestApiPost(context_, answer.get(), uri.c_str(), body.data(),
                                                               static_cast<uint32_t>(body.size()));
  if (code != OrthancPluginErrorCode_Success) throw Failure(context_, "POST " + uri, code);
  return answer.str();
}

}  // namespace curia::sdk
