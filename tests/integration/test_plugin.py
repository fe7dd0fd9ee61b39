# SPDX-License-Identifier: GPL-3.0-or-later
"""Integration tests of the Orthanc plugin: a real Orthanc with the plugin (the node, configured by
`curia init`) and a plain Orthanc as the PACS, on loopback, DICOM sent with storescu.

Run from this folder: /usr/bin/python3 -m unittest -v test_plugin            (every class)
                      /usr/bin/python3 -m unittest -v test_plugin.EndToEnd   (one class)
CURIA_KEEP_TMP=1 keeps the temporary folders (configurations, Orthanc logs, databases).
"""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import hostile_dicom  # noqa: E402

SR_CLASSES = ("1.2.840.10008.5.1.4.1.1.88.34", "1.2.840.10008.5.1.4.1.1.88.33", "1.2.840.10008.5.1.4.1.1.88.22")
JOB_TIMEOUT = 180  # seconds for a small study to be received, routed, analysed and exported (2 busy cores)


def make_study(outdir, slices, seed):
    """A CT head phantom from `curia phantom`."""
    return h.phantom(outdir, slices, seed=seed)


def study_uid_of(files):
    return str(h.read_tags(files[0]).StudyInstanceUID)


class PluginTestCase(unittest.TestCase):
    """Starts a PACS and a node per class; subclasses set CURIA / OVERRIDES / START_PACS."""
    CURIA = None
    OVERRIDES = None
    START_PACS = True
    START_NODE = True

    @classmethod
    def setUpClass(cls):
        for path, what in ((h.CURIA_TOOL, "CURIA_TOOL"), (h.CURIA_PLUGIN, "CURIA_PLUGIN")):
            if not os.path.exists(path):
                raise RuntimeError(f"{what} {path} does not exist (build it first)")
        cls.ws = h.Workspace(cls.__name__)
        cls.pacs = h.make_pacs(cls.ws.path)
        cls.node = None
        try:
            if cls.START_PACS:
                cls.pacs.start()
            if cls.START_NODE:
                cls.node = h.make_node(cls.ws.path, cls.pacs, curia_overrides=cls.CURIA, overrides=cls.OVERRIDES)
                cls.node.start(timeout=120)
        except BaseException:
            cls._shutdown()
            raise

    @classmethod
    def _shutdown(cls):
        for o in (getattr(cls, "node", None), getattr(cls, "pacs", None)):
            if o is not None:
                o.stop()
        cls.ws.cleanup()

    @classmethod
    def tearDownClass(cls):
        cls._shutdown()

    # --- helpers ------------------------------------------------------------------------------------
    def send(self, files, **kw):
        h.storescu(self.node.dicom_port, files, **kw)

    def pacs_outputs(self, study_uid):
        """{SOPInstanceUID: instance} of what the PACS holds in this study."""
        return {i["tags"]["SOPInstanceUID"]: i for i in self.pacs.study_instances(study_uid)}

    def wait_stable(self, study_uid, after_seq=0, timeout=30):
        """Waits for the node's StableStudy change of this study (after change `after_seq`)."""
        study = h.wait_for(lambda: self.node.lookup_study(study_uid), timeout, f"study {study_uid} on the node")

        def stable():
            since = after_seq
            while True:
                page = self.node.get(f"/changes?since={since}&limit=1000")
                if any(c["ChangeType"] == "StableStudy" and c["ID"] == study for c in page["Changes"]):
                    return True
                if page["Done"] or not page["Changes"]:
                    return False
                since = page["Last"]

        h.wait_for(stable, timeout, f"StableStudy of {study_uid} after change {after_seq}")
        return study

    def last_change(self):
        return self.node.get("/changes?last")["Last"]

    def check_delivered(self, job_id, study_uid, source_file):
        """The job's REST view is complete, and its SR and SC(s) are at the PACS, valid, in the study."""
        job = self.node.job(job_id)
        dump = json.dumps(job, indent=1)[:8000]
        self.assertEqual(job["State"], "done", dump)
        self.assertEqual(job["StudyInstanceUID"], study_uid, dump)
        self.assertTrue(job.get("Findings"), f"no Findings: {dump}")
        kinds = [o["Kind"] for o in job.get("Outputs", [])]
        self.assertEqual(kinds.count("SR"), 1, f"one SR expected: {dump}")
        self.assertGreaterEqual(kinds.count("SC"), 1, f"at least one SC expected: {dump}")
        self.assertTrue(job.get("Exports"), f"no Exports: {dump}")
        for e in job["Exports"]:
            self.assertEqual(e["State"], "delivered", dump)
            self.assertEqual(e["Destination"], "pacs", dump)
        at_pacs = self.pacs_outputs(study_uid)
        source = h.read_tags(source_file)
        for out in job["Outputs"]:
            uid = out["SOPInstanceUID"]
            self.assertIn(uid, at_pacs, f"{out['Kind']} {uid} not at the PACS (holds {sorted(at_pacs)})")
            path = os.path.join(self.ws.sub("fetched"), f"{uid}.dcm")
            with open(path, "wb") as f:
                f.write(self.pacs.instance_file(at_pacs[uid]["ID"]))
            self.assertEqual(h.dciodvfy_errors(path), [], f"dciodvfy on the {out['Kind']} {uid}")
            ds = h.read_tags(path)
            self.assertEqual(ds.StudyInstanceUID, source.StudyInstanceUID, f"{out['Kind']} not in the source study")
            self.assertEqual(ds.SOPInstanceUID, uid)
            self.assertEqual(ds.SOPClassUID, out["SOPClassUID"])
            self.assertNotEqual(ds.SeriesInstanceUID, source.SeriesInstanceUID)
            if out["Kind"] == "SR":
                self.assertIn(ds.SOPClassUID, SR_CLASSES)
                self.assertEqual(ds.Modality, "SR")
                self.assertEqual(str(ds.PatientID), str(source.PatientID))
            else:
                self.assertEqual(ds.SOPClassUID[:25], "1.2.840.10008.5.1.4.1.1.7")
        events = [a["Event"] for a in job.get("Audit", [])]
        received = [i for i, e in enumerate(events) if "receiv" in e.lower()]
        exported = [i for i, e in enumerate(events) if "export" in e.lower()]
        self.assertTrue(received and exported and received[0] < exported[-1],
                        f"Audit should run from received to exported: {events}")
        return job


class EndToEnd(PluginTestCase):
    """A phantom study and a real MR series → one job each, done, SR + SC at the PACS; an ultrasound
    study matches no rule; /curia/rules/test explains both."""

    def test_studies_are_processed_and_explained(self):
        phantom = make_study(self.ws.sub("phantom"), 8, seed=11)
        mr = h.dicom_files(h.MR_SERIES_DIR)
        self.assertGreater(len(mr), 5, f"the MR series {h.MR_SERIES_DIR} is missing")
        self.send(phantom)
        self.send(mr)
        self.send(h.US_FILE, extra=["-xy"])  # JPEG baseline: propose it

        for files in (phantom, mr):
            uid = study_uid_of(files)
            [job] = self.node.wait_job(uid, "done", timeout=JOB_TIMEOUT)
            self.check_delivered(job["ID"], uid, files[0])
            routing = self.node.post("/curia/rules/test", {"Study": self.node.lookup_study(uid)})
            text = json.dumps(routing, indent=1)
            rules = routing["Routing"]["Rules"]
            self.assertTrue(rules[0]["Matched"], text)
            self.assertTrue(any(s["Chosen"] for s in rules[0]["Series"]), text)
            self.assertEqual(rules[0]["Name"], job["Rule"], text)

        # The ultrasound study: stable, but no job; the dry run names the condition that failed.
        us_uid = str(h.read_tags(h.US_FILE).StudyInstanceUID)
        us_study = self.wait_stable(us_uid)
        time.sleep(3)  # routing follows StableStudy: give it time to (wrongly) queue something
        self.assertEqual(self.node.jobs_of(us_uid), [], self.node.diagnostics(us_uid))
        total = self.node.jobs()["Total"]
        routing = self.node.post("/curia/rules/test", {"Study": us_study})
        text = json.dumps(routing, indent=1)
        self.assertEqual(routing["Study"], us_study, text)
        self.assertEqual(routing["Routing"]["Jobs"], [], text)
        for rule in routing["Routing"]["Rules"]:
            self.assertFalse(rule["Matched"], text)
        reasons = [r for s in routing["Routing"]["Rules"][0]["Series"] for r in s["Reasons"]]
        self.assertTrue(any(re.search(r"\$\.Curia\.Rules\[0\]\.Match", r) and "Modality" in r and '"US"' in r
                            for r in reasons), f"a reason naming $.Curia.Rules[0].Match and the modality: {text}")
        self.assertEqual(self.node.jobs()["Total"], total, "the dry run queued something")
        self.assertEqual(self.node.jobs_of(us_uid), [])


def new_study_copy(files, outdir, tag):
    """Copies of `files` as another study: new Study and Series Instance UIDs (one each for all the
    files, derived from `tag`) and a new SOP Instance UID per file (dcmodify)."""
    os.makedirs(outdir, exist_ok=True)
    study = f"1.2.826.0.1.3680043.10.1234.77.{tag}.1"
    series = f"1.2.826.0.1.3680043.10.1234.77.{tag}.2"
    copies = []
    for f in files:
        out = os.path.join(outdir, os.path.basename(f))
        shutil.copyfile(f, out)
        subprocess.run(["dcmodify", "-nb", "-q", "-m", f"(0020,000d)={study}", "-m", f"(0020,000e)={series}",
                        "-gin", out], check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        copies.append(out)
    return copies


def gdcmconv(files, outdir, *options):
    """`gdcmconv OPTIONS in out` for each file (GDCM: --j2k encodes JPEG 2000, --raw decodes)."""
    os.makedirs(outdir, exist_ok=True)
    outs = []
    for f in files:
        out = os.path.join(outdir, os.path.basename(f))
        subprocess.run(["gdcmconv", *options, f, out], check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        outs.append(out)
    return outs


class Jpeg2000(PluginTestCase):
    """JPEG 2000 studies sent by storescu (proposing JPEG 2000) are analysed like the same images
    sent uncompressed: the findings agree within 1e-5. Two pairs: a phantom CT encoded here with
    GDCM (lossless), and the real JPEG 2000 (lossy) CT of ../shared/dicom/Comunix with GDCM's
    decoded copy of it. Orthanc's GDCM plugin, which `curia init` lists once install-deps has
    installed it, is loaded and gives Orthanc's own preview of such an image."""

    def findings(self, files):
        uid = study_uid_of(files)
        [job] = self.node.wait_job(uid, "done", timeout=JOB_TIMEOUT)
        return self.check_delivered(job["ID"], uid, files[0])["Findings"]

    def stored_syntaxes(self, files):
        study = self.node.lookup_study(study_uid_of(files))
        instances = self.node.get(f"/studies/{study}/instances")
        return {self.node.get(f"/instances/{i['ID']}/metadata/TransferSyntax", raw=True).decode() for i in instances}

    def assert_same_findings(self, a, b, what):
        text = f"{what}:\n{json.dumps(a, indent=1)[:3000]}\n{json.dumps(b, indent=1)[:3000]}"
        self.assertEqual(a["Slices"], b["Slices"], text)
        self.assertEqual(a["Skipped"], b["Skipped"], text)
        self.assertEqual(len(a["Tasks"]), len(b["Tasks"]), text)
        self.assertTrue(a["Tasks"], text)
        for x, y in zip(a["Tasks"], b["Tasks"]):
            self.assertEqual(x["Task"], y["Task"], text)
            self.assertEqual(x["KeySlice"], y["KeySlice"], text)
            self.assertEqual(x.get("Present"), y.get("Present"), text)
            for key in ("Probability", "Value"):
                if key in x:
                    self.assertAlmostEqual(x[key], y[key], delta=1e-5, msg=text)
            for p, q in zip(x.get("ClassProbabilities", []), y.get("ClassProbabilities", [])):
                self.assertAlmostEqual(p, q, delta=1e-5, msg=text)

    def test_jpeg2000_studies_give_the_findings_of_their_uncompressed_twins(self):
        self.assertIn("gdcm", self.node.get("/plugins"), "Orthanc's GDCM plugin (orthanc-gdcm) is not loaded")
        # 1. A phantom CT: sent uncompressed, and as another study encoded JPEG 2000 lossless.
        plain = make_study(self.ws.sub("phantom"), 8, seed=31)
        j2k = gdcmconv(new_study_copy(plain, self.ws.sub("phantom-copy"), 1), self.ws.sub("phantom-j2k"), "--j2k")
        # 2. The Comunix CT as it is (JPEG 2000 lossy), and GDCM's uncompressed copy as another study.
        comunix = h.dicom_files(os.path.join(h.SHARED_DIR, "dicom/Comunix/Ct"))
        self.assertEqual(len(comunix), 2)
        comunix_raw = gdcmconv(new_study_copy(comunix, self.ws.sub("comunix-copy"), 2), self.ws.sub("comunix-raw"),
                               "--raw")
        self.send(plain)
        self.send(comunix_raw)
        self.send(j2k, extra=["-xv"])      # propose JPEG 2000 lossless (storescu sends the files as they are)
        self.send(comunix, extra=["-xw"])  # JPEG 2000 lossy
        self.assertEqual(self.stored_syntaxes(j2k), {"1.2.840.10008.1.2.4.90"})
        self.assertEqual(self.stored_syntaxes(comunix), {"1.2.840.10008.1.2.4.91"})
        self.assertEqual(self.stored_syntaxes(plain) | self.stored_syntaxes(comunix_raw), {"1.2.840.10008.1.2.1"})
        self.assert_same_findings(self.findings(j2k), self.findings(plain), "phantom: JPEG 2000 lossless vs uncompressed")
        self.assert_same_findings(self.findings(comunix), self.findings(comunix_raw),
                                  "Comunix CT: JPEG 2000 vs GDCM's decoded copy")
        # Orthanc's own preview of a JPEG 2000 image (its GDCM plugin decodes it).
        study = self.node.lookup_study(study_uid_of(comunix))
        instance = self.node.get(f"/studies/{study}/instances")[0]["ID"]
        png = self.node.get(f"/instances/{instance}/preview", raw=True)
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")


class Idempotency(PluginTestCase):
    """Re-sent images and our own outputs create no job; a new instance in a processed series does,
    and supersedes the old job."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.files = make_study(cls.ws.sub("phantom"), 8, seed=21)
        cls.uid = study_uid_of(cls.files)
        h.storescu(cls.node.dicom_port, cls.files[:7])

    def test_1_first_job_done(self):
        [job] = self.node.wait_job(self.uid, "done", timeout=JOB_TIMEOUT)
        self.check_delivered(job["ID"], self.uid, self.files[0])
        self.assertEqual(job["Progress"]["Total"], job["Progress"]["Done"])

    def test_2_resend_creates_no_job(self):
        self.send(self.files[:7])
        time.sleep(3)  # StableAge 1: a re-armed timer would have fired by now
        self.assertEqual(len(self.node.jobs_of(self.uid)), 1, self.node.diagnostics(self.uid))
        # Routing the study by hand finds the same job: nothing new is queued.
        study = self.node.lookup_study(self.uid)
        answer = self.node.post(f"/curia/studies/{study}/process")
        time.sleep(1)
        js = self.node.jobs_of(self.uid)
        self.assertEqual(len(js), 1, f"process answered {answer}; {self.node.diagnostics(self.uid)}")
        self.assertEqual(js[0]["State"], "done")

    def test_3_own_outputs_create_no_job(self):
        [job] = self.node.jobs_of(self.uid)
        outputs = self.node.job(job["ID"])["Outputs"]
        at_pacs = self.pacs_outputs(self.uid)
        fetched = []
        for out in outputs:
            path = os.path.join(self.ws.sub("own"), out["SOPInstanceUID"] + ".dcm")
            with open(path, "wb") as f:
                f.write(self.pacs.instance_file(at_pacs[out["SOPInstanceUID"]]["ID"]))
            fetched.append(path)
        before = self.last_change()
        self.send(fetched, extra=["-R"])  # storescu does not propose Comprehensive 3D SR by default
        self.wait_stable(self.uid, after_seq=before)
        time.sleep(2)
        js = self.node.jobs_of(self.uid)
        self.assertEqual(len(js), 1, self.node.diagnostics(self.uid))
        self.assertEqual(js[0]["ID"], job["ID"])
        self.assertEqual(js[0]["State"], "done")
        # The dry run says why: the outputs' series are the node's own.
        routing = self.node.post("/curia/rules/test", {"Study": self.node.lookup_study(self.uid)})
        text = json.dumps(routing)
        own = [s for s in routing["Routing"]["Rules"][0]["Series"]
               if s["SeriesInstanceUID"] in {o["SeriesInstanceUID"] for o in outputs}]
        self.assertEqual(len(own), len({o["SeriesInstanceUID"] for o in outputs}), text)
        for s in own:
            self.assertFalse(s["Chosen"], text)
            self.assertTrue(any("own output" in r for r in s["Reasons"]), text)

    def test_4_new_instance_supersedes(self):
        [old] = self.node.jobs_of(self.uid)
        self.send(self.files[7:])
        js = self.node.wait_job(self.uid, ["done", "superseded"], timeout=JOB_TIMEOUT, count=2)
        by_state = {j["State"]: j for j in js}
        self.assertEqual(set(by_state), {"done", "superseded"}, json.dumps(js, indent=1))
        new = by_state["done"]
        self.assertEqual(by_state["superseded"]["ID"], old["ID"])
        self.assertEqual(by_state["superseded"]["SupersededBy"], new["ID"])
        self.assertNotEqual(new["ID"], old["ID"])
        self.assertEqual(new["Progress"]["Total"], new["Progress"]["Done"])
        job = self.check_delivered(new["ID"], self.uid, self.files[0])
        old_sr = [o["SOPInstanceUID"] for o in self.node.job(old["ID"])["Outputs"] if o["Kind"] == "SR"]
        new_sr = [o["SOPInstanceUID"] for o in job["Outputs"] if o["Kind"] == "SR"]
        self.assertNotEqual(old_sr, new_sr, "the new job's SR must be a new object")


def sr_region_references(path):
    """(Referenced SOP Instance UID, segment numbers) of the TID 1411 groups' Referenced Segment
    (121191, DCM) and Region in Space (130488, DCM) items of an SR, in document order."""
    import pydicom
    refs = []

    def walk(items):
        for item in items:
            code = item.ConceptNameCodeSequence[0].CodeValue if "ConceptNameCodeSequence" in item else ""
            if code in ("121191", "130488") and "ReferencedSOPSequence" in item:
                ref = item.ReferencedSOPSequence[0]
                numbers = ref.ReferencedSegmentNumber if "ReferencedSegmentNumber" in ref else []
                numbers = numbers if hasattr(numbers, "__iter__") else [numbers]
                refs.append((str(ref.ReferencedSOPInstanceUID), [int(n) for n in numbers]))
            if "ContentSequence" in item:
                walk(item.ContentSequence)

    walk(pydicom.dcmread(path).ContentSequence)
    return refs


class RegionJobs(PluginTestCase):
    """A processed phantom study, then its SEG: one region job for the demo region task, an SR at
    the PACS with one TID 1411 group per segment referencing the SEG (dciodvfy, strict dsrdump and
    PixelMed); the same for its RTSTRUCT;
    then a newer SEG of the same SEG series supersedes the first one's region job."""
    # The demo region task as `curia init` writes it; a rule without the 3-D task and key images (time).
    CURIA = {
        "Rules": [{"Name": "ct-regions", "Match": {"Tag": "Modality", "Equals": "CT"},
                   "Tasks": ["demo-finding", "demo-region"], "Outputs": ["SR"], "Destinations": ["pacs"]}],
    }

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        folder = cls.ws.sub("phantom")
        files = h.phantom(folder, 4, seed=31, extra=["--seg", "--rtstruct"])
        cls.seg = os.path.join(folder, "seg.dcm")
        cls.rtstruct = os.path.join(folder, "rtstruct.dcm")
        cls.images = [f for f in files if f not in (cls.seg, cls.rtstruct)]
        cls.uid = study_uid_of(cls.images)
        h.storescu(cls.node.dicom_port, cls.images)

    def region_job(self, object_uid, states=("done",)):
        """The region job of the object with this SOP Instance UID, once in one of `states`."""
        def find():
            for j in self.node.jobs_of(self.uid):
                if not j.get("RegionInstance") or j["State"] not in states:
                    continue
                job = self.node.job(j["ID"])
                if any(t.get("Region", {}).get("SOPInstanceUID") == object_uid
                       for t in (job.get("Findings") or {}).get("Tasks", [])):
                    return job
            return None
        return h.wait_for(find, JOB_TIMEOUT, f"a region job of {object_uid} in {states}",
                          diagnostics=lambda: self.node.diagnostics(self.uid))

    def check_region_sr(self, job, object_path, numbers):
        """The job's one SR is at the PACS, valid, with one group per region referencing the object."""
        dump = json.dumps(job, indent=1)[:6000]
        self.assertEqual(job["Tasks"], ["demo-region"], dump)
        srs = [o for o in job["Outputs"] if o["Kind"] == "SR"]
        self.assertEqual(len(srs), 1, dump)
        self.assertTrue(all(e["State"] == "delivered" for e in job["Exports"]), dump)
        at_pacs = self.pacs_outputs(self.uid)
        uid = srs[0]["SOPInstanceUID"]
        self.assertIn(uid, at_pacs)
        path = os.path.join(self.ws.sub("fetched"), f"{uid}.dcm")
        with open(path, "wb") as f:
            f.write(self.pacs.instance_file(at_pacs[uid]["ID"]))
        self.assertEqual(h.dciodvfy_errors(path), [], f"dciodvfy on the region SR {uid}")
        dump = subprocess.run(["dsrdump", path], env=h.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(dump.returncode, 0, f"dsrdump on the region SR {uid}: {dump.stdout[-2000:]!r}")
        self.assertIn(h.pixelmed_sr_errors(path), (None, []), f"PixelMed on the region SR {uid}")
        object_uid = str(h.read_tags(object_path).SOPInstanceUID)
        refs = sr_region_references(path)
        self.assertEqual([r[0] for r in refs], [object_uid] * len(numbers), refs)
        return refs

    def test_1_seg_after_the_images(self):
        [whole] = self.node.wait_job(self.uid, "done", timeout=JOB_TIMEOUT)
        self.assertNotIn("RegionInstance", whole)
        import pydicom
        seg = pydicom.dcmread(self.seg, stop_before_pixels=True)
        numbers = [int(s.SegmentNumber) for s in seg.SegmentSequence]
        self.send([self.seg], extra=["-R"])
        job = self.region_job(str(seg.SOPInstanceUID))
        self.assertTrue(job["RegionScope"].startswith("regions-only:SEG:"), job["RegionScope"])
        refs = self.check_region_sr(job, self.seg, numbers)
        self.assertEqual([r[1] for r in refs], [[n] for n in numbers], refs)
        # The whole-volume job is neither repeated nor superseded.
        whole_now = [j for j in self.node.jobs_of(self.uid) if not j.get("RegionInstance")]
        self.assertEqual([(j["ID"], j["State"]) for j in whole_now], [(whole["ID"], "done")])

    def test_2_rtstruct(self):
        import pydicom
        rt = pydicom.dcmread(self.rtstruct)
        rois = [int(r.ROINumber) for r in rt.StructureSetROISequence]
        self.send([self.rtstruct], extra=["-R"])
        job = self.region_job(str(rt.SOPInstanceUID))
        self.assertTrue(job["RegionScope"].startswith("regions-only:RTSTRUCT:"), job["RegionScope"])
        self.check_region_sr(job, self.rtstruct, rois)

    def test_3_newer_seg_supersedes(self):
        import pydicom
        first = self.region_job(str(h.read_tags(self.seg).SOPInstanceUID))
        seg = pydicom.dcmread(self.seg)
        seg.SOPInstanceUID = seg.SOPInstanceUID + ".2"
        seg.file_meta.MediaStorageSOPInstanceUID = seg.SOPInstanceUID
        newer = os.path.join(self.ws.sub("newer"), "seg2.dcm")
        seg.save_as(newer)
        self.send([newer], extra=["-R"])
        job = self.region_job(str(seg.SOPInstanceUID))
        self.assertEqual(job["RegionScope"], first["RegionScope"])
        old = h.wait_for(lambda: self.node.job(first["ID"])["State"] == "superseded" and self.node.job(first["ID"]),
                         30, "the first SEG's job superseded")
        self.assertEqual(old["SupersededBy"], job["ID"])
        rt = [j for j in self.node.jobs_of(self.uid) if "RTSTRUCT" in j.get("RegionScope", "")]
        self.assertEqual([j["State"] for j in rt], ["done"])


class PacsDown(PluginTestCase):
    """Exports retry while the PACS is down, die after Export.MaxAttempts, and resume on retry."""
    # [first, last] backoff: attempts at about 0, 2 and 6 s, so the PACS can come back in between.
    CURIA = {"Export": {"MaxAttempts": 3, "BackoffSeconds": [2, 4]}}

    def test_1_pacs_back_before_giving_up(self):
        files = make_study(self.ws.sub("p1"), 8, seed=31)
        uid = study_uid_of(files)
        self.pacs.stop()
        self.send(files)

        def failed_once():
            js = self.node.jobs_of(uid)
            if len(js) != 1 or js[0]["State"] != "exporting":
                return None
            job = self.node.job(js[0]["ID"])
            return job if any(e["Attempts"] >= 1 and e.get("LastError") for e in job["Exports"]) else None

        job = h.wait_for(failed_once, JOB_TIMEOUT, "an exporting job with a failed attempt",
                         diagnostics=lambda: self.node.diagnostics(uid))
        self.pacs.start()
        [job] = self.node.wait_job(uid, "done", timeout=60)
        job = self.check_delivered(job["ID"], uid, files[0])
        self.assertTrue(any(e["Attempts"] >= 1 for e in job["Exports"]), json.dumps(job["Exports"]))

    def test_2_pacs_gone_job_dead_then_retry(self):
        files = make_study(self.ws.sub("p2"), 8, seed=32)
        uid = study_uid_of(files)
        self.pacs.stop()
        self.send(files)
        [job] = self.node.wait_job(uid, "dead", timeout=JOB_TIMEOUT)
        job = self.node.job(job["ID"])
        dump = json.dumps(job, indent=1)
        self.assertIn("pacs", (job.get("Error") or "").lower(), f"the reason should name the destination: {dump}")
        self.assertTrue(job["Exports"], dump)
        # Checked at the end, so that a failure here does not hide the retry's outcome.
        unfinished = [(e["ID"], e["State"], e["Attempts"]) for e in job["Exports"]
                      if e["State"] != "dead" or e["Attempts"] != 3 or not e["LastError"]]

        self.pacs.start()
        self.assertEqual(self.pacs_outputs(uid), {}, "nothing should have reached the PACS")
        answer = self.node.post(f"/curia/jobs/{job['ID']}/retry")
        self.assertEqual(answer["ID"], job["ID"])
        self.assertIn(answer["State"], ("exporting", "done"), json.dumps(answer))
        self.node.wait_job(uid, "done", timeout=60)
        self.check_delivered(job["ID"], uid, files[0])
        # A done job is not retryable.
        status, body = self.node.status_of("POST", f"/curia/jobs/{job['ID']}/retry", {})
        self.assertEqual(status, 409, body)
        self.assertEqual(unfinished, [], "(ID, State, Attempts) of exports of the dead job that were not dead after "
                                         f"3 attempts with an error: {dump}")


class Crash(PluginTestCase):
    """SIGKILL while a job runs: after a restart the job completes once, and nothing received is lost."""
    SLICES = 40
    CURIA = {"Model": {"Threads": 1, "MaxBatch": 1}}  # slow enough to be caught running

    def test_kill_while_running(self):
        files = make_study(self.ws.sub("big"), self.SLICES, seed=41)
        uid = study_uid_of(files)
        self.send(files)

        def running():
            js = self.node.jobs_of(uid)
            return js if js and js[0]["State"] == "running" else None

        [job] = h.wait_for(running, JOB_TIMEOUT, "a running job", interval=0.1,
                           diagnostics=lambda: self.node.diagnostics(uid))
        self.node.kill9()
        self.assertEqual(self.pacs_outputs(uid), {}, "the job was killed before exporting (make it longer)")
        self.node.start(timeout=120)
        self.assertEqual(len(self.node.get(f"/studies/{self.node.lookup_study(uid)}/instances")), self.SLICES)
        [done] = self.node.wait_job(uid, "done", timeout=JOB_TIMEOUT)
        self.assertEqual(done["ID"], job["ID"], "the interrupted job itself should complete")
        self.check_delivered(done["ID"], uid, files[0])
        srs = [i for i in self.pacs.study_instances(uid) if i["tags"]["Modality"] == "SR"]
        self.assertEqual(len(srs), 1, f"exactly one SR expected at the PACS: {[s['tags']['SOPInstanceUID'] for s in srs]}")
        self.assertEqual(len(self.node.get(f"/studies/{self.node.lookup_study(uid)}/instances")), self.SLICES,
                         "the node lost instances")

    def test_fatal_signal_leaves_a_backtrace_in_the_log(self):
        """A fatal signal in Orthanc's process (a crash in a library, an illegal instruction on another
        CPU) is named in the node's log with a backtrace, and the process still dies of that signal.
        SIGILL: sanitizers leave it to us (they take SIGSEGV, SIGBUS and SIGFPE for their own report)."""
        pid = self.node.process.pid
        os.kill(pid, signal.SIGILL)
        self.node.process.wait(timeout=60)
        self.assertEqual(self.node.process.returncode, -signal.SIGILL, "the process should die of the signal itself")
        log = self.node.log()
        self.assertIn("Curia Node: fatal signal SIGILL (Illegal instruction)", log)
        backtrace = log[log.index("Curia Node: fatal signal SIGILL"):].splitlines()[1:]
        self.assertTrue(any("libOrthancCuriaNode.so" in line or "Orthanc(" in line or "libc.so" in line
                            for line in backtrace[:64]), "\n".join(backtrace[:20]))
        self.node.start(timeout=120)

    def test_stop_while_running(self):
        """A clean stop (SIGTERM) under a running job: it runs again at the next start without using up
        an attempt, and the audit says it was interrupted."""
        files = make_study(self.ws.sub("stopped"), 3 * self.SLICES, seed=43)  # long enough to be stopped in
        uid = study_uid_of(files)
        self.send(files)
        [job] = h.wait_for(lambda: [j for j in self.node.jobs_of(uid) if j["State"] == "running"], JOB_TIMEOUT,
                           "a running job", interval=0.1, diagnostics=lambda: self.node.diagnostics(uid))
        self.assertEqual(self.node.stop(), 0, "Orthanc should stop cleanly under a running job")
        self.node.start(timeout=120)
        [done] = self.node.wait_job(uid, "done", timeout=JOB_TIMEOUT)
        self.assertEqual(done["ID"], job["ID"])
        detail = self.node.job(done["ID"])
        self.assertEqual(detail["Attempts"], 1, "the interruption should not count as an attempt")
        recovered = [a["Detail"] for a in detail["Audit"] if a["Event"] == "recovered"]
        self.assertEqual(recovered, ["(interrupted by Orthanc stopping, 1 time of 10): queued again"], detail["Audit"])
        self.check_delivered(done["ID"], uid, files[0])


class HostileInput(PluginTestCase):
    """What the node cannot guard: Orthanc's own parser (DCMTK 3.6.7, recursive) on a REST upload.
    A file nested far deeper than DCMTK survives kills the node's Orthanc (as measured with Debian's
    1.10.1); restarted as systemd would (Restart=on-failure), the queued work resumes and the normal
    study's SR reaches the PACS exactly once. And what it can: `curia init` lets only listed
    modalities send, so an unknown caller is refused when it asks for the association."""
    SLICES = 24
    CURIA = {"Model": {"Threads": 1, "MaxBatch": 1}}  # the job is still queued or running at the upload
    DEPTH = 100000  # DCMTK 3.6.7 overflows an 8 MiB stack at about 5600 levels

    def test_1_hostile_upload_then_restart_then_sr_once(self):
        files = make_study(self.ws.sub("normal"), self.SLICES, seed=61)
        uid = study_uid_of(files)
        self.send(files)  # from TESTSCU@127.0.0.1, which `curia init --allow-store` listed
        h.wait_for(lambda: self.node.jobs_of(uid), JOB_TIMEOUT, "a job for the normal study", interval=0.2,
                   diagnostics=lambda: self.node.diagnostics(uid))
        try:
            answer = self.node.post("/instances", hostile_dicom.nested_sequences(self.DEPTH), timeout=60)
        except Exception as e:  # noqa: BLE001 - the connection dies with the process
            answer = f"{type(e).__name__}: {e}"
        status = self.node.wait_exit(timeout=30)
        if status is not None:
            # Died: a signal (SIGSEGV) or abort. Restart it as the service manager would.
            self.assertNotEqual(status, 0, "Orthanc exited cleanly on the upload?")
            self.node._note(f"Orthanc died on the hostile upload (status {status}); restarting it as systemd would")
            self.node.start(timeout=120)
        else:
            # An Orthanc that survives (a fixed DCMTK) must have refused the file.
            print(f"note: the node's Orthanc survived the hostile upload: {answer}", file=sys.stderr)
        [done] = self.node.wait_job(uid, "done", timeout=JOB_TIMEOUT)
        self.check_delivered(done["ID"], uid, files[0])
        time.sleep(3)  # a second export would come within the exporter's next round
        srs = [i for i in self.pacs.study_instances(uid) if i["tags"]["Modality"] == "SR"]
        self.assertEqual(len(srs), 1, f"exactly one SR expected at the PACS: {[s['tags']['SOPInstanceUID'] for s in srs]}")
        self.assertEqual(len(self.node.get(f"/studies/{self.node.lookup_study(uid)}/instances")), self.SLICES,
                         "the node lost instances")
        self.assertEqual(self.node.get("/curia/health")["Status"], "ok")

    def test_2_unknown_modality_refused_at_association(self):
        files = make_study(self.ws.sub("unknown"), 2, seed=62)
        with self.assertRaises(RuntimeError) as refused:
            h.storescu(self.node.dicom_port, files, aet="STRANGER")
        self.assertIn("Association Rejected", str(refused.exception))
        self.assertIn("Calling AE Title Not Recognized", str(refused.exception))
        self.assertIsNone(self.node.lookup_study(study_uid_of(files)), "nothing of the refused study was stored")
        # A listed AE title from another address is refused too (DicomCheckModalityHost): the node's
        # configuration names 127.0.0.1 for SENDER3; the test cannot call from elsewhere, so it checks
        # the configuration that makes Orthanc compare.
        self.assertTrue(self.node.config["DicomCheckModalityHost"])
        self.assertFalse(self.node.config["DicomAlwaysAllowStore"])
        # A listed one is accepted.
        h.storescu(self.node.dicom_port, files, aet="SENDER3")
        self.assertIsNotNone(self.node.lookup_study(study_uid_of(files)))


class BadConfiguration(PluginTestCase):
    """An invalid Curia section stops Orthanc at start-up with a message naming the JSON path."""
    START_PACS = False
    START_NODE = False

    def start_with(self, name, curia_overrides_fn):
        node = h.make_node(self.ws.sub(name), self.pacs)
        node.config["Curia"] = curia_overrides_fn(node.config["Curia"])
        node.spawn()
        status = node.wait_exit(60)
        if status is None:
            node.kill9()
            self.fail(f"Orthanc kept running with an invalid configuration; log tail:\n{node.log_tail()}")
        self.assertNotEqual(status, 0, node.log_tail())
        return node.log()

    def test_unknown_task_in_rule(self):
        def change(curia):
            curia["Rules"][0]["Tasks"] = ["no-such-task"]
            return curia

        log = self.start_with("task", change)
        self.assertRegex(log, r"\$\.Curia\.Rules\[0\]\.Tasks(\[0\])?: .*no-such-task", log[-3000:])

    def test_unknown_key_deep_in_match(self):
        def change(curia):
            curia["Rules"][0]["Match"] = {"All": [{"Tag": "Modality", "In": ["CT", "MR"]},
                                                  {"Not": {"Tag": "BodyPartExamined", "Equals": "FOOT",
                                                           "Bogus": 1}}]}
            return curia

        log = self.start_with("match", change)
        self.assertIn("$.Curia.Rules[0].Match.All[1].Not.Bogus: unknown key", log, log[-3000:])


    def test_corrupt_database(self):
        node = h.make_node(self.ws.sub("corrupt"), self.pacs)
        database = node.config["Curia"]["Database"]
        os.makedirs(os.path.dirname(database), exist_ok=True)
        with open(database, "wb") as f:
            f.write(b"this is not an SQLite database, but it has the node's file name" * 100)
        node.spawn()
        status = node.wait_exit(60)
        if status is None:
            node.kill9()
            self.fail(f"Orthanc kept running with a corrupt database; log tail:\n{node.log_tail()}")
        self.assertNotEqual(status, 0)
        log = node.log()
        self.assertIn(database, log, log[-3000:])
        self.assertRegex(log, r"not (a usable )?(a )?Curia database|not a database", log[-3000:])


class Access(PluginTestCase):
    """With Orthanc's authentication on, every /curia route refuses missing and wrong credentials,
    and our log lines carry no patient names or IDs."""

    ROUTES = [("GET", "/curia/health"), ("GET", "/curia/jobs"), ("GET", "/curia/jobs/1"),
              ("POST", "/curia/jobs/1/retry"), ("POST", "/curia/jobs/1/cancel"),
              ("POST", "/curia/studies/x/process"), ("POST", "/curia/rules/test"), ("GET", "/curia/metrics"),
              ("GET", "/curia/config"), ("GET", "/curia/no-such-route"), ("PUT", "/curia/health"),
              ("DELETE", "/curia/jobs/1")]

    def test_routes_need_credentials(self):
        for auth in (None, ("test", "wrong"), ("nobody", "test")):
            for method, path in self.ROUTES:
                self.node.auth = auth
                try:
                    status, body = self.node.status_of(method, path, {} if method == "POST" else None)
                finally:
                    self.node.auth = (h.USER, h.PASSWORD)
                self.assertEqual(status, 401, f"{method} {path} with {auth}: {status} {str(body)[:300]}")
        status, _ = self.node.status_of("GET", "/curia/health", None)
        self.assertEqual(status, 200)

    def test_methods_the_api_does_not_serve(self):
        """PUT and DELETE: 405 with the methods the API serves in Allow (not served as another method)."""
        token = base64.b64encode(f"{h.USER}:{h.PASSWORD}".encode()).decode()
        for method in ("PUT", "DELETE"):
            for path in ("/curia/health", "/curia/jobs/1", "/curia/jobs/1/cancel", "/curia/no-such-route"):
                req = urllib.request.Request(f"http://127.0.0.1:{self.node.http_port}{path}", method=method,
                                             data=b"{}" if method == "PUT" else None,
                                             headers={"Authorization": f"Basic {token}"})
                with self.assertRaises(urllib.error.HTTPError, msg=f"{method} {path}") as caught:
                    urllib.request.urlopen(req, timeout=30).close()
                self.assertEqual(caught.exception.code, 405, f"{method} {path}: {caught.exception.read()[:300]}")
                allow = caught.exception.headers.get("Allow", "")
                self.assertEqual(sorted(m.strip() for m in allow.split(",")), ["GET", "POST"], f"{method} {path}")
        # The API still answers its own methods.
        self.assertEqual(self.node.status_of("GET", "/curia/health", None)[0], 200)
        self.assertEqual(self.node.status_of("GET", "/curia/no-such-route", None)[0], 404)

    def test_no_patient_data_in_our_log(self):
        files = h.phantom(self.ws.sub("named"), 4, seed=71,
                          extra=["--patient-name", "ZEBRA^QUENTIN", "--patient-id", "PID-778899"])
        uid = study_uid_of(files)
        self.send(files)
        self.node.wait_job(uid, "done", timeout=JOB_TIMEOUT)
        ours = [line for line in self.node.log().splitlines() if "Curia Node" in line]
        self.assertTrue(any(uid in line for line in ours), "the node should log the study by its UID:\n" +
                        "\n".join(ours[-20:]))
        for secret in ("ZEBRA", "QUENTIN", "PID-778899"):
            leaks = [line for line in ours if secret in line]
            self.assertEqual(leaks, [], f"{secret} in our log lines")


class PacsRejects(PluginTestCase):
    """A PACS that refuses our association: retries, then a dead letter naming the destination."""
    CURIA = {"Export": {"MaxAttempts": 2, "BackoffSeconds": [1, 1]}}

    @classmethod
    def setUpClass(cls):
        cls.START_PACS = False
        super().setUpClass()
        # Only known modalities may store, and the node is not one of them.
        cls.pacs.config["DicomAlwaysAllowStore"] = False
        cls.pacs.config["DicomModalities"] = {}
        cls.pacs.start()

    def test_rejected_then_dead(self):
        files = make_study(self.ws.sub("rej"), 4, seed=81)
        uid = study_uid_of(files)
        self.send(files)
        [job] = self.node.wait_job(uid, "dead", timeout=JOB_TIMEOUT)
        job = self.node.job(job["ID"])
        dump = json.dumps(job, indent=1)[:6000]
        self.assertTrue(job["Error"].startswith("pacs: "), dump)
        for e in job["Exports"]:
            self.assertEqual(e["State"], "dead", dump)
            self.assertEqual(e["Attempts"], 2, dump)
        self.assertEqual(self.pacs_outputs(uid), {}, dump)


class HealthAndMetrics(PluginTestCase):
    """/curia/health, /curia/metrics, /curia/config, and /curia/jobs paging and filters."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.studies = []
        for seed in (51, 52, 53):
            files = make_study(cls.ws.sub(f"s{seed}"), 4, seed=seed)
            h.storescu(cls.node.dicom_port, files)
            cls.studies.append(study_uid_of(files))
        for uid in cls.studies:
            cls.node.wait_job(uid, "done", timeout=JOB_TIMEOUT)

    def test_health(self):
        health = self.node.get("/curia/health")
        self.assertEqual(health["Status"], "ok", health)
        for key in ("Version", "Database", "Model"):
            self.assertIn(key, health)
        self.assertTrue(health["Model"]["Digest"], health)
        self.assertTrue(health["Model"]["Demo"], health)  # `curia init` sets up the demo model
        self.assertEqual(health["Model"]["Devices"], ["cpu"], health)

    def test_health_queue(self):
        health = self.node.get("/curia/health")
        self.assertIsInstance(health.get("Queue"), dict, f"plugin-api.md: health has \"Queue\": {{...}}: {health}")

    def test_metrics(self):
        text = self.node.get("/curia/metrics", raw=True).decode()
        depth = [line for line in text.splitlines() if line.startswith("curia_queue_depth")]
        self.assertEqual(len(depth), 3, text)
        for priority in ("stat", "routine", "off-peak"):
            self.assertIn(f'curia_queue_depth{{priority="{priority}"}} 0', depth, text)
        self.assertRegex(text, r'(?m)^curia_jobs\{state="done"(,[^}]*)?\} 3(\.0+)?$')
        self.assertRegex(text, r"(?m)^curia_job_seconds_count(\{[^}]*\})? 3(\.0+)?$")
        self.assertRegex(text, r"(?m)^curia_export_failures_total(\{[^}]*\})? 0(\.0+)?$")

    def test_config(self):
        config = self.node.get("/curia/config")
        self.assertEqual(config["Configured"]["Rules"][0]["Name"], "ct-and-mr", config)  # as `curia init` wrote it
        self.assertEqual(config["Effective"]["LeaseSeconds"], 5, config)  # the test's override
        self.assertEqual(config["Effective"]["StableAge"], 1, config)
        # The destination as Orthanc knows it (credentials, if any, would read "(redacted)").
        self.assertEqual(config["Destinations"]["pacs"]["AET"], "PACS", config)

    def test_jobs_paging_and_filters(self):
        everything = self.node.jobs()
        self.assertEqual(everything["Total"], 3, everything)
        ids = [j["ID"] for j in everything["Jobs"]]
        self.assertEqual(ids, sorted(ids, reverse=True), "newest first")
        page1 = self.node.jobs(limit=2)
        page2 = self.node.jobs(limit=2, offset=2)
        self.assertEqual([j["ID"] for j in page1["Jobs"]], ids[:2])
        self.assertEqual([j["ID"] for j in page2["Jobs"]], ids[2:])
        self.assertEqual(page1["Total"], 3)
        self.assertEqual(page2["Total"], 3)
        self.assertEqual(self.node.jobs(state="done")["Total"], 3)
        self.assertEqual(self.node.jobs(state="queued")["Jobs"], [])
        study = self.node.lookup_study(self.studies[1])
        by_study = self.node.jobs(study=study)["Jobs"]
        self.assertEqual([j["StudyInstanceUID"] for j in by_study], [self.studies[1]])
        rule = everything["Jobs"][0]["Rule"]
        self.assertEqual(self.node.jobs(rule=rule)["Total"], 3)
        self.assertEqual(self.node.jobs(rule="no-such-rule")["Total"], 0)
        status, _ = self.node.status_of("GET", "/curia/jobs/987654")
        self.assertEqual(status, 404)

    def test_wrong_method_and_unknown_route(self):
        # A known path with the other of GET and POST: 405 with the methods of that path (through
        # Orthanc's own call; PUT and DELETE: Access.test_methods_the_api_does_not_serve).
        for method, path, allow in (("POST", "/curia/health", "GET"), ("GET", "/curia/jobs/1/retry", "POST"),
                                    ("POST", "/curia/jobs/1", "GET")):
            with self.assertRaises(h.HttpError) as answer:
                self.node.request(method, path)
            self.assertEqual(answer.exception.status, 405, f"{method} {path}: {answer.exception}")
            self.assertEqual(answer.exception.headers.get("Allow"), allow, f"{method} {path}: {answer.exception.headers}")
        status, body = self.node.status_of("GET", "/curia/no-such-route")
        self.assertEqual(status, 404, body)


if __name__ == "__main__":
    unittest.main()
