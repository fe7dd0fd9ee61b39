#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Curia Node from a fresh Debian 12 checkout, in one command:
#
#   packaging/dev.sh demo    install dependencies, build, run the demo (demo model + head phantom)
#   packaging/dev.sh test    install dependencies, build, run every test
#   packaging/dev.sh build   install dependencies and build only
#
# Environment: BUILD_DIR (default: build), CURIA_SHARED_DIR (golden files and DICOM corpus,
# default: ../shared next to the checkout), JOBS (default: number of cores).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
jobs=${JOBS:-$(nproc)}
action=${1:-}

usage() { sed -n '3,10p' "$0"; }

build() {
  "$root/packaging/install-deps.sh"
  local args=(-S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release)
  [ -n "${CURIA_SHARED_DIR:-}" ] && args+=("-DCURIA_SHARED_DIR=$CURIA_SHARED_DIR")
  cmake "${args[@]}" >/dev/null
  cmake --build "$build_dir" -j "$jobs"
}

case "$action" in
  demo)
    build
    out=${2:-$root/demo-output}
    echo
    "$build_dir/worker/cli/curia" demo --out "$out"
    echo
    echo "Next: '$build_dir/worker/cli/curia --help' lists the commands; README.md explains the real weights."
    ;;
  test)
    build
    cd "$build_dir"
    ctest --output-on-failure -j "$jobs"
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
