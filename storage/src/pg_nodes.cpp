// SPDX-License-Identifier: GPL-3.0-or-later
// PgStore: the nodes sharing the database (heartbeats, leases lost and taken back).
#include "pg_store_impl.h"

namespace curia::storage {

using pg::Int;
using pg::Real;
using pg::Text;

void PgStore::Impl::CountLeases(pg::Connection& c, const std::string& node, bool recovered, int64_t n) {
  if (node.empty() || n == 0) return;
  c.Exec(recovered ? "INSERT INTO nodes(name, leases_recovered) VALUES ($1, $2) ON CONFLICT(name) "
                     "DO UPDATE SET leases_recovered = nodes.leases_recovered + excluded.leases_recovered"
                   : "INSERT INTO nodes(name, leases_lost) VALUES ($1, $2) ON CONFLICT(name) "
                     "DO UPDATE SET leases_lost = nodes.leases_lost + excluded.leases_lost",
         {Text(node), Int(n)});
}

void PgStore::Heartbeat(const NodeBeat& beat, double now) {
  store_text::CheckBeat(beat);
  impl_->Transaction([&](pg::Connection& c) {
    c.Exec("INSERT INTO nodes(name, first_seen, last_seen, version, role, workers, pid, host) "
           "VALUES ($1, $2, $2, $3, $4, $5, $6, $7) ON CONFLICT(name) DO UPDATE SET "
           "first_seen = CASE WHEN nodes.first_seen = 0 THEN excluded.first_seen ELSE nodes.first_seen END, "
           "last_seen = excluded.last_seen, version = excluded.version, role = excluded.role, "
           "workers = excluded.workers, pid = excluded.pid, host = excluded.host",
           {Text(beat.name), Real(now), Text(beat.version), Text(beat.role), Int(beat.workers), Int(beat.pid),
            Text(beat.host)});
  });
}

std::vector<NodeRow> PgStore::ListNodes() {
  return impl_->Transaction([&](pg::Connection& c) {
    std::vector<NodeRow> nodes;
    const pg::Result r = c.Exec(
        "SELECT name, first_seen, last_seen, version, role, workers, pid, host, leases_lost, leases_recovered "
        "FROM nodes ORDER BY name");
    for (int i = 0; i < r.Rows(); ++i) {
      NodeRow n;
      n.name = r.Text(i, 0);
      n.first_seen = r.Real(i, 1);
      n.last_seen = r.Real(i, 2);
      n.version = r.Text(i, 3);
      n.role = r.Text(i, 4);
      n.workers = r.Int(i, 5);
      n.pid = r.Int(i, 6);
      n.host = r.Text(i, 7);
      n.leases_lost = r.Int(i, 8);
      n.leases_recovered = r.Int(i, 9);
      nodes.push_back(std::move(n));
    }
    const pg::Result running = c.Exec("SELECT owner FROM jobs WHERE state = 'running'");
    std::vector<std::string> owners;
    for (int i = 0; i < running.Rows(); ++i) owners.push_back(running.Text(i, 0));
    store_text::AddRunning(nodes, owners);
    return nodes;
  });
}

}  // namespace curia::storage
