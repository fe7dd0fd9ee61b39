# SPDX-License-Identifier: GPL-3.0-or-later
# The fuzz targets and the libraries each links: included by fuzz/CMakeLists.txt (libFuzzer builds,
# CURIA_FUZZ=ON) and by tests/CMakeLists.txt (the regression replay, any compiler).
set(CURIA_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
set(CURIA_FUZZ_TARGETS safetensors hf_config settings)
set(CURIA_FUZZ_LIBS_safetensors curia_model)
set(CURIA_FUZZ_LIBS_hf_config curia_model)
set(CURIA_FUZZ_LIBS_settings curia_config)
if(TARGET curia_dicom)
  list(APPEND CURIA_FUZZ_TARGETS series structure)
  set(CURIA_FUZZ_LIBS_series curia_dicom)
  set(CURIA_FUZZ_LIBS_structure curia_dicom DCMTK::dcmdata)
endif()
