# SPDX-License-Identifier: GPL-3.0-or-later
"""Two nodes on one PostgreSQL (design.md section 7, docs/reliability.md "Two nodes"): a PostgreSQL 15
of the test's own, two Orthancs with orthanc-postgresql ("Lock" false, index and files in the
database) and the Curia plugin on one Curia database (a postgresql:// URL, password from a libpq
password file), and a plain Orthanc as the PACS.

  studies split between the nodes, one over both   every study one SR at the PACS, jobs on both nodes
  a node SIGKILLed while it runs jobs (repeated)   the other recovers its leases: 0 lost, 0 duplicated
  a node SIGSTOPped past its lease, then SIGCONT   its late result refused, the takeover's stays
  /curia/health on each node                       Cluster: both nodes alive (heartbeats), leases
                                                   lost and taken back counted per node
  an ingest node and a work node (ClusterRoles)    studies sent to the ingest node run on the work node
  PostgreSQL restarted during a run (ClusterRoles) both nodes report degraded health, then resume

  CURIA_CLUSTER_STUDIES=N    studies of the split test (default 30)
  CURIA_CLUSTER_KILLS=10     kill rounds, the victim alternating (default 3)
  CURIA_CLUSTER_SEED=N       seed of the kill moments (default: random, printed)

Run from this folder: /usr/bin/python3 -m unittest -v test_cluster.Cluster
"""
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_plugin as tp  # noqa: E402
import test_reliability as tr  # noqa: E402

LEASE_S = 3
SLICES = 4
TERMINAL = tr.TERMINAL


class _ClusterCase(tr.ReliabilityCase):
    """A PACS, a PostgreSQL and two nodes A and B sharing it, for the class. self.node is A: the
    queue, the results and the Orthanc index are shared, so either node's REST API shows them all.
    ROLES: each node's Curia.Role (a "work" node gets no DICOM listener)."""
    START_NODE = False
    ROLES = {"a": "all", "b": "all"}

    @classmethod
    def setUpClass(cls):
        missing = h.postgresql_missing()
        if missing:
            raise unittest.SkipTest(missing)
        super().setUpClass()  # the workspace and the PACS
        cls.pg = None
        cls.nodes = []
        try:
            cls.pg = h.PgServer().start()
            cls.pg.create_database("orthanc")
            cls.pg.create_database("curia")
            passfile = cls.pg.passfile(os.path.join(cls.ws.path, "curia.pgpass"))
            url = cls.pg.url("curia", passfile)
            for name in ("a", "b"):
                orthanc = cls.pg.orthanc_settings("orthanc", f"node-{name}")
                role = cls.ROLES[name]
                if role == "work":
                    orthanc["DicomServerEnabled"] = False
                node = h.make_node(cls.ws.path, cls.pacs, name=name, curia_overrides={
                    "Database": url,
                    "NodeName": f"node-{name}",
                    "Role": role,
                    "Queue": {"LeaseSeconds": LEASE_S, "Workers": 1},
                    "Model": {"Threads": 1, "MaxBatch": 1},
                }, overrides={k: v for k, v in orthanc.items() if k != "Plugins"})
                node.config["Plugins"] = node.config["Plugins"] + orthanc["Plugins"]
                cls.nodes.append(node)
            # Together: the schemas (Orthanc's and Curia's) are created once by whichever comes first.
            for node in cls.nodes:
                node.spawn()
            for node in cls.nodes:
                node.process.poll()
            for node in cls.nodes:
                h.wait_for(lambda n=node: _healthy(n), 120, f"node {node.name} up",
                           diagnostics=lambda n=node: n.log_tail(40))
            cls.a, cls.b = cls.nodes
            cls.node = cls.a
        except BaseException:
            cls._shutdown()
            raise

    @classmethod
    def _shutdown(cls):
        for node in getattr(cls, "nodes", []):
            _resume(node)
            node.stop()
        cls.node = None
        super()._shutdown()
        if getattr(cls, "pg", None) is not None:
            cls.pg.stop()

    # --- helpers --------------------------------------------------------------------------------
    def study(self, tag, seed, slices=SLICES):
        """A new phantom study: a copy of the class's phantom with new UIDs (curia phantom takes
        seconds per study on a busy machine), or a phantom of its own for another slice count."""
        if slices == SLICES:
            if not getattr(type(self), "template", None):
                type(self).template = tr.phantom_study(self.ws.sub("template"), SLICES, seed=1)
            files = h.copy_study(self.template, self.ws.sub(tag), seed)
        else:
            files = tr.phantom_study(self.ws.sub(tag), slices, seed=seed)
        return files, tp.study_uid_of(files)

    def wait_all_done(self, uids, timeout=tp.JOB_TIMEOUT):
        """Waits until every study has a done job and none of its jobs is still on its way."""
        def ready():
            node = self.a if self.a.running() and not getattr(self.a, "stopped", False) else self.b
            jobs = node.jobs(limit=1000)["Jobs"]
            by_study = {}
            for j in jobs:
                by_study.setdefault(j.get("StudyInstanceUID"), []).append(j["State"])
            return all("done" in by_study.get(u, []) and all(s in TERMINAL for s in by_study[u]) for u in uids)
        h.wait_for(ready, timeout, f"{len(uids)} studies done", interval=0.5,
                   diagnostics=lambda: self.a.diagnostics() + "\nB:\n" + self.b.log_tail(30))

    def nodes_of(self, job_ids):
        """{job ID: the node that ran it last} as /curia/jobs says (its Node field: the node name
        its claim's owner token starts with), read from node A's view of the one queue."""
        wanted = set(job_ids)
        return {j["ID"]: j["Node"] for j in self.a.jobs(limit=1000)["Jobs"] if j["ID"] in wanted}

    def recovered(self, job_ids):
        """Audit events "recovered" of these jobs (leases taken back)."""
        return sum(1 for j in job_ids for a in self.node.job(j)["Audit"] if a["Event"] == "recovered")

    def check_studies(self, uids):
        """Every study exactly once (ReliabilityCase.check_exactly_once); returns the done jobs' IDs."""
        done = []
        for uid in uids:
            job, _ = self.check_exactly_once(uid, SLICES)
            done.append(job["ID"])
        return done

    def wait_all_done_on(self, node, uids, timeout=tp.JOB_TIMEOUT):
        def ready():
            by_study = {}
            for j in node.jobs(limit=1000)["Jobs"]:
                by_study.setdefault(j.get("StudyInstanceUID"), []).append(j["State"])
            return all("done" in by_study.get(u, []) and all(s in TERMINAL for s in by_study[u]) for u in uids)
        h.wait_for(ready, timeout, f"{len(uids)} studies done on {node.name}", interval=0.5,
                   diagnostics=lambda: node.diagnostics())

    def cluster(self, node):
        """{name: row} of the node's /curia/health Cluster, and the name it gives itself."""
        c = node.get("/curia/health", timeout=10)["Cluster"]
        return {n["Name"]: n for n in c["Nodes"]}, c["Node"]

    def lease_counts(self):
        """(leases lost, leases taken back) over the cluster, as node A sees it."""
        rows, _ = self.cluster(self.a)
        return sum(n["LeasesLost"] for n in rows.values()), sum(n["LeasesRecovered"] for n in rows.values())


class Cluster(_ClusterCase):
    """Two nodes that both receive and run jobs: the split, the kills, the pause."""
    STUDIES = tr.env_int("CURIA_CLUSTER_STUDIES", 30)
    KILLS = tr.env_int("CURIA_CLUSTER_KILLS", 3)

    def test_cluster_view_lists_both_nodes_alive(self):
        for node in (self.a, self.b):
            rows, me = self.cluster(node)
            self.assertEqual(me, f"node-{node.name}")
            self.assertEqual(sorted(rows), ["node-a", "node-b"], rows)
            for name, row in rows.items():
                self.assertTrue(row["Alive"], row)
                self.assertLessEqual(row["LastSeen"], 3 * row_heartbeat(node), row)
                self.assertEqual(row["This"], name == me, row)
                self.assertEqual(row["Workers"], 1, row)

    def test_split_studies_one_sr_each_jobs_on_both(self):
        studies = [self.study(f"s{i}", 100 + i) for i in range(self.STUDIES)]
        started = time.monotonic()
        # One study's slices over both nodes (StableStudy fires on each): one job, one SR.
        split_files, split_uid = studies[0]
        h.storescu(self.a.dicom_port, split_files[:SLICES // 2])
        h.storescu(self.b.dicom_port, split_files[SLICES // 2:])
        # The others half to each node, both at once (one sender per node).
        errors = []

        def send(node, part):
            try:
                for files, _ in part:
                    h.storescu(node.dicom_port, files)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        senders = [threading.Thread(target=send, args=(node, studies[1 + k::2])) for k, node in enumerate((self.a, self.b))]
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        self.assertEqual(errors, [])
        sent_s = time.monotonic() - started
        uids = [u for _, u in studies]
        self.wait_all_done(uids)
        elapsed = time.monotonic() - started
        done = self.check_studies(uids)
        ran_on = self.nodes_of(done)
        self.assertEqual(set(ran_on), set(done), "every done job is in /curia/jobs")
        on_a = {j for j, n in ran_on.items() if n == "node-a"}
        on_b = {j for j, n in ran_on.items() if n == "node-b"}
        self.assertEqual(on_a | on_b, set(done), f"every done job ran on node-a or node-b: {ran_on}")
        self.assertTrue(on_a and on_b, f"jobs ran on both nodes: A {sorted(on_a)}, B {sorted(on_b)}")
        # The log agrees with the store: node A logged storing exactly the results of its jobs.
        logged_a = {int(m) for m in re.findall(r"job (\d+) done: ", self.a.log())} & set(done)
        self.assertEqual(logged_a, on_a)
        # The same view on both nodes: one queue.
        self.assertEqual({j["ID"] for j in self.a.jobs(limit=1000)["Jobs"]},
                         {j["ID"] for j in self.b.jobs(limit=1000)["Jobs"]})
        tr.record("cluster-split", {"studies": len(uids), "slices": SLICES, "send_s": round(sent_s, 1),
                                    "all_done_s": round(elapsed, 1), "jobs_a": len(on_a), "jobs_b": len(on_b),
                                    "split_study_jobs": len(self.a.jobs_of(split_uid))})

    def test_sigkill_other_node_finishes(self):
        seed = tr.env_int("CURIA_CLUSTER_SEED", random.randrange(1 << 30))
        print(f"\nCluster kills: seed {seed} (CURIA_CLUSTER_SEED={seed} repeats the kill moments)", flush=True)
        rnd = random.Random(seed)
        all_uids, recoveries, rounds = [], 0, []
        lost_before, taken_before = self.lease_counts()
        for k in range(self.KILLS):
            victim, survivor = (self.b, self.a) if k % 2 == 0 else (self.a, self.b)
            studies = [self.study(f"k{k}-{i}", 2000 + 10 * k + i) for i in range(4)]
            uids = [u for _, u in studies]
            for i, (files, _) in enumerate(studies):
                h.storescu((self.a, self.b)[i % 2].dicom_port, files)
            # Kill while the victim runs a job, at a random moment soon after: a few tenths of a second,
            # since a 4-slice job of the tiny model can be over in less (waiting for a job running
            # anywhere and then up to 1.5 s let every job finish first once the CPU attention got
            # faster: no lease left to take back in any of 3 rounds).
            victim_node = f"node-{victim.name}"
            try:
                h.wait_for(lambda: any(j["State"] == "running" and j["Node"] == victim_node
                                       for j in survivor.jobs(limit=50)["Jobs"]),
                           30, f"a job running on {victim_node}", interval=0.02)
                time.sleep(rnd.uniform(0.0, 0.2))
            except AssertionError:
                pass  # the survivor ran every job of this round: a kill without a lease (in `rounds`)
            states = {}
            for j in survivor.jobs(limit=50)["Jobs"]:
                states[j["State"]] = states.get(j["State"], 0) + 1
            killed_at = time.monotonic()
            victim.kill9()
            self.node = survivor  # what the checks ask
            self.wait_all_done_on(survivor, uids)
            finished_s = time.monotonic() - killed_at
            job_ids = self.check_studies(uids)
            n = self.recovered(job_ids)
            recoveries += n
            rounds.append({"victim": victim.name, "jobs_at_kill": states, "recovered": n,
                           "finished_after_kill_s": round(finished_s, 1)})
            all_uids += uids
            victim.start(timeout=120)
            self.node = self.a
        # Over all rounds the victims held leases when killed, and the survivors took them back.
        self.assertGreater(recoveries, 0, f"no lease was recovered in {self.KILLS} kill(s): {rounds}")
        self.check_studies(all_uids)  # still exactly once after the restarts
        # The cluster view counts them: each lease taken back is one lost by the node that held it.
        lost, taken = self.lease_counts()
        self.assertEqual(lost - lost_before, taken - taken_before)
        self.assertGreaterEqual(taken - taken_before, recoveries)
        tr.record("cluster-kills", {"kills": self.KILLS, "seed": seed, "studies": len(all_uids),
                                    "lease_s": LEASE_S, "recovered": recoveries, "rounds": rounds})

    def test_sigstop_past_lease_late_result_refused(self):
        # B alone may claim: A is paused while the study arrives at B and B claims its job.
        files, uid = self.study("p", 3000, slices=8)
        _pause(self.a)
        try:
            h.storescu(self.b.dicom_port, files)
            job = h.wait_for(lambda: next((j for j in self.b.jobs_of(uid) if j["State"] == "running"), None), 60,
                             "the job running on B", interval=0.1, diagnostics=lambda: self.b.diagnostics(uid))
        finally:
            _resume(self.a)
        # B paused past its lease (while it reads or analyses): A takes the job back and finishes it.
        _pause(self.b)
        paused_at = time.monotonic()
        try:
            self.wait_all_done_on(self.a, [uid])
            taken_over_s = time.monotonic() - paused_at
            time.sleep(max(0.0, LEASE_S + 1 - taken_over_s))
        finally:
            _resume(self.b)
        # B's run goes on and its writes are refused: it audits lease-lost.
        audit = h.wait_for(lambda: [a for a in self.a.job(job["ID"])["Audit"] if a["Event"] == "lease-lost"], 60,
                           "B's lease-lost audit", diagnostics=lambda: self.b.log_tail(30))
        detail = self.a.job(job["ID"])
        self.assertEqual(detail["State"], "done")
        self.assertEqual(detail["Attempts"], 2, detail)
        self.assertIn("attempt 1", audit[0]["Detail"])
        self.assertEqual(job["Node"], "node-b", "the first run was B's")
        self.assertEqual(detail["Node"], "node-a", "the result stored is A's (attempt 2)")
        self.assertEqual([a["Detail"] for a in detail["Audit"] if a["Event"] == "started"],
                         ["attempt 1 on node-b", "attempt 2 on node-a"])
        self.assertNotIn(f"job {job['ID']} done: ", self.b.log(), "B's late result was stored")
        self.check_exactly_once(uid, 8)
        tr.record("cluster-pause", {"lease_s": LEASE_S, "taken_over_and_done_s": round(taken_over_s, 1)})


class ClusterRoles(_ClusterCase):
    """An ingest node A (receives and routes; Curia.Role "ingest": no worker pool) and a work node B
    (runs the jobs; Role "work", Orthanc's DicomServerEnabled false) on one PostgreSQL; then that
    PostgreSQL restarted while B runs jobs."""
    ROLES = {"a": "ingest", "b": "work"}

    def test_1_ingest_node_receives_work_node_runs(self):
        self.assertEqual(self.a.get("/curia/health")["Role"], "ingest")
        self.assertEqual(self.b.get("/curia/health")["Role"], "work")
        # B has no DICOM listener: modalities send to A.
        echo = subprocess.run(["echoscu", "-to", "5", "127.0.0.1", str(self.b.dicom_port)], env=h.env(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertNotEqual(echo.returncode, 0, "the work node answered a C-ECHO")
        studies = [self.study(f"r{i}", 400 + i) for i in range(3)]
        for files, _ in studies:
            h.storescu(self.a.dicom_port, files)
        uids = [u for _, u in studies]
        self.wait_all_done_on(self.b, uids)
        done = self.check_studies(uids)
        self.assertEqual(set(self.nodes_of(done).values()), {"node-b"}, "every job ran on the work node")
        self.assertIn("started (role ingest): 0 job runner(s)", self.a.log())
        rows, _ = self.cluster(self.b)
        self.assertEqual({n: (r["Role"], r["Workers"], r["Alive"]) for n, r in rows.items()},
                         {"node-a": ("ingest", 0, True), "node-b": ("work", 1, True)}, rows)

    def test_2_postgresql_restart(self):
        studies = [self.study(f"pg{i}", 500 + i) for i in range(3)]
        for files, _ in studies:
            h.storescu(self.a.dicom_port, files)
        uids = [u for _, u in studies]
        h.wait_for(lambda: any(j["State"] in ("running", "exporting", "done") for j in self.b.jobs(limit=50)["Jobs"]),
                   60, "a job under way", interval=0.1)
        self.pg.shut_down()
        down_at = time.monotonic()
        degraded_s = {}
        try:
            # Both nodes answer and say what is wrong.
            for node in (self.a, self.b):
                report = h.wait_for(lambda n=node: _degraded(n), 60, f"{node.name} degraded",
                                    diagnostics=lambda n=node: n.log_tail(30))
                degraded_s[node.name] = round(time.monotonic() - down_at, 1)
                self.assertTrue(any("database" in p.lower() or "postgres" in p.lower() for p in report["Problems"]),
                                report)
            time.sleep(max(0.0, 3 - (time.monotonic() - down_at)))
        finally:
            self.pg.start_again()
        up_at = time.monotonic()
        self.wait_all_done_on(self.b, uids)
        done_s = round(time.monotonic() - up_at, 1)
        self.check_studies(uids)
        # The database answers both nodes again: their reports have the queue's figures back (the
        # problem itself stays listed, with its age, for Health::kProblemSeconds).
        for node in (self.a, self.b):
            report = h.wait_for(lambda n=node: "Jobs" in n.get("/curia/health") and n.get("/curia/health"), 60,
                                f"{node.name}'s report with the queue's figures")
            self.assertIn("done", report["Jobs"], report)
        tr.record("cluster-pg-restart", {"down_s": round(up_at - down_at, 1), "degraded_after_s": degraded_s,
                                         "all_done_after_restart_s": done_s, "studies": len(uids)})


def _degraded(node):
    """The node's health report once it says "degraded" (its REST API answers while the database is down)."""
    if node.process.poll() is not None:
        raise RuntimeError(f"{node.name} exited ({node.process.returncode}):\n{node.log_tail(40)}")
    try:
        report = node.get("/curia/health", timeout=5)
    except Exception:  # noqa: BLE001 - an answer other than JSON 200 is not the degraded report
        return None
    return report if report.get("Status") == "degraded" else None


def row_heartbeat(node):
    """The heartbeat interval the node reports (s)."""
    return node.get("/curia/health", timeout=10)["Cluster"]["HeartbeatSeconds"]


def _healthy(node):
    if node.process.poll() is not None:
        raise RuntimeError(f"{node.name} exited ({node.process.returncode}):\n{node.log_tail(40)}")
    return node.get("/curia/health", timeout=5).get("Status") == "ok"


def _pause(node):
    node.process.send_signal(signal.SIGSTOP)
    node.stopped = True


def _resume(node):
    if getattr(node, "stopped", False) and node.running():
        node.process.send_signal(signal.SIGCONT)
    node.stopped = False


if __name__ == "__main__":
    unittest.main()
