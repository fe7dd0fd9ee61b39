# SPDX-License-Identifier: GPL-3.0-or-later
"""The web UI in a real browser: Debian's Chromium driven by playwright-core (npm).

Starts a PACS and a node (tests/integration/harness.py), sends a phantom study whose Patient's
Name is HTML/JS and waits for its job to be done, makes a second job dead-lettered (PACS down),
brings the PACS back, then runs ui_test.js, which checks the dashboard, the SR view, the retry
button and the Orthanc Explorer panel, and takes the screenshots.

Environment (set by tests/CMakeLists.txt): CURIA_TOOL, CURIA_PLUGIN, CURIA_SHARED_DIR as for the
integration tests; CURIA_BROWSER_DIR: a folder for the screenshots;
CURIA_UPDATE_SCREENSHOTS=1 also copies the screenshots into docs/images/; CHROMIUM (default
/usr/bin/chromium); CURIA_KEEP_TMP=1 keeps the Orthanc folders.
"""
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness as h  # noqa: E402

# playwright-core 1.40.1 (package.json at the repository root; its CDP client drives Debian 12's
# Chromium, tested with 156), installed by `npm ci` there (packaging/install-deps.sh runs it).
PLAYWRIGHT = os.path.join(h.SOURCE_DIR, "node_modules", "playwright-core")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
WORK = os.environ.get("CURIA_BROWSER_DIR", os.path.join(h.SOURCE_DIR, "build/tests/browser"))
# DICOM PN: two components of at most 64 characters together; both would run if inserted as HTML.
EVIL_NAME = "<img src=x onerror=alert(1)>^<script>window.pwned=1</script>"
JOB_TIMEOUT = 180


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def playwright_module():
    """The playwright-core that `npm ci` installed at the repository root."""
    if not os.path.exists(os.path.join(PLAYWRIGHT, "package.json")):
        raise RuntimeError(f"{PLAYWRIGHT} is missing: run `npm ci` in {h.SOURCE_DIR} "
                           "(packaging/install-deps.sh does)")
    return PLAYWRIGHT


def main():
    for path, what in ((h.CURIA_TOOL, "CURIA_TOOL"), (h.CURIA_PLUGIN, "CURIA_PLUGIN"), (CHROMIUM, "CHROMIUM")):
        if not os.path.exists(path):
            raise RuntimeError(f"{what} {path} does not exist")
    started = time.monotonic()
    module = playwright_module()
    ws = h.Workspace("browser")
    pacs = h.make_pacs(ws.path)
    node = None
    ok = False
    try:
        pacs.start()
        # Dead-lettering quickly: two attempts one second apart.
        node = h.make_node(ws.path, pacs, curia_overrides={"Export": {"MaxAttempts": 2, "BackoffSeconds": [1, 1]}})
        node.start(timeout=120)
        log(f"PACS on {pacs.http_port}, node on {node.http_port}")

        done_files = h.phantom(ws.sub("done"), 8, seed=61, extra=["--patient-name", EVIL_NAME])
        done_uid = str(h.read_tags(done_files[0]).StudyInstanceUID)
        h.storescu(node.dicom_port, done_files)
        [done_job] = node.wait_job(done_uid, "done", timeout=JOB_TIMEOUT)
        done_job = node.job(done_job["ID"])
        log(f"job {done_job['ID']} done")

        pacs.stop()
        dead_files = h.phantom(ws.sub("dead"), 8, seed=62, extra=["--patient-name", "DEAD^LETTER"])
        dead_uid = str(h.read_tags(dead_files[0]).StudyInstanceUID)
        h.storescu(node.dicom_port, dead_files)
        [dead_job] = node.wait_job(dead_uid, "dead", timeout=JOB_TIMEOUT)
        log(f"job {dead_job['ID']} dead")
        pacs.start()

        tasks = (done_job.get("Findings") or {}).get("Tasks") or []
        if not tasks:
            raise AssertionError(f"the done job has no finding: {json.dumps(done_job)[:3000]}")
        shots = os.path.join(WORK, "screenshots")
        os.makedirs(shots, exist_ok=True)
        params = {
            "base": f"http://127.0.0.1:{node.http_port}",
            "user": h.USER, "password": h.PASSWORD,
            "chromium": CHROMIUM, "playwright": module,
            "doneJob": done_job["ID"], "deadJob": dead_job["ID"], "doneStudy": done_job["Study"],
            "findingMeaning": tasks[0]["Finding"]["Meaning"], "task": tasks[0]["Task"],
            "patientText": EVIL_NAME.replace("^", " "), "screenshots": shots,
        }
        r = subprocess.run(["node", os.path.join(HERE, "ui_test.js"), json.dumps(params)], timeout=240)
        if r.returncode != 0:
            raise AssertionError(f"ui_test.js failed ({r.returncode}); node log tail:\n{node.log_tail(30)}")
        # What the browser saw, confirmed through the REST API.
        job = node.job(dead_job["ID"])
        if job["State"] != "done":
            raise AssertionError(f"job {dead_job['ID']} is {job['State']} after the retry click")
        if os.environ.get("CURIA_UPDATE_SCREENSHOTS") == "1":
            images = os.path.join(h.SOURCE_DIR, "docs", "images")
            os.makedirs(images, exist_ok=True)
            for name in ("dashboard.png", "sr-view.png", "explorer-panel.png"):
                shutil.copyfile(os.path.join(shots, name), os.path.join(images, name))
            log(f"screenshots copied into {images}")
        ok = True
        log(f"browser test passed in {time.monotonic() - started:.0f} s (screenshots in {shots})")
    finally:
        for o in (node, pacs):
            if o is not None:
                o.stop()
        if ok:
            ws.cleanup()
        else:
            print(f"kept {ws.path} (Orthanc logs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
