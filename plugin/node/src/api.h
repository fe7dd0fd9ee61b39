// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The /curia REST API: a route table (routes.h) of the node's routes and the web UI's (ui.h).
//
//   GET  /health                   Health::Report
//   GET  /jobs?state=&study=&rule=&offset=&limit=
//   GET  /jobs/{id}                the job with its results, exports and audit trail
//   POST /jobs/{id}/retry|cancel   409 when the job's state does not allow it
//   POST /studies/{id}/process     routes the study now (the rules decide; queued jobs' IDs)
//   POST /rules/test               {"Study": "<Orthanc ID>"} or the ID as text: the dry run
//   GET  /metrics                  Prometheus text
//   GET  /config                   the configuration (secrets redacted) and the effective values
//
// Thread-safe (any HTTP thread).
#include <functional>

#include "curia/config/settings.h"
#include "curia/node/node.h"
#include "curia/storage/store.h"
#include "curia/worker/model.h"
#include "health.h"
#include "notifier.h"
#include "router.h"
#include "routes.h"
#include "ui.h"

namespace curia::node {

class Api {
 public:
  // `running`: whether the node's threads run (GET /health's Running).
  Api(const config::CuriaSettings& settings, storage::Store& store, const worker::ModelInfo& model, const NodeInfo& info,
      Router& router, Health& health, Notifier& notifier, Clock clock, std::function<bool()> running);
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  HttpResponse Handle(const HttpRequest& request) const { return table_.Dispatch(request); }

 private:
  HttpResponse Jobs(const HttpRequest& request);
  HttpResponse JobView(const std::string& id_text);
  HttpResponse Change(const std::string& id_text, const std::string& what);
  HttpResponse Process(const std::string& study);
  HttpResponse TestRules(const HttpRequest& request);
  HttpResponse Config();

  const config::CuriaSettings& settings_;
  storage::Store& store_;
  const NodeInfo& info_;
  Router& router_;
  Health& health_;
  Notifier& notifier_;
  Clock clock_;
  std::function<bool()> running_;
  internal::UiContext ui_;
  internal::RouteTable table_;
};

}  // namespace curia::node
