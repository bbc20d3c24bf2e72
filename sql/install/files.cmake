# The SQL install, in the order it runs: build/pgtrickle_relay.sql is these files joined, each
# followed by a blank line (cmake/ConcatFiles.cmake). One transaction: the first file opens it,
# the last commits it.
set(RELAY_SQL_INSTALL_FILES
  sql/install/01_schema_and_roles.sql
  sql/install/02_install_helpers.sql
  sql/install/03_config_spec_tables.sql
  sql/install/04_config_spec_rows.sql
  sql/install/05_config_validation.sql
  sql/install/05_config_redaction.sql
  sql/install/06_relay_catalog.sql
  sql/install/07_relay_state.sql
  sql/install/08_commit_order.sql
  sql/install/09_outbox_capture.sql
  sql/install/10_outbox_functions.sql
  sql/install/10_outbox_publications.sql
  sql/install/11_outbox_retention.sql
  sql/install/12_consumer_groups.sql
  sql/install/13_inbox.sql
  sql/install/14_backfill.sql
  sql/install/15_pgstream_subscriptions.sql
  sql/install/16_pgstream_generation.sql
  sql/install/17_pgstream_events.sql
  sql/install/18_wal_pipelines.sql
  sql/install/18_wal_publications.sql
  sql/install/19_version.sql
  sql/install/20_privileges.sql
)
