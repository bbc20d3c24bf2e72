// How a row read from the WAL becomes the JSON object trigger capture writes (to_jsonb of the
// row), for every column type alike: the relay hands the row's text values back to PostgreSQL,
// which rebuilds each column with its type's own input function and renders it with to_jsonb, many
// rows per statement (pgtrickle._wal_rows_template, 09_outbox_capture.sql). The columns and types are those the WAL gives for the row, so a backlog
// read after a column was added or dropped keeps each row's shape of its time. A TOASTed value an
// UPDATE left unchanged is not in the WAL: it comes from the old row when the table's REPLICA
// IDENTITY FULL carries it, else from the table.
#pragma once

#include <optional>
#include <string>
#include <string_view>
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

// Rows the relay renders itself, exactly as to_jsonb renders them, from the text values pgoutput
// sends: rows whose every column is of a built-in type whose JSON is known (numbers, booleans,
// dates and times, jsonb, and the types to_jsonb writes as their text: text, uuid, bytea, interval,
// ranges...). The others (json, arrays, composite, user types, a value the WAL left out) go to the
// server. Keys come in jsonb's order (shorter names first), as to_jsonb writes them.
class PlainRows {
 public:
  // How `relation`'s rows render, or none when one of its columns' types is left to the server.
  // `text_dates`: dates and timestamps may be read from their text (the stream's DateStyle is ISO
  // and its TimeZone the rendering session's).
  static std::optional<PlainRows> of(const pgoutput::Relation& relation, bool text_dates);
  // The row as to_jsonb renders it (a `key_only` row: its key columns alone); none when a value must
  // come from the table (an unchanged TOASTed value `old` does not hold) or is one left to the
  // server (a date before the year 1).
  std::optional<std::string> render(const pgoutput::Tuple& tuple, const pgoutput::Tuple* old, bool key_only) const;

 private:
  enum class Kind : char { number, floating, numeric, boolean, date, timestamp, timestamptz, jsonb, text };
  struct Column {
    std::size_t index;  // in the tuple
    Kind kind;
    bool key;
    std::string name;  // as a JSON string, with its colon
  };
  std::vector<Column> columns_;  // in jsonb's key order
  std::size_t names_size_ = 0;   // the names' bytes together: a row's text is reserved at once
};

// `row` (a JSON object) with the value of each field `replaced` names (a JSON string, as the row's
// keys are written) replaced by its JSON text: a TOASTed value an UPDATE left unchanged, which the
// WAL does not carry, written as a placeholder (format debezium), or a value written as its text.
std::string with_values(std::string_view row, const std::vector<std::pair<std::string, std::string>>& replaced);

// A float's text as numeric_in then numeric_out write it (to_jsonb turns a float into a numeric):
// no exponent, "1e+100" → "1" and 100 zeros, "1.5e-07" → "0.00000015", "-0" → "0".
std::string float_as_numeric(std::string_view text);

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
