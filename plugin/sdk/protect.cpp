// SPDX-License-Identifier: GPL-3.0-or-later
#include "protect.h"

#include <new>
#include <string>

#include "curia/config/error.h"
#include "curia/config/log.h"

namespace curia::sdk {
namespace {

OrthancPluginErrorCode CodeOf(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return OrthancPluginErrorCode_BadRequest;
    case ErrorCode::kNotFound: return OrthancPluginErrorCode_UnknownResource;
    case ErrorCode::kUnavailable: return OrthancPluginErrorCode_DatabaseUnavailable;
    case ErrorCode::kInternal: return OrthancPluginErrorCode_InternalError;
  }
  return OrthancPluginErrorCode_InternalError;
}

}  // namespace

OrthancPluginErrorCode ReportFailure(const char* what, const char* about, std::exception_ptr error,
                                     OrthancPluginContext* context, OrthancPluginRestOutput* output) noexcept {
  OrthancPluginErrorCode code = OrthancPluginErrorCode_InternalError;
  try {
    std::string message;
    try {
      std::rethrow_exception(error);
    } catch (const Error& e) {
      code = CodeOf(e.code());
      message = e.what();
    } catch (const std::bad_alloc&) {
      code = OrthancPluginErrorCode_NotEnoughMemory;
      message = "out of memory";
    } catch (const std::exception& e) {
      message = e.what();
    } catch (...) {
      message = "an exception that is not a std::exception";
    }
    log::Error("plugin", std::string(what) + (about && *about ? std::string(" (") + about + ")" : std::string()) + ": " +
                             message + " (Orthanc error " + std::to_string(static_cast<int>(code)) + ")");
    if (context && output) OrthancPluginSetHttpErrorDetails(context, output, message.c_str(), 0);
  } catch (...) {
    // Out of memory while reporting: the code alone goes back.
  }
  return code;
}

}  // namespace curia::sdk
