# The layers, checked on every configure (and by a test on a tree that breaks them):
#   src/config, src/util and every backend's *_spec.* files: the pure library (relay_config); they
#                         include only each other and include/relay/;
#   src/core, src/pg, src/http, src/metrics, src/log, src/format (message formats): the core, shared
#                         by all backends; never
#                         include a backend nor the app;
#   src/backends/<name>/  one backend, both directions; may use everything below it, never another
#                         backend nor the app (src/backends/registry.* lists them all);
#   src/app/              the command line; may include anything.
# Below the backends no code names one (`postgres::`, `namespace kafka { class … }`): a forward
# declaration crosses a layer as an include does. A backend names no other backend either. The
# registry and its list of every backend (src/backends/registry.*, src/config/backend_list.h) do.
# Run as a script: cmake -DRELAY_LAYERS_ROOT=<dir holding src/> -P CheckLayers.cmake
function(relay_check_layers root)
  file(GLOB_RECURSE files RELATIVE ${root}/src ${root}/src/*.h ${root}/src/*.cpp)
  set(problems "")
  # The backends' namespaces: their folders' names, but those a shared layer has too (src/http).
  file(GLOB backend_dirs LIST_DIRECTORIES true RELATIVE ${root}/src/backends ${root}/src/backends/*)
  set(backend_names "")
  foreach(d IN LISTS backend_dirs)
    if(IS_DIRECTORY ${root}/src/backends/${d} AND NOT EXISTS ${root}/src/${d})
      list(APPEND backend_names ${d})
    endif()
  endforeach()
  foreach(f IN LISTS files)
    string(REGEX MATCH "^[^/]+" layer "${f}")
    set(own_backend "")
    if(layer STREQUAL "backends")
      string(REGEX REPLACE "^backends/([^/]+)/.*" "\\1" own_backend "${f}")
    endif()
    set(pure FALSE)
    if(layer STREQUAL "config" OR layer STREQUAL "util" OR f MATCHES "^backends/[^/]+/[^/]*_spec\\.(h|cpp)$")
      set(pure TRUE)
    endif()
    file(STRINGS ${root}/src/${f} includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
    foreach(line IN LISTS includes)
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*" "\\1" inc "${line}")
      if(pure AND NOT inc MATCHES "^(config|util|relay)/" AND NOT inc MATCHES "^backends/${own_backend}/[^/]*_spec\\.h$")
        list(APPEND problems "src/${f} includes ${inc}: the config library (src/config, src/util, the specs) is pure and includes only itself")
      elseif(inc MATCHES "^app/" AND NOT layer STREQUAL "app")
        list(APPEND problems "src/${f} includes ${inc}: only the app includes the app")
      elseif(inc MATCHES "^backends/([^/]+)/")
        set(target_backend "${CMAKE_MATCH_1}")
        if(layer STREQUAL "backends" AND NOT target_backend STREQUAL own_backend)
          list(APPEND problems "src/${f} includes ${inc}: a backend does not include another backend (move what both need to src/util or src/core)")
        elseif(NOT layer STREQUAL "backends" AND NOT layer STREQUAL "app")
          list(APPEND problems "src/${f} includes ${inc}: src/${layer} is shared by every backend and includes none")
        endif()
      endif()
    endforeach()
    # The registry and its list (src/backends/registry.*, src/config/backend_list.h) name them all.
    if(NOT layer STREQUAL "app" AND NOT f MATCHES "^backends/[^/]+$" AND NOT f STREQUAL "config/backend_list.h")
      set(foreign ${backend_names})
      list(REMOVE_ITEM foreign "${own_backend}")
      if(foreign)
        list(JOIN foreign "|" names)
        file(STRINGS ${root}/src/${f} named REGEX "(namespace[ \t]+(relay::)?(${names})([ \t{]|$)|(^|[^A-Za-z0-9_])(${names})::)")
        if(named)
          list(GET named 0 first)
          string(REGEX MATCH "(${names})" backend "${first}")
          if(layer STREQUAL "backends")
            list(APPEND problems "src/${f} names the backend ${backend} (${backend}::, or a forward declaration): a backend does not reach into another")
          else()
            list(APPEND problems "src/${f} names the backend ${backend} (${backend}::, or a forward declaration): src/${layer} is shared by every backend and names none (what a backend keeps for a whole relay is a BackendShared)")
          endif()
        endif()
      endif()
    endif()
  endforeach()
  if(problems)
    list(JOIN problems "\n  " text)
    message(FATAL_ERROR "Layering broken:\n  ${text}")
  endif()
endfunction()

if(CMAKE_SCRIPT_MODE_FILE AND DEFINED RELAY_LAYERS_ROOT)
  relay_check_layers(${RELAY_LAYERS_ROOT})
endif()
