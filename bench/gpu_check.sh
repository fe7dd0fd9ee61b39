#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The GPU check of the model code (see bench/README.md): builds the `curia` tool with the model code
# alone (-DCURIA_MODEL_ONLY=ON: LibTorch, no Orthanc, DCMTK, SQLite or Boost), then runs
# `curia bench gpu`: every precision against a float64 CPU reference, and throughput by batch and
# precision with the ratio to a plain matrix product. Without a visible CUDA device (or with
# --cpu-only) it runs the CPU part: fp32 and bf16 on the CPU against the float64 reference.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/gpu_check.sh [--cpu-only] [--build-dir DIR] [--device cuda:N] [--json FILE]
                          [--python PY] [--torch-config auto|wheel|bench] [--jobs N]
                          [-- extra options of `curia bench gpu`]

  --cpu-only        CPU part only (chosen automatically when no CUDA device is visible)
  --build-dir DIR   build folder (default: build-gpu in the repository)
  --device D        device of the GPU check (default: cuda:0)
  --json FILE       JSON copy of the figures (default: <build-dir>/gpu-check.json, and
                    <build-dir>/gpu-check-base128.json for the second CPU run)
  --python PY       python whose torch provides LibTorch (default: $PYTHON or python3); without
                    one, or with "none", the system's LibTorch (e.g. Debian's libtorch-dev) is used
  --torch-config C  with a python's torch: its own TorchConfig.cmake (wheel), the headers-and-
                    libraries one in bench/cmake (bench: no CUDA toolkit needed), or the first
                    that configures (auto, the default)
  --jobs N          build jobs (default: all cores)
  after --           passed to `curia bench gpu` (e.g. -- --batches 1,64 --iterations 20)
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build-gpu"
CPU_ONLY=0
DEVICE=cuda:0
JSON=""
PY="${PYTHON:-python3}"
JOBS=$(nproc 2>/dev/null || echo 4)
TORCH_CONFIG=auto
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cpu-only) CPU_ONLY=1 ;;
    --build-dir) BUILD=$(realpath -m "$2"); shift ;;
    --device) DEVICE="$2"; shift ;;
    --json) JSON=$(realpath -m "$2"); shift ;;
    --python) PY="$2"; shift ;;
    --torch-config) TORCH_CONFIG="$2"; shift ;;
    --jobs) JOBS="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "gpu_check.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

step() { printf '\n== %s\n' "$*"; }

# --- LibTorch: a python's torch package if there is one, else the system's --------------------
step "LibTorch"
TORCH_PREFIX="" TORCH_ROOT="" TORCH_VERSION="" TORCH_CUDA="" TORCH_ABI=""
if [[ "$PY" != none ]] && command -v "$PY" >/dev/null 2>&1 &&
   TORCH_INFO=$("$PY" -c 'import os, torch, torch.utils
print(torch.utils.cmake_prefix_path)
print(os.path.dirname(torch.__file__))
print(torch.__version__)
print(torch.version.cuda or "none")
print(int(torch._C._GLIBCXX_USE_CXX11_ABI))' 2>/dev/null); then
  { read -r TORCH_PREFIX; read -r TORCH_ROOT; read -r TORCH_VERSION; read -r TORCH_CUDA; read -r TORCH_ABI; } <<<"$TORCH_INFO"
  echo "PyTorch $TORCH_VERSION (CUDA $TORCH_CUDA) from $("$PY" -c 'import sys; print(sys.executable)'): $TORCH_ROOT"
else
  echo "no python with torch ($PY): using the system's LibTorch (CMake's default search)"
fi

# --- Configure and build the model-only tool -----------------------------------------------------
step "Build (model code only) in $BUILD"
GEN=(-G "Unix Makefiles")
if command -v ninja >/dev/null 2>&1; then GEN=(-G Ninja); fi
mkdir -p "$BUILD"
COMMON=(-S "$ROOT" -B "$BUILD" "${GEN[@]}" -DCURIA_MODEL_ONLY=ON -DCURIA_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release)
configure_log="$BUILD/gpu-check-configure.log"
case "$TORCH_CONFIG" in auto|wheel|bench) ;; *) echo "gpu_check.sh: --torch-config auto|wheel|bench" >&2; exit 2 ;; esac
if [[ -n "$TORCH_PREFIX" ]]; then
  # The wheel's own package first; it needs the CUDA toolkit at configure time, so fall back to
  # bench/cmake/TorchConfig.cmake (the wheel's headers and libraries only) when it fails.
  rm -f "$BUILD/CMakeCache.txt"  # no Torch_DIR left over from the other way
  if [[ "$TORCH_CONFIG" != bench ]] &&
     cmake "${COMMON[@]}" -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" >"$configure_log" 2>&1; then
    echo "configured with the wheel's TorchConfig.cmake"
  elif [[ "$TORCH_CONFIG" == wheel ]]; then
    cat "$configure_log"; echo "gpu_check.sh: configure with the wheel's TorchConfig.cmake failed" >&2; exit 1
  else
    if [[ "$TORCH_CONFIG" == auto ]]; then
      echo "the wheel's TorchConfig.cmake failed (it needs the CUDA toolkit); its last messages:"
      grep -E 'Error|error|CUDA' "$configure_log" | tail -n 4 | sed 's/^/    /' || true
    fi
    rm -f "$BUILD/CMakeCache.txt"
    cmake "${COMMON[@]}" -DTorch_DIR="$ROOT/bench/cmake" -DCURIA_TORCH_ROOT="$TORCH_ROOT" \
      -DCURIA_TORCH_VERSION="${TORCH_VERSION%%+*}" -DCURIA_TORCH_CXX11_ABI="$TORCH_ABI" >"$configure_log" 2>&1 ||
      { cat "$configure_log"; echo "gpu_check.sh: configure failed" >&2; exit 1; }
    echo "configured with bench/cmake/TorchConfig.cmake (the wheel's headers and libraries)"
  fi
else
  cmake "${COMMON[@]}" >"$configure_log" 2>&1 || { cat "$configure_log"; echo "gpu_check.sh: configure failed" >&2; exit 1; }
fi
grep -E '^-- LibTorch' "$configure_log" | sed 's/^-- /    /' | cut -c1-200 || true
cmake --build "$BUILD" --target curia_cli -j "$JOBS" >"$BUILD/gpu-check-build.log" 2>&1 ||
  { tail -n 40 "$BUILD/gpu-check-build.log"; echo "gpu_check.sh: build failed (log: $BUILD/gpu-check-build.log)" >&2; exit 1; }
CURIA="$BUILD/cli/curia"
echo "built $CURIA"

# --- Which part: GPU when a CUDA device is visible ------------------------------------------------
if [[ $CPU_ONLY -eq 0 ]]; then
  if [[ "${CUDA_VISIBLE_DEVICES-unset}" == "" || "${CUDA_VISIBLE_DEVICES-unset}" == "-1" ]] ||
     ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    echo
    echo "no CUDA device visible (nvidia-smi -L lists none, or CUDA_VISIBLE_DEVICES hides them): running the CPU part"
    CPU_ONLY=1
  fi
fi

status=0
if [[ $CPU_ONLY -eq 0 ]]; then
  step "GPU"
  nvidia-smi --query-gpu=index,name,driver_version,memory.total,clocks.max.sm --format=csv 2>/dev/null || true
  step "curia bench gpu --device $DEVICE (Curia-B shapes, 512x512)"
  "$CURIA" bench gpu --device "$DEVICE" --size base --batches 1,8,32,64,128 --precisions fp32,fp16,bf16 \
    --iterations 10 --json "${JSON:-$BUILD/gpu-check.json}" "${EXTRA[@]}" || status=$?
  echo "JSON: ${JSON:-$BUILD/gpu-check.json}"
else
  # 1. The tiny demo model at its 512x512 input: every step, throughput included, in seconds.
  step "CPU part 1/2: curia bench gpu --device cpu (tiny demo model, 512x512)"
  "$CURIA" bench gpu --device cpu --size tiny --batches 1,2 --precisions fp32,bf16 --iterations 3 \
    --json "${JSON:-$BUILD/gpu-check.json}" "${EXTRA[@]}" || status=$?
  # 2. Curia-B shapes (12 layers: where half-precision errors build up) on small 128x128 images
  #    (position embeddings interpolated), accuracy only.
  step "CPU part 2/2: curia bench gpu --device cpu (Curia-B shapes, 128x128, accuracy only)"
  json2="${JSON:+${JSON%.json}-base128.json}"
  "$CURIA" bench gpu --device cpu --size base --image-size 128 --precisions fp32,bf16 --accuracy-only \
    --json "${json2:-$BUILD/gpu-check-base128.json}" "${EXTRA[@]}" || status=$?
  echo
  echo "JSON: ${JSON:-$BUILD/gpu-check.json}, ${json2:-$BUILD/gpu-check-base128.json}"
fi
if [[ $status -ne 0 ]]; then echo "gpu_check.sh: FAILED (exit $status): see the tables above" >&2; fi
exit $status
