// SPDX-License-Identifier: GPL-3.0-or-later
#include "routes.h"

#include <algorithm>

#include "curia/config/error.h"
#include "http.h"

namespace curia::node::internal {

void RouteTable::Add(const std::string& method, const std::string& pattern, RouteHandler handler) {
  routes_.push_back({method, SplitPath(pattern), std::move(handler)});
}

bool RouteTable::Match(const std::vector<std::string>& pattern, const std::vector<std::string>& parts, RouteArgs* args) {
  args->clear();
  for (size_t i = 0; i < pattern.size(); ++i) {
    const std::string& p = pattern[i];
    if (p == "{*}") {
      if (i >= parts.size()) return false;
      std::string rest = parts[i];
      for (size_t j = i + 1; j < parts.size(); ++j) rest += "/" + parts[j];
      args->push_back(std::move(rest));
      return true;
    }
    if (i >= parts.size()) return false;
    if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
      args->push_back(parts[i]);
    } else if (p != parts[i]) {
      return false;
    }
  }
  return pattern.size() == parts.size();
}

HttpResponse RouteTable::Dispatch(const HttpRequest& request) const {
  const std::vector<std::string> parts = SplitPath(request.path);
  std::vector<std::string> methods;  // of the routes whose path matches
  RouteArgs args;
  for (const Route& route : routes_) {
    if (!Match(route.pattern, parts, &args)) continue;
    if (route.method != request.method) {
      if (std::find(methods.begin(), methods.end(), route.method) == methods.end()) methods.push_back(route.method);
      continue;
    }
    try {
      return route.handler(request, args);
    } catch (const Error& e) {
      const int status = e.code() == ErrorCode::kNotFound ? 404 : e.code() == ErrorCode::kInvalidArgument ? 400 : 500;
      return Problem(status, e.what());
    } catch (const std::exception& e) {
      return Problem(500, e.what());
    }
  }
  if (!methods.empty()) {
    std::string allow;
    for (const std::string& m : methods) allow += (allow.empty() ? "" : ", ") + m;
    HttpResponse r = Problem(405, request.method + " /curia" + request.path + ": allowed " + allow);
    r.headers.emplace_back("Allow", allow);
    return r;
  }
  return Problem(404, "no such route: " + request.method + " /curia" + request.path);
}

}  // namespace curia::node::internal
