// Format outbox_event_router: the record Debezium's outbox event router makes of each row inserted
// into an outbox table (format/outbox_event_router.h): its payload as the value, its aggregate id
// as the key, its id and chosen fields as headers. Deletes are not sent (an outbox is often emptied
// in the transaction that wrote it), nor updates unless table.op.invalid.behavior is fatal. An
// application's event goes out as written; a gap marker as format json writes it.
#include "format/debezium_table.h"

namespace relay::format {
namespace {

class OutboxEventRouterEncoder : public Encoder {
 public:
  explicit OutboxEventRouterEncoder(const FormatOptions& options)
      : table_(options), router_(options.router), key_given_(options.key_given), skipped_update_(options.skipped_update),
        stream_table_(options.stream_table), plain_(make_json_encoder(options)) {}

  bool sends(Op op) override {
    if (op == Op::delete_ || op == Op::truncate) return false;
    if (op == Op::update && router_->options().on_update != debezium::RouterOptions::OnUpdate::fatal) {
      if (skipped_update_) skipped_update_(stream_table_);
      return false;
    }
    return true;
  }

  void row(const RowChange&, Message& m) override {
    if (std::string error; !route(m, error)) poison(m, "cannot route the outbox row: " + error);
  }

  void event(const Event&, Message& m) override { m.body = m.data; }

  void delta(const Delta&, Message& m) override {
    poison(m, "format outbox_event_router sends one record per row, not deltas (\"granularity\": \"row\")");
  }

  void gap(const Commit& commit, Message& m) override { plain_->gap(commit, m); }

 private:
  bool route(Message& m, std::string& error) {
    if (m.op == Op::update) {
      error = "an UPDATE of an outbox row: the outbox event router sends inserted rows (table.op.invalid.behavior fatal)";
      return false;
    }
    if (!table_.refresh(m.data, error)) return false;
    debezium::RoutedRecord r;
    if (!router_->route(table_.events(), m.data, r, error)) return false;
    m.body = std::move(r.value);
    if (!key_given_) m.key = std::move(r.key);
    m.headers = std::move(r.headers);
    return true;
  }

  DebeziumTable table_;
  const std::shared_ptr<const debezium::OutboxEventRouter> router_;
  const bool key_given_;
  const std::function<void(std::string_view table)> skipped_update_;
  const std::string stream_table_;
  const std::unique_ptr<Encoder> plain_;
};

}  // namespace

std::unique_ptr<Encoder> make_outbox_event_router_encoder(const FormatOptions& options) {
  return std::make_unique<OutboxEventRouterEncoder>(options);
}

}  // namespace relay::format
