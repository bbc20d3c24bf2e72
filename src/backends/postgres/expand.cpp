#include "backends/postgres/expand.h"

#include <algorithm>
#include <ctime>
#include <charconv>
#include <unordered_map>

#include "util/header_value.h"
#include "util/json_escape.h"
#include "util/json_timestamp.h"
#include "util/json_scan.h"

namespace relay::postgres {
namespace {

namespace js = json_scan;

std::string minified(std::string_view v) {
  std::string s;
  js::append_minified(s, v);
  return s;
}

void append_id_key(std::string& key, std::string_view outbox, std::int64_t id, std::int64_t index) {
  key.reserve(outbox.size() + 24);
  key += outbox;
  key += ':';
  util::append_int(key, id);
  key += ':';
  util::append_int(key, index);
}

// A header value as CloudEvents' HTTP and NATS bindings write it: printable ASCII but space, '"' and
// '%' as is, every other byte percent-encoded.
void cloudevents_header_value(std::string_view value, std::string& out) {
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

// One part of a stream table's name from `pos`: a double-quoted identifier ("" a quote in it), or
// the text up to the next '.'. False when it is not one: an unterminated or empty quoted part, an
// unquoted part with a quote.
bool read_name_part(std::string_view s, size_t& pos, std::string& out) {
  out.clear();
  if (pos < s.size() && s[pos] == '"') {
    for (++pos; pos < s.size(); ++pos) {
      if (s[pos] != '"') {
        out += s[pos];
      } else if (pos + 1 < s.size() && s[pos + 1] == '"') {
        out += '"';
        ++pos;
      } else {
        ++pos;
        return !out.empty();
      }
    }
    return false;
  }
  size_t end = std::min(s.find('.', pos), s.size());
  out.assign(s.substr(pos, end - pos));
  pos = end;
  return !out.empty() && out.find('"') == std::string::npos;
}

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

}  // namespace

// Template variables of one message; row fields are read from the row's JSON text.
struct RowVars : TemplateVars {
  std::string_view row;
  bool column(std::string_view name, std::string& out) const override {
    std::string_view v;
    if (row.empty() || !js::field(row, name, v)) return false;
    js::append_text(out, v);
    return true;
  }
};

TableName split_stream_table(std::string_view s) {
  size_t pos = 0;
  std::string first, second;
  if (read_name_part(s, pos, first)) {
    if (pos == s.size()) return {"public", std::move(first)};
    if (s[pos] == '.' && read_name_part(s, ++pos, second) && pos == s.size()) return {std::move(first), std::move(second)};
  }
  // Not written by the rule: split at the first dot, as before.
  auto dot = s.find('.');
  if (dot == std::string_view::npos) return {"public", std::string(s)};
  return {std::string(s.substr(0, dot)), std::string(s.substr(dot + 1))};
}

Expander::Expander(ExpandOptions options) : opt_(std::move(options)) {
  util::append_json_string(stream_table_json_, opt_.stream_table);
  if (opt_.debezium) {
    schema_ = opt_.debezium->shape().schema;
    table_ = opt_.debezium->shape().table;
  } else {
    schema_ = opt_.schema;
    table_ = opt_.table;
  }
}

void Expander::fill_vars(RowVars& vars, const OutboxRow& row, std::string_view op, std::string_view id_text) const {
  vars.stream_table = opt_.stream_table;
  vars.schema = schema_;
  vars.table = table_;
  vars.op = op;
  vars.outbox_id = id_text;
  vars.refresh_id = row.refresh_id;
}

bool Expander::refresh_shape(std::string_view row, std::string& error) {
  if (!opt_.reload_debezium) return true;
  // A field the shape does not know: the table gained or renamed a column since its shape was
  // read (read it again), or dropped one after the row was written (read again once, in vain).
  auto unknown = opt_.debezium->unknown_fields(row);
  std::erase_if(unknown, [&](const std::string& f) { return unexplained_fields_.count(f) > 0; });
  if (unknown.empty()) return true;
  auto fresh = opt_.reload_debezium();
  if (!fresh) {
    error = "reading the table's columns again: " + fresh.error().message;
    return false;
  }
  opt_.debezium = std::move(*fresh);
  for (auto& f : opt_.debezium->unknown_fields(row)) unexplained_fields_.insert(std::move(f));
  return true;
}

bool Expander::encode_routed(Message& m, std::string& error) {
  if (m.op == Op::update) {
    error = "an UPDATE of an outbox row: the outbox event router sends inserted rows (table.op.invalid.behavior fatal)";
    return false;
  }
  if (!refresh_shape(m.data, error)) return false;
  debezium::RoutedRecord r;
  if (!opt_.router->route(*opt_.debezium, m.data, r, error)) return false;
  m.body = std::move(r.value);
  if (!opt_.key_given) m.key = std::move(r.key);
  m.headers = std::move(r.headers);
  return true;
}

bool Expander::encode_debezium(const OutboxRow& row, Op op, const RowRef* before, bool backfill, std::uint64_t change_lsn,
                               Message& m, std::string& error) {
  const bool has_row = m.data != "null" && op != Op::truncate;
  if (has_row && !refresh_shape(m.data, error)) return false;
  const debezium::EventEncoder& enc = *opt_.debezium;
  debezium::SourceInfo source;
  source.committed_at = row.committed_at;
  source.snapshot = backfill ? "true" : "false";
  if (row.xid) {  // read from the WAL: the transaction, the change's position, the previous transaction's end
    source.tx_id = row.xid;
    source.lsn = change_lsn ? change_lsn : static_cast<std::uint64_t>(row.seq);
    if (row.previous_end) source.previous_end = row.previous_end;
    if (opt_.transaction && !backfill) {
      auto [total, in_collection] = opt_.transaction->next(enc.shape().schema + "." + enc.shape().table);
      source.transaction = debezium::SourceInfo::Transaction{debezium::transaction_id(row.xid, *source.lsn), total, in_collection};
    }
  }
  std::string_view after = op == Op::insert || op == Op::update || op == Op::read ? std::string_view(m.data) : std::string_view();
  std::string_view old_row = op == Op::delete_ ? std::string_view(m.data) : before ? std::string_view(before->text) : std::string_view();
  m.key.clear();
  if (has_row && !enc.append_key(m.data, m.key, error)) return false;
  if (!enc.append_value(debezium_op(op), old_row, after, source, m.body, error)) return false;
  m.tombstone = op == Op::delete_ && opt_.tombstones && !m.key.empty();
  return true;
}

// A CloudEvents 1.0 event of `data`: in structured mode the whole event as the body; in binary mode
// the data as the body and each attribute a header, named as the sink's protocol binding names it.
// `subject` and the extension `partitionkey` are the message key when there is one.
void Expander::finish_cloudevent(Message& m, std::string_view type, const OutboxRow& row, std::string_view id_text,
                                 std::string_view backfill_id, std::string_view data) {
  const std::string source = "/pgtrickle/" + opt_.stream_table;
  if (opt_.cloudevents_binary.empty()) {
    std::string& b = m.body;
    b += "{\"specversion\":\"1.0\",\"id\":";
    util::append_json_string(b, m.dedup_key);
    b += ",\"source\":";
    util::append_json_string(b, source);
    b += ",\"type\":";
    util::append_json_string(b, type);
    b += ",\"time\":";
    b += timestamp_of(row);
    if (!m.key.empty()) {
      b += ",\"subject\":";
      util::append_json_string(b, m.key);
    }
    b += ",\"datacontenttype\":\"application/json\"";
    if (!id_text.empty()) {  // a backfilled row has no outbox row
      b += ",\"outboxid\":";
      util::append_json_string(b, id_text);
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
  const std::string& prefix = opt_.cloudevents_binary;
  auto attribute = [&](std::string_view name, std::string_view value) {
    std::string v;
    // The attributes hold the stream table's name and the identity, which the table's owner chose:
    // made header-safe (util/header_value.h) where the binding does not percent-encode them itself.
    if (opt_.cloudevents_percent_encode) cloudevents_header_value(value, v);
    else util::append_header_safe(v, value);
    m.headers.emplace_back(prefix + std::string(name), std::move(v));
  };
  attribute("specversion", "1.0");
  attribute("id", m.dedup_key);
  attribute("source", source);
  attribute("type", type);
  const std::string& time = timestamp_of(row);
  attribute("time", std::string_view(time).substr(1, time.size() - 2));  // the JSON string's text
  if (!m.key.empty()) {
    attribute("subject", m.key);
    attribute("partitionkey", m.key);
  }
  if (!id_text.empty()) attribute("outboxid", id_text);
  if (!backfill_id.empty()) attribute("backfillid", backfill_id);
  m.content_type = "application/json";  // datacontenttype: the binding's content type
  m.body = data;
}

const std::string& Expander::timestamp_of(const OutboxRow& row) {
  // The messages of a transaction share its commit time: format it once.
  if (ts_text_.empty() || ts_value_ != row.committed_at) {
    ts_text_.clear();
    util::append_json_timestamp(ts_text_, row.committed_at);
    ts_value_ = row.committed_at;
  }
  return ts_text_;
}

std::string Expander::key_of(std::string_view row, const TemplateVars& vars) const {
  std::string key;
  if (opt_.key_template) {
    opt_.key_template->render(vars, key);
    return key;
  }
  if (opt_.key_columns.empty()) return key;
  std::string_view v;
  if (opt_.key_columns.size() == 1) {
    if (js::field(row, opt_.key_columns[0], v)) js::append_text(key, v);
    return key;
  }
  key += '[';
  for (size_t i = 0; i < opt_.key_columns.size(); ++i) {
    if (i) key += ',';
    if (js::field(row, opt_.key_columns[i], v)) js::append_minified(key, v);
    else key += "null";
  }
  key += ']';
  return key;
}

void Expander::poison(const OutboxRow& row, std::string reason, std::vector<Message>& out) {
  Message m;
  append_id_key(m.dedup_key, opt_.outbox, row.id, 0);
  m.op = Op::event;
  m.source = opt_.stream_table;
  m.data = row.payload;
  m.body = row.payload;
  m.committed_at = row.committed_at;
  m.poison = std::move(reason);
  out.push_back(std::move(m));
}

void Expander::emit(const OutboxRow& row, Op op, std::int64_t index, RowRef* now, const RowRef* before, bool full_refresh,
                    std::vector<Message>& out, const Header* key_header) {
  if (opt_.format == Format::debezium && opt_.skipped_operations.find(debezium_op(op)) != std::string::npos) return;
  if (opt_.format == Format::outbox_event_router) {
    // The router sends inserts: a row deleted (often in the transaction that wrote it, to keep the
    // outbox empty) is not sent, nor an update unless table.op.invalid.behavior is fatal.
    if (op == Op::delete_ || op == Op::truncate) return;
    if (op == Op::update && opt_.router->options().on_update != debezium::RouterOptions::OnUpdate::fatal) {
      if (opt_.skipped_update) opt_.skipped_update(opt_.stream_table);
      return;
    }
  }
  Message m;
  append_id_key(m.dedup_key, opt_.outbox, row.id, index);
  std::string id_text = std::to_string(row.id);
  const std::uint64_t lsn = now ? now->lsn : before ? before->lsn : 0;
  if (now) m.data = std::move(now->text);  // the inserted row is not needed after its message
  else if (before) m.data = before->text;
  else m.data = "null";
  emit_row(row, op, id_text, "", before, full_refresh, lsn, std::move(m), out);
  if (key_header && opt_.format == Format::debezium && !out.empty() && out.back().poison.empty()) out.back().headers.push_back(*key_header);
}

void Expander::expand_read(std::int64_t backfill_id, std::string_view identity, std::string_view row_text, double read_at,
                           std::vector<Message>& out) {
  Message m;
  std::string backfill = std::to_string(backfill_id);
  m.dedup_key.reserve(opt_.outbox.size() + identity.size() + 32);
  m.dedup_key += opt_.outbox;
  m.dedup_key += ":backfill";
  m.dedup_key += backfill;
  m.dedup_key += ':';
  m.dedup_key += identity;
  m.data = minified(row_text);  // as the rows of changes are
  OutboxRow row;
  row.committed_at = read_at;
  emit_row(row, Op::read, "", backfill, nullptr, false, 0, std::move(m), out);
}

std::string SlotGap::json() const {
  std::string j = "{\"slot\":";
  util::append_json_string(j, slot);
  j += ",\"from_lsn\":";
  util::append_json_string(j, from_lsn);
  j += ",\"to_lsn\":";
  util::append_json_string(j, to_lsn);
  j += ",\"unknown\":\"changes committed after from_lsn up to to_lsn: the rows they inserted or updated and still "
       "exist are sent by the backfill that follows (op read); rows they deleted, and states in between, are not\"}";
  return j;
}

void Expander::expand_gap(const SlotGap& gap, std::vector<Message>& out) {
  Message m;
  m.op = Op::gap;
  m.source = opt_.stream_table;
  m.committed_at = gap.at;
  m.dedup_key = opt_.outbox + ":gap:" + gap.to_lsn;
  m.data = gap.json();
  OutboxRow row;
  row.committed_at = gap.at;
  RowVars vars;
  fill_vars(vars, row, "gap", "");
  for (size_t i = 0; i < opt_.routes.size() && i < 2; ++i)
    if (opt_.routes[i]) opt_.routes[i]->render(vars, m.routes[i]);
  std::string& b = m.body;
  if (opt_.format == Format::debezium && opt_.debezium) {
    // Debezium's event of a logical decoding message (op "m"), prefixed pgtrickle.gap.
    debezium::SourceInfo source;
    source.committed_at = gap.at;
    opt_.debezium->append_message_key("pgtrickle.gap", m.key);
    opt_.debezium->append_message("pgtrickle.gap", m.data, source, b);
  } else if (opt_.format == Format::json || opt_.format == Format::outbox_event_router) {
    b += "{\"dedup_key\":";
    util::append_json_string(b, m.dedup_key);
    b += ",\"stream_table\":";
    b += stream_table_json_;
    b += ",\"op\":\"gap\",\"outbox_id\":null,\"key\":null,\"timestamp\":";
    b += timestamp_of(row);
    b += ",\"gap\":";
    b += m.data;
    b += ",\"payload\":null}";
  } else {
    finish_cloudevent(m, "pgtrickle." + opt_.stream_table + ".gap", row, "", "", m.data);
  }
  out.push_back(std::move(m));
}

void Expander::emit_row(const OutboxRow& row, Op op, std::string_view id_text, std::string_view backfill_id,
                        const RowRef* before, bool full_refresh, std::uint64_t change_lsn, Message m,
                        std::vector<Message>& out) {
  m.op = op;
  m.source = opt_.stream_table;
  m.committed_at = row.committed_at;
  RowVars vars;
  fill_vars(vars, row, to_string(op), id_text);
  if (m.data != "null") {
    vars.row = m.data;
    m.key = key_of(m.data, vars);
  }
  for (size_t i = 0; i < opt_.routes.size() && i < 2; ++i)
    if (opt_.routes[i]) opt_.routes[i]->render(vars, m.routes[i]);

  std::string& b = m.body;
  b.reserve(200 + m.data.size() + (before ? before->text.size() : 0));
  if (opt_.format == Format::debezium && opt_.debezium) {
    std::string error;
    if (!encode_debezium(row, op, before, !backfill_id.empty(), change_lsn, m, error)) {
      m.body = m.data;
      m.poison = "cannot render Debezium's change event: " + error;
    }
  } else if (opt_.format == Format::outbox_event_router && opt_.debezium && opt_.router) {
    std::string error;
    if (!encode_routed(m, error)) {
      m.body = m.data;
      m.poison = "cannot route the outbox row: " + error;
    }
  } else if (opt_.format == Format::json) {
    b += "{\"dedup_key\":";
    util::append_json_string(b, m.dedup_key);
    b += ",\"stream_table\":";
    b += stream_table_json_;
    b += ",\"op\":\"";
    b += to_string(op);
    b += "\",\"outbox_id\":";
    b += id_text.empty() ? std::string_view("null") : id_text;
    if (!backfill_id.empty()) {  // a row a backfill read, not a change
      b += ",\"backfill_id\":";
      b += backfill_id;
    }
    b += ",\"refresh_id\":";
    util::append_json_string_or_null(b, row.refresh_id);
    b += ",\"key\":";
    util::append_json_string_or_null(b, m.key);
    b += ",\"timestamp\":";
    b += timestamp_of(row);
    b += ",\"is_full_refresh\":";
    b += full_refresh ? "true" : "false";
    b += ",\"payload\":";
    b += m.data;
    if (op == Op::update && before) {
      b += ",\"before\":";
      b += before->text;
    }
    b += '}';
  } else {
    std::string data = "{\"before\":";
    if (op == Op::update && before) data += before->text;
    else if (op == Op::delete_) data += m.data;
    else data += "null";
    data += ",\"after\":";
    data += op == Op::delete_ || op == Op::truncate ? std::string_view("null") : std::string_view(m.data);
    data += '}';
    finish_cloudevent(m, "pgtrickle." + opt_.stream_table + "." + to_string(op), row, id_text, backfill_id, data);
  }
  out.push_back(std::move(m));
}

void Expander::mark_read(Message& m, std::string_view mark) const {
  if (opt_.format != Format::debezium || !m.poison.empty()) return;
  // The source block follows the row values, so the last occurrence is its own (a row's string
  // values have their quotes escaped).
  constexpr std::string_view kSnapshot = "\"snapshot\":\"";
  auto at = m.body.rfind(kSnapshot);
  if (at == std::string::npos) return;
  at += kSnapshot.size();
  auto end = m.body.find('"', at);
  if (end != std::string::npos) m.body.replace(at, end - at, mark);
}

void Expander::emit_event(const OutboxRow& row, std::string_view payload, std::vector<Message>& out) {
  Message m;
  m.op = Op::event;
  m.source = opt_.stream_table;
  m.committed_at = row.committed_at;
  append_id_key(m.dedup_key, opt_.outbox, row.id, 0);
  m.data = minified(payload);
  std::string id_text = std::to_string(row.id);
  RowVars vars;
  fill_vars(vars, row, "event", id_text);
  if (js::kind(m.data) == '{') {
    vars.row = m.data;
    m.key = key_of(m.data, vars);
  }
  for (size_t i = 0; i < opt_.routes.size() && i < 2; ++i)
    if (opt_.routes[i]) opt_.routes[i]->render(vars, m.routes[i]);
  std::string headers_json = "{}";
  if (!row.headers.empty() && js::kind(row.headers) == '{' && js::valid(row.headers)) {
    headers_json = minified(row.headers);
    // Each header as text: the object's fields in order.
    size_t pos = 1;
    std::string_view h = headers_json;
    while (pos < h.size() && h[pos] != '}') {
      std::string_view k, v;
      if (!js::read_value(h, pos, k) || pos >= h.size() || h[pos] != ':') break;
      ++pos;
      if (!js::read_value(h, pos, v)) break;
      std::string key, value;
      js::append_text(key, k);
      js::append_text(value, v);
      m.headers.emplace_back(std::move(key), std::move(value));
      if (pos < h.size() && h[pos] == ',') ++pos;
    }
  }
  std::string& b = m.body;
  // An application's event is no row change: with format debezium it goes out as written, as
  // Debezium's outbox event router sends an outbox row's payload.
  if ((opt_.format == Format::json && opt_.bare_events) || opt_.format == Format::debezium) {
    b = m.data;
  } else if (opt_.format == Format::json) {
    b += "{\"dedup_key\":";
    util::append_json_string(b, m.dedup_key);
    b += ",\"stream_table\":";
    b += stream_table_json_;
    b += ",\"op\":\"event\",\"outbox_id\":";
    b += id_text;
    b += ",\"key\":";
    util::append_json_string_or_null(b, m.key);
    b += ",\"timestamp\":";
    b += timestamp_of(row);
    b += ",\"headers\":";
    b += headers_json;
    b += ",\"payload\":";
    b += m.data;
    b += '}';
  } else {
    std::string type = "pgtrickle." + opt_.stream_table + ".event";
    for (const auto& [k, v] : m.headers)
      if (k == "type" || k == "event_type") type = v;
    finish_cloudevent(m, type, row, id_text, "", m.data);
  }
  out.push_back(std::move(m));
}

void Expander::emit_delta(const OutboxRow& row, std::int64_t index, const std::string& inserted, const std::string& deleted,
                          size_t rows, std::string_view first_row, bool full_refresh, bool has_more,
                          std::vector<Message>& out) {
  Message m;
  m.op = Op::delta;
  m.source = opt_.stream_table;
  m.committed_at = row.committed_at;
  append_id_key(m.dedup_key, opt_.outbox, row.id, index);
  m.data = "{\"inserted\":" + inserted + ",\"deleted\":" + deleted + "}";
  std::string id_text = std::to_string(row.id);
  RowVars vars;
  fill_vars(vars, row, "delta", id_text);
  vars.row = first_row;  // {{ column }} in a delta's templates reads its first row
  if (!first_row.empty()) m.key = key_of(first_row, vars);
  for (size_t i = 0; i < opt_.routes.size() && i < 2; ++i)
    if (opt_.routes[i]) opt_.routes[i]->render(vars, m.routes[i]);
  std::string& b = m.body;
  if (opt_.format == Format::json) {
    b += "{\"stream_table\":";
    b += stream_table_json_;
    b += ",\"sequence\":";
    b += id_text;
    b += ",\"timestamp\":";
    b += timestamp_of(row);
    b += ",\"delta\":";
    b += m.data;
    b += ",\"metadata\":{\"dedup_key\":";
    util::append_json_string(b, m.dedup_key);
    b += ",\"outbox_id\":";
    b += id_text;
    b += ",\"refresh_id\":";
    util::append_json_string_or_null(b, row.refresh_id);
    b += ",\"full_refresh\":";
    b += full_refresh ? "true" : "false";
    b += ",\"delta_rows\":";
    util::append_int(b, static_cast<std::int64_t>(rows));
    if (row.is_claim_check) {
      b += ",\"first_row\":";
      util::append_int(b, index);
      b += ",\"more\":";
      b += has_more ? "true" : "false";
    }
    b += "}}";
  } else {
    finish_cloudevent(m, "pgtrickle." + opt_.stream_table + ".delta", row, id_text, "", m.data);
  }
  out.push_back(std::move(m));
}

bool Expander::routes_read_rows() const {
  return std::any_of(opt_.routes.begin(), opt_.routes.end(), [](const Template* t) { return t && t->has_columns(); });
}

void Expander::emit_delta_parts(const OutboxRow& row, const std::vector<DeltaRowRef>& rows, bool prefer_inserted_first,
                                bool full_refresh, bool has_more, std::vector<Message>& out) {
  struct Part {
    std::string ins = "[", del = "[";
    std::int64_t index = 0;
    size_t rows = 0;
    std::string_view first, first_inserted;
  };
  std::vector<Part> parts;
  std::unordered_map<std::string, size_t> by_route;
  const bool split = routes_read_rows();
  RowVars vars;
  std::string id_text = std::to_string(row.id);
  fill_vars(vars, row, "delta", id_text);
  std::string route;
  for (const auto& r : rows) {
    route.clear();
    if (split) {
      vars.row = r.text;
      for (const Template* t : opt_.routes) {
        if (t) t->render(vars, route);
        route += '\x1f';
      }
    }
    auto [it, fresh] = by_route.emplace(route, parts.size());
    if (fresh) {
      parts.emplace_back();
      parts.back().index = r.index;
      parts.back().first = r.text;
    }
    Part& p = parts[it->second];
    std::string& arr = r.is_delete ? p.del : p.ins;
    if (arr.size() > 1) arr += ',';
    arr += r.text;
    ++p.rows;
    if (!r.is_delete && p.first_inserted.empty()) p.first_inserted = r.text;
  }
  for (auto& p : parts) {
    p.ins += ']';
    p.del += ']';
    std::string_view first = prefer_inserted_first && !p.first_inserted.empty() ? p.first_inserted : p.first;
    emit_delta(row, p.index, p.ins, p.del, p.rows, first, full_refresh, has_more, out);
  }
}

void Expander::expand_row(const OutboxRow& row, std::vector<Message>& out) {
  if (row.is_claim_check) return;
  if (row.payload.empty()) return poison(row, "the outbox row has no payload", out);
  // Payloads come from jsonb columns, so PostgreSQL has already validated them: they are read with
  // the fast scanner, which still fails safely on anything malformed. Events are relayed whole and
  // checked in full.
  std::string_view top = row.payload;
  while (!top.empty() && (top.back() == ' ' || top.back() == '\n')) top.remove_suffix(1);
  while (!top.empty() && (top.front() == ' ' || top.front() == '\n')) top.remove_prefix(1);
  if (row.is_event) {
    if (!js::valid(top)) return poison(row, "the payload is not valid JSON", out);
    return emit_event(row, top, out);
  }

  std::string_view inserted, deleted;
  bool full_refresh = false;
  char k = js::kind(top);
  if (k == '[') {
    // pg_trickle 0.28-0.45 wrote the whole stream table as a bare array: a full snapshot.
    inserted = top;
    full_refresh = true;
  } else if (k == '{') {
    std::string_view v, truncated;
    bool has_ins = false, has_del = false, has_v = false;
    bool well_formed = js::each_field(top, [&](std::string_view key, std::string_view value) {
      if (key == "\"v\"") has_v = true, v = value;
      else if (key == "\"inserted\"") has_ins = true, inserted = value;
      else if (key == "\"deleted\"") has_del = true, deleted = value;
      else if (key == "\"full_refresh\"") full_refresh = value == "true";
      else if (key == "\"truncated\"") truncated = value;
    }, /*trusted=*/true);
    if (!well_formed) return poison(row, "the payload is not valid JSON", out);
    if (v != "1")
      return poison(row, "unsupported outbox payload: expected {\"v\":1,...}, \"v\" is " + (has_v ? minified(v) : "missing"), out);
    if ((has_ins && js::kind(inserted) == 'n') || (has_del && js::kind(deleted) == 'n')) {
      // pg_trickle 0.46+ publishes counts, not rows: relay the notice itself.
      return emit_event(row, top, out);
    }
    if ((has_ins && js::kind(inserted) != '[') || (has_del && js::kind(deleted) != '['))
      return poison(row, "unsupported outbox payload: \"inserted\" and \"deleted\" must be arrays of rows", out);
    if (truncated == "true") return emit(row, Op::truncate, 0, nullptr, nullptr, true, out);
  } else {
    return poison(row, "unsupported outbox payload: expected a JSON object with \"v\":1", out);
  }

  std::vector<RowRef>& dels = dels_;
  std::vector<RowRef>& inss = inss_;
  dels.clear();
  inss.clear();
  auto collect = [](std::string_view arr, std::vector<RowRef>& refs) {
    return arr.empty() || js::each_element(arr, [&](std::string_view e) { refs.push_back({minified(e)}); }, /*trusted=*/true);
  };
  if (!collect(deleted, dels) || !collect(inserted, inss)) return poison(row, "the payload is not valid JSON", out);

  if (opt_.granularity == Granularity::delta) {
    std::vector<DeltaRowRef> refs;
    refs.reserve(dels.size() + inss.size());
    for (size_t i = 0; i < dels.size(); ++i) refs.push_back({dels[i].text, true, static_cast<std::int64_t>(i)});
    for (size_t j = 0; j < inss.size(); ++j) refs.push_back({inss[j].text, false, static_cast<std::int64_t>(dels.size() + j)});
    if (refs.empty()) return emit_delta(row, 0, "[]", "[]", 0, "", full_refresh, false, out);
    return emit_delta_parts(row, refs, /*prefer_inserted_first=*/true, full_refresh, false, out);
  }

  // Row granularity: deleted rows take indexes 0..D-1, inserted rows D..D+I-1; an inserted row whose
  // key matches a deleted row is an update, emitted at the deleted row's index.
  bool pair = (!opt_.key_columns.empty() || opt_.key_template) && !dels.empty() && !inss.empty();
  std::vector<int> partner(dels.size(), -1);
  std::vector<bool> paired_ins(inss.size(), false);
  if (pair) {
    std::unordered_map<std::string, size_t> by_key;
    RowVars vars;
    vars.stream_table = opt_.stream_table;
    for (size_t i = 0; i < dels.size(); ++i) {
      vars.row = dels[i].text;
      by_key.emplace(key_of(dels[i].text, vars), i);
    }
    for (size_t j = 0; j < inss.size(); ++j) {
      vars.row = inss[j].text;
      auto it = by_key.find(key_of(inss[j].text, vars));
      if (it != by_key.end() && partner[it->second] < 0) {
        partner[it->second] = static_cast<int>(j);
        paired_ins[j] = true;
      }
    }
  }
  for (size_t i = 0; i < dels.size(); ++i) {
    if (partner[i] >= 0) emit(row, Op::update, static_cast<std::int64_t>(i), &inss[partner[i]], &dels[i], full_refresh, out);
    else emit(row, Op::delete_, static_cast<std::int64_t>(i), nullptr, &dels[i], full_refresh, out);
  }
  for (size_t j = 0; j < inss.size(); ++j)
    if (!paired_ins[j]) emit(row, Op::insert, static_cast<std::int64_t>(dels.size() + j), &inss[j], nullptr, full_refresh, out);
}

void Expander::expand_delta_rows(const OutboxRow& row, std::span<const DeltaRow> rows, bool last_chunk,
                                 std::size_t& consumed, std::vector<Message>& out) {
  consumed = 0;
  auto bad_row = [&](const DeltaRow& r) {
    OutboxRow bad = row;
    bad.payload = r.data;
    poison(bad, "claim-check row " + std::to_string(r.row_num) + " is not valid JSON", out);
    out.back().dedup_key.clear();
    append_id_key(out.back().dedup_key, opt_.outbox, row.id, r.row_num);
  };
  if (opt_.bare_events) {
    // A stream's events read from the WAL: each row inserted into pgstream.events is an event, with
    // the identity it has when the events table itself is read.
    OutboxRow event = row;  // the transaction's; each row gives its id
    event.is_event = true;
    event.headers.clear();
    for (const auto& r : rows) {
      std::string_view id, payload;
      bool readable = !r.is_truncate && !r.is_delete && js::each_field(r.data, [&](std::string_view key, std::string_view value) {
        if (key == "\"id\"") id = value;
        else if (key == "\"payload\"") payload = value;
      });
      auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), event.id);
      if (!readable || ec != std::errc() || end != id.data() + id.size() || js::kind(payload) != '{') {
        bad_row(r);
        continue;
      }
      emit_event(event, payload, out);
    }
    consumed = rows.size();
    return;
  }
  if (opt_.granularity == Granularity::delta) {
    // One message per chunk: {"inserted":[...],"deleted":[...]} of these rows.
    if (rows.empty()) return;
    std::vector<std::string> texts;  // minified, kept alive for the refs
    texts.reserve(rows.size());
    std::vector<DeltaRowRef> refs;
    refs.reserve(rows.size());
    bool any_message = false;
    auto flush = [&](bool has_more) {
      if (!refs.empty()) emit_delta_parts(row, refs, /*prefer_inserted_first=*/false, false, has_more, out);
      any_message = any_message || !refs.empty();
      refs.clear();
    };
    for (const auto& r : rows) {
      if (r.is_truncate) {  // the rows before it, then the marker, in the transaction's order
        flush(true);
        emit(row, Op::truncate, r.row_num, nullptr, nullptr, true, out);
        any_message = true;
        continue;
      }
      if (!js::valid(r.data)) {
        bad_row(r);
        continue;
      }
      texts.push_back(minified(r.data));
      refs.push_back({texts.back(), r.is_delete, r.row_num});
    }
    flush(!last_chunk);
    // A chunk of unreadable rows only: its position still moves on, under its first row's identity.
    if (!any_message) emit_delta(row, rows.front().row_num, "[]", "[]", rows.size(), "", false, !last_chunk, out);
    consumed = rows.size();
    return;
  }
  bool keyed = !opt_.key_columns.empty() || opt_.key_template;
  RowVars vars;
  vars.stream_table = opt_.stream_table;
  size_t i = 0;
  while (i < rows.size()) {
    const DeltaRow& r = rows[i];
    if (r.is_truncate) {
      emit(row, Op::truncate, r.row_num, nullptr, nullptr, true, out);
      ++i;
      continue;
    }
    if (!js::valid(r.data) || js::kind(r.data) != '{') {
      bad_row(r);
      ++i;
      continue;
    }
    RowRef ref{minified(r.data), r.lsn};
    if (r.is_delete && keyed) {
      if (i + 1 >= rows.size() && !last_chunk) break;  // its pair may be in the next chunk
      if (i + 1 < rows.size() && !rows[i + 1].is_delete && !rows[i + 1].is_truncate && js::valid(rows[i + 1].data)) {
        RowRef next{minified(rows[i + 1].data), rows[i + 1].lsn};
        vars.row = ref.text;
        std::string k1 = key_of(ref.text, vars);
        vars.row = next.text;
        if (k1 == key_of(next.text, vars)) {
          emit(row, Op::update, r.row_num, &next, &ref, false, out);
          i += 2;
          continue;
        }
        if (r.of_update && rows[i + 1].of_update && opt_.format == Format::debezium && opt_.debezium) {
          // One UPDATE changed the row's key: Debezium's delete of the old key names the new one
          // (__debezium.newkey), its create the old one (__debezium.oldkey).
          Header newkey{"__debezium.newkey", ""}, oldkey{"__debezium.oldkey", ""};
          std::string error;
          if (opt_.debezium->append_key_payload(next.text, newkey.second, error) &&
              opt_.debezium->append_key_payload(ref.text, oldkey.second, error)) {
            emit(row, Op::delete_, r.row_num, nullptr, &ref, false, out, &newkey);
            emit(row, Op::insert, rows[i + 1].row_num, &next, nullptr, false, out, &oldkey);
            i += 2;
            continue;
          }
        }
      }
    }
    if (r.is_delete) emit(row, Op::delete_, r.row_num, nullptr, &ref, false, out);
    else emit(row, Op::insert, r.row_num, &ref, nullptr, false, out);
    ++i;
  }
  consumed = i;
}

}  // namespace relay::postgres
