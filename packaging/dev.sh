#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Curia Node from a fresh Debian 12 checkout, in one command:
#
#   packaging/dev.sh demo [DIR]  install dependencies, build, then start a PACS and a Curia Node (two
#                                Orthancs on this machine), send the node a synthetic head CT and show
#                                the result, then a SEG of it and its per-segment region result; both keep running (files, logs, pids in DIR, default
#                                demo-output; the folder is wiped first)
#   packaging/dev.sh stop [DIR]  stop the two Orthancs the demo started
#   packaging/dev.sh test        install dependencies, build, run every test, then the unit and
#                                integration tests under ASan/UBSan and each fuzz target for a minute
#   packaging/dev.sh build       install dependencies and build only
#
# Environment: BUILD_DIR (default: build), CURIA_SHARED_DIR (golden files and DICOM corpus,
# default: ../shared next to the checkout), JOBS (default: number of cores), DEMO_TIMEOUT (seconds
# the demo waits for its job, default 300), FUZZ_SECONDS (per fuzz target in `test`, default 30; longer runs: docs/reliability.md).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
jobs=${JOBS:-$(nproc)}
action=${1:-}

usage() { sed -n '3,16p' "$0"; }

build() {
  "$root/packaging/install-deps.sh"
  local args=(-S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release)
  [ -n "${CURIA_SHARED_DIR:-}" ] && args+=("-DCURIA_SHARED_DIR=$CURIA_SHARED_DIR")
  cmake "${args[@]}" >/dev/null
  cmake --build "$build_dir" -j "$jobs"
}

# The unit and integration tests built with -fsanitize=address,undefined; fails on any report,
# including one in a process whose exit status a test does not check (build-asan/sanitizer-logs).
sanitize() {
  local logs="$root/build-asan/sanitizer-logs"
  local args=(--preset sanitize -S "$root")
  [ -n "${CURIA_SHARED_DIR:-}" ] && args+=("-DCURIA_SHARED_DIR=$CURIA_SHARED_DIR")
  cmake "${args[@]}" >/dev/null
  cmake --build --preset sanitize -j "$jobs"
  rm -rf "$logs"
  mkdir -p "$logs"
  (cd "$root" && ctest --preset sanitize -j "$jobs")
  if [ -n "$(ls -A "$logs")" ]; then
    echo "sanitizers reported problems:" >&2
    head -n 60 "$logs"/* >&2
    return 1
  fi
  echo "sanitize: no ASan/UBSan reports"
}

# --- the demo: a PACS and a Curia Node on loopback ----------------------------------------------
pacs_dicom=4343
pacs_http=8043
node_dicom=4242
node_http=8042
python=/usr/bin/python3
demo_dir=""

# After a failure: stops what the demo started (its logs stay in the folder) and exits 1.
demo_abort() {
  [ -z "$demo_dir" ] || stop_demo "$demo_dir" >&2
  echo "demo: failed; logs and files are in $demo_dir" >&2
  exit 1
}

# Something listens on 127.0.0.1:$1.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

log_tail() {
  echo "---- last lines of $1 ----" >&2
  tail -n "${2:-25}" "$1" >&2 || true
  echo "----" >&2
}

# An absolute path.
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

# Stops the Orthancs whose pid files are in the demo folder $1 (a pid that is no longer an Orthanc
# is left alone).
stop_demo() {
  local dir name pid stopped=0
  dir=$(absolute "$1")
  for name in node pacs; do
    [ -f "$dir/$name.pid" ] || continue
    pid=$(cat "$dir/$name.pid")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -qa Orthanc "/proc/$pid/cmdline" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
      echo "stopped the $name Orthanc (pid $pid)"
      stopped=1
    fi
    rm -f "$dir/$name.pid"
  done
  [ "$stopped" = 1 ] || echo "no demo Orthanc running (no live pid file in $dir)"
}

# start_orthanc NAME CONFIG LOG PIDFILE HTTP_PORT: starts an Orthanc with TCP_NODELAY=1 and waits
# until its HTTP port answers; on failure shows the end of its log and exits.
start_orthanc() {
  local name=$1 config=$2 log=$3 pidfile=$4 port=$5 pid
  TCP_NODELAY=1 nohup Orthanc "$config" >"$log" 2>&1 &
  pid=$!
  echo "$pid" >"$pidfile"
  printf 'starting the %s Orthanc (pid %s, log %s) ' "$name" "$pid" "$log"
  for _ in $(seq 1 120); do
    if curl -sf "http://127.0.0.1:$port/system" >/dev/null 2>&1; then
      echo " up on http://127.0.0.1:$port/"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo
      echo "demo: the $name Orthanc exited during start-up (a plugin that fails to load, a bad" >&2
      echo "      configuration or a port in use are the usual reasons):" >&2
      log_tail "$log"
      rm -f "$pidfile"
      demo_abort
    fi
    printf .
    sleep 0.5
  done
  echo
  echo "demo: the $name Orthanc did not answer on http://127.0.0.1:$port/ within 60 s" >&2
  log_tail "$log"
  demo_abort
}

# The newest job of study $1 on the node, as "ID STATE" (nothing when there is none yet).
newest_job() {
  curl -sf "http://127.0.0.1:$node_http/curia/jobs?limit=100" 2>/dev/null | STUDY="$1" "$python" -c '
import json, os, sys
try:
    jobs = json.load(sys.stdin).get("Jobs", [])
except ValueError:
    jobs = []
jobs = [j for j in jobs if j.get("StudyInstanceUID") == os.environ["STUDY"]]
if jobs:
    job = max(jobs, key=lambda j: j.get("ID", 0))
    print(job.get("ID"), job.get("State"))
' || true
}

# The job's findings and exports, from GET /curia/jobs/{id} on stdin.
print_job() {
  "$python" -c '
import json, sys
job = json.load(sys.stdin)
findings = job.get("Findings") or {}
demo = " - DEMO model: the findings are MEANINGLESS" if findings.get("Demo") else ""
print("\njob %s: %s, rule %s, %s slices%s" % (job.get("ID"), job.get("State"), job.get("Rule"),
                                            findings.get("Slices", "?"), demo))
for t in findings.get("Tasks", []):
    meaning = (t.get("Finding") or {}).get("Meaning", "")
    if "Probability" in t:
        result = "%s (probability %.1f%%, threshold %.0f%%)" % (
            "PRESENT" if t.get("Present") else "absent", 100 * t["Probability"], 100 * t.get("Threshold", 0))
    else:
        result = "value %s" % t.get("Value")
    region = t.get("Region")
    where = " on %s %s \"%s\"" % (region.get("Kind"), region.get("Number"), region.get("Label")) if region else ""
    predicted = ", predicted %s" % region["PredictedClass"] if region and region.get("PredictedClass") else ""
    print("  %s%s: %s: %s%s, key slice %s" % (t.get("Task"), where, meaning, result, predicted, t.get("KeySlice", -1) + 1))
for s in findings.get("Skipped", []):
    print("  %s: not applicable: %s" % (s.get("Task"), s.get("Reason")))
outputs = {o.get("ID"): o for o in job.get("Outputs", [])}
for e in job.get("Exports", []):
    o = outputs.get(e.get("Output"), {})
    error = " (%s)" % e["LastError"] if e.get("LastError") else ""
    print("  %s %s -> %s: %s%s" % (o.get("Kind", "?"), o.get("SOPInstanceUID", ""), e.get("Destination"),
                                   e.get("State"), error))
'
}

# wait_job DIR STUDY AFTER: waits until the newest job of STUDY whose ID is not AFTER has ended and
# prints its ID (progress dots on stderr); on a timeout or a stopped node, says why and fails.
wait_job() {
  local out=$1 study=$2 after=$3 timeout=${DEMO_TIMEOUT:-300} start=$SECONDS state="" id="" line
  while :; do
    line=$(newest_job "$study")
    if [ -n "$line" ] && [ "${line%% *}" != "$after" ]; then
      id=${line%% *}
      state=${line#* }
      case "$state" in done | failed | dead | cancelled) break ;; esac
    fi
    if ! kill -0 "$(cat "$out/node.pid")" 2>/dev/null; then
      echo >&2
      echo "demo: the node Orthanc stopped" >&2
      log_tail "$out/node.log"
      return 1
    fi
    if [ $((SECONDS - start)) -ge "$timeout" ]; then
      echo >&2
      echo "demo: no finished job for study $study after $timeout s (last state: ${state:-no job yet})" >&2
      log_tail "$out/node.log"
      return 1
    fi
    printf . >&2
    sleep 2
  done
  echo " $state after $((SECONDS - start)) s" >&2
  echo "$id"
}

# show_job DIR ID: the job's findings and exports; fails (with its error) unless it is done.
show_job() {
  local out=$1 id=$2 detail state
  detail=$(curl -sf "http://127.0.0.1:$node_http/curia/jobs/$id") || return 1
  state=$("$python" -c 'import json, sys; print(json.load(sys.stdin).get("State"))' <<<"$detail")
  if [ "$state" != done ]; then
    echo "demo: job $id ended $state" >&2
    "$python" -c 'import json, sys; print("  Error:", json.load(sys.stdin).get("Error") or "(none given)")' \
      <<<"$detail" >&2 || true
    log_tail "$out/node.log"
    return 1
  fi
  print_job <<<"$detail"
}

run_demo() {
  local out curia="$build_dir/cli/curia" tool port
  out=$(absolute "$1")
  for tool in Orthanc storescu curl "$python"; do
    command -v "$tool" >/dev/null || {
      echo "demo: '$tool' is not installed (packaging/install-deps.sh installs it)" >&2
      exit 1
    }
  done
  # Only a folder the demo made (it holds .curia-demo), an empty one or a new one is wiped.
  if [ -d "$out" ]; then
    if [ -f "$out/.curia-demo" ]; then
      stop_demo "$out" >/dev/null
      rm -rf "$out"
    elif [ -n "$(ls -A "$out")" ]; then
      echo "demo: $out exists and was not made by the demo; refusing to wipe it (name another folder)" >&2
      exit 1
    fi
  fi
  for port in $pacs_dicom $pacs_http $node_dicom $node_http; do
    if port_busy "$port"; then
      echo "demo: port $port on 127.0.0.1 is taken; the demo needs ports $pacs_dicom, $pacs_http, $node_dicom and $node_http." >&2
      echo "      Stop what uses it (an earlier demo: packaging/dev.sh stop; to see what: ss -ltnp | grep :$port)." >&2
      exit 1
    fi
  done
  mkdir -p "$out/pacs"
  touch "$out/.curia-demo"
  demo_dir=$out
  echo
  echo "== Curia Node demo in $out (RESEARCH USE ONLY; DEMO model: meaningless findings)"

  # 1. The PACS: a plain Orthanc that receives the node's results.
  OUT="$out" "$python" - <<'PY'
import json, os
out = os.environ["OUT"]
config = {"Name": "PACS (Curia Node demo)", "StorageDirectory": out + "/pacs/storage",
          "IndexDirectory": out + "/pacs/index", "DicomAet": "PACS", "DicomPort": 4343, "HttpPort": 8043,
          "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "Plugins": []}
with open(out + "/pacs/orthanc.json", "w") as f:
    json.dump(config, f, indent=2)
PY
  start_orthanc PACS "$out/pacs/orthanc.json" "$out/pacs.log" "$out/pacs.pid" $pacs_http

  # 2. The node: `curia init` writes its configuration (demo model and tasks, results to the PACS).
  echo
  #    Only listed modalities may send: storescu on this machine (AE STORESCU) is listed.
  "$curia" init --out "$out/node" --pacs "PACS@127.0.0.1:$pacs_dicom" --dicom-port $node_dicom \
    --http-port $node_http --allow-store STORESCU@127.0.0.1 || demo_abort
  start_orthanc node "$out/node/orthanc.json" "$out/node.log" "$out/node.pid" $node_http
  # Orthanc starts even when a plugin is missing or fails to load: check that the node answers.
  if ! curl -sf "http://127.0.0.1:$node_http/curia/health" >/dev/null; then
    echo "demo: Orthanc started without the Curia Node plugin (GET /curia/health fails); its errors:" >&2
    grep -E '^E[0-9]' "$out/node.log" >&2 || log_tail "$out/node.log"
    demo_abort
  fi
  # Orthanc's GDCM plugin, which `curia init` lists when orthanc-gdcm is installed: JPEG 2000 in
  # Orthanc's own previews and transcoding (the node decodes JPEG 2000 itself).
  if grep -q 'libOrthancGdcm.so' "$out/node/orthanc.json"; then
    if curl -sf "http://127.0.0.1:$node_http/plugins" | grep -q '"gdcm"'; then
      echo "Orthanc's GDCM plugin is loaded: JPEG 2000 previews in Orthanc Explorer"
    else
      echo "demo: warning: Orthanc did not load its GDCM plugin (see $out/node.log)" >&2
    fi
  fi

  # 3. A synthetic head CT, sent to the node.
  local phantom study
  echo
  phantom=$("$curia" phantom --out "$out/phantom" --slices 16 --seg) || demo_abort
  echo "$phantom"
  mkdir -p "$out/seg"
  mv "$out/phantom/seg.dcm" "$out/seg/seg.dcm"
  study=$(awk '/Study Instance UID/ {print $NF}' <<<"$phantom")
  echo "sending it to CURIA at 127.0.0.1:$node_dicom"
  TCP_NODELAY=1 storescu -aet STORESCU -aec CURIA 127.0.0.1 $node_dicom "$out/phantom"/*.dcm || demo_abort

  # 4. The job: the study is routed StableAge (5) seconds after its last image, then analysed and
  #    its results sent to the PACS.
  local id
  printf 'waiting for the node to analyse the study '
  id=$(wait_job "$out" "$study" "") || demo_abort
  show_job "$out" "$id" || demo_abort

  # 5. A segmentation of the same series arrives later (as from an auto-segmentation tool): its
  #    segments start a region job for the demo region task (organ recognition on each segment).
  echo
  echo "sending a segmentation of the series (DICOM SEG, $(basename "$out/seg/seg.dcm")) to CURIA"
  TCP_NODELAY=1 storescu -R -aet STORESCU -aec CURIA 127.0.0.1 $node_dicom "$out/seg/seg.dcm" || demo_abort
  printf 'waiting for the region job '
  id=$(wait_job "$out" "$study" "$id") || demo_abort
  show_job "$out" "$id" || demo_abort
  local stop="packaging/dev.sh stop"
  [ "$out" = "$root/demo-output" ] || stop="$stop $out"
  cat <<EOF

Results:
  the PACS, with the SR and key images it received:  http://127.0.0.1:$pacs_http/app/explorer.html
  the node, with the phantom study:                  http://127.0.0.1:$node_http/app/explorer.html
  the node's jobs (JSON):                            http://127.0.0.1:$node_http/curia/jobs
Both Orthancs keep running (logs: $out/pacs.log and $out/node.log). Stop them with:
  $stop
Send the node more studies with:  TCP_NODELAY=1 storescu -aec CURIA 127.0.0.1 $node_dicom FILES...
EOF
}

case "$action" in
  demo)
    build
    run_demo "${2:-$root/demo-output}"
    ;;
  stop)
    stop_demo "${2:-$root/demo-output}"
    ;;
  test)
    build
    (cd "$build_dir" && ctest --output-on-failure -j "$jobs")
    # The GPU check's CPU part (bench/README.md): the model code built alone (LibTorch, no Orthanc
    # or DCMTK, as on a GPU machine) in build-gpu, every precision against the float64 reference.
    "$root/bench/gpu_check.sh" --cpu-only --python none --build-dir "$root/build-gpu" --jobs "$jobs"
    # The same unit and integration tests under ASan + UBSan (CMakePresets.json "sanitize", in
    # build-asan; not the browser and package tests), then every fuzz target for half a minute
    # (fuzz/run.sh). docs/reliability.md: "Fuzzing and sanitizers".
    sanitize
    CURIA_TOOL="$build_dir/cli/curia" "$root/fuzz/run.sh" "${FUZZ_SECONDS:-30}"
    ;;
  build)
    build
    ;;
  -h|--help|help)
    usage
    ;;
  *)
    usage >&2
    exit 2
    ;;
esac
