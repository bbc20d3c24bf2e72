# Broker backends: each has an option RELAY_WITH_<NAME>, ON by default when its library is found.
# A backend's code lives in src/backends/<dir>/ (its *spec.cpp files are always built
# so configs validate everywhere). Sets RELAY_BACKEND_SOURCES, RELAY_BACKEND_LIBRARIES and
# RELAY_BACKEND_DEFINITIONS.
set(RELAY_BACKEND_SOURCES "")
set(RELAY_BACKEND_LIBRARIES "")
set(RELAY_BACKEND_DEFINITIONS "")

macro(relay_backend name dir found library)
  if(${found})
    option(RELAY_WITH_${name} "Build the ${dir} backend" ON)
  else()
    option(RELAY_WITH_${name} "Build the ${dir} backend" OFF)
  endif()
  if(RELAY_WITH_${name})
    list(APPEND RELAY_BACKEND_DEFINITIONS RELAY_WITH_${name}=1)
    file(GLOB _relay_backend_sources CONFIGURE_DEPENDS
      ${CMAKE_SOURCE_DIR}/src/backends/${dir}/*.cpp)
    list(APPEND RELAY_BACKEND_SOURCES ${_relay_backend_sources})
    list(APPEND RELAY_BACKEND_LIBRARIES ${library})
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
# libcurl is required by the core (src/http/), so these two are always available.
relay_backend(SQS sqs CURL_FOUND PkgConfig::CURL)
relay_backend(WEBHOOK http CURL_FOUND PkgConfig::CURL)
list(REMOVE_DUPLICATES RELAY_BACKEND_LIBRARIES)
