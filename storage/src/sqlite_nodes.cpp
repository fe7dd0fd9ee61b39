// SPDX-License-Identifier: GPL-3.0-or-later
// SqliteStore: the nodes using the database (heartbeats, leases lost and taken back). With SQLite
// that is one node, or the processes of one host.
#include "sqlite_store_impl.h"

namespace curia::storage {

using sqlite::Statement;

void SqliteStore::Impl::CountLeases(const std::string& node, bool recovered, int64_t n) {
  if (node.empty() || n == 0) return;
  Statement(db, recovered ? "INSERT INTO nodes(name, leases_recovered) VALUES (?1, ?2) ON CONFLICT(name) "
                            "DO UPDATE SET leases_recovered = leases_recovered + excluded.leases_recovered"
                          : "INSERT INTO nodes(name, leases_lost) VALUES (?1, ?2) ON CONFLICT(name) "
                            "DO UPDATE SET leases_lost = leases_lost + excluded.leases_lost")
      .Bind(node, n)
      .Run();
}

void SqliteStore::Heartbeat(const NodeBeat& beat, double now) {
  store_text::CheckBeat(beat);
  Impl::Write write(*impl_);
  Statement(impl_->db,
            "INSERT INTO nodes(name, first_seen, last_seen, version, role, workers, pid, host) "
            "VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(name) DO UPDATE SET "
            "first_seen = CASE WHEN first_seen = 0 THEN excluded.first_seen ELSE first_seen END, "
            "last_seen = excluded.last_seen, version = excluded.version, role = excluded.role, "
            "workers = excluded.workers, pid = excluded.pid, host = excluded.host")
      .Bind(beat.name, now, beat.version, beat.role, beat.workers, beat.pid, beat.host)
      .Run();
  write.Commit();
}

std::vector<NodeRow> SqliteStore::ListNodes() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  std::vector<NodeRow> nodes;
  {
    Statement s(impl_->db,
                "SELECT name, first_seen, last_seen, version, role, workers, pid, host, leases_lost, "
                "leases_recovered FROM nodes ORDER BY name");
    while (s.Step()) {
      NodeRow n;
      n.name = s.Text(0);
      n.first_seen = s.Real(1);
      n.last_seen = s.Real(2);
      n.version = s.Text(3);
      n.role = s.Text(4);
      n.workers = s.Int(5);
      n.pid = s.Int(6);
      n.host = s.Text(7);
      n.leases_lost = s.Int(8);
      n.leases_recovered = s.Int(9);
      nodes.push_back(std::move(n));
    }
  }
  std::vector<std::string> owners;
  Statement s(impl_->db, "SELECT owner FROM jobs WHERE state = 'running'");
  while (s.Step()) owners.push_back(s.Text(0));
  store_text::AddRunning(nodes, owners);
  return nodes;
}

}  // namespace curia::storage
