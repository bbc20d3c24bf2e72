// Format cloudevents: each message a CloudEvents 1.0 event (docs/formats.md). In structured mode the
// whole event is the body; in binary mode the data is the body and each attribute a header, named
// as the sink's protocol binding names it. `subject` and the extension `partitionkey` are the
// message key when there is one.
#include "format/encoder.h"
#include "util/header_value.h"
#include "util/json_escape.h"

namespace relay::format {
namespace {

// A header value as CloudEvents' HTTP and NATS bindings write it: printable ASCII but space, '"' and
// '%' as is, every other byte percent-encoded.
void percent_encoded(std::string_view value, std::string& out) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (unsigned char c : value) {
    if (c > 0x20 && c < 0x7f && c != '"' && c != '%') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
}

class CloudEventsEncoder : public Encoder {
 public:
  explicit CloudEventsEncoder(const FormatOptions& options)
      : stream_table_(options.stream_table), source_("/pgtrickle/" + options.stream_table),
        binary_prefix_(options.cloudevents_binary), percent_encode_(options.cloudevents_percent_encode) {}

  void row(const RowChange& c, Message& m) override {
    std::string data = "{\"before\":";
    if (m.op == Op::update && c.before) data += *c.before;
    else if (m.op == Op::delete_) data += m.data;
    else data += "null";
    data += ",\"after\":";
    data += m.op == Op::delete_ || m.op == Op::truncate ? std::string_view("null") : std::string_view(m.data);
    data += '}';
    finish(m, type_of(to_string(m.op)), c.commit, c.outbox_id, c.backfill_id, data);
  }

  void event(const Event& e, Message& m) override {
    std::string type = type_of("event");
    for (const auto& [k, v] : m.headers)
      if (k == "type" || k == "event_type") type = v;
    finish(m, type, e.commit, e.outbox_id, "", m.data);
  }

  void delta(const Delta& d, Message& m) override { finish(m, type_of("delta"), d.commit, d.outbox_id, "", m.data); }

  void gap(const Commit& commit, Message& m) override { finish(m, type_of("gap"), commit, "", "", m.data); }

 private:
  std::string type_of(std::string_view what) const { return "pgtrickle." + stream_table_ + "." + std::string(what); }

  void finish(Message& m, std::string_view type, const Commit& commit, std::string_view outbox_id,
              std::string_view backfill_id, std::string_view data) {
    const std::string& time = time_.json(commit.committed_at);
    if (binary_prefix_.empty()) {
      std::string& b = m.body;
      b += "{\"specversion\":\"1.0\",\"id\":";
      util::append_json_string(b, m.dedup_key);
      b += ",\"source\":";
      util::append_json_string(b, source_);
      b += ",\"type\":";
      util::append_json_string(b, type);
      b += ",\"time\":";
      b += time;
      if (!m.key.empty()) {
        b += ",\"subject\":";
        util::append_json_string(b, m.key);
      }
      b += ",\"datacontenttype\":\"application/json\"";
      if (!outbox_id.empty()) {  // a backfilled row has no outbox row
        b += ",\"outboxid\":";
        util::append_json_string(b, outbox_id);
      }
      if (!backfill_id.empty()) {
        b += ",\"backfillid\":";
        util::append_json_string(b, backfill_id);
      }
      b += ",\"data\":";
      b += data;
      b += '}';
      m.content_type = "application/cloudevents+json";
      return;
    }
    auto attribute = [&](std::string_view name, std::string_view value) {
      std::string v;
      // The attributes hold the stream table's name and the identity, which the table's owner chose:
      // made header-safe (util/header_value.h) where the binding does not percent-encode them itself.
      if (percent_encode_) percent_encoded(value, v);
      else util::append_header_safe(v, value);
      m.headers.emplace_back(binary_prefix_ + std::string(name), std::move(v));
    };
    attribute("specversion", "1.0");
    attribute("id", m.dedup_key);
    attribute("source", source_);
    attribute("type", type);
    attribute("time", std::string_view(time).substr(1, time.size() - 2));  // the JSON string's text
    if (!m.key.empty()) {
      attribute("subject", m.key);
      attribute("partitionkey", m.key);
    }
    if (!outbox_id.empty()) attribute("outboxid", outbox_id);
    if (!backfill_id.empty()) attribute("backfillid", backfill_id);
    m.content_type = "application/json";  // datacontenttype: the binding's content type
    m.body = data;
  }

  const std::string stream_table_, source_, binary_prefix_;
  const bool percent_encode_;
  CommitTime time_;
};

}  // namespace

std::unique_ptr<Encoder> make_cloudevents_encoder(const FormatOptions& options) {
  return std::make_unique<CloudEventsEncoder>(options);
}

void cloudevents_binding(std::string_view sink, FormatOptions& options) {
  options.cloudevents_binary = sink == "webhook" || sink == "nats" ? "ce-" : sink == "rabbitmq" ? "cloudEvents_" : "ce_";
  options.cloudevents_percent_encode = sink == "webhook" || sink == "nats";
}

}  // namespace relay::format
