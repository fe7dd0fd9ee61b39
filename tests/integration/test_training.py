# SPDX-License-Identifier: GPL-3.0-or-later
"""A head a site trains itself, end to end (issue 18): phantom studies with and without a lesion,
`curia features` on 16 training and 40 test studies with the node's own (demo) backbone,
`curia train-head`, `curia evaluate` (AUROC >= 0.9 on the test studies), then the node configured
with that head: a new lesion study's SR carries the trained head's finding as present, a new normal
study's as absent.

The signal: random ViT weights do carry intensity structure, but not enough for the phantom's default
lesion (9 mm, 70 HU against 28 HU white matter: AUROC about 0.6 with 16 training studies). A 20 mm,
400 HU lesion (a calcified or contrast-enhancing mass) at a random place in the white matter is
(AUROC 1.0 here).

Run from this folder: /usr/bin/python3 -m unittest -v test_training
"""
import json
import os
import struct
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_plugin import JOB_TIMEOUT, PluginTestCase, study_uid_of  # noqa: E402

LESION = ["--lesion-mm", "20", "--lesion-hu", "400"]
SLICES, SIZE = "4", "64"
TRAIN, TEST = 8, 20  # studies per class


class HeadTraining(PluginTestCase):
    START_NODE = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.node = h.make_node(cls.ws.path, cls.pacs)
            cls.model = cls.node.config["Curia"]["Model"]["Path"]
            data = cls.ws.sub("studies")
            # One study more per class than labelled: those two are sent to the node afterwards.
            for name, where, seed in (("lesion", "random", 1000), ("normal", "none", 2000)):
                h.run_tool(["phantom", "--out", os.path.join(data, name), "--studies", str(TRAIN + TEST + 1),
                            "--slices", SLICES, "--size", SIZE, "--seed", str(seed), "--lesion", where] + LESION)
            cls.labels = os.path.join(data, "labels.csv")
            with open(cls.labels, "w") as f:
                f.write("case,label,split\n")
                for k in range(1, TRAIN + TEST + 1):
                    split = "train" if k <= TRAIN else "test"
                    f.write(f"lesion/study-{k:03d},1-lesion,{split}\n")
                    f.write(f"normal/study-{k:03d},0-normal,{split}\n")
            cls.sent = {name: h.dicom_files(os.path.join(data, name, f"study-{TRAIN + TEST + 1:03d}"))
                        for name in ("lesion", "normal")}
            cls.store = cls.ws.sub("store")
            _, cls.features_output = h.run_tool(["features", "--labels", cls.labels, "--out", cls.store,
                                                 "--model", cls.model])
            cls.head = os.path.join(cls.ws.path, "lesion-head")
            # Every C of the default grid separates these training studies; cross-validation then
            # takes the smallest (as GridSearchCV), whose probabilities stay near 0.5: a grid from 0.1.
            h.run_tool(["train-head", "--features", cls.store, "--out", cls.head, "--folds", "4",
                        "--grid", "0.1,1,10,100"])
            cls.report = cls.ws.sub("report")
            h.run_tool(["evaluate", "--head", cls.head, "--features", cls.store, "--out", cls.report])
        except BaseException:
            cls._shutdown()
            raise

    def metrics(self):
        with open(os.path.join(self.report, "metrics.json")) as f:
            return json.load(f)

    def test_1_features_of_every_case(self):
        with open(os.path.join(self.store, "index.json")) as f:
            index = json.load(f)
        with open(os.path.join(self.store, "extraction.json")) as f:
            extraction = json.load(f)
        self.assertEqual(len(index["cases"]), 2 * (TRAIN + TEST))
        self.assertEqual(extraction["skipped"], [])
        self.assertEqual(sum(c["split"] == "train" for c in index["cases"]), 2 * TRAIN)
        self.assertEqual(sum(c["split"] == "test" for c in index["cases"]), 2 * TEST)
        self.assertTrue(all(c["slices"] == int(SLICES) for c in extraction["cases"]), extraction["cases"][:2])
        # A rerun finds every case done and writes the same store.
        with open(os.path.join(self.store, "features.safetensors"), "rb") as f:
            before = f.read()
        _, text = h.run_tool(["features", "--labels", self.labels, "--out", self.store, "--model", self.model])
        self.assertIn(f"{2 * (TRAIN + TEST)} already done", text)
        with open(os.path.join(self.store, "features.safetensors"), "rb") as f:
            self.assertEqual(f.read(), before)

    def test_2_the_head_separates_the_test_studies(self):
        m = self.metrics()
        self.assertEqual(m["cases"], 2 * TEST)
        self.assertGreaterEqual(m["auroc"], 0.9, json.dumps(m, indent=1)[:3000])
        for page in ("report.html", "roc.png", "calibration.png"):
            self.assertTrue(os.path.exists(os.path.join(self.report, page)), page)
        with open(os.path.join(self.head, "provenance.json")) as f:
            provenance = json.load(f)
        self.assertEqual(provenance["cases"], 2 * TRAIN)

    def test_3_the_node_reports_the_trained_heads_finding(self):
        self.node.config["Curia"]["Tasks"] = {
            "phantom-lesion": {"Head": self.head, "Aggregate": "mean", "Class": "1-lesion",
                               "Finding": {"Code": "PHLESION", "Scheme": "99CURIA", "Meaning": "Phantom lesion"}}}
        self.node.config["Curia"]["Rules"] = [{"Name": "ct", "Match": {"Tag": "Modality", "Equals": "CT"},
                                              "Tasks": ["phantom-lesion"], "Outputs": ["SR"], "Destinations": ["pacs"]}]
        self.node.start(timeout=120)
        for name, files in self.sent.items():
            h.storescu(self.node.dicom_port, files)
        probability = {}
        for name, files in self.sent.items():
            uid = study_uid_of(files)
            [summary] = self.node.wait_job(uid, "done", timeout=JOB_TIMEOUT)
            job = self.node.job(summary["ID"])
            dump = json.dumps(job, indent=1)[:4000]
            [task] = job["Findings"]["Tasks"]
            self.assertEqual(task["Task"], "phantom-lesion", dump)
            self.assertEqual(os.path.realpath(task["Head"]), os.path.realpath(self.head), dump)
            self.assertEqual(task["Present"], name == "lesion", dump)
            probability[name] = task["Probability"]
            srs = [o for o in job["Outputs"] if o["Kind"] == "SR"]
            self.assertEqual(len(srs), 1, dump)
            at_pacs = h.wait_for(lambda: srs[0]["SOPInstanceUID"] in self.pacs_outputs(uid) or None, JOB_TIMEOUT,
                                 f"the SR of the {name} study at the PACS")
            self.assertTrue(at_pacs)
            path = os.path.join(self.ws.sub("fetched"), f"{name}.dcm")
            with open(path, "wb") as f:
                f.write(self.pacs.instance_file(self.pacs_outputs(uid)[srs[0]["SOPInstanceUID"]]["ID"]))
            self.assertIn("PHLESION", str(h.read_tags(path).ContentSequence), f"the {name} SR names the finding")

        self.assertGreater(probability["lesion"], probability["normal"])

    def test_4_features_from_the_nodes_orthanc_equal_those_from_the_folders(self):
        if self.node.process is None or self.node.process.poll() is not None:
            self.skipTest("needs the node of test_3")
        uids = {name: study_uid_of(files) for name, files in self.sent.items()}
        for name in uids:
            self.node.wait_job(uids[name], "done", timeout=JOB_TIMEOUT)
            self.assertIsNotNone(self.node.lookup_study(uids[name]), name)
        work = self.ws.sub("from-orthanc")
        labels = os.path.join(work, "labels.csv")
        with open(labels, "w") as f:
            f.write("case,label\n" + "".join(f"{uid},{name}\n" for name, uid in uids.items()))
            f.write("1.2.3.4.5.6.7.8.9,normal\n")  # not in Orthanc: skipped with the reason
        env_password = dict(os.environ, CURIA_ORTHANC_PASSWORD=h.PASSWORD)
        url = f"http://127.0.0.1:{self.node.http_port}"
        r = subprocess.run([h.CURIA_TOOL, "features", "--labels", labels, "--out", os.path.join(work, "orthanc"),
                            "--model", self.model, "--orthanc", url, "--orthanc-user", h.USER],
                           env=env_password, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        text = r.stdout.decode()
        self.assertEqual(r.returncode, 0, text)
        self.assertIn("case 1.2.3.4.5.6.7.8.9 (line 4): skipped: Orthanc has no study or series 1.2.3.4.5.6.7.8.9", text)
        folders = os.path.join(work, "folders.csv")
        with open(folders, "w") as f:
            f.write("case,label\n" + "".join(f"{os.path.dirname(files[0])},{name}\n" for name, files in self.sent.items()))
        h.run_tool(["features", "--labels", folders, "--out", os.path.join(work, "folders"), "--model", self.model])
        a = read_features(os.path.join(work, "orthanc"))
        b = read_features(os.path.join(work, "folders"))
        self.assertEqual(len(a), 2)
        for x, y in zip(a, b):
            self.assertLess(max(abs(u - v) for u, v in zip(x, y)), 1e-5)
        # Wrong credentials: said before any case is read.
        r = subprocess.run([h.CURIA_TOOL, "features", "--labels", labels, "--out", os.path.join(work, "denied"),
                            "--model", self.model, "--orthanc", url, "--orthanc-user", h.USER],
                           env=dict(os.environ, CURIA_ORTHANC_PASSWORD="wrong"), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=300)
        self.assertEqual(r.returncode, 1, r.stdout.decode())
        self.assertIn("answered HTTP 401 (check --orthanc-user and the password)", r.stdout.decode())


def read_features(store):
    """The rows of a feature store's float32 [N, D] tensor (safetensors: 8-byte header length, JSON)."""
    with open(os.path.join(store, "features.safetensors"), "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    meta = json.loads(data[8:8 + n])["features"]
    rows, cols = meta["shape"]
    begin = 8 + n + meta["data_offsets"][0]
    values = struct.unpack(f"<{rows * cols}f", data[begin:begin + 4 * rows * cols])
    return [values[i * cols:(i + 1) * cols] for i in range(rows)]


if __name__ == "__main__":
    unittest.main()
