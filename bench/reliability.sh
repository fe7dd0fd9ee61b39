#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The long reliability runs (docs/reliability.md): 20 SIGKILLs of Orthanc while 25 studies flow,
# 4 concurrent storescu senders x 25 studies, and the other reliability classes once, then their
# figures. Usage: bench/reliability.sh [BUILD_DIR] (default: build). The environment may override
# CURIA_RELIABILITY_KILLS, _KILL_STUDIES, _SENDERS, _STUDIES and _SEED (test_reliability.py).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$here/build}" && pwd)
export CURIA_TOOL="${CURIA_TOOL:-$build/cli/curia}"
export CURIA_PLUGIN="${CURIA_PLUGIN:-$build/plugin/libOrthancCuriaNode.so}"
if [ -z "${CURIA_SHARED_DIR:-}" ]; then
  for d in "$here/../shared" /work/shared; do
    [ -d "$d/dicom" ] && CURIA_SHARED_DIR=$(cd "$d" && pwd) && break
  done
fi
export CURIA_SHARED_DIR
export CURIA_RELIABILITY_KILLS="${CURIA_RELIABILITY_KILLS:-20}"
export CURIA_RELIABILITY_KILL_STUDIES="${CURIA_RELIABILITY_KILL_STUDIES:-25}"
export CURIA_RELIABILITY_SENDERS="${CURIA_RELIABILITY_SENDERS:-4}"
export CURIA_RELIABILITY_STUDIES="${CURIA_RELIABILITY_STUDIES:-25}"
figures=$(mktemp /tmp/curia-reliability-XXXXXX.jsonl)
export CURIA_RELIABILITY_FIGURES="$figures"
export PYTHONDONTWRITEBYTECODE=1

status=0
cd "$here/tests/integration"
for class in Kills Load BadInput TlsExport DiskFull; do
  echo "=== $class"
  start=$(date +%s)
  if /usr/bin/python3 -m unittest test_reliability.$class >"$figures.$class.log" 2>&1; then
    echo "    passed in $(( $(date +%s) - start )) s"
  else
    status=1
    echo "    FAILED in $(( $(date +%s) - start )) s: log in $figures.$class.log"
    grep -E "^(AssertionError|RuntimeError|FAIL|ERROR)" "$figures.$class.log" | head -5 | sed 's/^/    /'
  fi
done

echo "=== figures ($figures)"
/usr/bin/python3 - "$figures" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    f = json.loads(line)
    test = f.pop("test")
    if test == "BadInput":
        f["not_sendable"] = len(f["not_sendable"])
        f["failed_errors"] = len(f["failed_errors"])
    if test == "Kills":
        f.pop("jobs_at_kill_moments", None)
    print(f"{test}: " + ", ".join(f"{k} {json.dumps(v)}" for k, v in sorted(f.items())))
PY
exit $status
