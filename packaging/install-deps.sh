#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs every Debian 12 package Curia Node needs to build, run and test, then the tests' npm
# packages (package-lock.json, `npm ci`). Idempotent: packages already present are left alone, and
# npm runs only when node_modules does not match the lockfile, so running it again costs seconds.
#
#   packaging/install-deps.sh            everything (build, run, test)
#   packaging/install-deps.sh --model    only what the model code needs (compiler, CMake, LibTorch)
set -euo pipefail

model_only=0
for arg in "$@"; do
  case "$arg" in
    --model) model_only=1 ;;
    -h|--help) sed -n '3,8p' "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

# Build tools and the model runtime. libopenblas0-openmp matters: Debian's LibTorch links the
# generic libblas.so.3, and with only the reference BLAS a forward pass runs about 30x slower.
packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libtorch-dev libopenblas0-openmp
  # config/: SHA-256 (OpenSSL), routing rules (RE2); JsonCpp (Orthanc's own JSON library)
  libjsoncpp-dev libssl-dev libre2-dev
  # report/: the figures of `curia evaluate` and `curia fewshot` are PNG files (libpng)
  libpng-dev
  libgtest-dev libgmock-dev
)
if [ "$model_only" = 0 ]; then
  packages+=(
    # DICOM node: Orthanc and its SDK, DCMTK, Boost.Asio, SQLite, zlib (the structure check);
    # OpenJPEG decodes JPEG 2000 (DCMTK 3.6.7 cannot), and Orthanc's GDCM plugin gives Orthanc's own
    # previews and transcoding JPEG 2000 too
    orthanc orthanc-dev liborthancframework-dev libdcmtk-dev dcmtk
    libboost-dev libsqlite3-dev zlib1g-dev libopenjp2-7-dev orthanc-gdcm
    # the PostgreSQL store (libpq; the package's Depends gets libpq5 from dpkg-shlibdeps), and a
    # PostgreSQL 15 server that the storage tests start on loopback (never as a service)
    libpq-dev postgresql-15
    # Orthanc's index and files in PostgreSQL, for the two-node tests (tests/integration/test_cluster.py)
    orthanc-postgresql
    # validators and readers used by the tests; second JPEG 2000 decoders and encoders
    # (opj_decompress/opj_compress, gdcmconv); plastimatch writes the RTSTRUCTs the region reader's
    # tests read (tests/unit/region)
    dicom3tools libpixelmed-java default-jre-headless python3 python3-numpy python3-pydicom
    libopenjp2-tools libgdcm-tools plastimatch
    # the trainers' references: scikit-learn 1.2 and R's pROC 1.18 (tests/unit/train), PyTorch 1.13's
    # own modules and optimiser (tests/unit/train_nn; also the golden generator scripts)
    python3-sklearn r-cran-proc python3-torch
    # the demo script and the integration tests talk to Orthanc over HTTP
    curl
    # the web UI's browser test: Chromium driven by playwright-core from npm (below)
    chromium
    # fuzzing (fuzz/run.sh): clang and its libFuzzer/sanitizer runtimes (libclang_rt.fuzzer)
    clang libclang-rt-14-dev
  )
  # npm, unless a Node.js from elsewhere (NodeSource's nodejs package bundles it) provides it.
  command -v npm >/dev/null || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
else
  sudo_cmd=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo_cmd=(sudo)
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian registers OpenBLAS as an alternative for libblas.so.3; make sure it is the one selected
# (an earlier manual choice of the reference BLAS would otherwise survive the install).
for alt in /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 /usr/lib/aarch64-linux-gnu/openblas-openmp/libblas.so.3; do
  if [ -e "$alt" ]; then
    name="libblas.so.3-$(basename "$(dirname "$(dirname "$alt")")")"
    current=$(readlink -f "/etc/alternatives/$name" 2>/dev/null || true)
    if [ "$current" != "$alt" ]; then
      sudo_cmd=(); [ "$(id -u)" != 0 ] && sudo_cmd=(sudo)
      "${sudo_cmd[@]}" update-alternatives --set "$name" "$alt" >/dev/null
      echo "install-deps: selected OpenBLAS for $name"
    fi
  fi
done

# The tests' npm packages (package.json, package-lock.json at the repository root): playwright-core
# for the browser test, dcmjs for the region reader's SEGs. `npm ci` installs exactly the lockfile;
# a stamp of the lockfile's hash in node_modules skips it when nothing changed.
if [ "$model_only" = 0 ]; then
  root=$(cd "$(dirname "$0")/.." && pwd)
  stamp="$root/node_modules/.curia-lock-sha256"
  want=$(sha256sum "$root/package-lock.json" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "install-deps: npm packages match package-lock.json"
  else
    echo "install-deps: npm ci (package-lock.json)"
    (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
  fi
fi
