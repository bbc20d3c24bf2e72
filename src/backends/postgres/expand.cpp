#include "backends/postgres/expand.h"

#include <algorithm>
#include <ctime>
#include <charconv>
#include <unordered_map>

#include "util/json_escape.h"
#include "util/json_scan.h"

namespace relay::postgres {
namespace {

namespace js = json_scan;

std::string minified(std::string_view v) {
  std::string s;
  js::append_minified(s, v);
  return s;
}

// A row's text as messages carry it, taken from the row: the relay's own rendering is already minified.
std::string take_minified(DeltaRow& r) { return r.minified ? std::move(r.data) : minified(r.data); }

void append_id_key(std::string& key, std::string_view outbox, std::int64_t id, std::int64_t index) {
  key.reserve(outbox.size() + 24);
  key += outbox;
  key += ':';
  util::append_int(key, id);
  key += ':';
  util::append_int(key, index);
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

Expander::Expander(ExpandOptions options) : opt_(std::move(options)), encoder_(format::make_encoder(opt_)) {
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

void Expander::render_routes(const RowVars& vars, Message& m) const {
  for (size_t i = 0; i < opt_.routes.size() && i < 2; ++i)
    if (opt_.routes[i]) opt_.routes[i]->render(vars, m.routes[i]);
}

format::Commit Expander::commit_of(const OutboxRow& row) {
  return {.committed_at = row.committed_at, .refresh_id = row.refresh_id, .seq = row.seq, .xid = row.xid,
          .from_wal = row.from_wal, .previous_end = row.previous_end};
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
  if (!encoder_->sends(op)) return;
  Message m;
  append_id_key(m.dedup_key, opt_.outbox, row.id, index);
  std::string id_text = std::to_string(row.id);
  const std::uint64_t lsn = now ? now->lsn : before ? before->lsn : 0;
  if (now) m.data = std::move(now->text);  // the inserted row is not needed after its message
  else if (before) m.data = before->text;
  else m.data = "null";
  emit_row(row, op, id_text, "", before, full_refresh, lsn, std::move(m), out);
  if (key_header && !out.empty() && out.back().poison.empty()) out.back().headers.push_back(*key_header);
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
  render_routes(vars, m);
  encoder_->gap(commit_of(row), m);
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
  render_routes(vars, m);
  const format::Commit commit = commit_of(row);
  encoder_->row({.commit = commit, .outbox_id = id_text, .backfill_id = backfill_id, .before = before ? &before->text : nullptr,
                 .full_refresh = full_refresh, .lsn = change_lsn},
                m);
  out.push_back(std::move(m));
}

void Expander::mark_read(Message& m, std::string_view mark) const { encoder_->mark_read(m, mark); }

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
  render_routes(vars, m);
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
  encoder_->event({.commit = commit_of(row), .outbox_id = id_text, .headers_json = headers_json}, m);
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
  render_routes(vars, m);
  encoder_->delta({.commit = commit_of(row), .outbox_id = id_text, .first_row = index, .rows = rows, .full_refresh = full_refresh,
                   .claim_check = row.is_claim_check, .more = has_more},
                  m);
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

void Expander::expand_delta_rows(const OutboxRow& row, std::span<DeltaRow> rows, bool last_chunk,
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
    for (auto& r : rows) {
      if (r.is_truncate) {  // the rows before it, then the marker, in the transaction's order
        flush(true);
        emit(row, Op::truncate, r.row_num, nullptr, nullptr, true, out);
        any_message = true;
        continue;
      }
      if (!r.minified && !js::valid(r.data)) {
        bad_row(r);
        continue;
      }
      texts.push_back(take_minified(r));
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
    DeltaRow& r = rows[i];
    if (r.is_truncate) {
      emit(row, Op::truncate, r.row_num, nullptr, nullptr, true, out);
      ++i;
      continue;
    }
    if (!r.minified && (!js::valid(r.data) || js::kind(r.data) != '{')) {
      bad_row(r);
      ++i;
      continue;
    }
    if (r.is_delete && keyed && i + 1 >= rows.size() && !last_chunk) break;  // its pair may be in the next chunk
    RowRef ref{take_minified(r), r.lsn};
    if (r.is_delete && keyed) {
      DeltaRow* n = i + 1 < rows.size() ? &rows[i + 1] : nullptr;
      if (n && !n->is_delete && !n->is_truncate && (n->minified || js::valid(n->data))) {
        RowRef next{n->minified ? n->data : minified(n->data), n->lsn};
        vars.row = ref.text;
        std::string k1 = key_of(ref.text, vars);
        vars.row = next.text;
        if (k1 == key_of(next.text, vars)) {
          emit(row, Op::update, r.row_num, &next, &ref, false, out);
          i += 2;
          continue;
        }
        // One UPDATE changed the row's key: in Debezium's events the delete of the old key names the
        // new one (__debezium.newkey), the create the old one (__debezium.oldkey).
        Header newkey, oldkey;
        if (r.of_update && rows[i + 1].of_update && encoder_->key_change(ref.text, next.text, newkey, oldkey)) {
          emit(row, Op::delete_, r.row_num, nullptr, &ref, false, out, &newkey);
          emit(row, Op::insert, rows[i + 1].row_num, &next, nullptr, false, out, &oldkey);
          i += 2;
          continue;
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
