# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the Orthanc plugin's integration tests: Orthanc processes on free loopback ports (a
plain one as the PACS, one with the plugin as the node), DCMTK's storescu, polling, validators.

Everything runs on 127.0.0.1 with TCP_NODELAY=1 (design.md section 8). Paths come from the
environment CMake sets: CURIA_TOOL (the `curia` tool), CURIA_PLUGIN (libOrthancCuriaNode.so) and
CURIA_SHARED_DIR (the shared corpus); the defaults are those of a build in ./build.
"""
import base64
import copy
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
CURIA_TOOL = os.environ.get("CURIA_TOOL", os.path.join(SOURCE_DIR, "build/cli/curia"))
CURIA_PLUGIN = os.environ.get("CURIA_PLUGIN", os.path.join(SOURCE_DIR, "build/plugin/libOrthancCuriaNode.so"))
SHARED_DIR = os.environ.get("CURIA_SHARED_DIR", os.path.join(os.path.dirname(SOURCE_DIR), "shared"))
ORTHANC = "/usr/sbin/Orthanc"
USER, PASSWORD = "test", "test"

# Brainix FLAIR: a real MR brain series (22 uncompressed slices) that `curia run` accepts.
MR_SERIES_DIR = os.path.join(SHARED_DIR, "dicom/Brainix/Flair")
# An ultrasound multi-frame instance: no CT/MR rule matches it.
US_FILE = os.path.join(SHARED_DIR, "dicom/edge/Issue16.dcm")


def env(orthanc=False):
    e = dict(os.environ)
    e["TCP_NODELAY"] = "1"
    # A sanitized plugin (CMakePresets.json "sanitize") in Debian's uninstrumented Orthanc needs the
    # ASan runtime loaded first: tests/CMakeLists.txt sets CURIA_ORTHANC_PRELOAD to libasan.so.
    if orthanc and e.get("CURIA_ORTHANC_PRELOAD"):
        e["LD_PRELOAD"] = e["CURIA_ORTHANC_PRELOAD"]
    return e


def free_ports(count):
    """`count` distinct free TCP ports on loopback (bound to port 0, then released)."""
    socks, ports = [], []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


class Gone(AssertionError):
    """What a wait_for predicate raises when waiting longer cannot help (the process died)."""


def wait_for(predicate, timeout, what, interval=0.25, diagnostics=None):
    """Polls `predicate` until it returns a truthy value (returned) or `timeout` seconds pass
    (AssertionError naming `what`, the last value or exception, and `diagnostics()` if given)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except Gone:
            raise
        except Exception as e:  # noqa: BLE001 - reported on timeout
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() > deadline:
            extra = ""
            if diagnostics is not None:
                try:
                    extra = "\n" + str(diagnostics())
                except Exception as e:  # noqa: BLE001
                    extra = f"\n(diagnostics failed: {e})"
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}{extra}")
        time.sleep(interval)


def strip_json_comments(text):
    """Removes // and /* */ comments outside strings (Orthanc's configuration files allow them)."""
    out, i, n = [], 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_string = False
            i += 1
        elif c == '"':
            in_string = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def deep_merge(base, override):
    """`override` merged into a copy of `base`: objects recursively, anything else replaced."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


class HttpError(Exception):
    def __init__(self, status, body, url, headers=None):
        super().__init__(f"HTTP {status} for {url}: {body[:2000]!r}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


class Orthanc:
    """One Orthanc process: its configuration (a dict) written to `workdir`/config.json, its output in
    `workdir`/orthanc.log (appended across restarts)."""

    def __init__(self, name, config, workdir, auth=None):
        self.name = name
        self.config = config
        self.workdir = workdir
        self.auth = auth
        self.process = None
        os.makedirs(workdir, exist_ok=True)
        self.config_path = os.path.join(workdir, "config.json")
        self.log_path = os.path.join(workdir, "orthanc.log")
        self._log_file = None

    @property
    def http_port(self):
        return self.config["HttpPort"]

    @property
    def dicom_port(self):
        return self.config["DicomPort"]

    @property
    def aet(self):
        return self.config["DicomAet"]

    def write_config(self):
        config = self.config
        if os.environ.get("CURIA_ORTHANC_PRELOAD"):
            # Debian's Orthanc with libasan preloaded deadlocks in std::locale("en_US.UTF-8") (glibc's
            # setlocale lock) and fails on mallopt(M_ARENA_MAX) (ASan's allocator): "C" and no
            # arena limit for sanitized runs only.
            config = {**config, "Locale": "C", "MallocArenaMax": 0}
        with open(self.config_path, "w") as f:
            json.dump(config, f, indent=2)

    def spawn(self):
        """Starts the process without waiting for it to answer."""
        assert self.process is None or self.process.poll() is not None, f"{self.name} already running"
        self.write_config()
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(f"\n===== {time.strftime('%H:%M:%S')} starting {self.name} =====\n".encode())
        self._log_file.flush()
        self.process = subprocess.Popen([ORTHANC, "--verbose", self.config_path], cwd=self.workdir, env=env(orthanc=True),
                                        stdout=self._log_file, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)

    def start(self, timeout=60):
        self.spawn()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with status {self.process.returncode} at start-up; "
                                   f"log tail:\n{self.log_tail()}")
            try:
                self.get("/system", timeout=2)
                return self
            except Exception:  # noqa: BLE001 - not up yet
                pass
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self.kill9()
                raise RuntimeError(f"{self.name} did not answer GET /system within {timeout} s; log tail:\n{tail}")
            time.sleep(0.2)

    def wait_exit(self, timeout):
        """Exit status of a process expected to end by itself, or None if it is still running."""
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._close_log()
        return status

    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout=30):
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self._note(f"{self.name} ignored SIGTERM for {timeout} s: killed")
        self._close_log()
        return self.process.returncode

    def kill9(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_log()

    def restart(self, timeout=60):
        self.stop()
        return self.start(timeout)

    def _note(self, text):
        with open(self.log_path, "a") as f:
            f.write(f"\n===== {text} =====\n")

    def _close_log(self):
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=60):
        return "\n".join(self.log().splitlines()[-lines:])

    # --- REST -----------------------------------------------------------------------------------
    def request(self, method, path, body=None, timeout=30, raw=False, content_type=None):
        url = f"http://127.0.0.1:{self.http_port}{path}"
        data = None
        headers = {}
        if body is not None:
            if isinstance(body, (bytes, bytearray)):
                data = bytes(body)
                headers["Content-Type"] = content_type or "application/dicom"
            else:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
        elif method in ("POST", "PUT"):
            data = b""
        if self.auth:
            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                payload = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            raise HttpError(e.code, e.read().decode("utf-8", "replace"), f"{method} {url}", e.headers) from None
        if raw:
            return payload
        text = payload.decode("utf-8", "replace")
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text if status else None

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body if body is not None else {}, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def status_of(self, method, path, body=None):
        """(HTTP status, parsed body) without raising on 4xx/5xx."""
        try:
            return 200, self.request(method, path, body)
        except HttpError as e:
            try:
                return e.status, json.loads(e.body)
            except json.JSONDecodeError:
                return e.status, e.body

    # --- queries ----------------------------------------------------------------------------------
    def lookup_study(self, study_uid):
        """Orthanc ID of the study with this Study Instance UID, or None."""
        found = self.post("/tools/lookup", study_uid.encode(), content_type="text/plain")
        for r in found or []:
            if r.get("Type") == "Study":
                return r["ID"]
        return None

    def study_instances(self, study_uid):
        """[{"ID", "tags": simplified tags}] of the study's instances ([] if the study is unknown)."""
        study = self.lookup_study(study_uid)
        if study is None:
            return []
        result = []
        for inst in self.get(f"/studies/{study}/instances"):
            tags = self.get(f"/instances/{inst['ID']}/simplified-tags")
            result.append({"ID": inst["ID"], "tags": tags})
        return result

    def instance_file(self, instance_id):
        return self.get(f"/instances/{instance_id}/file", raw=True)

    def statistics(self):
        return self.get("/statistics")


def pacs_config(workdir, http_port, dicom_port):
    return {
        "Name": "PACS",
        "DicomAet": "PACS",
        "DicomPort": dicom_port,
        "HttpPort": http_port,
        "StorageDirectory": os.path.join(workdir, "db"),
        "IndexDirectory": os.path.join(workdir, "db"),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "Plugins": [],
        "StableAge": 1,
        "SaveJobs": False,
        "DicomScuTimeout": 5,
        "DicomAssociationCloseDelay": 0,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowStore": True,
        "UnknownSopClassAccepted": True,
        "HttpServerEnabled": True,
        "WebDavEnabled": False,
        "ConcurrentJobs": 2,
    }


def make_pacs(workdir):
    """A plain Orthanc (no plugin) with AET PACS on free ports; not started."""
    http_port, dicom_port = free_ports(2)
    return Orthanc("PACS", pacs_config(os.path.join(workdir, "pacs"), http_port, dicom_port),
                   os.path.join(workdir, "pacs"))


def run_tool(args, timeout=300, check=True):
    r = subprocess.run([CURIA_TOOL] + list(args), env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    text = r.stdout.decode("utf-8", "replace")
    if check and r.returncode != 0:
        raise RuntimeError(f"curia {' '.join(args)} failed ({r.returncode}):\n{text}")
    return r.returncode, text


# Test settings layered over what `curia init` writes: fast stability, short leases and backoff.
NODE_OVERRIDES = {
    "StableAge": 1,
    "SaveJobs": False,
    "DicomScuTimeout": 5,
    "DicomAssociationCloseDelay": 0,
    "RemoteAccessAllowed": False,
    "AuthenticationEnabled": True,
    "RegisteredUsers": {USER: PASSWORD},
    "Curia": {
        "Queue": {"LeaseSeconds": 5},
        "Export": {"MaxAttempts": 3, "BackoffSeconds": [1, 2]},
    },
}


# The AE titles the tests send studies to the node from (storescu -aet, all on 127.0.0.1): `curia init`
# lists them with --allow-store, since only listed modalities may send (its security default).
TEST_SENDERS = ["TESTSCU"] + [f"SENDER{i}" for i in range(16)]


def init_node_config(outdir, pacs_port, dicom_port, http_port, senders=None):
    """Runs `curia init` and returns (its configuration as a dict, the tool's output)."""
    allow = []
    for aet in TEST_SENDERS if senders is None else senders:
        allow += ["--allow-store", f"{aet}@127.0.0.1"]
    _, text = run_tool(["init", "--out", outdir, "--pacs", f"PACS@127.0.0.1:{pacs_port}",
                        "--dicom-port", str(dicom_port), "--http-port", str(http_port), "--aet", "CURIA"] + allow)
    path = os.path.join(outdir, "orthanc.json")
    if not os.path.exists(path):
        raise RuntimeError(f"curia init did not write {path}:\n{text}")
    with open(path) as f:
        config = json.loads(strip_json_comments(f.read()))
    # The build tree's plugin is what init finds by default; the one under test is CURIA_PLUGIN.
    # The others init lists (Orthanc's GDCM plugin, when orthanc-gdcm is installed) stay.
    config["Plugins"] = [CURIA_PLUGIN] + list(config.get("Plugins") or [])[1:]
    return config, text


class Node(Orthanc):
    """Orthanc with the Curia plugin."""

    def __init__(self, config, workdir, init_output=""):
        super().__init__("node", config, workdir, auth=(USER, PASSWORD))
        self.init_output = init_output

    def start(self, timeout=60):
        # Orthanc starts without a plugin it cannot find: make sure the node is really there.
        super().start(timeout)
        try:
            health = self.get("/curia/health", timeout=5)
        except Exception as e:  # noqa: BLE001
            raise RuntimeError(f"the Curia plugin is not loaded ({e}); log tail:\n{self.log_tail()}") from e
        if health.get("Status") != "ok":
            raise RuntimeError(f"the node is not healthy: {health}")
        return self

    def jobs(self, **query):
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        return self.get("/curia/jobs" + (f"?{qs}" if qs else ""))

    def job(self, job_id):
        return self.get(f"/curia/jobs/{job_id}")

    def jobs_of(self, study_uid):
        return [j for j in self.jobs(limit=1000)["Jobs"] if j.get("StudyInstanceUID") == study_uid]

    def wait_job(self, study_uid, states, timeout=120, count=1):
        """Waits until the study has exactly `count` jobs, all in one of `states`; returns them."""
        states = [states] if isinstance(states, str) else list(states)

        def ready():
            if self.process is not None and self.process.poll() is not None:
                raise Gone(f"waiting for {count} job(s) of study {study_uid} in state {states}: "
                           f"{self.diagnostics(study_uid)}")
            js = self.jobs_of(study_uid)
            return js if len(js) == count and all(j["State"] in states for j in js) else None

        return wait_for(ready, timeout, f"{count} job(s) of study {study_uid} in state {states}",
                        interval=0.5, diagnostics=lambda: self.diagnostics(study_uid))

    def diagnostics(self, study_uid=None):
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
            return f"{self.name}'s Orthanc is not running: {how}\nnode log tail:\n{self.log_tail(80)}"
        try:
            js = self.jobs_of(study_uid) if study_uid else self.jobs(limit=20)["Jobs"]
            detail = [self.job(j["ID"]) for j in js[:3]]
        except Exception as e:  # noqa: BLE001
            detail = f"(jobs unavailable: {e})"
        return f"jobs: {json.dumps(detail, indent=1)[:6000]}\nnode log tail:\n{self.log_tail(40)}"


def make_node(workdir, pacs, curia_overrides=None, overrides=None, name="node"):
    """The node's configuration from `curia init` (PACS = `pacs`) with the test overrides, in
    `workdir`/`name`; not started."""
    dicom_port, http_port = free_ports(2)
    outdir = os.path.join(workdir, name)
    os.makedirs(outdir, exist_ok=True)
    config, text = init_node_config(outdir, pacs.dicom_port, dicom_port, http_port)
    config = deep_merge(config, NODE_OVERRIDES)
    if curia_overrides:
        config = deep_merge(config, {"Curia": curia_overrides})
    if overrides:
        config = deep_merge(config, overrides)
    # Whatever init chose, the node must listen where the test expects and load the plugin under test.
    config["DicomPort"], config["HttpPort"] = dicom_port, http_port
    node = Node(config, outdir, text)
    node.name = name
    return node


# --- PostgreSQL -----------------------------------------------------------------------------------
PG_BIN = "/usr/lib/postgresql/15/bin"
PG_INDEX_PLUGIN = "/usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so"
PG_STORAGE_PLUGIN = "/usr/share/orthanc/plugins/libOrthancPostgreSQLStorage.so"


def postgresql_missing():
    """Why a cluster test cannot run here (PostgreSQL 15 or orthanc-postgresql missing), or None."""
    for path, package in ((f"{PG_BIN}/initdb", "postgresql-15"), (f"{PG_BIN}/pg_ctl", "postgresql-15"),
                          (PG_INDEX_PLUGIN, "orthanc-postgresql"), (PG_STORAGE_PLUGIN, "orthanc-postgresql")):
        if not os.path.exists(path):
            return f"{path} is missing (apt-get install {package})"
    return None


class PgServer:
    """A PostgreSQL 15 server of the test's own: initdb into a temporary folder, pg_ctl on a free
    loopback port (no system service). Its superuser "postgres" logs in without a password over the
    folder's Unix socket only; TCP clients (Orthanc, the nodes) log in as `role` with a password
    (scram-sha-256). As root, the server runs as the "postgres" user (initdb refuses root)."""

    def __init__(self, role="curia"):
        # Short: the socket's path must fit in 107 bytes.
        self.dir = tempfile.mkdtemp(prefix="curia-pg-", dir="/tmp")
        self.role = role
        self.password = base64.b32encode(os.urandom(10)).decode().lower()
        self.port = None
        self.prefix = []
        if os.geteuid() == 0:
            import pwd
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]

    def _run(self, args, timeout=120, check=True):
        r = subprocess.run(self.prefix + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                           env=env(), cwd=self.dir)
        text = r.stdout.decode("utf-8", "replace")
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}):\n{text}")
        return text

    def start(self):
        data = os.path.join(self.dir, "data")
        self._run([f"{PG_BIN}/initdb", "-D", data, "-U", "postgres", "--auth-local=trust",
                   "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8", "--locale=C"])
        for attempt in range(3):
            self.port = free_ports(1)[0]
            try:
                self._start_server()
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        self.psql(f"CREATE ROLE {self.role} LOGIN PASSWORD '{self.password}'")
        return self

    def _start_server(self):
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run([f"{PG_BIN}/pg_ctl", "-D", os.path.join(self.dir, "data"), "-l", os.path.join(self.dir, "server.log"),
                   "-w", "-t", "60", "-o", options, "start"])

    def shut_down(self):
        """Stops the server as an administrator would restart it (pg_ctl -m fast: clients are
        disconnected, the data stays); start_again() brings it back on the same port."""
        self._run([f"{PG_BIN}/pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "fast", "-w", "-t", "60", "stop"])

    def start_again(self):
        self._start_server()

    def psql(self, sql, db="postgres"):
        """Runs `sql` as the superuser over the Unix socket; its rows, unaligned ("|" between values)."""
        return self._run([f"{PG_BIN}/psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", self.dir, "-p",
                          str(self.port), "-U", "postgres", "-d", db, "-c", sql]).strip()

    def create_database(self, name):
        self.psql(f"CREATE DATABASE {name} OWNER {self.role}")

    def passfile(self, path):
        """Writes a libpq password file (mode 0600) for `role` on this server; returns its path."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"127.0.0.1:{self.port}:*:{self.role}:{self.password}\n")
        return path

    def url(self, db, passfile):
        """The nodes' Database setting: no password in it, libpq reads it from `passfile`."""
        return f"postgresql://{self.role}@127.0.0.1:{self.port}/{db}?passfile={passfile}"

    def orthanc_settings(self, db, server_id):
        """What an Orthanc needs to keep its index and its files in database `db` next to other
        Orthancs (orthanc-postgresql 4.0: "Lock" false; DatabaseServerIdentifier per Orthanc)."""
        return {
            "Plugins": [PG_INDEX_PLUGIN, PG_STORAGE_PLUGIN],
            "DatabaseServerIdentifier": server_id,
            "PostgreSQL": {
                "EnableIndex": True, "EnableStorage": True, "Lock": False,
                "Host": "127.0.0.1", "Port": self.port, "Database": db,
                "Username": self.role, "Password": self.password,
                "IndexConnectionsCount": 1, "EnableSsl": False,
            },
        }

    def log_tail(self, lines=40):
        try:
            with open(os.path.join(self.dir, "server.log"), "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        if self.port is not None:
            self._run([f"{PG_BIN}/pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "immediate", "-w", "stop"],
                      check=False)
            self.port = None
        shutil.rmtree(self.dir, ignore_errors=True)


# --- DICOM ----------------------------------------------------------------------------------------
def storescu(port, files, aec="CURIA", aet="TESTSCU", timeout=120, extra=()):
    """Sends `files` with DCMTK's storescu (`extra`: more options, e.g. -xy for JPEG baseline files)."""
    files = [files] if isinstance(files, str) else list(files)
    r = subprocess.run(["storescu"] + list(extra) + ["-aet", aet, "-aec", aec, "127.0.0.1", str(port)] + files, env=env(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    text = r.stdout.decode("utf-8", "replace")
    if r.returncode != 0:
        raise RuntimeError(f"storescu to {aec}@{port} failed ({r.returncode}):\n{text}")
    return text


def dicom_files(folder):
    return sorted(p for p in glob.glob(os.path.join(folder, "**", "*"), recursive=True)
                  if os.path.isfile(p) and _is_dicom(p))


def _is_dicom(path):
    with open(path, "rb") as f:
        head = f.read(132)
    return len(head) == 132 and head[128:132] == b"DICM"


def read_tags(path):
    import pydicom
    return pydicom.dcmread(path, stop_before_pixels=True, force=True)


def phantom(outdir, slices, seed=None, extra=()):
    """A synthetic head study from `curia phantom` (CT unless extra has --modality MR): its files."""
    args = ["phantom", "--out", outdir, "--slices", str(slices)]
    if seed is not None:
        args += ["--seed", str(seed)]
    run_tool(args + list(extra))
    files = dicom_files(outdir)
    if not files:
        raise RuntimeError(f"curia phantom wrote no DICOM file into {outdir}")
    return files


def copy_study(files, outdir, seed):
    """The study of `files` again as a new study in `outdir`: the same pixels and tags, new Study,
    Series, SOP Instance and Frame of Reference UIDs (2.25 + 128 random bits from `seed`), for tests
    that need many studies faster than `curia phantom` writes them. Returns the new files."""
    import random as _random
    import pydicom
    rnd = _random.Random(seed)
    new_uids = {}

    def uid_for(old):
        if old not in new_uids:
            new_uids[old] = f"2.25.{rnd.getrandbits(128)}"
        return new_uids[old]

    os.makedirs(outdir, exist_ok=True)
    out = []
    for path in files:
        ds = pydicom.dcmread(path)
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
            if keyword in ds:
                setattr(ds, keyword, uid_for(getattr(ds, keyword)))
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        target = os.path.join(outdir, os.path.basename(path))
        ds.save_as(target, write_like_original=True)
        out.append(target)
    return out


def dciodvfy_errors(path):
    """Lines of dciodvfy's output that contain "Error" (empty when the object is valid)."""
    r = subprocess.run(["dciodvfy", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    return [line for line in r.stdout.decode("utf-8", "replace").splitlines() if "Error" in line]


def pixelmed_sr_errors(path):
    """PixelMed's SR template validator on an SR: its Error lines (it exits 0 even with errors),
    plus one line when it did not find the TID 1500 root. None when the sanitized pass switched it
    off (CURIA_TEST_PIXELMED=0: the Release pass validates the same bytes)."""
    if os.environ.get("CURIA_TEST_PIXELMED") == "0":
        return None
    jars = ["pixelmed", "commons-codec", "slf4j-api", "vecmath"]
    cp = ":".join(f"/usr/share/java/{j}.jar" for j in jars)
    r = subprocess.run(["java", "-Djdk.xml.xpathExprGrpLimit=0", "-Djdk.xml.xpathExprOpLimit=0",
                        "-Djdk.xml.xpathTotalOpLimit=0", "-Xss8m", "-XX:TieredStopAtLevel=1", "-cp", cp,
                        "com.pixelmed.validate.DicomSRValidator", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    out = r.stdout.decode("utf-8", "replace")
    errors = [line for line in out.splitlines() if line.startswith("Error")]
    if "Found Root Template TID_1500 (MeasurementReport)" not in out:
        errors.append("no TID 1500 root template found: " + out[-500:])
    return errors


class Workspace:
    """A temporary folder, kept when CURIA_KEEP_TMP is set (for post-mortems)."""

    def __init__(self, prefix):
        self.path = tempfile.mkdtemp(prefix=f"curia-it-{prefix}-")

    def sub(self, *names):
        p = os.path.join(self.path, *names)
        os.makedirs(p, exist_ok=True)
        return p

    def cleanup(self):
        if os.environ.get("CURIA_KEEP_TMP"):
            print(f"kept {self.path}")
            return
        shutil.rmtree(self.path, ignore_errors=True)
