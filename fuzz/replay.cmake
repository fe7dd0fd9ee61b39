# SPDX-License-Identifier: GPL-3.0-or-later
# The fuzzers' crash inputs (fuzz/regressions/<target>/) replayed through the same entry points,
# built with the normal compiler: one ctest test per target, fuzz_regressions.<target>.
include(${CMAKE_CURRENT_LIST_DIR}/targets.cmake)
foreach(target ${CURIA_FUZZ_TARGETS})
  add_executable(fuzz_replay_${target} ${CURIA_FUZZ_DIR}/fuzz_${target}.cpp ${CURIA_FUZZ_DIR}/replay_main.cpp)
  target_link_libraries(fuzz_replay_${target} PRIVATE ${CURIA_FUZZ_LIBS_${target}})
  curia_target_defaults(fuzz_replay_${target})
  add_test(NAME fuzz_regressions.${target} COMMAND fuzz_replay_${target} ${CURIA_FUZZ_DIR}/regressions/${target})
  set_tests_properties(fuzz_regressions.${target} PROPERTIES TIMEOUT 120 LABELS fuzz)
endforeach()
