#include "backends/postgres/wal_tables.h"

#include <fmt/format.h>

#include "backends/postgres/table_shape.h"
#include "pg/copy_text.h"
#include "util/pg_text.h"

namespace relay::postgres {

Result<bool> WalTables::decide(pg::Connection& db, const pgoutput::Relation& relation) {
  auto r = db.exec("SELECT wanted, stream_table, key_columns, problem FROM pgtrickle._wal_table_info($1, $2::oid, $3, $4)",
                   {publication_, std::to_string(relation.oid), relation.schema, relation.name});
  if (!r) return r.error();
  if (r->rows() != 1 || !r->boolean(0, 0)) {
    tables_.erase(relation.oid);
    return false;
  }
  if (auto e = adopt(db, relation.oid, *r, {relation.schema, relation.name}, &relation); !e) return e.error();
  return true;
}

Result<Expander*> WalTables::expander_for(pg::Connection& db, std::uint32_t oid) {
  if (auto it = tables_.find(oid); it != tables_.end()) return &it->second;
  // The table as it is now, named as the WAL would name it.
  auto r = db.exec("SELECT i.wanted, i.stream_table, i.key_columns, i.problem, n.nspname::text, c.relname::text "
                   "FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
                   "CROSS JOIN LATERAL pgtrickle._wal_table_info($1, c.oid, n.nspname::text, c.relname::text) AS i WHERE c.oid = $2::oid",
                   {publication_, std::to_string(oid)});
  if (!r) return r.error();
  if (r->rows() != 1) return retriable(fmt::format("the table with oid {} is gone", oid));
  return adopt(db, oid, *r, {r->str(0, 4), r->str(0, 5)}, nullptr);
}

Result<Expander*> WalTables::adopt(pg::Connection& db, std::uint32_t oid, const pg::PgResult& info, TableName name,
                                   const pgoutput::Relation* relation) {
  ExpandOptions opt = base_;
  opt.stream_table = info.str(0, 1);
  opt.schema = std::move(name.schema);
  opt.table = std::move(name.table);
  opt.outbox = opt.stream_table;  // the first part of each message's identity
  status_(opt.stream_table, info.null(0, 3) ? std::string() : info.str(0, 3));
  if (opt.key_columns.empty() && !opt.key_template) {
    // The primary key, else the replica identity's index; else the key columns the WAL names
    // (none with REPLICA IDENTITY FULL, where it names every column).
    if (!info.null(0, 2)) opt.key_columns = pg_text::parse_text_array(info.text(0, 2));
    else if (relation && relation->replica_identity != 'f')
      for (const auto& c : relation->columns)
        if (c.key) opt.key_columns.push_back(c.name);
  }
  if (debezium_) {
    auto encoder = make_event_encoder(db, oid, opt.key_columns, *debezium_, relation);
    if (!encoder) return encoder.error();
    opt.debezium = std::move(*encoder);
  }
  return &tables_.insert_or_assign(oid, Expander(std::move(opt))).first->second;
}

void WalTables::expand_delta_rows(const OutboxRow& row, std::span<DeltaRow> rows, bool last_chunk, std::size_t& consumed,
                                  std::vector<Message>& out) {
  consumed = 0;
  while (consumed < rows.size()) {
    std::size_t end = consumed;
    while (end < rows.size() && rows[end].table == rows[consumed].table) ++end;
    auto it = tables_.find(rows[consumed].table);
    // Rows of a table decided on are the only ones the reader hands out.
    if (it == tables_.end()) {
      consumed = end;
      continue;
    }
    // A run followed by another table's rows is whole: an UPDATE's two rows are never split by it.
    const bool run_is_last = end < rows.size() || last_chunk;
    std::size_t used = 0;
    it->second.expand_delta_rows(row, rows.subspan(consumed, end - consumed), run_is_last, used, out);
    consumed += used;
    if (consumed < end) return;  // a trailing row kept for the next chunk
  }
}

}  // namespace relay::postgres
