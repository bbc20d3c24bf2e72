// How a row read from the WAL becomes the JSON object trigger capture writes (to_jsonb of the
// row), for every column type alike: the relay hands the row's text values back to PostgreSQL,
// which rebuilds each column with its type's own input function and renders it with to_jsonb, many
// rows per statement (pgtrickle._wal_rows_template, 09_outbox_capture.sql). The columns and types are those the WAL gives for the row, so a backlog
// read after a column was added or dropped keeps each row's shape of its time. A TOASTed value an
// UPDATE left unchanged is not in the WAL: it comes from the old row when the table's REPLICA
// IDENTITY FULL carries it, else from the table.
#pragma once

#include <string>
#include <vector>

#include "backends/postgres/pgoutput.h"
#include "pg/connection.h"
#include "relay/result.h"

namespace relay::postgres {

// Appends {"row": {"column": "text" or null, ...}, "fill": bool, "key_only": bool} for `tuple`. A
// column marked unchanged takes its value from `old` when that holds it; otherwise it is left out
// and "fill" is true (its value is read from the table by the row's key). A `key_only` row (an old
// row of which the WAL carries only the key) renders as its key columns alone, never as nulls.
// Returns "fill".
bool append_row_values(const pgoutput::Relation& relation, const pgoutput::Tuple& tuple, const pgoutput::Tuple* old,
                       std::string& out, bool key_only = false);
// Whether rows of `relation` that need no value from the table (no "fill") can be rendered without
// the owner's code: every column of a built-in type (pgtrickle._wal_plain checks it again).
bool built_in_types_only(const pgoutput::Relation& relation);

// Renders rows of one table as to_jsonb would, through pgtrickle._wal_render: a captured table's
// rows as its owner (their types' casts and checks, its row security policies are the owner's
// code, which must not run with the relay's rights), in a subtransaction rolled back once the rows
// are in hand and with what a rollback leaves (prepared statements, advisory locks) cleared, so
// nothing that code does reaches the relay's session.
class RowRenderer {
 public:
  // [{"name", "type", "mod", "key"}, ...]: the columns as the WAL describes them.
  static std::string columns_json(const pgoutput::Relation& relation);
  // `rows` is a JSON array of append_row_values objects of `relation`; one to_jsonb text per row,
  // in order. `columns`: columns_json(relation), when made before. An unnamed statement: `db`
  // keeps no prepared statement the owner's code could replace.
  static Result<std::vector<std::string>> render(pg::Connection& db, const pgoutput::Relation& relation,
                                                 const std::string& rows, std::string columns = "");
  // Rows of tables a pipeline of source type "wal" publishes, by oid (which a rename keeps), in one
  // statement: `groups` is [{"rel": oid, "columns": columns_json, "rows": [...]}]; the texts come
  // group after group (pgtrickle._wal_render_tables).
  static Result<std::vector<std::string>> render_tables(pg::Connection& db, const std::string& groups);
};

}  // namespace relay::postgres
