// Format debezium: Debezium's change events for the PostgreSQL connector (docs/debezium.md), keyed
// by the table's key, with the source block, transaction metadata and tombstones as Debezium writes
// them. An application's event is no row change: it goes out as written, as Debezium's outbox event
// router sends an outbox row's payload.
#include "format/debezium_table.h"

namespace relay::format {
namespace {

// How Debezium names the operation.
char debezium_op(Op op) {
  switch (op) {
    case Op::insert: return 'c';
    case Op::update: return 'u';
    case Op::delete_: return 'd';
    case Op::read: return 'r';
    default: return 't';
  }
}

class DebeziumEncoder : public Encoder {
 public:
  explicit DebeziumEncoder(const FormatOptions& options)
      : table_(options), tombstones_(options.tombstones), skipped_operations_(options.skipped_operations),
        transaction_(options.transaction) {}

  bool sends(Op op) override { return skipped_operations_.find(debezium_op(op)) == std::string::npos; }

  void row(const RowChange& c, Message& m) override {
    if (std::string error; !encode(c, m, error)) poison(m, "cannot render Debezium's change event: " + error);
  }

  void event(const Event&, Message& m) override { m.body = m.data; }

  void delta(const Delta&, Message& m) override {
    poison(m, "format debezium sends one record per row, not deltas (\"granularity\": \"row\")");
  }

  // Debezium's event of a logical decoding message (op "m"), prefixed pgtrickle.gap.
  void gap(const Commit& commit, Message& m) override {
    debezium::SourceInfo source;
    source.committed_at = commit.committed_at;
    table_.events().append_message_key("pgtrickle.gap", m.key);
    table_.events().append_message("pgtrickle.gap", m.data, source, m.body);
  }

  void mark_read(Message& m, std::string_view mark) const override {
    if (!m.poison.empty()) return;
    // The source block follows the row values, so the last occurrence is its own (a row's string
    // values have their quotes escaped).
    constexpr std::string_view kSnapshot = "\"snapshot\":\"";
    auto at = m.body.rfind(kSnapshot);
    if (at == std::string::npos) return;
    at += kSnapshot.size();
    auto end = m.body.find('"', at);
    if (end != std::string::npos) m.body.replace(at, end - at, mark);
  }

  bool key_change(std::string_view old_row, std::string_view new_row, Header& newkey, Header& oldkey) override {
    std::string error;
    newkey = {"__debezium.newkey", ""};
    oldkey = {"__debezium.oldkey", ""};
    return table_.events().append_key_payload(new_row, newkey.second, error) &&
           table_.events().append_key_payload(old_row, oldkey.second, error);
  }

 private:
  bool encode(const RowChange& c, Message& m, std::string& error) {
    const Op op = m.op;
    const bool has_row = m.data != "null" && op != Op::truncate;
    if (has_row && !table_.refresh(m.data, error)) return false;
    const debezium::EventEncoder& enc = table_.events();
    const bool backfill = !c.backfill_id.empty();
    debezium::SourceInfo source;
    source.committed_at = c.commit.committed_at;
    source.snapshot = backfill ? "true" : "false";
    if (c.commit.xid) source.tx_id = c.commit.xid;
    if (c.commit.from_wal) {  // the change's position, the previous transaction's end, its place in the transaction
      source.lsn = c.lsn ? c.lsn : static_cast<std::uint64_t>(c.commit.seq);
      if (c.commit.previous_end) source.previous_end = c.commit.previous_end;
      if (transaction_ && !backfill) {
        auto [total, in_collection] = transaction_->next(enc.shape().schema + "." + enc.shape().table);
        source.transaction =
            debezium::SourceInfo::Transaction{debezium::transaction_id(c.commit.xid, *source.lsn), total, in_collection};
      }
    }
    std::string_view after = op == Op::insert || op == Op::update || op == Op::read ? std::string_view(m.data) : std::string_view();
    std::string_view old_row = op == Op::delete_ ? std::string_view(m.data) : c.before ? std::string_view(*c.before) : std::string_view();
    m.key.clear();
    if (has_row && !enc.append_key(m.data, m.key, error)) return false;
    if (!enc.append_value(debezium_op(op), old_row, after, source, m.body, error)) return false;
    m.tombstone = op == Op::delete_ && tombstones_ && !m.key.empty();
    return true;
  }

  DebeziumTable table_;
  const bool tombstones_;
  const std::string skipped_operations_;
  const std::shared_ptr<debezium::TransactionCounts> transaction_;
};

}  // namespace

std::unique_ptr<Encoder> make_debezium_encoder(const FormatOptions& options) {
  return std::make_unique<DebeziumEncoder>(options);
}

}  // namespace relay::format
