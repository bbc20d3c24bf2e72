// Format json: the relay's own envelope (docs/formats.md): a row change, an application's event, a
// delta or a gap marker, each with its identity, stream table, outbox id, key and commit time.
#include "format/encoder.h"
#include "util/json_escape.h"

namespace relay::format {
namespace {

class JsonEncoder : public Encoder {
 public:
  explicit JsonEncoder(const FormatOptions& options) : bare_events_(options.bare_events) {
    util::append_json_string(stream_table_, options.stream_table);
  }

  void row(const RowChange& c, Message& m) override {
    std::string& b = m.body;
    b.reserve(200 + m.data.size() + (c.before ? c.before->size() : 0));
    b += "{\"dedup_key\":";
    util::append_json_string(b, m.dedup_key);
    b += ",\"stream_table\":";
    b += stream_table_;
    b += ",\"op\":\"";
    b += to_string(m.op);
    b += "\",\"outbox_id\":";
    b += c.outbox_id.empty() ? std::string_view("null") : c.outbox_id;
    if (!c.backfill_id.empty()) {  // a row a backfill read, not a change
      b += ",\"backfill_id\":";
      b += c.backfill_id;
    }
    b += ",\"refresh_id\":";
    util::append_json_string_or_null(b, c.commit.refresh_id);
    b += ",\"key\":";
    util::append_json_string_or_null(b, m.key);
    b += ",\"timestamp\":";
    b += time_.json(c.commit.committed_at);
    b += ",\"is_full_refresh\":";
    b += c.full_refresh ? "true" : "false";
    b += ",\"payload\":";
    b += m.data;
    if (m.op == Op::update && c.before) {
      b += ",\"before\":";
      b += *c.before;
    }
    b += '}';
  }

  void event(const Event& e, Message& m) override {
    std::string& b = m.body;
    if (bare_events_) {
      b = m.data;
      return;
    }
    b += "{\"dedup_key\":";
    util::append_json_string(b, m.dedup_key);
    b += ",\"stream_table\":";
    b += stream_table_;
    b += ",\"op\":\"event\",\"outbox_id\":";
    b += e.outbox_id;
    b += ",\"key\":";
    util::append_json_string_or_null(b, m.key);
    b += ",\"timestamp\":";
    b += time_.json(e.commit.committed_at);
    b += ",\"headers\":";
    b += e.headers_json;
    b += ",\"payload\":";
    b += m.data;
    b += '}';
  }

  void delta(const Delta& d, Message& m) override {
    std::string& b = m.body;
    b += "{\"stream_table\":";
    b += stream_table_;
    b += ",\"sequence\":";
    b += d.outbox_id;
    b += ",\"timestamp\":";
    b += time_.json(d.commit.committed_at);
    b += ",\"delta\":";
    b += m.data;
    b += ",\"metadata\":{\"dedup_key\":";
    util::append_json_string(b, m.dedup_key);
    b += ",\"outbox_id\":";
    b += d.outbox_id;
    b += ",\"refresh_id\":";
    util::append_json_string_or_null(b, d.commit.refresh_id);
    b += ",\"full_refresh\":";
    b += d.full_refresh ? "true" : "false";
    b += ",\"delta_rows\":";
    util::append_int(b, static_cast<std::int64_t>(d.rows));
    if (d.claim_check) {
      b += ",\"first_row\":";
      util::append_int(b, d.first_row);
      b += ",\"more\":";
      b += d.more ? "true" : "false";
    }
    b += "}}";
  }

  void gap(const Commit& commit, Message& m) override {
    std::string& b = m.body;
    b += "{\"dedup_key\":";
    util::append_json_string(b, m.dedup_key);
    b += ",\"stream_table\":";
    b += stream_table_;
    b += ",\"op\":\"gap\",\"outbox_id\":null,\"key\":null,\"timestamp\":";
    b += time_.json(commit.committed_at);
    b += ",\"gap\":";
    b += m.data;
    b += ",\"payload\":null}";
  }

 private:
  const bool bare_events_;
  std::string stream_table_;  // as a JSON string, written into every envelope
  CommitTime time_;
};

}  // namespace

std::unique_ptr<Encoder> make_json_encoder(const FormatOptions& options) { return std::make_unique<JsonEncoder>(options); }

}  // namespace relay::format
