# Unity builds: a target's sources compiled a few at a time as one translation unit, so the headers
# they share (the standard library, nlohmann/json, fmt) are parsed and their templates instantiated
# once per batch rather than once per file. The relay is built six times in a full test run (this
# release's, its sanitized one, Debian 13's, two arm64 builds, the fuzz targets'): this is most of
# what a cold run's compiling costs. RELAY_UNITY_BUILD=OFF compiles file by file (what an editor's
# compile_commands.json then lists).
#
# Each batch is a file of #include lines under build/unity/ naming the sources relative to src/
# (found through the target's include directory), not by absolute path: the compiler cache
# (scripts/compiler-cache.sh) then finds a batch's object again from a clone in another directory.
# Names private to a source file (an anonymous namespace) must therefore be distinct within its
# library: two files' `Settings` would clash in one batch.
option(RELAY_UNITY_BUILD "Compile each library's sources in batches, each batch as one file" ON)
set(RELAY_UNITY_BATCH_SIZE 12 CACHE STRING "The most sources in one batch of a unity build")

# relay_unity_build(TARGET [ROOT DIR] [BY_DIRECTORY]): TARGET's .cpp files under DIR (src/ when not
# given, which must be an include directory of TARGET) compiled in batches of at most
# RELAY_UNITY_BATCH_SIZE, as even as they can be; with BY_DIRECTORY a batch holds one directory's
# files only (the tests': helpers of one backend's files meet only each other). Its other sources
# (generated ones) compile as they are.
function(relay_unity_build target)
  cmake_parse_arguments(PARSE_ARGV 1 unity "BY_DIRECTORY" "ROOT" "")
  if(NOT RELAY_UNITY_BUILD)
    return()
  endif()
  if(NOT unity_ROOT)
    set(unity_ROOT "${CMAKE_SOURCE_DIR}/src")
  endif()
  target_include_directories(${target} PRIVATE "${unity_ROOT}")
  # GCC takes the included sources for headers and warns of their own anonymous-namespace types
  # inside their classes' coroutine frames (-Wsubobject-linkage): meant for headers, wrong here.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-subobject-linkage)
  endif()
  get_target_property(sources ${target} SOURCES)
  get_target_property(source_dir ${target} SOURCE_DIR)
  set(groups "")  # a directory each with BY_DIRECTORY, else the one group "all"
  foreach(source IN LISTS sources)
    get_filename_component(path "${source}" ABSOLUTE BASE_DIR "${source_dir}")
    string(FIND "${path}" "${unity_ROOT}/" at)  # a prefix, not a pattern: the path may hold + or (
    if(at EQUAL 0 AND path MATCHES "\\.cpp$")
      set(group all)
      if(unity_BY_DIRECTORY)
        get_filename_component(group "${path}" DIRECTORY)
        string(MAKE_C_IDENTIFIER "${group}" group)
      endif()
      list(APPEND groups ${group})
      list(APPEND "files_${group}" "${path}")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES groups)
  set(index 0)
  foreach(group IN LISTS groups)
    list(LENGTH files_${group} count)
    if(count LESS 2)
      continue()  # one file compiles as it is
    endif()
    math(EXPR batches "(${count} + ${RELAY_UNITY_BATCH_SIZE} - 1) / ${RELAY_UNITY_BATCH_SIZE}")
    set(first ${index})
    set(taken 0)
    set(content "")
    foreach(path IN LISTS files_${group})
      file(RELATIVE_PATH relative "${unity_ROOT}" "${path}")
      string(APPEND content "#include \"${relative}\"\n")
      set_source_files_properties("${path}" TARGET_DIRECTORY ${target} PROPERTIES HEADER_FILE_ONLY ON)
      math(EXPR taken "${taken} + 1")
      # Batch `index` ends after (index - first + 1) * count / batches sources: sizes differ by one at most.
      math(EXPR end "(${index} - ${first} + 1) * ${count} / ${batches}")
      if(taken EQUAL end)
        set(unity_file "${CMAKE_BINARY_DIR}/unity/${target}_${index}.cpp")
        # Written only when it changes, so a reconfigure recompiles nothing.
        file(CONFIGURE OUTPUT "${unity_file}" CONTENT "${content}" @ONLY)
        target_sources(${target} PRIVATE "${unity_file}")
        math(EXPR index "${index} + 1")
        set(content "")
      endif()
    endforeach()
  endforeach()
  # Batches an earlier configure made beyond these (the target had more sources) are not compiled.
  file(GLOB written "${CMAKE_BINARY_DIR}/unity/${target}_*.cpp")
  foreach(file IN LISTS written)
    string(REGEX REPLACE ".*_([0-9]+)\\.cpp$" "\\1" number "${file}")
    if(number GREATER_EQUAL index)
      file(REMOVE "${file}")
    endif()
  endforeach()
endfunction()
