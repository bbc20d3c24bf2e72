// The tables of a pipeline of source type "wal", as the WAL describes them: which it reads (the
// install decides, pgtrickle._wal_table_info: the source's "tables" and "exclude"), and for each,
// how its rows become messages (its name in messages, its key, an Expander of its own). A
// transaction's rows come from any of them, in WAL order: each run of one table's rows is
// expanded by that table's Expander. Used by the WAL source's reader only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/postgres/expand.h"
#include "backends/postgres/pgoutput.h"
#include "pg/connection.h"
#include "relay/result.h"

namespace relay::postgres {

class WalTables {
 public:
  // `base`: the pipeline's options (format, granularity, routes, a configured key); each table's
  // name and key fill in the rest. `status` hears of each table the WAL describes, each time: its
  // name in messages and its problem ("" when none; no key: PostgreSQL refuses its
  // UPDATEs and DELETEs while it is published).
  // `debezium`: format debezium's options, when the pipeline has that format (each table's events
  // then describe it as the WAL does).
  WalTables(std::string publication, ExpandOptions base, std::function<void(const std::string&, const std::string&)> status,
            std::optional<DebeziumOptions> debezium = std::nullopt)
      : publication_(std::move(publication)), base_(std::move(base)), status_(std::move(status)), debezium_(std::move(debezium)) {}

  // Whether the pipeline reads the table `relation` describes; if so its Expander is made anew
  // (its name or key may have changed). Asked on `db`.
  Result<bool> decide(pg::Connection& db, const pgoutput::Relation& relation);

  // The Expander of table `oid`, made from the table as it is now when the WAL has not described it
  // yet (a backfill reads a table before its first change). Asked on `db`.
  Result<Expander*> expander_for(pg::Connection& db, std::uint32_t oid);

  // Expander::expand_delta_rows for rows of any of the tables: each run of one table's rows by
  // its own Expander.
  void expand_delta_rows(const OutboxRow& row, std::span<DeltaRow> rows, bool last_chunk, std::size_t& consumed,
                         std::vector<Message>& out);

  std::size_t size() const { return tables_.size(); }

 private:
  // Table `oid`'s Expander from its _wal_table_info row, its schema and name (given to the Expander
  // as they are, never split from its name in messages) and the WAL's description, when there is one.
  Result<Expander*> adopt(pg::Connection& db, std::uint32_t oid, const pg::PgResult& info, TableName name,
                          const pgoutput::Relation* relation);

  std::string publication_;
  ExpandOptions base_;
  std::function<void(const std::string&, const std::string&)> status_;
  std::optional<DebeziumOptions> debezium_;
  std::unordered_map<std::uint32_t, Expander> tables_;  // by relation oid: the tables read
};

}  // namespace relay::postgres
