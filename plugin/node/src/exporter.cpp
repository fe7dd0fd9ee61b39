// SPDX-License-Identifier: GPL-3.0-or-later
#include "exporter.h"

#include <algorithm>
#include <optional>
#include <string>

#include "curia/config/log.h"

namespace curia::node {

Exporter::Exporter(const config::CuriaSettings& settings, storage::Store& store, IOrthanc& orthanc, Health& health)
    : store_(store),
      orthanc_(orthanc),
      health_(health),
      policy_{static_cast<int>(settings.export_.max_attempts), settings.export_.backoff_min_s,
              settings.export_.backoff_max_s},
      lease_s_(settings.queue.lease_seconds) {}

bool Exporter::SendNext(double now) {
  std::optional<storage::ExportTask> task;
  try {
    task = store_.NextExport(now, lease_s_);
  } catch (const std::exception& e) {
    log::Error("node", std::string("reading the export queue: ") + e.what());
    health_.NoteProblem(std::string("reading the export queue: ") + e.what());
  }
  if (!task) return false;
  const storage::ExportRow& row = task->row;
  try {
    orthanc_.Post("/modalities/" + row.destination + "/store-straight", task->bytes);
    store_.ExportDelivered(row.id, now);
    log::Info("node", "job " + std::to_string(row.job_id) + ": " + task->sop_instance_uid + " sent to " + row.destination);
  } catch (const std::exception& e) {
    log::Warning("node", "job " + std::to_string(row.job_id) + ": sending to " + row.destination + " failed: " + e.what());
    try {
      store_.ExportFailed(task->claim(), e.what(), policy_, now);
    } catch (const std::exception& e2) {
      log::Error("node", std::string("recording an export failure: ") + e2.what());
      health_.NoteProblem(std::string("recording an export failure: ") + e2.what());
    }
  }
  return true;
}

double Exporter::WaitSeconds(double now) {
  try {
    if (std::optional<double> due = store_.NextExportDue()) return std::clamp(*due - now, 0.05, 1.0);
  } catch (const std::exception& e) {
    log::Error("node", std::string("reading the export queue: ") + e.what());
    health_.NoteProblem(std::string("reading the export queue: ") + e.what());
  }
  return 1.0;
}

}  // namespace curia::node
