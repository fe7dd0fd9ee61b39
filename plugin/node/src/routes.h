// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The /curia REST routes as a table: method + path pattern -> handler.
//
//   RouteTable table;
//   table.Add("GET", "/jobs/{id}", [&](const HttpRequest& r, const RouteArgs& a) { return View(a[0]); });
//   table.Add("GET", "/ui/{*}", ServeFile);            // {*}: the rest of the path (one or more segments)
//   HttpResponse answer = table.Dispatch(request);
//
// Dispatch answers 404 for a path no route has, 405 with an Allow header ("GET, POST") for a path
// that has routes but none for the method, and maps what a handler throws: curia::Error kNotFound
// -> 404, kInvalidArgument -> 400 (a malformed body), anything else -> 500. Patterns are matched in
// the order they were added. Add before the first Dispatch; Dispatch is then thread-safe.
#include <functional>
#include <string>
#include <vector>

#include "curia/node/node.h"

namespace curia::node::internal {

// The path segments the pattern's {name} placeholders matched, in order ({*}: the rest, joined by /).
using RouteArgs = std::vector<std::string>;
using RouteHandler = std::function<HttpResponse(const HttpRequest&, const RouteArgs&)>;

class RouteTable {
 public:
  void Add(const std::string& method, const std::string& pattern, RouteHandler handler);
  HttpResponse Dispatch(const HttpRequest& request) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> pattern;  // segments: literal, "{name}" or a final "{*}"
    RouteHandler handler;
  };
  static bool Match(const std::vector<std::string>& pattern, const std::vector<std::string>& parts, RouteArgs* args);
  std::vector<Route> routes_;
};

}  // namespace curia::node::internal
