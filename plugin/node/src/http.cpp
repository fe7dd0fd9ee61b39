// SPDX-License-Identifier: GPL-3.0-or-later
#include "http.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "curia/pool/pool.h"

namespace curia::node::internal {

HttpResponse JsonAnswer(const config::Json& body, int status) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = config::Dump(body, 2) + "\n";
  return r;
}

HttpResponse Problem(int status, const std::string& message) {
  config::Json j(::Json::objectValue);
  j["Error"] = message;
  return JsonAnswer(j, status);
}

config::Json Strings(const std::vector<std::string>& values) {
  config::Json a(::Json::arrayValue);
  for (const std::string& v : values) a.append(v);
  return a;
}

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  std::istringstream in(path);
  std::string part;
  while (std::getline(in, part, '/')) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

std::optional<int64_t> ParseId(const std::string& text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return std::atoll(text.c_str());
}

const char* PriorityText(int priority) {
  return pool::PriorityName(static_cast<pool::Priority>(std::clamp(priority, 0, 2)));
}

}  // namespace curia::node::internal
