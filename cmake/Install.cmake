# What `cmake --install` lays out, and so what the Debian package holds (scripts/package.sh stages
# this install; deploy/debian/ adds only the package's control files). With --prefix /usr:
#   /usr/bin/pgtrickle-relay                                  the binary (--strip strips it)
#   /usr/share/pgtrickle-relay/pgtrickle_relay.sql           the SQL install, for psql -f
#   /usr/share/man/man1/pgtrickle-relay.1.gz                 `pgtrickle-relay man`, from the binary itself
#   /usr/share/doc/pgtrickle-relay/                          README, docs, examples, copyright, changelog
#                                                            (the copyright names librdkafka's licences when it is linked in)
#   /etc/pgtrickle-relay/pgtrickle-relay.{toml,env}          the service's configuration (conffiles)
#   /lib/systemd/system/pgtrickle-relay{,@}.service          the units (under the prefix unless it is /usr)
include(GNUInstallDirs)

# The man page is printed by the binary from its CLI definition and the backend specs: it is
# made after each link, so it always describes the binary beside it.
set(RELAY_MAN_PAGE ${CMAKE_BINARY_DIR}/pgtrickle-relay.1.gz)
add_custom_command(
  OUTPUT ${RELAY_MAN_PAGE} ${CMAKE_BINARY_DIR}/pgtrickle-relay.1
  COMMAND sh -c "\"$1\" man >\"$2\" && gzip -9n <\"$2\" >\"$3\"" sh
          $<TARGET_FILE:pgtrickle-relay> ${CMAKE_BINARY_DIR}/pgtrickle-relay.1 ${RELAY_MAN_PAGE}
  DEPENDS pgtrickle-relay
  COMMENT "Writing the man page pgtrickle-relay(1)"
  VERBATIM)
add_custom_target(relay_man_page ALL DEPENDS ${RELAY_MAN_PAGE})

# The units name the installed binary and configuration.
set(RELAY_SYSTEMD_UNIT_DIR "" CACHE PATH
    "Where the systemd units are installed (default: /lib/systemd/system for the prefix /usr, else <prefix>/lib/systemd/system)")
set(unit_dir ${RELAY_SYSTEMD_UNIT_DIR})
if(NOT unit_dir AND CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(unit_dir /lib/systemd/system)
elseif(NOT unit_dir)
  set(unit_dir ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
set(RELAY_CONFIG_DIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/pgtrickle-relay)
# One template for both units: pgtrickle-relay.service, and pgtrickle-relay@NAME.service for one
# relay per configuration file.
function(relay_unit unit)
  cmake_parse_arguments(PARSE_ARGV 1 UNIT "" "HEADER;INSTANCE;ENVIRONMENT_FILE;CONFIG;STATE" "")
  file(READ ${CMAKE_SOURCE_DIR}/deploy/systemd/pgtrickle-relay.service.in text)
  string(REGEX REPLACE "^#[^\n]*\n" "" text "${text}")  # the template's own comment
  string(CONFIGURE "${text}" text @ONLY)
  file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/systemd/${unit} CONTENT "${text}")
  install(FILES ${CMAKE_BINARY_DIR}/systemd/${unit} DESTINATION ${unit_dir})
endfunction()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/deploy/systemd/pgtrickle-relay.service.in)
relay_unit(pgtrickle-relay.service CONFIG pgtrickle-relay STATE pgtrickle-relay)
relay_unit(pgtrickle-relay@.service INSTANCE " %i" CONFIG %i STATE pgtrickle-relay/%i
  HEADER "# One relay per configuration file: pgtrickle-relay@NAME reads ${RELAY_CONFIG_DIR}/NAME.toml\n# (and NAME.env beside it). Give each instance its own metrics_addr in its [global] table.\n"
  ENVIRONMENT_FILE "EnvironmentFile=-${RELAY_CONFIG_DIR}/%i.env\n")

install(TARGETS pgtrickle-relay RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_BINARY_DIR}/pgtrickle_relay.sql DESTINATION ${CMAKE_INSTALL_DATADIR}/pgtrickle-relay)
install(FILES ${RELAY_MAN_PAGE} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES deploy/config/pgtrickle-relay.toml DESTINATION ${RELAY_CONFIG_DIR})
install(FILES deploy/config/pgtrickle-relay.env DESTINATION ${RELAY_CONFIG_DIR}
        PERMISSIONS OWNER_READ OWNER_WRITE)  # secrets: read by systemd as root before it drops to the service's user

set(doc ${CMAKE_INSTALL_DOCDIR})
# The README beside docs/ as in the repository, so that the README's and the pages' links resolve.
file(GLOB doc_pages CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/docs/*.md)
file(GLOB doc_backend_pages CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/docs/backends/*.md)
install(FILES README.md SECURITY.md DESTINATION ${doc})
# The copyright file, and with librdkafka linked in (cmake/Backends.cmake) a paragraph holding its
# licence and those of the code it bundles (its LICENSES.txt): the one file that slim images keep.
if(RELAY_WITH_KAFKA AND RELAY_RDKAFKA_STATIC)
  set(relay_licences ${RELAY_RDKAFKA_PREFIX}/share/doc/librdkafka/LICENSES.txt)
  # As a copyright file's text: each line indented, empty ones as " ."; the Apache License 2.0 (of
  # the OpenTelemetry code) named by its place on Debian systems rather than copied.
  set(relay_licences_awk [[
    /^ +Apache License$/ && !done { print " Licensed under the Apache License, Version 2.0: on Debian systems, /usr/share/common-licenses/Apache-2.0"; print " ."; skip = 1; done = 1; next }
    /^LICENSE\./ { skip = 0 }
    !skip { sub(/[ \t]+$/, ""); print ($0 == "" ? " ." : " " $0) }
  ]])
  execute_process(COMMAND awk "${relay_licences_awk}" ${relay_licences}
                  OUTPUT_VARIABLE relay_licences_text COMMAND_ERROR_IS_FATAL ANY)
  file(READ ${CMAKE_SOURCE_DIR}/deploy/debian/copyright relay_copyright)
  file(WRITE ${CMAKE_BINARY_DIR}/copyright "${relay_copyright}
Files: librdkafka/*
Copyright: 2012-2022, Magnus Edenhill
 2023, Confluent Inc.
 the authors of the code librdkafka bundles, named below
License: librdkafka
 librdkafka ${RDKAFKA_VERSION}, built from Debian 13's source package, is linked into
 /usr/bin/pgtrickle-relay (docs/operations.md#librdkafka). Its LICENSES.txt
 follows: librdkafka's licence (BSD-2-Clause) and those of the code it bundles.
 .
${relay_licences_text}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${relay_licences} ${CMAKE_SOURCE_DIR}/deploy/debian/copyright)
  install(FILES ${CMAKE_BINARY_DIR}/copyright DESTINATION ${doc})
else()
  install(FILES deploy/debian/copyright DESTINATION ${doc})
endif()
install(FILES ${doc_pages} DESTINATION ${doc}/docs)
install(FILES ${doc_backend_pages} DESTINATION ${doc}/docs/backends)
install(FILES deploy/config/pgtrickle-relay.toml DESTINATION ${doc}/examples)
install(FILES docs/prometheus/alerts.yml DESTINATION ${doc}/examples/prometheus)
install(FILES docs/grafana/pgtrickle-relay.json DESTINATION ${doc}/examples/grafana)
install(FILES deploy/debian/lintian-overrides DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides RENAME pgtrickle-relay)
