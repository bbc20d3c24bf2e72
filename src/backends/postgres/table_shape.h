// What the change events of format "debezium" say of a table, read from the catalog: its schema and
// name, its columns with their types (a domain resolved to its base type), which take NULL, its key
// and its replica identity. Read once per table, and again when rows show the table changed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/postgres/pgoutput.h"
#include "config/pipeline_config.h"
#include "format/debezium_event.h"
#include "pg/connection.h"
#include "relay/result.h"

namespace relay::postgres {

// The shape of the table `table_oid`. Its columns are the catalog's, or, when the WAL described them
// (`relation`), the WAL's (a backlog keeps each row's shape of its time). `key` names the key
// columns (the pipeline's `key`, else the table's).
Result<debezium::TableShape> load_table_shape(pg::Connection& db, std::uint32_t table_oid, std::vector<std::string> key,
                                              const pgoutput::Relation* relation = nullptr);

// The table's primary key columns, in key order (none without a primary key).
Result<std::vector<std::string>> primary_key(pg::Connection& db, std::uint32_t table_oid);

// The events' encoder for that table, with the pipeline's options.
Result<std::shared_ptr<const debezium::EventEncoder>> make_event_encoder(pg::Connection& db, std::uint32_t table_oid,
                                                                         std::vector<std::string> key,
                                                                         const DebeziumOptions& options,
                                                                         const pgoutput::Relation* relation = nullptr);

// The table an outbox's rows come from: the table a capture outbox captures, else pg_trickle's stream
// table of that name. 0 when there is none (an event outbox).
Result<std::uint32_t> outbox_source_table(pg::Connection& db, const std::string& outbox, const std::string& stream_table);

}  // namespace relay::postgres
