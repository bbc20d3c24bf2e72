#include "backends/postgres/outbox_target.h"

#include <fmt/format.h>

#include "pg/copy_text.h"
#include "util/pg_text.h"

namespace relay::postgres {

namespace {

// The outbox the source names: a table or outbox, or the one that holds a pgstream stream's events.
Result<std::string> source_outbox(const PipelineConfig& config, pg::Connection& db) {
  const ConfigSection s = config.source_section();
  if (config.source_type != "pgstream") return s.has("stream_table") ? s.text("stream_table") : s.text("outbox");
  auto r = db.exec("SELECT pgstream.stream_outbox($1)", {std::to_string(s.integer("stream_id"))});
  if (!r) {
    if (r.error().message.find("pgstream.stream_outbox") != std::string::npos && r.error().message.find("does not exist") != std::string::npos)
      return fatal("the database has no pgstream schema: run `pgtrickle-relay install` (the SQL install of this version provides it)");
    return r.error();
  }
  return r->str(0, 0);
}

}  // namespace

Result<OutboxTarget> resolve_outbox_target(const PipelineConfig& config, const BuildContext& ctx) {
  auto lease = ctx.db->borrow();
  if (!lease) return lease.error();
  pg::Connection& db = **lease;
  auto name = source_outbox(config, db);
  if (!name) return name.error();
  auto r = db.exec("SELECT outbox_table, delta_table, coalesce(key_columns, '{}'), kind, stream_table FROM pgtrickle.resolve_outbox($1)",
                   {*name});
  if (!r) return r.error();
  if (r->rows() == 0) return fatal(fmt::format("outbox for \"{}\" not found", *name));
  OutboxTarget target;
  target.table = OutboxReader::Table{r->str(0, 0), r->null(0, 1) ? "" : r->str(0, 1), r->str(0, 3) != "relay"};
  target.key_columns = pg_text::parse_text_array(r->text(0, 2));
  target.stream_table = r->str(0, 4);
  // A table captured by enable_outbox: its schema and name ({schema}, {table}, Debezium's source),
  // which the name in messages, unqualified, does not tell.
  if (r->str(0, 3) == "relay") {
    auto source = db.exec("SELECT source_schema, source_table FROM pgtrickle.outbox_tables WHERE outbox_name = $1 AND source_schema IS NOT NULL",
                          {r->str(0, 0)});
    if (!source) return source.error();
    if (source->rows() == 1) {
      target.source_schema = source->str(0, 0);
      target.source_table = source->str(0, 1);
    }
  }
  const std::string& outbox = target.table.outbox;

  // An outbox pg_trickle created after the install is not readable by the relay's role yet.
  if (auto can = db.exec("SELECT pg_catalog.has_table_privilege($1, 'SELECT')", {"pgtrickle." + db.quote_ident(outbox)});
      can && can->rows() == 1 && !can->boolean(0, 0))
    (void)db.exec("SELECT pgtrickle._relay_grant_outboxes()");
  // A template variable always empty for this outbox gives every message an empty part (set_relay_outbox
  // warned already for a pipeline defined in SQL; a TOML file's pipeline hears it here).
  if (auto w = db.exec("SELECT w FROM pgtrickle.relay_template_warnings($1::jsonb) AS w", {config.canonical.dump()}))
    for (int i = 0; i < w->rows(); ++i)
      ctx.log->warn("A template uses a variable that is always empty for this outbox.", {{"warning", w->str(i, 0)}});

  // A table captured from the WAL, or a pgstream stream read from it.
  const bool stream_from_wal = config.source_type == "pgstream" && config.source_section().text("read_from") == "wal";
  auto wal = stream_from_wal
                 ? db.exec("SELECT 'pgstream', 'events', pgstream.stream_publication($1), (SELECT oid FROM pg_catalog.pg_database "
                           "WHERE datname = pg_catalog.current_database())::text",
                           {std::to_string(config.source_section().integer("stream_id"))})
                 : db.exec("SELECT source_schema, source_table, publication, (SELECT oid FROM pg_catalog.pg_database "
                           "WHERE datname = pg_catalog.current_database())::text FROM pgtrickle._outbox_wal_source($1)",
                           {outbox});
  if (!wal) return wal.error();
  if (wal->rows() == 1) target.wal = OutboxTarget::Wal{wal->str(0, 0), wal->str(0, 1), wal->str(0, 2), wal->str(0, 3)};
  return target;
}

}  // namespace relay::postgres
