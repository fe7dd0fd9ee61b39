// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The export queue: each result object to each destination with Orthanc's store-straight (C-STORE
// to a DicomModalities entry), retried with the store's backoff (Export.BackoffMin/MaxSeconds) and
// dead-lettered after Export.MaxAttempts; a dead job can be retried through the REST API.
//
//   Exporter exporter(settings, store, orthanc, health);
//   if (!exporter.SendNext(now)) wait(exporter.WaitSeconds(now));   // the exporter thread
//
// One exporter thread per node; the store keeps the queue (so it survives restarts) and leases each
// export to the sender that took it for Queue.LeaseSeconds, as jobs are, so that two nodes do not
// send one at once and a node that stops (killed, paused) holds its export no longer than its jobs.
#include "curia/config/settings.h"
#include "curia/node/orthanc.h"
#include "curia/storage/store.h"
#include "health.h"

namespace curia::node {

class Exporter {
 public:
  Exporter(const config::CuriaSettings& settings, storage::Store& store, IOrthanc& orthanc, Health& health);

  // Sends the oldest export due at `now`: delivered, or failed (pending again after the backoff,
  // or dead). False when none was due (or the database refused to say).
  // The export is leased for Queue.LeaseSeconds (default 60 s, longer than a C-STORE of one object
  // takes: Orthanc's DicomScuTimeout is 10 s by default). A send that outlasts it may be repeated by
  // another node: harmless, the object keeps its SOP Instance UID and the PACS keeps one copy.
  bool SendNext(double now);
  // How long to sleep when nothing was due: until the next export is due, 0.05 to 1 s.
  double WaitSeconds(double now);

 private:
  storage::Store& store_;
  IOrthanc& orthanc_;
  Health& health_;
  storage::ExportPolicy policy_;
  double lease_s_;
};

}  // namespace curia::node
