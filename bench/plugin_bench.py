#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The plugin-level benchmarks of `curia bench all`: real Orthanc processes on loopback (a node with
the Curia plugin, a plain Orthanc as the PACS) driven by the integration-test harness
(tests/integration/harness.py), phantom studies sent with DCMTK's storescu. Every figure is a ratio
(or a difference) of two quantities measured in this one run:

  e2e_ratio           slices/s through the plugin (several studies queued, from the first job
                      queued to the last SR accepted by the PACS; the same from the first C-STORE
                      is reported beside it) / slices/s of the raw backbone (`curia
                      bench model`, same model folder, image size and batch), in rounds each
                      between two raw runs (raw, node, raw, node, ..., raw; the round against the
                      mean of its two): the median of the rounds' ratios, with their spread
                      (min-max), so that a shared machine's drifting speed hits both sides
  ingest_ratio        C-STORE time of a 300-instance study into Orthanc with the plugin / into the
                      same Orthanc configuration without the plugin (9 short pairs alternated,
                      median and spread of the pairs' ratios)
  latency_overhead_s  StableStudy on the node -> SR accepted by the PACS, minus the job's model
                      compute ("Timings"."DeviceSeconds" of GET /curia/jobs/ID) (median)
  rss_ratio           peak RSS (VmHWM) of the node's Orthanc process for a 1,000-slice study / a
                      100-slice study (two fresh processes, same configuration)
  pg_e2e_ratio        slices/s of the e2e node with its store in PostgreSQL (a PostgreSQL 15 of the
                      script's own on loopback) / with its store in SQLite: two nodes, rounds
                      alternated (A B, B A), median; then job claims/s of `curia bench queue` with
                      8 claimers on each store (pg_claims_per_second, sqlite_claims_per_second).
                      Skipped, saying why, when PostgreSQL 15's binaries are missing

and, given --sweep (backbone slices/s per batch size, written by `curia bench all`), a PNG plot of
throughput against batch size (--plot). Prints progress, then writes every figure to --json.

Paths: --curia (the tool), --plugin (libOrthancCuriaNode.so); by default those of ./build, like the
integration tests (environment CURIA_TOOL, CURIA_PLUGIN). TCP_NODELAY=1 is set for every process.

  /usr/bin/python3 bench/plugin_bench.py --json plugin-bench.json            # every part
  /usr/bin/python3 bench/plugin_bench.py --parts ingest,latency --json x.json
  /usr/bin/python3 bench/plugin_bench.py --parts pg --e2e-size tiny --json pg.json   # store on PostgreSQL
  /usr/bin/python3 bench/plugin_bench.py --parts plot --sweep sweep.json --plot batch.png
"""
import argparse
import concurrent.futures
import copy
import json
import os
import statistics
import struct
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(HERE)
PARTS = ("ingest", "latency", "rss", "e2e", "pg", "plot")

h = None  # tests/integration/harness.py, imported once the paths are in the environment


def log(text):
    print(f"[plugin-bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--curia", help="the curia tool (default: $CURIA_TOOL, else build/cli/curia)")
    p.add_argument("--plugin", help="libOrthancCuriaNode.so (default: $CURIA_PLUGIN, else build/plugin/...)")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset of " + ",".join(PARTS))
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (configurations, logs)")
    g = p.add_argument_group("end to end (e2e_ratio)")
    g.add_argument("--e2e-size", default="base", choices=("tiny", "base"),
                   help="demo model of the node and the raw backbone (default: base = Curia-B shapes)")
    g.add_argument("--e2e-rounds", type=int, default=3,
                   help="rounds of the node, each between two raw backbone runs; median and spread (default: 3)")
    # Three studies: ~36 s of backbone work a round with Curia-B shapes on 2 cores, so that the
    # round outlasts the machine's short bursts; e2e_ratio's window starts at the first job queued.
    g.add_argument("--e2e-studies", type=int, default=3, help="phantom studies sent at once per round (default: 3)")
    g.add_argument("--e2e-slices", type=int, default=10, help="slices per study (default: 10)")
    g.add_argument("--e2e-batch", type=int, default=4, help="MaxBatch of the node = batch of the raw backbone (default: 4)")
    g.add_argument("--e2e-image", type=int, default=512, help="phantom slice size, = the model's input (default: 512)")
    g.add_argument("--raw-iterations", type=int, help="timed passes of each raw backbone run (default: 2 for base, 5 for tiny)")
    g = p.add_argument_group("store on PostgreSQL (pg_e2e_ratio, claims/s)")
    g.add_argument("--pg-rounds", type=int, default=2,
                   help="rounds of (SQLite, PostgreSQL) sends, order alternated (default: 2)")
    g.add_argument("--pg-studies", type=int, default=2, help="studies per send (default: 2)")
    g.add_argument("--queue-claimers", type=int, default=8, help="claimers of `curia bench queue` (default: 8)")
    g.add_argument("--queue-jobs", type=int, default=2000, help="jobs of `curia bench queue` (default: 2000)")
    g = p.add_argument_group("ingest (ingest_ratio)")
    # Nine short pairs rather than five long ones (the same time): a burst of noise on a shared
    # machine then spoils fewer of the pairs the median is taken over.
    g.add_argument("--ingest-instances", type=int, default=300, help="instances in the study (default: 300)")
    g.add_argument("--ingest-reps", type=int, default=9, help="with/without pairs, alternated (default: 9)")
    g = p.add_argument_group("latency (latency_overhead_s)")
    g.add_argument("--latency-studies", type=int, default=3, help="studies, one at a time (default: 3)")
    g.add_argument("--latency-slices", type=int, default=20, help="slices per study (default: 20)")
    g = p.add_argument_group("memory (rss_ratio)")
    g.add_argument("--rss-slices", default="100,1000", help="the small and the large study (default: 100,1000)")
    g = p.add_argument_group("plot")
    g.add_argument("--sweep", help="JSON with {\"model\", \"image_size\", \"rows\": [{\"batch\", \"slices_per_second\"}]}")
    g.add_argument("--plot", help="PNG to write from --sweep")
    a = p.parse_args(argv)
    a.parts = [x for x in a.parts.split(",") if x]
    for x in a.parts:
        if x not in PARTS:
            p.error(f"--parts: unknown part '{x}' (expected some of {','.join(PARTS)})")
    try:
        small, large = (int(v) for v in a.rss_slices.split(","))
    except ValueError:
        p.error("--rss-slices: expected two slice counts A,B")
    a.rss_small, a.rss_large = small, large
    if a.e2e_rounds < 1 or a.e2e_studies < 1 or a.pg_studies < 1:
        p.error("--e2e-rounds, --e2e-studies and --pg-studies: at least 1")
    if a.ingest_reps < 1 or a.ingest_instances < 1 or a.pg_rounds < 1:
        p.error("--ingest-reps, --ingest-instances and --pg-rounds: at least 1")
    if a.raw_iterations is None:
        a.raw_iterations = 2 if a.e2e_size == "base" else 5
    if "plot" in a.parts and not (a.sweep and a.plot):
        a.parts.remove("plot")
    return a


# --- helpers --------------------------------------------------------------------------------------
def median(values):
    return statistics.median(values) if values else None


def study_uid(files):
    return str(h.read_tags(files[0]).StudyInstanceUID)


def make_phantoms(root, specs):
    """{name: files} for specs [(name, slices, seed, size)], two `curia phantom` at a time."""
    def one(spec):
        name, slices, seed, size = spec
        return name, h.phantom(os.path.join(root, name), slices, seed=seed, extra=["--size", str(size)])
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, specs))


def timed_storescu(port, files):
    start = time.monotonic()
    h.storescu(port, files, timeout=1800)
    return time.monotonic() - start


def wait_delivered(node, uids, timeout):
    """Waits until every study in `uids` has one job in state done with all its exports delivered;
    returns {uid: the job's full view}. Raises at once on a failed job, or after `timeout` s."""
    uids = set(uids)
    deadline = time.monotonic() + timeout
    while True:
        jobs = {}
        for j in node.jobs(limit=1000)["Jobs"]:
            if j.get("StudyInstanceUID") in uids:
                if j["State"] in ("failed", "dead", "cancelled"):
                    raise RuntimeError(f"job {j['ID']} of {j['StudyInstanceUID']} is {j['State']}:\n"
                                       f"{node.diagnostics(j['StudyInstanceUID'])}")
                jobs.setdefault(j["StudyInstanceUID"], []).append(j)
        if len(jobs) == len(uids) and all(len(js) == 1 and js[0]["State"] == "done" for js in jobs.values()):
            views = {uid: node.job(js[0]["ID"]) for uid, js in jobs.items()}
            if all(e["State"] == "delivered" for v in views.values() for e in v["Exports"]):
                return views
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for the jobs of {len(uids)} studies; "
                               f"have {json.dumps({u: [j['State'] for j in js] for u, js in jobs.items()})}\n"
                               f"{node.diagnostics()}")
        time.sleep(0.2)


def sr_delivered_at(view):
    """When the node's C-STORE of the job's SR was accepted (epoch seconds, the node's clock)."""
    sr = [o["ID"] for o in view["Outputs"] if o["Kind"] == "SR"]
    times = [e["DeliveredAt"] for e in view["Exports"] if e["Output"] in sr and e["State"] == "delivered"]
    if not times:
        raise RuntimeError(f"job {view['ID']} has no delivered SR: {json.dumps(view)[:3000]}")
    return max(times)


def check_at_pacs(pacs, views):
    """Every job's SR is really at the PACS."""
    for v in views:
        for o in v["Outputs"]:
            if o["Kind"] != "SR":
                continue
            found = pacs.post("/tools/lookup", o["SOPInstanceUID"].encode(), content_type="text/plain")
            if not any(r.get("Type") == "Instance" for r in found or []):
                raise RuntimeError(f"the SR {o['SOPInstanceUID']} of job {v['ID']} is not at the PACS")


def two_d_rules(config):
    """The node's rules restricted to its 2-D tasks (one backbone pass per slice)."""
    tasks = config["Curia"]["Tasks"]
    two_d = [name for name, t in tasks.items() if "3d" not in t.get("Head", "")]
    rules = []
    for r in config["Curia"]["Rules"]:
        r = copy.deepcopy(r)
        r["Tasks"] = [t for t in r["Tasks"] if t in two_d]
        rules.append(r)
    return rules


def peak_rss_kib(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    if "VmHWM" not in fields:
        raise RuntimeError(f"/proc/{pid}/status has no VmHWM")
    return int(fields["VmHWM"].split()[0]), int(fields["VmRSS"].split()[0])


def bench_model(model_dir, batch, image, iterations):
    """Raw backbone slices/s of `curia bench model` on this model folder (median of `iterations` timed
    passes after a warm-up pass)."""
    out = os.path.join(os.path.dirname(model_dir), f"raw-{time.monotonic_ns()}.json")
    h.run_tool(["bench", "model", "--model", model_dir, "--batch", str(batch), "--image-size", str(image),
                "--iterations", str(iterations), "--json", out], timeout=1800)
    with open(out) as f:
        return json.load(f)["slices_per_second"]


# --- parts ----------------------------------------------------------------------------------------
def part_ingest(ws, pacs, files, reps):
    """C-STORE of one study into a node (plugin) and into the same configuration without the plugin,
    alternated. StableAge is one hour in both, so no job runs during or between the timed sends (their
    cost is e2e_ratio's); the study is deleted after every send."""
    node = h.make_node(ws.sub("ingest"), pacs, overrides={"StableAge": 3600})
    config = copy.deepcopy(node.config)
    config["Plugins"] = []
    config["Name"] = "plain"
    plain_dir = ws.sub("ingest-plain")
    config["StorageDirectory"] = config["IndexDirectory"] = os.path.join(plain_dir, "db")
    config["HttpPort"], config["DicomPort"] = h.free_ports(2)
    plain = h.Orthanc("plain", config, plain_dir, auth=(h.USER, h.PASSWORD))
    uid = study_uid(files)
    result = {"instances": len(files)}
    try:
        node.start(timeout=180)
        plain.start()

        def send(o):
            t = timed_storescu(o.dicom_port, files)
            study = o.lookup_study(uid)
            stored = len(o.get(f"/studies/{study}/instances"))
            if stored != len(files):
                raise RuntimeError(f"{o.name} holds {stored} of {len(files)} instances")
            o.delete(f"/studies/{study}")
            return t

        send(node)  # warm-up: page cache, database, plugin
        send(plain)
        with_plugin, without, ratios = [], [], []
        for r in range(reps):
            order = (node, plain) if r % 2 == 0 else (plain, node)
            times = {o.name: send(o) for o in order}
            with_plugin.append(times["node"])
            without.append(times["plain"])
            ratios.append(times["node"] / times["plain"])
            log(f"ingest rep {r + 1}/{reps}: with plugin {times['node']:.2f} s, without {times['plain']:.2f} s, "
                f"ratio {ratios[-1]:.3f}")
        low, high = spread(ratios)
        log(f"ingest: ratio median {median(ratios):.3f}, spread {low:.3f}-{high:.3f} over {reps} pairs")
        result.update(reps=reps, with_plugin_s=with_plugin, without_plugin_s=without, ratios=ratios,
                      with_plugin_median_s=median(with_plugin), without_plugin_median_s=median(without),
                      ratio_min=low, ratio_max=high, ingest_ratio=median(ratios))
    finally:
        node.stop()
        plain.stop()
    return result


def part_latency(ws, pacs, studies):
    """One study at a time into an idle node (the configuration of `curia init`: demo model, 2-D and
    3-D tasks, SR and key images): StableStudy (the earlier of: seen in the node's /changes, polled
    every 20 ms; the node's audit event "received") -> the SR accepted by the PACS (the export's
    DeliveredAt), minus the job's DeviceSeconds. The first study warms up."""
    node = h.make_node(ws.sub("latency"), pacs)
    rows = []
    try:
        node.start(timeout=180)
        for i, files in enumerate(studies):
            uid = study_uid(files)
            since = node.get("/changes?last")["Last"]
            h.storescu(node.dicom_port, files)
            study = None
            t_stable = None
            deadline = time.monotonic() + 120
            while t_stable is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no StableStudy for {uid}:\n{node.diagnostics(uid)}")
                if study is None:
                    study = node.lookup_study(uid)
                page = node.get(f"/changes?since={since}&limit=1000")
                now = time.time()
                for c in page["Changes"]:
                    if c["ChangeType"] == "StableStudy" and c["ID"] == study:
                        t_stable = now
                since = page["Last"]
                if t_stable is None:
                    time.sleep(0.02)
            view = wait_delivered(node, [uid], 300)[uid]
            check_at_pacs(pacs, [view])
            t_sr = sr_delivered_at(view)
            timings = view["Timings"]
            # The node's own record of the stable event ("received", written when the plugin handles
            # StableStudy) when it is earlier than the poll that saw it: both are upper bounds.
            received = [a["At"] for a in view["Audit"] if a["Event"] == "received"]
            polled = t_stable
            if received:
                t_stable = min(t_stable, received[0])
            row = {"slices": len(files), "stable_to_sr_s": t_sr - t_stable, "polled_stable_to_sr_s": t_sr - polled,
                   "device_s": timings["DeviceSeconds"], "preprocess_s": timings["PreprocessSeconds"],
                   "job_total_s": timings["TotalSeconds"],
                   "overhead_s": t_sr - t_stable - timings["DeviceSeconds"],
                   "audit_received_to_sr_s": (t_sr - received[0]) if received else None}
            if i == 0:
                log(f"latency warm-up: {row['stable_to_sr_s']:.3f} s")
                continue
            rows.append(row)
            log(f"latency study {i}: stable -> SR {row['stable_to_sr_s']:.3f} s, device {row['device_s']:.3f} s, "
                f"overhead {row['overhead_s']:.3f} s")
    finally:
        node.stop()
    return {"model": "DEMO tiny (curia init)", "studies": rows,
            "stable_to_sr_median_s": median([r["stable_to_sr_s"] for r in rows]),
            "device_median_s": median([r["device_s"] for r in rows]),
            "latency_overhead_s": median([r["overhead_s"] for r in rows])}


def part_rss(ws, pacs, small_files, large_files):
    """Peak RSS of a fresh node (the configuration of `curia init`) after one study is processed and
    exported: the small study in one process, the large one in another."""
    result = {"model": "DEMO tiny (curia init)"}
    for label, files in (("small", small_files), ("large", large_files)):
        node = h.make_node(ws.sub(f"rss-{len(files)}"), pacs)
        try:
            node.start(timeout=180)
            start_hwm, _ = peak_rss_kib(node.process.pid)
            t = time.monotonic()
            h.storescu(node.dicom_port, files, timeout=1800)
            view = wait_delivered(node, [study_uid(files)], 1800)[study_uid(files)]
            hwm, rss = peak_rss_kib(node.process.pid)
            log(f"rss {len(files)} slices: VmHWM {hwm / 1024:.1f} MiB (at start {start_hwm / 1024:.1f}), "
                f"{time.monotonic() - t:.1f} s")
            result[label] = {"slices": len(files), "peak_rss_kib": hwm, "rss_kib": rss,
                             "peak_rss_at_start_kib": start_hwm, "job_total_s": view["Timings"]["TotalSeconds"]}
        finally:
            node.stop()
    result["rss_ratio"] = result["large"]["peak_rss_kib"] / result["small"]["peak_rss_kib"]
    return result


def e2e_node(ws, pacs, model_dir, a, label, database=None):
    """A node whose rule runs the 2-D task only (one backbone pass per slice) on `model_dir`, with
    the SQLite store in its folder, or the store `database` (a postgresql:// URL); not started."""
    curia = {"Model": {"Path": model_dir, "MaxBatch": a.e2e_batch}}
    if database:
        curia["Database"] = database
    node = h.make_node(ws.sub(label), pacs, curia_overrides=curia)
    node.config["Curia"]["Rules"] = two_d_rules(node.config)
    return node


def e2e_run(node, pacs, studies):
    """Sends `studies` at once; slices/s from the first C-STORE to the last SR accepted by the PACS
    (slices_per_second), and from the first of their jobs queued (the earliest study Orthanc called
    stable) to that SR (queued_slices_per_second); fill_seconds = first C-STORE -> first job queued.
    {slices, seconds, queued_seconds, fill_seconds, cstore_seconds, device_seconds_sum,
    slices_per_second, queued_slices_per_second}."""
    slices = sum(len(s) for s in studies)
    uids = [study_uid(s) for s in studies]
    start = time.time()
    h.storescu(node.dicom_port, [f for s in studies for f in s], timeout=1800)
    sent = time.time() - start
    views = wait_delivered(node, uids, 3600)
    end = max(sr_delivered_at(v) for v in views.values())
    queued = min(v["CreatedAt"] for v in views.values())
    check_at_pacs(pacs, views.values())
    seconds = end - start
    return {"slices": slices, "seconds": seconds, "queued_seconds": end - queued, "fill_seconds": queued - start,
            "cstore_seconds": sent,
            "device_seconds_sum": sum(v["Timings"]["DeviceSeconds"] for v in views.values()),
            "slices_per_second": slices / seconds, "queued_slices_per_second": slices / (end - queued)}


def e2e_model_name(a):
    return f"DEMO {a.e2e_size}" + (" (Curia-B shapes)" if a.e2e_size == "base" else "")


def spread(values):
    """(min, max) of per-round figures, for the median's spread."""
    return (min(values), max(values)) if values else (float("nan"), float("nan"))


def part_e2e(ws, pacs, rounds, warmup, a):
    """Rounds of studies through the node, each between two runs of the raw backbone (raw, node, raw,
    node, ..., raw: one raw run more than node runs), so that the machine's speed drifting during a
    round (a shared machine's does, by several per cent a minute) hits both sides alike: per round,
    fresh studies sent at once to a node whose rule runs the 2-D task only (one backbone pass per
    slice), and `curia bench model` on the same model folder before and after.

    design.md section 5 defines the figure with many studies queued: the node's throughput once it
    has work. A round's three studies leave a fill time before the first job is queued (the C-STOREs
    and Orthanc's StableAge, 1 s here, 60 by Orthanc's default) that a long queue pays once and a
    short round pays every time, so the round's ratio is queued_slices_per_second (first job queued
    -> last SR accepted by the PACS) over the mean of the two raw figures beside it; e2e_ratio = the
    median of the rounds' ratios, with their spread. The same ratio from the first C-STORE
    (e2e_ratio_from_first_cstore) and the fill times are reported beside it."""
    model_dir = ws.sub("e2e-model")
    h.run_tool(["demo-model", "--out", model_dir, "--size", a.e2e_size])
    node = e2e_node(ws, pacs, model_dir, a, "e2e")
    runs, raws, brackets, ratios, from_cstore = [], [], [], [], []
    try:
        node.start(timeout=300)
        h.storescu(node.dicom_port, warmup)
        wait_delivered(node, [study_uid(warmup)], 1800)
        raws.append(bench_model(model_dir, a.e2e_batch, a.e2e_image, a.raw_iterations))
        for r, studies in enumerate(rounds):
            run = e2e_run(node, pacs, studies)
            raws.append(bench_model(model_dir, a.e2e_batch, a.e2e_image, a.raw_iterations))
            brackets.append((raws[-2] + raws[-1]) / 2)
            runs.append(run)
            ratios.append(run["queued_slices_per_second"] / brackets[-1])
            from_cstore.append(run["slices_per_second"] / brackets[-1])
            log(f"e2e round {r + 1}/{len(rounds)}: {run['slices']} slices in {run['queued_seconds']:.2f} s from the "
                f"first job queued = {run['queued_slices_per_second']:.3f} slices/s (fill {run['fill_seconds']:.2f} s, "
                f"C-STOREs {run['cstore_seconds']:.2f} s; from the first C-STORE {run['slices_per_second']:.3f}); "
                f"raw before {raws[-2]:.3f}, after {raws[-1]:.3f} slices/s; ratio {ratios[-1]:.3f} "
                f"(from the first C-STORE {from_cstore[-1]:.3f})")
    finally:
        node.stop()
    low, high = spread(ratios)
    log(f"e2e: ratio median {median(ratios):.3f}, spread {low:.3f}-{high:.3f} over {len(ratios)} rounds; "
        f"from the first C-STORE {median(from_cstore):.3f}")
    return {"model": e2e_model_name(a),
            "image_size": a.e2e_image, "batch": a.e2e_batch, "rounds": len(rounds), "studies": len(rounds[0]),
            "slices_per_study": a.e2e_slices, "tasks": "2-D task only (SR + key images)",
            "runs": runs, "raw_slices_per_second_runs": raws,
            "raw_slices_per_second_by_round": brackets, "ratios": ratios,
            "plugin_slices_per_second": median([x["queued_slices_per_second"] for x in runs]),
            "raw_iterations": a.raw_iterations, "raw_slices_per_second": median(raws),
            "fill_seconds": median([x["fill_seconds"] for x in runs]),
            "ratios_from_first_cstore": from_cstore, "e2e_ratio_from_first_cstore": median(from_cstore),
            "ratio_min": low, "ratio_max": high, "e2e_ratio": median(ratios)}


def postgresql_binaries_missing():
    """Why the pg part cannot run here (PostgreSQL 15's server binaries absent), or None."""
    for tool in ("initdb", "pg_ctl", "psql"):
        path = os.path.join(h.PG_BIN, tool)
        if not os.path.exists(path):
            return f"{path} is missing (apt-get install postgresql-15)"
    return None


def bench_queue(database, a, out):
    """`curia bench queue` on `database` (None: a temporary SQLite file); its JSON."""
    args = ["bench", "queue", "--claimers", str(a.queue_claimers), "--jobs", str(a.queue_jobs), "--json", out]
    if database:
        args += ["--database", database]
    h.run_tool(args, timeout=1800)
    with open(out) as f:
        return json.load(f)


def runs_studies(rounds, label):
    """The studies that `part_pg` sends to the `label` node: round r's first set goes to SQLite when r
    is even, to PostgreSQL when odd."""
    return [st for r, (first, second) in enumerate(rounds)
            for st in ((first, second) if r % 2 == 0 else (second, first))[0 if label == "sqlite" else 1]]


def part_pg(ws, pacs, rounds, warmups, a):
    """The node's store on PostgreSQL against SQLite, same machine, same run: two nodes of the e2e
    configuration (same model folder), one with the SQLite store in its folder, one with its store in
    a PostgreSQL 15 of the script's own (Orthanc's own index stays SQLite in both: only Curia's store
    differs), both running throughout; rounds of studies sent to one then the other, the order
    alternating (A B, B A, ...), fresh studies each time. pg_e2e_ratio = median over rounds of
    PostgreSQL slices/s / SQLite slices/s. Then `curia bench queue` (claims/s, 8 claimers) on both."""
    pg = h.PgServer().start()
    nodes = []
    try:
        pg.create_database("curia")
        pg.create_database("queue")
        passfile = pg.passfile(os.path.join(ws.path, "curia.pgpass"))
        model_dir = ws.sub("pg-model")
        h.run_tool(["demo-model", "--out", model_dir, "--size", a.e2e_size])
        lite = e2e_node(ws, pacs, model_dir, a, "pg-sqlite")
        post = e2e_node(ws, pacs, model_dir, a, "pg-postgresql", database=pg.url("curia", passfile))
        nodes = [lite, post]
        for node, warmup in zip(nodes, warmups):
            node.start(timeout=300)
            h.storescu(node.dicom_port, warmup)
            wait_delivered(node, [study_uid(warmup)], 1800)
        runs = {"sqlite": [], "postgresql": []}
        ratios = []
        for r, (first_studies, second_studies) in enumerate(rounds):
            order = (("sqlite", lite), ("postgresql", post)) if r % 2 == 0 else (("postgresql", post), ("sqlite", lite))
            this = {}
            for (label, node), studies in zip(order, (first_studies, second_studies)):
                this[label] = e2e_run(node, pacs, studies)
                runs[label].append(this[label])
            ratios.append(this["postgresql"]["slices_per_second"] / this["sqlite"]["slices_per_second"])
            log(f"pg round {r + 1}/{len(rounds)} ({order[0][0]} first): SQLite "
                f"{this['sqlite']['slices_per_second']:.3f} slices/s, PostgreSQL "
                f"{this['postgresql']['slices_per_second']:.3f} slices/s, ratio {ratios[-1]:.3f}")
        # The PostgreSQL node's jobs are in PostgreSQL (and nowhere else): the warm-up and every round's.
        pg_jobs = int(pg.psql("SELECT count(*) FROM curia.jobs WHERE state = 'done'", db="curia"))
        expected = 1 + len(runs_studies(rounds, "postgresql"))
        if pg_jobs != expected:
            raise RuntimeError(f"the PostgreSQL store holds {pg_jobs} done jobs, expected {expected}")
        for node in nodes:
            node.stop()
        nodes = []
        queue = {}
        for label, database in (("sqlite", None), ("postgresql", pg.url("queue", passfile))):
            queue[label] = bench_queue(database, a, os.path.join(ws.path, f"queue-{label}.json"))
            if not queue[label]["exactly_once"]:
                raise RuntimeError(f"curia bench queue on {label}: not exactly once: {json.dumps(queue[label])}")
            log(f"queue {label}: {queue[label]['claims_per_second']:.1f} claims/s, {a.queue_claimers} claimers, "
                f"{queue[label]['jobs']} jobs, claim p50 {queue[label]['claim_ms_p50']:.2f} ms "
                f"p99 {queue[label]['claim_ms_p99']:.2f} ms")
    finally:
        for node in nodes:
            node.stop()
        pg.stop()
    return {"model": e2e_model_name(a), "image_size": a.e2e_image, "batch": a.e2e_batch,
            "studies": len(rounds[0][0]), "slices_per_study": a.e2e_slices, "rounds": len(rounds),
            "postgresql": "PostgreSQL 15 of the script's own on loopback (fsync=off), Curia's store only",
            "sqlite_slices_per_second": [x["slices_per_second"] for x in runs["sqlite"]],
            "postgresql_slices_per_second": [x["slices_per_second"] for x in runs["postgresql"]],
            "sqlite_runs": runs["sqlite"], "postgresql_runs": runs["postgresql"], "ratios": ratios,
            "postgresql_done_jobs": pg_jobs, "pg_e2e_ratio": median(ratios),
            "queue": queue, "queue_claimers": a.queue_claimers, "queue_jobs": a.queue_jobs,
            "sqlite_claims_per_second": queue["sqlite"]["claims_per_second"],
            "pg_claims_per_second": queue["postgresql"]["claims_per_second"]}


# --- PNG ------------------------------------------------------------------------------------------
# A 5x7 bitmap font for the labels (rows top to bottom, 5 bits each, MSB left).
FONT = {
    "0": (14, 17, 19, 21, 25, 17, 14), "1": (4, 12, 4, 4, 4, 4, 14), "2": (14, 17, 1, 2, 4, 8, 31),
    "3": (31, 2, 4, 2, 1, 17, 14), "4": (2, 6, 10, 18, 31, 2, 2), "5": (31, 16, 30, 1, 1, 17, 14),
    "6": (6, 8, 16, 30, 17, 17, 14), "7": (31, 1, 2, 4, 8, 8, 8), "8": (14, 17, 17, 14, 17, 17, 14),
    "9": (14, 17, 17, 15, 1, 2, 12), ".": (0, 0, 0, 0, 0, 12, 12), "/": (1, 1, 2, 4, 8, 16, 16),
    "-": (0, 0, 0, 31, 0, 0, 0), " ": (0,) * 7, "(": (2, 4, 8, 8, 8, 4, 2), ")": (8, 4, 2, 2, 2, 4, 8),
    ",": (0, 0, 0, 0, 12, 4, 8), "x": (0, 0, 17, 10, 4, 10, 17),
    "a": (0, 0, 14, 1, 15, 17, 15), "b": (16, 16, 22, 25, 17, 17, 30), "c": (0, 0, 14, 16, 16, 17, 14),
    "d": (1, 1, 13, 19, 17, 17, 15), "e": (0, 0, 14, 17, 31, 16, 14), "h": (16, 16, 22, 25, 17, 17, 17),
    "i": (4, 0, 12, 4, 4, 4, 14), "l": (12, 4, 4, 4, 4, 4, 14), "m": (0, 0, 26, 21, 21, 17, 17),
    "n": (0, 0, 22, 25, 17, 17, 17), "o": (0, 0, 14, 17, 17, 17, 14), "p": (0, 0, 30, 17, 30, 16, 16),
    "r": (0, 0, 22, 25, 16, 16, 16), "s": (0, 0, 14, 16, 14, 1, 30), "t": (8, 8, 28, 8, 8, 9, 6),
    "u": (0, 0, 17, 17, 17, 19, 13), "y": (0, 0, 17, 17, 15, 1, 14), "z": (0, 0, 31, 2, 4, 8, 31),
    "k": (16, 16, 18, 20, 24, 20, 18), "g": (0, 15, 17, 17, 15, 1, 14), "f": (6, 9, 8, 28, 8, 8, 8),
    "B": (30, 17, 17, 30, 17, 17, 30), "C": (14, 17, 16, 16, 16, 17, 14), "D": (28, 18, 17, 17, 17, 18, 28),
    "E": (31, 16, 16, 30, 16, 16, 31), "M": (17, 27, 21, 21, 17, 17, 17), "O": (14, 17, 17, 17, 17, 17, 14),
    "P": (30, 17, 17, 30, 16, 16, 16), "U": (17, 17, 17, 17, 17, 17, 14),
}


class Canvas:
    def __init__(self, width, height):
        self.w, self.h = width, height
        self.px = bytearray(b"\xff" * (width * height * 3))

    def dot(self, x, y, color):
        x, y = int(round(x)), int(round(y))
        if 0 <= x < self.w and 0 <= y < self.h:
            i = (y * self.w + x) * 3
            self.px[i:i + 3] = bytes(color)

    def rect(self, x0, y0, x1, y1, color):
        for y in range(int(y0), int(y1) + 1):
            for x in range(int(x0), int(x1) + 1):
                self.dot(x, y, color)

    def line(self, x0, y0, x1, y1, color, width=1):
        steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for s in range(steps + 1):
            t = s / steps
            x, y = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
            self.rect(x - width // 2, y - width // 2, x + (width - 1) // 2, y + (width - 1) // 2, color)

    def text(self, x, y, s, color=(0, 0, 0), scale=2, anchor="left"):
        width = len(s) * 6 * scale - scale
        if anchor == "center":
            x -= width / 2
        elif anchor == "right":
            x -= width
        for k, ch in enumerate(s):
            rows = FONT.get(ch, FONT[" "])
            for r, bits in enumerate(rows):
                for c in range(5):
                    if bits & (16 >> c):
                        self.rect(x + (k * 6 + c) * scale, y + r * scale, x + (k * 6 + c) * scale + scale - 1,
                                  y + r * scale + scale - 1, color)

    def png(self, path):
        raw = b"".join(b"\x00" + bytes(self.px[y * self.w * 3:(y + 1) * self.w * 3]) for y in range(self.h))

        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0))
                    + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def nice_step(span, ticks=5):
    raw = span / ticks
    mag = 10 ** int(f"{raw:e}".split("e")[1])
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def fmt_tick(v, step):
    digits = 0 if step >= 1 else (1 if step >= 0.1 else 2)
    return f"{v:.{digits}f}"


def plot_sweep(sweep, path):
    """slices/s against batch size (log2 x axis), one point per batch, joined by a line."""
    rows = [r for r in sweep["rows"] if r.get("slices_per_second")]
    if not rows:
        raise RuntimeError("the sweep has no row to plot")
    xs = [r["batch"] for r in rows]
    ys = [r["slices_per_second"] for r in rows]
    import math
    c = Canvas(720, 480)
    left, right, top, bottom = 100, 690, 80, 400
    lx = [math.log2(x) for x in xs]
    x_lo, x_hi = min(lx) - 0.3, max(lx) + 0.3
    step = nice_step(max(ys) * 1.15)
    y_hi = step * math.ceil(max(ys) * 1.15 / step)

    def X(v):
        return left + (math.log2(v) - x_lo) / (x_hi - x_lo) * (right - left)

    def Y(v):
        return bottom - v / y_hi * (bottom - top)

    grey, black, blue = (225, 225, 225), (0, 0, 0), (31, 92, 170)
    k = 0
    while k * step <= y_hi + 1e-9:
        y = Y(k * step)
        c.line(left, y, right, y, grey)
        c.line(left - 6, y, left, y, black)
        c.text(left - 10, y - 7, fmt_tick(k * step, step), anchor="right")
        k += 1
    for x in xs:
        c.line(X(x), bottom, X(x), bottom + 6, black)
        c.text(X(x), bottom + 12, str(x), anchor="center")
    c.line(left, top, left, bottom, black, 2)
    c.line(left, bottom, right, bottom, black, 2)
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), list(zip(xs, ys))[1:]):
        c.line(X(x0), Y(y0), X(x1), Y(y1), blue, 2)
    for x, y in zip(xs, ys):
        c.rect(X(x) - 4, Y(y) - 4, X(x) + 4, Y(y) + 4, blue)
    c.text((left + right) / 2, bottom + 44, "batch size", anchor="center")
    c.text(left - 60, 50, "slices/s", anchor="left")
    title = sweep.get("title", "")
    c.text(20, 12, "backbone throughput " + "".join(ch if ch in FONT else " " for ch in title), anchor="left")
    c.png(path)


# --- main -----------------------------------------------------------------------------------------
def main(argv):
    global h
    a = parse_args(argv)
    if a.curia:
        os.environ["CURIA_TOOL"] = os.path.abspath(a.curia)
    if a.plugin:
        os.environ["CURIA_PLUGIN"] = os.path.abspath(a.plugin)
    os.environ["TCP_NODELAY"] = "1"
    sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))
    import harness
    h = harness
    result = {"benchmark": "plugin", "parts": a.parts, "curia": h.CURIA_TOOL, "plugin": h.CURIA_PLUGIN}
    if "plot" in a.parts:
        with open(a.sweep) as f:
            plot_sweep(json.load(f), a.plot)
        result["plot"] = a.plot
        log(f"wrote {a.plot}")
    parts = [p for p in a.parts if p != "plot"]
    if not parts:
        return write(a, result)
    for path, what in ((h.CURIA_TOOL, "the curia tool"), (h.CURIA_PLUGIN, "the plugin")):
        if not os.path.exists(path):
            raise SystemExit(f"{what} {path} does not exist (build it, or pass --curia / --plugin)")
    if a.keep:
        os.environ["CURIA_KEEP_TMP"] = "1"
    ws = h.Workspace("bench")
    pacs = h.make_pacs(ws.path)
    started = time.monotonic()
    try:
        specs = []
        if "e2e" in parts:
            specs += [(f"e2e-{r}-{i}", a.e2e_slices, 1000 + 10 * r + i, a.e2e_image)
                      for r in range(a.e2e_rounds) for i in range(a.e2e_studies)]
            specs.append(("e2e-warmup", 2, 999, a.e2e_image))
        if "pg" in parts:
            pg_missing = postgresql_binaries_missing()
            if pg_missing:
                # The SQLite half of the queue benchmark needs no server.
                log(f"pg: skipped: {pg_missing}; curia bench queue on SQLite only")
                queue = bench_queue(None, a, os.path.join(ws.path, "queue-sqlite.json"))
                result["pg"] = {"skipped": pg_missing, "queue": {"sqlite": queue}, "queue_claimers": a.queue_claimers,
                                "queue_jobs": a.queue_jobs, "sqlite_claims_per_second": queue["claims_per_second"]}
                parts.remove("pg")
            else:
                specs += [(f"pg-{r}-{k}-{i}", a.e2e_slices, 5000 + 100 * r + 10 * k + i, a.e2e_image)
                          for r in range(a.pg_rounds) for k in range(2) for i in range(a.pg_studies)]
                specs += [(f"pg-warmup-{k}", 2, 5990 + k, a.e2e_image) for k in range(2)]
        if "latency" in parts:
            specs += [(f"latency-{i}", a.latency_slices, 2000 + i, 512) for i in range(a.latency_studies + 1)]
        if "rss" in parts:
            specs += [("rss-small", a.rss_small, 3000, 512), ("rss-large", a.rss_large, 3001, 512)]
        if "ingest" in parts and not ("rss" in parts and a.rss_large >= a.ingest_instances):
            specs.append(("ingest", a.ingest_instances, 4000, 512))
        log(f"writing {sum(s[1] for s in specs)} phantom slices in {len(specs)} studies")
        studies = make_phantoms(ws.sub("phantoms"), specs)
        pacs.start()
        if "ingest" in parts:
            files = studies.get("ingest") or studies["rss-large"][:a.ingest_instances]
            log(f"ingest: {len(files)} instances, {a.ingest_reps} alternated pairs")
            result["ingest"] = part_ingest(ws, pacs, files, a.ingest_reps)
        if "latency" in parts:
            log(f"latency: {a.latency_studies} studies of {a.latency_slices} slices (+1 warm-up)")
            result["latency"] = part_latency(ws, pacs, [studies[f"latency-{i}"] for i in range(a.latency_studies + 1)])
        if "rss" in parts:
            log(f"rss: {a.rss_small} and {a.rss_large} slices")
            result["rss"] = part_rss(ws, pacs, studies["rss-small"], studies["rss-large"])
        if "e2e" in parts:
            log(f"e2e: {a.e2e_rounds} rounds of {a.e2e_studies} studies x {a.e2e_slices} slices, DEMO {a.e2e_size}, "
                f"batch {a.e2e_batch}")
            rounds = [[studies[f"e2e-{r}-{i}"] for i in range(a.e2e_studies)] for r in range(a.e2e_rounds)]
            result["e2e"] = part_e2e(ws, pacs, rounds, studies["e2e-warmup"], a)
        if "pg" in parts:
            log(f"pg: {a.pg_rounds} rounds of {a.pg_studies} studies x {a.e2e_slices} slices per store, DEMO "
                f"{a.e2e_size}, batch {a.e2e_batch}; then curia bench queue, {a.queue_claimers} claimers")
            rounds = [tuple([studies[f"pg-{r}-{k}-{i}"] for i in range(a.pg_studies)] for k in range(2))
                      for r in range(a.pg_rounds)]
            result["pg"] = part_pg(ws, pacs, rounds, [studies["pg-warmup-0"], studies["pg-warmup-1"]], a)
    finally:
        pacs.stop()
        ws.cleanup()
    result["seconds"] = time.monotonic() - started
    for part, key in (("e2e", "e2e_ratio"), ("ingest", "ingest_ratio"), ("latency", "latency_overhead_s"),
                      ("rss", "rss_ratio"), ("pg", "pg_e2e_ratio"), ("pg", "pg_claims_per_second"),
                      ("pg", "sqlite_claims_per_second")):
        if part in result and key in result[part]:
            result[key] = result[part][key]
    return write(a, result)


def write(a, result):
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    for key in ("e2e_ratio", "ingest_ratio", "latency_overhead_s", "rss_ratio", "pg_e2e_ratio", "pg_claims_per_second",
                "sqlite_claims_per_second"):
        if key in result:
            log(f"{key} = {result[key]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
