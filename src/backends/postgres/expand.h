// Turning outbox rows into messages: decoding every payload shape pg_trickle and our own outbox
// write, pairing updates, keys and routes; the pipeline's format (src/format/) writes each
// message's envelope. Pure: no I/O, unit-tested byte for byte.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/pipeline_config.h"
#include "config/template.h"
#include "format/encoder.h"
#include "backends/postgres/rows.h"
#include "relay/message.h"
#include "relay/result.h"

namespace relay::postgres {

struct RowVars;

// What the format is told (format/encoder.h), and what the rows are read by.
struct ExpandOptions : format::FormatOptions {
  std::string outbox;        // outbox table name, the first part of dedup keys
  // {schema} and {table}: the captured table's schema and name, as the caller knows them (the
  // WAL's relation; else split_stream_table). Format debezium takes them from the table's shape.
  std::string schema, table;
  std::vector<std::string> key_columns;  // the row's key; empty: no key, updates are not paired
  const Template* key_template = nullptr;  // overrides key_columns when set
  Granularity granularity = Granularity::row;
  std::vector<const Template*> routes;  // the sink's templates, rendered into Message::routes
};

// Changes a pipeline cannot send: those committed after `from_lsn` up to `to_lsn`, which a
// replication slot the server invalidated held, and the new slot that replaced it starts after.
struct SlotGap {
  std::string slot;
  std::string from_lsn, to_lsn;  // as PostgreSQL writes an LSN: 16/B374D848
  double at = 0;                 // when the slot was rebuilt (unix seconds)
  std::string json() const;      // {"slot":…,"from_lsn":…,"to_lsn":…,"unknown":…}
};

// Decodes rows with one reusable parser (no per-row parser allocation).
class Expander {
 public:
  explicit Expander(ExpandOptions options);

  // Appends the messages of an inline outbox row (or one message for an event, or a poison message
  // for an unreadable payload). A claim-check row yields nothing here: its rows are streamed with
  // expand_delta_rows.
  void expand_row(const OutboxRow& row, std::vector<Message>& out);

  // Appends messages for a chunk of claim-check rows of `row`, ordered by row_num. An update's
  // DELETE and INSERT are paired when adjacent with the same key; `consumed` tells how many rows of
  // the chunk were used (a trailing DELETE whose pair may follow is left for the next chunk unless
  // `last_chunk`). The texts of the rows used are moved into their messages.
  void expand_delta_rows(const OutboxRow& row, std::span<DeltaRow> rows, bool last_chunk,
                         std::size_t& consumed, std::vector<Message>& out);

  // Appends the message of a row that backfill `backfill_id` read from the table as it is now (op
  // read): `row_text` as to_jsonb renders it, `identity` its key's values, which with the backfill
  // make its identity ("<outbox>:backfill<id>:<identity>", the same when a resumed backfill sends
  // it again), `read_at` its timestamp.
  void expand_read(std::int64_t backfill_id, std::string_view identity, std::string_view row_text, double read_at,
                   std::vector<Message>& out);

  // Appends the marker of a gap in the changes (op gap) on the table's routes: consumers that keep
  // state learn that deletes and intermediate states in it are unknown, before the backfill that
  // follows sends every row as it is now.
  void expand_gap(const SlotGap& gap, std::vector<Message>& out);

  // Marks `m`, made by expand_read, as the backfill's first or last row: Debezium's source.snapshot
  // "first" or "last" (the other rows are "true").
  void mark_read(Message& m, std::string_view mark) const;

  const ExpandOptions& options() const { return opt_; }

 private:
  struct RowRef {
    std::string text;       // the row object, minified, numbers exactly as PostgreSQL wrote them
    std::uint64_t lsn = 0;  // read from the WAL: the change's LSN
  };
  // `now`'s text is moved into the message.
  // `key_header`: a header the message carries (a key change's __debezium.oldkey or newkey).
  void emit(const OutboxRow& row, Op op, std::int64_t index, RowRef* now, const RowRef* before, bool full_refresh,
            std::vector<Message>& out, const Header* key_header = nullptr);
  // Fills in `m` (its dedup_key and data set) for `op` and has the format encode it; `id_text` is the
  // outbox id ("" for a backfilled row), `backfill_id` the backfill that read it ("" for a change).
  void emit_row(const OutboxRow& row, Op op, std::string_view id_text, std::string_view backfill_id, const RowRef* before,
                bool full_refresh, std::uint64_t change_lsn, Message m, std::vector<Message>& out);
  // `inserted` and `deleted` are minified JSON arrays.
  void emit_delta(const OutboxRow& row, std::int64_t index, const std::string& inserted, const std::string& deleted,
                  size_t rows, std::string_view first_row, bool full_refresh, bool has_more, std::vector<Message>& out);
  // A delta's rows in one message per route when the sink's templates read row fields, so that
  // "revenue.{{ region }}" sends europe's rows to revenue.europe and asia's to revenue.asia. Each
  // part's identity is that of its first row; a delta on one route is one message, as before.
  struct DeltaRowRef {
    std::string_view text;
    bool is_delete;
    std::int64_t index;  // position in the delta (inline) or row_num (claim-check)
  };
  void emit_delta_parts(const OutboxRow& row, const std::vector<DeltaRowRef>& rows, bool prefer_inserted_first,
                        bool full_refresh, bool has_more, std::vector<Message>& out);
  bool routes_read_rows() const;
  void emit_event(const OutboxRow& row, std::string_view payload, std::vector<Message>& out);
  void poison(const OutboxRow& row, std::string reason, std::vector<Message>& out);
  std::string key_of(std::string_view row, const TemplateVars& vars) const;
  // Template variables every message of `row` shares.
  void fill_vars(RowVars& vars, const OutboxRow& row, std::string_view op, std::string_view id_text) const;
  void render_routes(const RowVars& vars, Message& m) const;
  static format::Commit commit_of(const OutboxRow& row);

  ExpandOptions opt_;
  std::unique_ptr<format::Encoder> encoder_;
  std::vector<RowRef> dels_, inss_;  // reused across rows
  std::string schema_, table_;  // {schema} and {table}: the captured table's
};

}  // namespace relay::postgres
