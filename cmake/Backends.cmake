# Backends: one folder each under src/backends/, built into a library of its own
# (relay_backend_<dir>) that links the core and its client library, never another backend.
# postgres, stream and http need nothing beyond the core and are always built; a broker backend has
# an option RELAY_WITH_<NAME>, ON by default when its library is found. Every backend's *_spec.cpp
# belongs to the pure relay_config library instead, so configs validate in every build.
# Sets RELAY_BACKEND_DEFINITIONS (before the libraries exist) and, through
# relay_add_backend_libraries(), RELAY_BACKEND_TARGETS.
set(RELAY_BACKEND_DEFINITIONS "")
set(RELAY_BACKEND_BUILDS postgres stream http)
set(RELAY_BACKEND_LIBS_postgres "")
set(RELAY_BACKEND_LIBS_stream "")
set(RELAY_BACKEND_LIBS_http "")

macro(relay_backend name dir found library)
  if(${found})
    option(RELAY_WITH_${name} "Build the ${dir} backend" ON)
  else()
    option(RELAY_WITH_${name} "Build the ${dir} backend" OFF)
  endif()
  if(RELAY_WITH_${name})
    list(APPEND RELAY_BACKEND_DEFINITIONS RELAY_WITH_${name}=1)
    list(APPEND RELAY_BACKEND_BUILDS ${dir})
    list(APPEND RELAY_BACKEND_LIBS_${dir} ${library})
  else()
    list(APPEND RELAY_BACKEND_DEFINITIONS RELAY_WITH_${name}=0)
  endif()
endmacro()

pkg_check_modules(RDKAFKA IMPORTED_TARGET rdkafka)
pkg_check_modules(LIBNATS IMPORTED_TARGET libnats)
pkg_check_modules(HIREDIS IMPORTED_TARGET hiredis)
pkg_check_modules(RABBITMQ IMPORTED_TARGET librabbitmq)

relay_backend(KAFKA kafka RDKAFKA_FOUND PkgConfig::RDKAFKA)
relay_backend(NATS nats LIBNATS_FOUND PkgConfig::LIBNATS)
relay_backend(REDIS redis HIREDIS_FOUND PkgConfig::HIREDIS)
relay_backend(RABBITMQ rabbitmq RABBITMQ_FOUND PkgConfig::RABBITMQ)
relay_backend(SQS sqs CURL_FOUND PkgConfig::CURL)
# The webhook sink lives in the always-built http folder (with the HTTP receiver).
relay_backend(WEBHOOK http CURL_FOUND PkgConfig::CURL)
list(REMOVE_DUPLICATES RELAY_BACKEND_BUILDS)

# One library per built backend folder, linking the core and its own client library.
function(relay_add_backend_libraries)
  set(targets "")
  foreach(dir IN LISTS RELAY_BACKEND_BUILDS)
    file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/backends/${dir}/*.cpp)
    list(FILTER sources EXCLUDE REGEX "_spec\\.cpp$")
    add_library(relay_backend_${dir} STATIC ${sources})
    target_link_libraries(relay_backend_${dir} PUBLIC relay_core ${RELAY_BACKEND_LIBS_${dir}})
    list(APPEND targets relay_backend_${dir})
  endforeach()
  set(RELAY_BACKEND_TARGETS ${targets} PARENT_SCOPE)
endfunction()
