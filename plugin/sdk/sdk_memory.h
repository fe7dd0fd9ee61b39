// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Owners of what the Orthanc SDK allocates for the plugin: each frees it with the SDK's own call
// (OrthancPluginFreeString, OrthancPluginFreeMemoryBuffer) on every path, exceptions included.
// Strings the SDK lends (OrthancPluginGetInstanceRemoteAet, OrthancPluginGetInstanceMetadata) are
// Orthanc's and are not wrapped. Neither type is copyable; use on one thread at a time.
//
//   OrthancString text(context, OrthancPluginGetConfiguration(context));
//   if (!text) throw ...;  std::string copy = text.str();
//
//   MemoryBuffer answer(context);
//   OrthancPluginRestApiGet(context, answer.get(), "/system");  std::string body = answer.str();
#include <orthanc/OrthancCPlugin.h>

#include <string>

namespace curia::sdk {

// A NUL-terminated string the SDK allocated (nullptr allowed: then empty).
class OrthancString {
 public:
  OrthancString(OrthancPluginContext* context, char* text) : context_(context), text_(text) {}
  ~OrthancString() {
    if (text_) OrthancPluginFreeString(context_, text_);
  }
  OrthancString(const OrthancString&) = delete;
  OrthancString& operator=(const OrthancString&) = delete;

  explicit operator bool() const { return text_ != nullptr; }
  const char* c_str() const { return text_ ? text_ : ""; }
  std::string str() const { return c_str(); }

 private:
  OrthancPluginContext* context_;
  char* text_;
};

// A buffer the SDK fills (REST answers); empty until then.
class MemoryBuffer {
 public:
  explicit MemoryBuffer(OrthancPluginContext* context) : context_(context) {
    buffer_.data = nullptr;
    buffer_.size = 0;
  }
  ~MemoryBuffer() {
    if (buffer_.data) OrthancPluginFreeMemoryBuffer(context_, &buffer_);
  }
  MemoryBuffer(const MemoryBuffer&) = delete;
  MemoryBuffer& operator=(const MemoryBuffer&) = delete;

  OrthancPluginMemoryBuffer* get() { return &buffer_; }
  std::string str() const {
    return buffer_.data ? std::string(static_cast<const char*>(buffer_.data), buffer_.size) : std::string();
  }

 private:
  OrthancPluginContext* context_;
  OrthancPluginMemoryBuffer buffer_;
};

}  // namespace curia::sdk
