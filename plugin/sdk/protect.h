// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The one way SDK callbacks run our code: exceptions stay inside, Orthanc gets an error code.
// Protect runs `body`, catches everything it throws (curia::Error, c10::Error and other
// std::exception, anything else), writes one log line "<what> (<about>): <message>" through the log
// facade (whose sink is Orthanc's log) and returns the OrthancPluginErrorCode for it; for a REST
// callback it also sets the HTTP error details of the answer. `what` names the callback, `about`
// (may be null) the Orthanc ID, UID or URI it was called for: never patient data.
//
//   OrthancPluginErrorCode OnChange(OrthancPluginChangeType type, OrthancPluginResourceType, const char* id) {
//     return Protect("change callback", id, [&] { node.OnStable(false, id); });
//   }
//
// Thread-safe (any Orthanc thread). Never throws.
#include <orthanc/OrthancCPlugin.h>

#include <exception>

namespace curia::sdk {

// Logs the exception `error` as the failure of `what` and returns its Orthanc code:
// curia::Error by its code (kInvalidArgument: BadRequest, kNotFound: UnknownResource,
// kUnavailable: DatabaseUnavailable, Orthanc's one "try again later" code, HTTP 503; kInternal:
// InternalError), std::bad_alloc: NotEnoughMemory, anything else: InternalError. With `output`,
// also the error details of that REST answer.
OrthancPluginErrorCode ReportFailure(const char* what, const char* about, std::exception_ptr error,
                                     OrthancPluginContext* context, OrthancPluginRestOutput* output) noexcept;

template <typename Body>
OrthancPluginErrorCode Protect(const char* what, const char* about, Body&& body) noexcept {
  try {
    body();
    return OrthancPluginErrorCode_Success;
  } catch (...) {
    return ReportFailure(what, about, std::current_exception(), nullptr, nullptr);
  }
}

// For a REST callback: the same, and the error details of `output`'s answer.
template <typename Body>
OrthancPluginErrorCode ProtectRest(OrthancPluginContext* context, OrthancPluginRestOutput* output, const char* url,
                                   Body&& body) noexcept {
  try {
    body();
    return OrthancPluginErrorCode_Success;
  } catch (...) {
    return ReportFailure("REST callback", url, std::current_exception(), context, output);
  }
}

}  // namespace curia::sdk
