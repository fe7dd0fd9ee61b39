# SPDX-License-Identifier: GPL-3.0-or-later
# A minimal Torch package for the LibTorch inside a PyTorch wheel, used by bench/gpu_check.sh only
# when the wheel's own TorchConfig.cmake fails: that one needs the CUDA toolkit (nvcc, CUDA
# headers) at configure time, which a machine with just the driver and the wheel does not have.
# The model code includes ATen headers only, so the wheel's headers and libraries are enough.
#
#   cmake -DTorch_DIR=<repo>/bench/cmake -DCURIA_TORCH_ROOT=<site-packages>/torch
#         [-DCURIA_TORCH_CXX11_ABI=0|1] [-DCURIA_TORCH_VERSION=2.11.0] ...
#
# Sets what the project reads from the real package: TORCH_LIBRARIES, TORCH_INCLUDE_DIRS,
# Torch_VERSION (and TORCH_FOUND).
if(NOT CURIA_TORCH_ROOT OR NOT EXISTS "${CURIA_TORCH_ROOT}/include/ATen/ATen.h")
  message(FATAL_ERROR "bench/cmake/TorchConfig.cmake: set CURIA_TORCH_ROOT to the torch package folder "
                      "(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))'), got '${CURIA_TORCH_ROOT}'")
endif()
set(Torch_VERSION "${CURIA_TORCH_VERSION}")
set(TORCH_INCLUDE_DIRS "${CURIA_TORCH_ROOT}/include" "${CURIA_TORCH_ROOT}/include/torch/csrc/api/include")

set(_curia_torch_libs)
foreach(_name torch torch_cpu c10 torch_cuda c10_cuda)
  find_library(CURIA_TORCH_LIB_${_name} ${_name} PATHS "${CURIA_TORCH_ROOT}/lib" NO_DEFAULT_PATH)
  if(CURIA_TORCH_LIB_${_name})
    list(APPEND _curia_torch_libs "${CURIA_TORCH_LIB_${_name}}")
  elseif(_name MATCHES "^(torch|torch_cpu|c10)$")
    message(FATAL_ERROR "bench/cmake/TorchConfig.cmake: lib${_name}.so not found in ${CURIA_TORCH_ROOT}/lib")
  endif()
endforeach()

# Nothing in the model code names a CUDA symbol, so a linker that drops unneeded libraries
# (--as-needed) would drop libtorch_cuda.so and with it LibTorch's CUDA backend: keep them all.
add_library(curia_wheel_torch INTERFACE IMPORTED)
set_target_properties(curia_wheel_torch PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${TORCH_INCLUDE_DIRS}"
  INTERFACE_LINK_LIBRARIES "-Wl,--no-as-needed;${_curia_torch_libs};-Wl,--as-needed;Threads::Threads")
if(NOT "${CURIA_TORCH_CXX11_ABI}" STREQUAL "")
  set_property(TARGET curia_wheel_torch PROPERTY INTERFACE_COMPILE_DEFINITIONS
               "_GLIBCXX_USE_CXX11_ABI=${CURIA_TORCH_CXX11_ABI}")
endif()
set(TORCH_LIBRARIES curia_wheel_torch)
set(TORCH_FOUND TRUE)
set(Torch_FOUND TRUE)
message(STATUS "LibTorch from the wheel at ${CURIA_TORCH_ROOT} (bench/cmake/TorchConfig.cmake, no CUDA toolkit needed): "
               "${_curia_torch_libs}")
