#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds the libFuzzer targets with clang (ASan + UBSan + coverage, in build-fuzz), seeds their
# corpora from ../shared and the project's own files, and runs each for SECONDS.
#
#   fuzz/run.sh SECONDS [TARGET...]    targets: series structure safetensors hf_config settings (default: all)
#
# Environment: FUZZ_BUILD_DIR (default: build-fuzz), CURIA_SHARED_DIR (default: ../shared next to
# the checkout, else /work/shared, as for the tests), CURIA_TOOL (a built `curia`, for `curia init` seeds; default: build/cli/curia),
# JOBS (targets run side by side, default: number of cores).
# The corpus grows in FUZZ_BUILD_DIR/corpus/<target> and is kept between runs. Findings (crash-*,
# leak-*, timeout-*, oom-*) land in FUZZ_BUILD_DIR/findings/<target>/; after fixing one, copy it
# into fuzz/regressions/<target>/ (ctest replays it). Exit status 1 when any target found anything.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
shared=${CURIA_SHARED_DIR:-}
if [ -z "$shared" ]; then
  for candidate in "$root/../shared" /work/shared; do
    if [ -f "$candidate/golden/README.md" ]; then shared=$(cd "$candidate" && pwd); break; fi
  done
  shared=${shared:-$root/../shared}
fi
curia=${CURIA_TOOL:-$root/build/cli/curia}
jobs=${JOBS:-$(nproc)}
python=/usr/bin/python3

if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
  sed -n '3,13p' "$0" >&2
  exit 2
fi
seconds=$1
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(series structure safetensors hf_config settings)

# Largest input per target: whole small DICOM series, a safetensors header with small tensors, a
# config file.
declare -A max_len=([series]=131072 [structure]=65536 [safetensors]=65536 [hf_config]=16384 [settings]=65536)
for t in "${targets[@]}"; do
  [ -n "${max_len[$t]:-}" ] || { echo "fuzz/run.sh: unknown target '$t'" >&2; exit 2; }
done
[ -d "$shared/dicom" ] && [ -d "$shared/golden" ] || { echo "fuzz/run.sh: no ../shared at $shared (set CURIA_SHARED_DIR)" >&2; exit 1; }

# --- build ---------------------------------------------------------------------------------------
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -gline-tables-only"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCURIA_FUZZ=ON -DCURIA_BUILD_TESTS=OFF -DCMAKE_CXX_FLAGS="$flags" >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log" >&2; exit 1; }
cmake --build "$build" -j "$jobs" --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null

# --- seeds ---------------------------------------------------------------------------------------
seeds=$build/seeds
rm -rf "$seeds"
mkdir -p "$seeds"
ROOT="$root" SHARED="$shared" SEEDS="$seeds" CURIA="$curia" MAXLEN="${max_len[series]}" "$python" - <<'PY'
import glob, hashlib, json, os, re, shutil, struct, subprocess, tempfile

root, shared, seeds, curia = os.environ["ROOT"], os.environ["SHARED"], os.environ["SEEDS"], os.environ["CURIA"]
max_series = int(os.environ["MAXLEN"])
SEPARATOR = b"\n--curia-fuzz-instance--\n"  # fuzz/fuzz_series.cpp
keys = set()

def put(target, data):
    os.makedirs(os.path.join(seeds, target), exist_ok=True)
    with open(os.path.join(seeds, target, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)

def read(path):
    with open(path, "rb") as f:
        return f.read()

def json_keys(value):
    if isinstance(value, dict):
        for k, v in value.items():
            keys.add(k)
            json_keys(v)
    elif isinstance(value, list):
        for v in value:
            json_keys(v)
    elif isinstance(value, str) and len(value) < 40:
        keys.add(value)

# series: every DICOM file of ../shared/dicom and pydicom's test files, and the first instances of
# each multi-instance series joined (fuzz_series splits its input on SEPARATOR).
pydicom_dir = "/usr/lib/python3/dist-packages/pydicom/data/test_files"
for path in sorted(glob.glob(shared + "/dicom/**/*", recursive=True) + glob.glob(pydicom_dir + "/**/*", recursive=True)):
    if os.path.isfile(path) and not re.search(r"\.(md|txt|json|dump|gz|py)$", path):
        put("series", read(path))
        put("structure", read(path)[:65536])  # structure: one file, its headers are what matters
for folder in sorted({os.path.dirname(p) for p in glob.glob(shared + "/dicom/**/*.dcm", recursive=True)}):
    files = sorted(glob.glob(folder + "/*.dcm"))
    if len(files) < 2:
        continue
    for count in (3, 2):
        joined = SEPARATOR.join(read(p) for p in files[:count])
        if len(joined) <= max_series:
            put("series", joined)
            break

# safetensors: the golden files, each also cut down to its small tensors (a valid file the fuzzer
# can mutate within -max_len).
for path in sorted(glob.glob(shared + "/golden/**/*.safetensors", recursive=True)):
    data = read(path)
    if len(data) <= 65536:
        put("safetensors", data)
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    json_keys(header)
    out, blob = {}, b""
    if "__metadata__" in header:
        out["__metadata__"] = header["__metadata__"]
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0] if kv[0] != "__metadata__" else -1):
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        if e - b <= 512 and len(blob) < 8192:
            out[name] = {"dtype": t["dtype"], "shape": t["shape"], "data_offsets": [len(blob), len(blob) + e - b]}
            blob += body[b:e]
    h = json.dumps(out, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    put("safetensors", struct.pack("<Q", len(h)) + h + blob)

# hf_config: the golden config.json files and the demo model's (curia init writes them).
init_dir = tempfile.mkdtemp(prefix="curia-fuzz-init-")
try:
    if os.access(curia, os.X_OK):
        subprocess.run([curia, "init", "--out", init_dir + "/node", "--pacs", "PACS@127.0.0.1:4343"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        print("fuzz/run.sh: no curia tool at %s: no `curia init` seeds" % curia)
    for path in sorted(glob.glob(shared + "/golden/**/config.json", recursive=True) +
                       glob.glob(init_dir + "/**/*config.json", recursive=True)):
        data = read(path)
        put("hf_config", data)
        json_keys(json.loads(data))
    # settings: `curia init`'s orthanc.json, the packaged configuration, and every JSON example of
    # the documentation that has a "Curia" section or rules.
    for path in sorted(glob.glob(init_dir + "/**/orthanc.json", recursive=True) +
                       glob.glob(root + "/packaging/*.json")):
        put("settings", read(path))
    base = None
    for path in glob.glob(init_dir + "/**/orthanc.json", recursive=True):
        base = json.loads(re.sub(r"(?m)^\s*//.*$", "", open(path, encoding="utf-8").read()))
    for md in sorted(glob.glob(root + "/docs/*.md") + [root + "/README.md"]):
        blocks, lang, lines = [], None, []
        for line in open(md, encoding="utf-8"):
            if line.startswith("```"):
                if lang is None:
                    lang, lines = line[3:].strip(), []
                else:
                    if lang in ("", "json", "jsonc"):
                        blocks.append("".join(lines))
                    lang = None
            elif lang is not None:
                lines.append(line)
        for block in blocks:
            if '"Curia"' in block or '"Rules"' in block or '"Match"' in block:
                put("settings", block.encode())
                try:
                    value = json.loads(re.sub(r"(?m)^\s*//.*$", "", block))
                except ValueError:
                    continue
                # A rule or a list of rules on its own: also inside `curia init`'s configuration.
                if base is not None and isinstance(value, (dict, list)) and '"Curia"' not in block:
                    rules = value.get("Rules", [value]) if isinstance(value, dict) else value
                    doc = json.loads(json.dumps(base))
                    doc["Curia"]["Rules"] = rules
                    put("settings", json.dumps(doc, indent=1).encode())
finally:
    shutil.rmtree(init_dir, ignore_errors=True)
for path in glob.glob(seeds + "/settings/*"):
    text = re.sub(r"(?m)^\s*//.*$", "", read(path).decode("utf-8", "replace"))
    for k in re.findall(r'"([A-Za-z][A-Za-z0-9_.]{1,40})"', text):
        keys.add(k)

# A libFuzzer dictionary for the JSON targets: the keys and short values the seeds use.
with open(os.path.join(seeds, "json.dict"), "w") as f:
    for token in ["{", "}", "[", "]", ":", ",", "true", "false", "null", "\\u0000", "1e308", "-0", "/*", "*/", "//"]:
        f.write('"%s"\n' % token.replace("\\", "\\\\").replace('"', '\\"'))
    for k in sorted(keys):
        if all(32 <= ord(c) < 127 for c in k):
            f.write('"\\"%s\\""\n' % k.replace("\\", "\\\\").replace('"', '\\"'))
PY

# --- run -----------------------------------------------------------------------------------------
run_target() {
  local t=$1 corpus=$build/corpus/$1 findings=$build/findings/$1 log=$build/logs/$1.log args=()
  mkdir -p "$corpus" "$findings" "$build/logs"
  case $t in
    hf_config | settings | safetensors) args+=("-dict=$seeds/json.dict") ;;
  esac
  local asan=${ASAN_OPTIONS:-}
  # DCMTK allocates an element's declared length (up to 4 GiB) with new(std::nothrow) before reading
  # it, and fails cleanly (EC_MemoryExhausted) when that returns null: let ASan return null above
  # 512 MB rather than map and clear gigabytes (slow) or report it (not a bug in our code). Our own
  # code still fails on such an allocation: its throwing new raises std::bad_alloc, which the target
  # does not catch.
  [ "$t" = series ] || [ "$t" = structure ] && asan="allocator_may_return_null=1:max_allocation_size_mb=512${asan:+:$asan}"
  # The corpus directory comes first: new inputs go there; the seeds are only read.
  ASAN_OPTIONS=$asan "$build/fuzz/fuzz_$t" "$corpus" "$seeds/$t" "${args[@]}" \
    -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=20 -rss_limit_mb=3072 \
    -print_final_stats=1 -artifact_prefix="$findings/" >"$log" 2>&1 || true
}

start=$SECONDS
pids=()
for t in "${targets[@]}"; do
  rm -f "$build/findings/$t"/{crash,leak,timeout,oom,slow-unit}-* 2>/dev/null || true
  run_target "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done

status=0
printf '%-12s %12s %8s %10s %8s %s\n' target executions exec/s seconds corpus findings
for t in "${targets[@]}"; do
  log=$build/logs/$t.log
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  corpus=$(find "$build/corpus/$t" -type f | wc -l)
  found=$(find "$build/findings/$t" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  if [ "$found" != 0 ] || ! grep -q '^Done ' "$log"; then
    status=1
    found="$found (log: $log)"
  fi
  printf '%-12s %12s %8s %10s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "${secs:-?}" "$corpus" "$found"
done
echo "fuzz/run.sh: ${#targets[@]} target(s), $((SECONDS - start)) s of fuzzing"
exit $status
