# Builds and runs tests/consumer against tinydl, as CTest test "consumer: <MODE>".
#   MODE=package:      install tinydl from BUILD_DIR into a prefix, then find_package it; also
#                      compile the program with the installed tinydl.pc through pkg-config.
#   MODE=subdirectory: add_subdirectory(SOURCE_DIR).
cmake_minimum_required(VERSION 3.20)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    list(JOIN ARGN " " cmd)
    message(FATAL_ERROR "failed (${rc}): ${cmd}")
  endif()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(consumer_src "${SOURCE_DIR}/tests/consumer")
if(MODE STREQUAL "package")
  set(prefix "${WORK_DIR}/prefix")
  run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")
  run(${CMAKE_COMMAND} -S "${consumer_src}" -B "${WORK_DIR}/build" -DMODE=package
      -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX})
  run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
  run("${WORK_DIR}/build/consumer")

  find_program(PKG_CONFIG pkg-config)
  if(PKG_CONFIG)
    set(ENV{PKG_CONFIG_PATH} "${prefix}/share/pkgconfig")
    execute_process(COMMAND ${PKG_CONFIG} --cflags --libs tinydl OUTPUT_VARIABLE flags
                    RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "pkg-config does not find the installed tinydl.pc")
    endif()
    separate_arguments(flags UNIX_COMMAND "${flags}")
    run(${CXX} "${consumer_src}/main.cpp" ${flags} -o "${WORK_DIR}/consumer-pkg-config")
    run("${WORK_DIR}/consumer-pkg-config")
  endif()
else()
  run(${CMAKE_COMMAND} -S "${consumer_src}" -B "${WORK_DIR}/build" -DMODE=subdirectory
      -DTINYDL_SOURCE_DIR=${SOURCE_DIR} -DCMAKE_CXX_COMPILER=${CXX})
  run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
  run("${WORK_DIR}/build/consumer")
endif()
