#include "sources/outbox/expand.h"

#include <ctime>
#include <optional>
#include <unordered_map>

#include "util/json_escape.h"

namespace relay::outbox {
namespace {

using simdjson::dom::element;

void append_text(element e, std::string& out) {
  std::string_view s;
  if (e.get_string().get(s) == simdjson::SUCCESS) out += s;
  else out += simdjson::minify(e);
}

struct RowVars : TemplateVars {
  element row;
  bool has_row = false;
  bool column(std::string_view name, std::string& out) const override {
    if (!has_row) return false;
    element v;
    if (row.at_key(name).get(v) != simdjson::SUCCESS) return false;
    append_text(v, out);
    return true;
  }
};

}  // namespace

void append_timestamp(std::string& out, double unix_seconds) {
  if (unix_seconds <= 0) {
    out += "null";
    return;
  }
  auto secs = static_cast<std::time_t>(unix_seconds);
  int ms = static_cast<int>((unix_seconds - static_cast<double>(secs)) * 1000.0 + 0.5);
  if (ms >= 1000) {
    ms -= 1000;
    ++secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  out += buf;
}

std::string Expander::key_of(element row, const TemplateVars& vars) const {
  std::string key;
  if (opt_.key_template) {
    opt_.key_template->render(vars, key);
    return key;
  }
  if (opt_.key_columns.empty()) return key;
  if (opt_.key_columns.size() == 1) {
    element v;
    if (row.at_key(opt_.key_columns[0]).get(v) == simdjson::SUCCESS) append_text(v, key);
    return key;
  }
  key += '[';
  for (size_t i = 0; i < opt_.key_columns.size(); ++i) {
    if (i) key += ',';
    element v;
    if (row.at_key(opt_.key_columns[i]).get(v) == simdjson::SUCCESS) key += simdjson::minify(v);
    else key += "null";
  }
  key += ']';
  return key;
}

void Expander::poison(const OutboxRow& row, std::string reason, std::vector<Message>& out) {
  Message m;
  m.dedup_key = opt_.outbox + ":" + std::to_string(row.id) + ":0";
  m.op = Op::event;
  m.source = opt_.stream_table;
  m.data = row.payload;
  m.body = row.payload;
  m.committed_at = row.committed_at;
  m.poison = std::move(reason);
  out.push_back(std::move(m));
}

void Expander::emit(const OutboxRow& row, Op op, std::int64_t index, const RowRef* now, const RowRef* before,
                    bool full_refresh, std::vector<Message>& out) {
  Message m;
  m.op = op;
  m.source = opt_.stream_table;
  m.committed_at = row.committed_at;
  m.dedup_key.reserve(opt_.outbox.size() + 24);
  m.dedup_key += opt_.outbox;
  m.dedup_key += ':';
  util::append_int(m.dedup_key, row.id);
  m.dedup_key += ':';
  util::append_int(m.dedup_key, index);

  std::string id_text = std::to_string(row.id);
  RowVars vars;
  vars.stream_table = opt_.stream_table;
  vars.op = to_string(op);
  vars.outbox_id = id_text;
  vars.refresh_id = row.refresh_id;
  const RowRef* keyed = now ? now : before;
  if (keyed) {
    vars.row = keyed->row;
    vars.has_row = true;
    m.key = key_of(keyed->row, vars);
  }
  for (size_t i = 0; i < opt_.routes.size() && i < 2; ++i)
    if (opt_.routes[i]) opt_.routes[i]->render(vars, m.routes[i]);
  if (keyed) m.data = keyed->text;
  else m.data = "null";

  std::string& b = m.body;
  b.reserve(160 + m.data.size() + (before ? before->text.size() : 0));
  if (opt_.format == Format::json) {
    b += "{\"dedup_key\":";
    util::append_json_string(b, m.dedup_key);
    b += ",\"stream_table\":";
    util::append_json_string(b, opt_.stream_table);
    b += ",\"op\":\"";
    b += to_string(op);
    b += "\",\"outbox_id\":";
    b += id_text;
    b += ",\"refresh_id\":";
    if (row.refresh_id.empty()) b += "null";
    else util::append_json_string(b, row.refresh_id);
    b += ",\"key\":";
    if (m.key.empty()) b += "null";
    else util::append_json_string(b, m.key);
    b += ",\"timestamp\":";
    append_timestamp(b, row.committed_at);
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
    b += "{\"specversion\":\"1.0\",\"id\":";
    util::append_json_string(b, m.dedup_key);
    b += ",\"source\":";
    util::append_json_string(b, "/pgtrickle/" + opt_.stream_table);
    b += ",\"type\":";
    util::append_json_string(b, "pgtrickle." + opt_.stream_table + "." + to_string(op));
    b += ",\"time\":";
    append_timestamp(b, row.committed_at);
    if (!m.key.empty()) {
      b += ",\"subject\":";
      util::append_json_string(b, m.key);
    }
    b += ",\"datacontenttype\":\"application/json\",\"outboxid\":";
    util::append_json_string(b, id_text);
    b += ",\"data\":{\"before\":";
    b += (op == Op::update || op == Op::delete_) && (before || op == Op::delete_) ? (before ? before->text : m.data) : "null";
    b += ",\"after\":";
    b += op == Op::delete_ || op == Op::truncate ? "null" : m.data;
    b += "}}";
  }
  out.push_back(std::move(m));
}

void Expander::emit_event(const OutboxRow& row, element payload, std::vector<Message>& out) {
  Message m;
  m.op = Op::event;
  m.source = opt_.stream_table;
  m.committed_at = row.committed_at;
  m.dedup_key = opt_.outbox + ":" + std::to_string(row.id) + ":0";
  m.data = simdjson::minify(payload);
  std::string id_text = std::to_string(row.id);
  RowVars vars;
  vars.stream_table = opt_.stream_table;
  vars.op = "event";
  vars.outbox_id = id_text;
  vars.refresh_id = row.refresh_id;
  if (payload.is_object()) {
    vars.row = payload;
    vars.has_row = true;
  }
  if (vars.has_row) m.key = key_of(payload, vars);
  for (size_t i = 0; i < opt_.routes.size() && i < 2; ++i)
    if (opt_.routes[i]) opt_.routes[i]->render(vars, m.routes[i]);
  std::string headers_json = "{}";
  if (!row.headers.empty()) {
    element h;
    if (row_parser_.parse(row.headers).get(h) == simdjson::SUCCESS && h.is_object()) {
      headers_json = simdjson::minify(h);
      for (auto field : h.get_object()) {
        std::string v;
        append_text(field.value, v);
        m.headers.emplace_back(std::string(field.key), std::move(v));
      }
    }
  }
  std::string& b = m.body;
  if (opt_.format == Format::json) {
    b += "{\"dedup_key\":";
    util::append_json_string(b, m.dedup_key);
    b += ",\"stream_table\":";
    util::append_json_string(b, opt_.stream_table);
    b += ",\"op\":\"event\",\"outbox_id\":";
    b += id_text;
    b += ",\"key\":";
    if (m.key.empty()) b += "null";
    else util::append_json_string(b, m.key);
    b += ",\"timestamp\":";
    append_timestamp(b, row.committed_at);
    b += ",\"headers\":";
    b += headers_json;
    b += ",\"payload\":";
    b += m.data;
    b += '}';
  } else {
    std::string type = "pgtrickle." + opt_.stream_table + ".event";
    for (const auto& [k, v] : m.headers)
      if (k == "type" || k == "event_type") type = v;
    b += "{\"specversion\":\"1.0\",\"id\":";
    util::append_json_string(b, m.dedup_key);
    b += ",\"source\":";
    util::append_json_string(b, "/pgtrickle/" + opt_.stream_table);
    b += ",\"type\":";
    util::append_json_string(b, type);
    b += ",\"time\":";
    append_timestamp(b, row.committed_at);
    b += ",\"datacontenttype\":\"application/json\",\"outboxid\":";
    util::append_json_string(b, id_text);
    b += ",\"data\":";
    b += m.data;
    b += '}';
  }
  out.push_back(std::move(m));
}

void Expander::emit_delta(const OutboxRow& row, std::int64_t index, std::optional<element> inserted,
                          std::optional<element> deleted, bool full_refresh, bool has_more, std::vector<Message>& out) {
  Message m;
  m.op = Op::delta;
  m.source = opt_.stream_table;
  m.committed_at = row.committed_at;
  m.dedup_key = opt_.outbox + ":" + std::to_string(row.id) + ":" + std::to_string(index);
  bool has_ins = inserted && inserted->is_array();
  bool has_del = deleted && deleted->is_array();
  std::string ins = has_ins ? simdjson::minify(*inserted) : "[]";
  std::string del = has_del ? simdjson::minify(*deleted) : "[]";
  size_t n_ins = has_ins ? inserted->get_array().size() : 0;
  size_t n_del = has_del ? deleted->get_array().size() : 0;
  m.data = "{\"inserted\":" + ins + ",\"deleted\":" + del + "}";
  std::string id_text = std::to_string(row.id);
  RowVars vars;
  vars.stream_table = opt_.stream_table;
  vars.op = "delta";
  vars.outbox_id = id_text;
  vars.refresh_id = row.refresh_id;
  if (n_ins || n_del) {
    element first = n_ins ? inserted->at(0).value_unsafe() : deleted->at(0).value_unsafe();
    vars.row = first;
    vars.has_row = true;
    m.key = key_of(first, vars);
  }
  for (size_t i = 0; i < opt_.routes.size() && i < 2; ++i)
    if (opt_.routes[i]) opt_.routes[i]->render(vars, m.routes[i]);
  std::string& b = m.body;
  if (opt_.format == Format::json) {
    b += "{\"stream_table\":";
    util::append_json_string(b, opt_.stream_table);
    b += ",\"sequence\":";
    b += id_text;
    b += ",\"timestamp\":";
    append_timestamp(b, row.committed_at);
    b += ",\"delta\":";
    b += m.data;
    b += ",\"metadata\":{\"dedup_key\":";
    util::append_json_string(b, m.dedup_key);
    b += ",\"outbox_id\":";
    b += id_text;
    b += ",\"refresh_id\":";
    if (row.refresh_id.empty()) b += "null";
    else util::append_json_string(b, row.refresh_id);
    b += ",\"full_refresh\":";
    b += full_refresh ? "true" : "false";
    b += ",\"delta_rows\":";
    util::append_int(b, static_cast<std::int64_t>(n_ins + n_del));
    if (row.is_claim_check) {
      b += ",\"first_row\":";
      util::append_int(b, index);
      b += ",\"more\":";
      b += has_more ? "true" : "false";
    }
    b += "}}";
  } else {
    b += "{\"specversion\":\"1.0\",\"id\":";
    util::append_json_string(b, m.dedup_key);
    b += ",\"source\":";
    util::append_json_string(b, "/pgtrickle/" + opt_.stream_table);
    b += ",\"type\":";
    util::append_json_string(b, "pgtrickle." + opt_.stream_table + ".delta");
    b += ",\"time\":";
    append_timestamp(b, row.committed_at);
    b += ",\"datacontenttype\":\"application/json\",\"outboxid\":";
    util::append_json_string(b, id_text);
    b += ",\"data\":";
    b += m.data;
    b += '}';
  }
  out.push_back(std::move(m));
}

void Expander::expand_row(const OutboxRow& row, std::vector<Message>& out) {
  if (row.is_claim_check) return;
  if (row.payload.empty()) return poison(row, "the outbox row has no payload", out);
  element doc;
  if (auto err = parser_.parse(row.payload).get(doc); err)
    return poison(row, std::string("the payload is not valid JSON: ") + simdjson::error_message(err), out);
  if (row.is_event) return emit_event(row, doc, out);

  std::optional<element> inserted, deleted;
  bool full_refresh = false;
  if (doc.is_array()) {
    // pg_trickle 0.28-0.45 wrote the whole stream table as a bare array: a full snapshot.
    inserted = doc;
    full_refresh = true;
  } else if (doc.is_object()) {
    int64_t v = 0;
    if (doc["v"].get(v) != simdjson::SUCCESS || v != 1) {
      std::string shown = doc["v"].error() ? "missing" : simdjson::minify(doc["v"].value_unsafe());
      return poison(row, "unsupported outbox payload: expected {\"v\":1,...}, \"v\" is " + shown, out);
    }
    bool fr = false;
    if (doc["full_refresh"].get(fr) == simdjson::SUCCESS) full_refresh = fr;
    bool truncated = false;
    if (doc["truncated"].get(truncated) != simdjson::SUCCESS) truncated = false;
    element ins_v, del_v;
    bool ins_ok = doc["inserted"].get(ins_v) == simdjson::SUCCESS;
    bool del_ok = doc["deleted"].get(del_v) == simdjson::SUCCESS;
    if ((ins_ok && ins_v.is_number()) || (del_ok && del_v.is_number())) {
      // pg_trickle 0.46+ publishes counts, not rows: relay the notice itself.
      return emit_event(row, doc, out);
    }
    if ((ins_ok && !ins_v.is_array()) || (del_ok && !del_v.is_array()))
      return poison(row, "unsupported outbox payload: \"inserted\" and \"deleted\" must be arrays of rows", out);
    if (truncated) {
      emit(row, Op::truncate, 0, nullptr, nullptr, true, out);
      return;
    }
    if (ins_ok) inserted = ins_v;
    if (del_ok) deleted = del_v;
  } else {
    return poison(row, "unsupported outbox payload: expected a JSON object with \"v\":1", out);
  }

  if (opt_.granularity == Granularity::delta) return emit_delta(row, 0, inserted, deleted, full_refresh, false, out);

  // Row granularity: deleted rows take indexes 0..D-1, inserted rows D..D+I-1; an inserted row whose
  // key matches a deleted row is an update, emitted at the deleted row's index.
  std::vector<RowRef> dels, inss;
  std::vector<std::string> del_text, ins_text;
  auto collect = [](const std::optional<element>& opt, std::vector<RowRef>& refs, std::vector<std::string>& texts) {
    if (!opt || !opt->is_array()) return;
    element arr = *opt;
    for (element e : arr.get_array()) texts.push_back(simdjson::minify(e));
    size_t i = 0;
    for (element e : arr.get_array()) refs.push_back({e, texts[i++]});
  };
  collect(deleted, dels, del_text);
  collect(inserted, inss, ins_text);
  bool pair = (!opt_.key_columns.empty() || opt_.key_template) && !dels.empty() && !inss.empty();
  std::vector<int> partner(dels.size(), -1);
  std::vector<bool> paired_ins(inss.size(), false);
  if (pair) {
    std::unordered_map<std::string, size_t> by_key;
    RowVars vars;
    vars.stream_table = opt_.stream_table;
    for (size_t i = 0; i < dels.size(); ++i) {
      vars.row = dels[i].row;
      vars.has_row = true;
      by_key.emplace(key_of(dels[i].row, vars), i);
    }
    for (size_t j = 0; j < inss.size(); ++j) {
      vars.row = inss[j].row;
      auto it = by_key.find(key_of(inss[j].row, vars));
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

void Expander::expand_delta_rows(const OutboxRow& row, const std::vector<DeltaRow>& rows, bool last_chunk,
                                 std::size_t& consumed, std::vector<Message>& out) {
  consumed = 0;
  if (opt_.granularity == Granularity::delta) {
    // One message per chunk: {"inserted":[...],"deleted":[...]} of these rows.
    std::string ins = "[", del = "[";
    for (const auto& r : rows) {
      std::string& t = r.is_delete ? del : ins;
      if (t.size() > 1) t += ',';
      t += r.data;
    }
    ins += ']';
    del += ']';
    if (rows.empty()) return;
    element ins_e, del_e;
    std::string ins_pad = ins, del_pad = del;
    if (parser_.parse(ins_pad).get(ins_e) || row_parser_.parse(del_pad).get(del_e)) {
      consumed = rows.size();
      return poison(row, "a claim-check row is not valid JSON", out);
    }
    emit_delta(row, rows.front().row_num, ins_e, del_e, false, !last_chunk, out);
    consumed = rows.size();
    return;
  }
  bool keyed = !opt_.key_columns.empty() || opt_.key_template;
  RowVars vars;
  vars.stream_table = opt_.stream_table;
  size_t i = 0;
  while (i < rows.size()) {
    const DeltaRow& r = rows[i];
    element e;
    if (parser_.parse(r.data).get(e)) {
      OutboxRow bad = row;
      bad.payload = r.data;
      poison(bad, "claim-check row " + std::to_string(r.row_num) + " is not valid JSON", out);
      out.back().dedup_key = opt_.outbox + ":" + std::to_string(row.id) + ":" + std::to_string(r.row_num);
      ++i;
      continue;
    }
    RowRef ref{e, {}};
    std::string text = simdjson::minify(e);
    ref.text = text;
    if (r.is_delete && keyed) {
      if (i + 1 >= rows.size() && !last_chunk) break;  // its pair may be in the next chunk
      if (i + 1 < rows.size() && !rows[i + 1].is_delete) {
        element e2;
        if (!row_parser_.parse(rows[i + 1].data).get(e2)) {
          vars.row = e;
          vars.has_row = true;
          std::string k1 = key_of(e, vars);
          vars.row = e2;
          if (k1 == key_of(e2, vars)) {
            std::string text2 = simdjson::minify(e2);
            RowRef now{e2, text2};
            emit(row, Op::update, r.row_num, &now, &ref, false, out);
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

}  // namespace relay::outbox
