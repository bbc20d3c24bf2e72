// What a pipeline of source type outbox, stream_table or pgstream reads, as the database resolves
// it: the outbox table (a pgstream stream's is made the first time it is named), its claim-check
// table, its key and its name in messages, and, for a table captured from the WAL (or a stream read
// from it), the table and the publication a slot streams. The outbox source reads the outbox; the
// WAL source reads the slot.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "backends/postgres/expand.h"
#include "backends/postgres/outbox_reader.h"
#include "config/pipeline_config.h"
#include "core/build_context.h"
#include "relay/result.h"

namespace relay::postgres {

struct OutboxTarget {
  OutboxReader::Table table;
  std::vector<std::string> key_columns;  // the table's key, unless the pipeline names one
  std::string stream_table;              // the name in messages
  std::string source_schema, source_table;  // the captured table (empty: known only by stream_table)
  struct Wal {
    std::string schema, name;  // the table the slot's changes are read for
    std::string publication;
    std::string database_oid;  // part of the slot's name
  };
  std::optional<Wal> wal;  // the table is captured from the WAL

  // What the outbox decides of its messages, beside the pipeline's options: the outbox's name (in
  // identities), the name in messages and the schema and table it stands for, the key unless the
  // pipeline names one; a pgstream stream's events go out bare.
  void fill(ExpandOptions& opt, const PipelineConfig& config) const {
    opt.outbox = table.outbox;
    opt.stream_table = stream_table;
    if (!source_table.empty()) {
      opt.schema = source_schema;
      opt.table = source_table;
    } else {
      auto [s, t] = split_stream_table(stream_table);  // the name in messages is all that is known of them
      opt.schema = std::move(s);
      opt.table = std::move(t);
    }
    if (opt.key_columns.empty()) opt.key_columns = key_columns;
    opt.bare_events = config.source_type == "pgstream";
  }
};

// Resolves the pipeline's source on ctx.db; also grants the relay's role an outbox pg_trickle made
// after the install, and warns of a template variable always empty for this outbox.
Result<OutboxTarget> resolve_outbox_target(const PipelineConfig& config, const BuildContext& ctx);

}  // namespace relay::postgres
