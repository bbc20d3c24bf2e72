# What `cmake --install` lays out, and so what the Debian package holds (scripts/package.sh stages
# this install; deploy/debian/ adds only the package's control files). With --prefix /usr:
#   /usr/bin/pgtrickle-relay                                  the binary (--strip strips it)
#   /usr/share/pgtrickle-relay/pgtrickle_relay.sql           the SQL install, for psql -f
#   /usr/share/man/man1/pgtrickle-relay.1.gz                 `pgtrickle-relay man`, from the binary itself
#   /usr/share/doc/pgtrickle-relay/                          README, docs, examples, copyright, changelog
#                                                            (librdkafka/LICENSES.txt when it is linked in)
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
install(FILES README.md SECURITY.md deploy/debian/copyright DESTINATION ${doc})
# librdkafka linked in (cmake/Backends.cmake): its licence and those of the code it bundles.
if(RELAY_WITH_KAFKA AND RELAY_RDKAFKA_STATIC)
  install(FILES ${RELAY_RDKAFKA_PREFIX}/share/doc/librdkafka/LICENSES.txt DESTINATION ${doc}/librdkafka)
endif()
install(FILES ${doc_pages} DESTINATION ${doc}/docs)
install(FILES ${doc_backend_pages} DESTINATION ${doc}/docs/backends)
install(FILES deploy/config/pgtrickle-relay.toml DESTINATION ${doc}/examples)
install(FILES docs/prometheus/alerts.yml DESTINATION ${doc}/examples/prometheus)
install(FILES docs/grafana/pgtrickle-relay.json DESTINATION ${doc}/examples/grafana)
install(FILES deploy/debian/lintian-overrides DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides RENAME pgtrickle-relay)
