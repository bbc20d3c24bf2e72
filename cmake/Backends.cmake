# Backends: one folder each under src/backends/, built into a library of its own
# (relay_backend_<dir>) that links the core and its client library, never another backend.
# postgres, stream and http need nothing beyond the core and are always built; a broker backend has
# an option RELAY_WITH_<NAME>, ON by default when its library is found. Every backend's *_spec.cpp
# belongs to the pure relay_config library instead, so configs validate in every build.
# RELAY_BROKER_BACKENDS=OFF leaves every broker backend out, whatever is found (each RELAY_WITH_<NAME>
# is OFF): the lean relay of the demo (scripts/build.sh demo).
# Sets RELAY_BACKEND_DEFINITIONS (before the libraries exist) and, through
# relay_add_backend_libraries(), RELAY_BACKEND_TARGETS.
option(RELAY_BROKER_BACKENDS "Build the broker backends whose libraries are found (OFF: none of them)" ON)
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
  if(NOT RELAY_BROKER_BACKENDS)
    set(RELAY_WITH_${name} OFF)  # over the cache's value, for the tests' and the install's checks too
  endif()
  if(RELAY_WITH_${name})
    list(APPEND RELAY_BACKEND_DEFINITIONS RELAY_WITH_${name}=1)
    list(APPEND RELAY_BACKEND_BUILDS ${dir})
    list(APPEND RELAY_BACKEND_LIBS_${dir} ${library})
  else()
    list(APPEND RELAY_BACKEND_DEFINITIONS RELAY_WITH_${name}=0)
  endif()
endmacro()

# librdkafka 2.6.1 or later: SASL SCRAM logins to Kafka 4 fail before (docs/operations.md#librdkafka).
# First the static build of scripts/librdkafka.sh for this architecture (Debian 12's is 2.0.2), then
# a system librdkafka new enough (Debian 13's 2.8.0). Sets RDKAFKA_FOUND, the target relay::rdkafka
# and, for the static build, RELAY_RDKAFKA_STATIC.
set(RELAY_RDKAFKA_MIN_VERSION 2.6.1)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  set(relay_rdkafka_arch arm64)
else()
  set(relay_rdkafka_arch amd64)
endif()
execute_process(COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/librdkafka.sh --print-prefix ${relay_rdkafka_arch}
                OUTPUT_VARIABLE relay_rdkafka_prefix OUTPUT_STRIP_TRAILING_WHITESPACE)
set(RELAY_RDKAFKA_PREFIX "${relay_rdkafka_prefix}" CACHE PATH "Static librdkafka built by scripts/librdkafka.sh (used when it exists)")
if(EXISTS ${RELAY_RDKAFKA_PREFIX}/lib/pkgconfig/rdkafka-static.pc)
  set(ENV{PKG_CONFIG_PATH} "${RELAY_RDKAFKA_PREFIX}/lib/pkgconfig:$ENV{PKG_CONFIG_PATH}")
  pkg_check_modules(RDKAFKA rdkafka-static>=${RELAY_RDKAFKA_MIN_VERSION})
  if(RDKAFKA_FOUND)
    # Its flags as they are: pkg-config names the archive by its path, which an IMPORTED_TARGET of
    # pkg_check_modules would pass as a link option, before the objects that need it.
    add_library(relay::rdkafka INTERFACE IMPORTED GLOBAL)
    set_target_properties(relay::rdkafka PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${RDKAFKA_INCLUDE_DIRS}"
      INTERFACE_LINK_LIBRARIES "${RDKAFKA_LDFLAGS}")
    set(RELAY_RDKAFKA_STATIC TRUE)  # its licences go with the binary (cmake/Install.cmake)
    message(STATUS "librdkafka ${RDKAFKA_VERSION}, static: ${RELAY_RDKAFKA_PREFIX}")
  endif()
else()
  pkg_check_modules(RDKAFKA IMPORTED_TARGET rdkafka>=${RELAY_RDKAFKA_MIN_VERSION})
  if(RDKAFKA_FOUND)
    add_library(relay::rdkafka ALIAS PkgConfig::RDKAFKA)
  else()
    pkg_check_modules(RDKAFKA_OLD QUIET rdkafka)
    if(RDKAFKA_OLD_FOUND)
      message(WARNING "librdkafka ${RDKAFKA_OLD_VERSION} is older than ${RELAY_RDKAFKA_MIN_VERSION} (SCRAM logins to Kafka 4 "
                      "fail): the Kafka backend is left out. scripts/librdkafka.sh builds 2.8.0 into ${RELAY_RDKAFKA_PREFIX}.")
    endif()
  endif()
endif()
pkg_check_modules(LIBNATS IMPORTED_TARGET libnats)
pkg_check_modules(HIREDIS IMPORTED_TARGET hiredis)
pkg_check_modules(RABBITMQ IMPORTED_TARGET librabbitmq)

relay_backend(KAFKA kafka RDKAFKA_FOUND relay::rdkafka)
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
