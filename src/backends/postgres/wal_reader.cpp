#include "backends/postgres/wal_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <thread>

#include "backends/postgres/backfill.h"
#include "backends/postgres/wal_rows.h"
#include "util/json_escape.h"

namespace relay::postgres {

namespace po = pgoutput;

namespace {
// How long a read inside a transaction waits for the rest of it before asking again.
constexpr std::chrono::milliseconds kInTransactionWait{1000};
}  // namespace

WalReader::WalReader(std::string postgres_url, std::string application_name, Table table, Decider decide)
    : url_(std::move(postgres_url)),
      app_(std::move(application_name)),
      table_(std::move(table)),
      decide_(std::move(decide)),
      streamed_({.memory_limit = table_.streaming_memory, .spill_dir = table_.spill_dir}) {}

Status WalReader::connect() {
  auto db = pg::Connection::open(url_, app_ + " rows");
  if (!db) return db.error();
  db_ = std::move(*db);
  // Rows are rendered in the stream's settings (pg::Connection::open_replication): a timestamptz in
  // UTC whichever renders it, the server or the relay (PlainRows).
  if (auto s = db_.exec("SET datestyle = ISO; SET intervalstyle = postgres; SET timezone = UTC; SET extra_float_digits = 3"); !s)
    return s.error();
  tables_.clear();  // a new session describes every table again
  type_names_.clear();
  composite_.clear();
  // A pipeline that delivered before resumes after the end of the last transaction it delivered,
  // kept with its position: the "transaction streamed before" of the first one it sends now
  // (Debezium's source.sequence, which Debezium keeps in its offsets). A position stored without it
  // takes the slot's confirmed position (that end, or a point the server's WAL had reached while
  // the tables were idle). A new pipeline knows none, as Debezium.
  previous_end_ = table_.resumed ? table_.resumed_after : 0;
  if (table_.resumed && previous_end_ == 0) {
    auto slot = db_.exec("SELECT confirmed_flush_lsn::text FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
                         {table_.slot});
    if (slot && slot->rows() == 1 && !slot->null(0, 0)) previous_end_ = po::parse_lsn(slot->text(0, 0)).value_or(0);
  }
  // The server streams anew what was held: its transactions from their start.
  streamed_.clear();
  auto s = WalStream::start({.conninfo = url_,
                             .slot = table_.slot,
                             .publications = table_.publications,
                             .application_name = app_,
                             .streaming = table_.streaming});
  if (!s) return s.error();
  stream_.emplace(std::move(*s));
  // The stream's dates are read as text only in ISO style, and its zone must be the one rows
  // rendered by the server are written in.
  const std::string date_style = stream_->parameter("DateStyle"), zone = stream_->parameter("TimeZone");
  const char* db_zone = PQparameterStatus(db_.raw(), "TimeZone");
  text_dates_ = date_style.rfind("ISO", 0) == 0 && db_zone && zone == db_zone;
  in_txn_ = ended_ = marker_seen_ = false;
  pending_.clear();
  ahead_.clear();
  last_.clear();
  ends_.clear();
  return {};
}

Result<bool> WalReader::next(OutboxRow& row, std::chrono::milliseconds wait) {
  // What is left of the current transaction is not wanted: read past it without keeping it.
  if (auto s = read_past_transaction(); !s) return s.error();
  in_txn_ = false;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto m = pull(std::max(left, std::chrono::milliseconds(0)));
    if (!m) return m.error();
    if (!*m) {
      // Idle: with every transaction read confirmed, the slot follows the server's WAL, so the WAL
      // other tables write is not held back for this one.
      if (ends_.empty() && stream_->server_wal_end() > stream_->confirmed())
        if (auto s = stream_->confirm(stream_->server_wal_end()); !s) return s.error();
      return false;
    }
    if (auto* r = std::get_if<po::Relation>(&**m)) {
      if (auto s = learn(*r); !s) return s.error();
      continue;
    }
    if (auto* lm = std::get_if<po::LogicalMessage>(&**m)) {
      if (!marker_.empty() && !lm->transactional && lm->prefix == kBackfillMarkerPrefix && lm->content == marker_) {
        marker_seen_ = true;
        return false;
      }
      continue;
    }
    if (auto* b = std::get_if<po::Begin>(&**m)) {
      in_txn_ = true;
      ended_ = false;
      commit_lsn_ = b->final_lsn;
      next_row_ = 1;
      row = OutboxRow{};
      row.seq = row.id = static_cast<std::int64_t>(b->final_lsn);
      row.is_claim_check = true;
      row.xid = b->xid;
      row.from_wal = true;
      row.previous_end = previous_end_;
      row.begin_lsn = message_lsn_;
      row.committed_at = std::chrono::duration<double>(po::from_pg_time(b->commit_time).time_since_epoch()).count();
      return true;
    }
  }
}

Status WalReader::learn(const po::Relation& relation) {
  bool read = table_.schema.empty() ? false : relation.schema == table_.schema && relation.name == table_.name;
  if (decide_) {
    auto d = decide_(relation);
    if (!d) return d.error();
    read = *d;
  }
  TableState& t = tables_[relation.oid];
  t.relation = relation;
  t.columns.clear();  // its shape may have changed
  t.wanted = read;
  t.built_in = built_in_types_only(relation);
  t.plain = PlainRows::of(relation, text_dates_);
  if (auto s = learn_composites(relation); !s) return s;
  t.text_columns.clear();
  for (std::size_t i = 0; i < relation.columns.size(); ++i) {
    const std::uint32_t oid = relation.columns[i].type_oid;
    auto type = type_names_.find(oid);
    auto composite = composite_.find(oid);
    if ((type != type_names_.end() && std::ranges::find(table_.text_types, type->second) != table_.text_types.end()) ||
        (composite != composite_.end() && composite->second))
      t.text_columns.push_back(i);
  }
  return {};
}

Status WalReader::learn_composites(const po::Relation& relation) {
  if (!table_.composites_as_text) return {};
  std::string oids;
  for (const auto& c : relation.columns)
    if (c.type_oid >= po::kFirstNormalObjectId && !composite_.contains(c.type_oid))
      oids += (oids.empty() ? "" : ",") + std::to_string(c.type_oid);
  if (oids.empty()) return {};
  auto r = db_.exec("SELECT t.oid, t.typtype = 'c' OR coalesce(e.typtype = 'c', false) FROM pg_catalog.pg_type AS t "
                    "LEFT JOIN pg_catalog.pg_type AS e ON e.oid = t.typelem AND t.typcategory = 'A' "
                    "WHERE t.oid = ANY ($1::oid[])",
                    {"{" + oids + "}"});
  if (!r) return r.error();
  for (int i = 0; i < r->rows(); ++i) composite_[static_cast<std::uint32_t>(r->int64(i, 0))] = r->boolean(i, 1);
  return {};
}

const WalReader::TableState* WalReader::wanted(std::uint32_t oid) const {
  auto it = tables_.find(oid);
  return it != tables_.end() && it->second.wanted ? &it->second : nullptr;
}

Result<std::optional<po::Message>> WalReader::pull(std::chrono::milliseconds wait) {
  std::string_view bytes;
  if (!ahead_.empty()) {
    held_ = std::move(ahead_.front());
    ahead_.pop_front();
    bytes = held_.bytes;
    message_lsn_ = held_.lsn;
  } else {
    held_ = {};
    auto data = next_message(wait);
    if (!data) return data.error();
    if (!*data) return std::optional<po::Message>();
    bytes = (*data)->message;
    message_lsn_ = (*data)->lsn;
  }
  auto m = po::decode(bytes);
  if (!m) return m.error();
  if (auto* c = std::get_if<po::Commit>(&*m)) previous_end_ = c->end_lsn;
  // The types of the relation described next (pgoutput names each non-built-in one first).
  if (auto* ty = std::get_if<po::TypeInfo>(&*m)) type_names_[ty->oid] = ty->name;
  // A message outside a transaction ends where it is, as a commit does (Debezium counts it so).
  if (auto* lm = std::get_if<po::LogicalMessage>(&*m); lm && !lm->transactional) previous_end_ = message_lsn_;
  return std::optional<po::Message>(std::move(*m));
}

Result<std::optional<WalStream::Data>> WalReader::next_message(std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    if (streamed_.replaying()) {
      // The server waits meanwhile: tell it the relay is alive (wal_sender_timeout).
      const auto now = std::chrono::steady_clock::now();
      if (now - last_status_ > std::chrono::seconds(1)) {
        last_status_ = now;
        if (auto s = stream_->confirm(stream_->confirmed()); !s) return s.error();
      }
      auto m = streamed_.next_replayed();
      if (!m) return m.error();
      return std::optional<WalStream::Data>(WalStream::Data{(*m)->lsn, (*m)->message});
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    // What is held could not be spilled (a full disk): read nothing more until it can. The server
    // waits, and keeps the transaction's WAL; nothing is lost.
    if (!streamed_.spill_trouble().empty() && !streamed_.make_room()) {
      std::this_thread::sleep_for(std::clamp(left, std::chrono::milliseconds(0), std::chrono::milliseconds(1000)));
      return std::optional<WalStream::Data>();
    }
    auto data = stream_->next(std::max(left, std::chrono::milliseconds(0)));
    if (!data || !*data || !stream_->streaming()) return data;
    auto held = streamed_.take((*data)->lsn, (*data)->message);
    if (!held) return held.error();
    if (!*held) return data;
    if (!streamed_.replaying() && left.count() <= 0) return std::optional<WalStream::Data>();
  }
}

void WalReader::changes_of(const po::Message& m, po::Lsn lsn, std::vector<Pending>& out, bool render) const {
  po::Tuple known;  // the tuple with the values replaced after rendering null (not rendered)
  auto push = [&](const TableState& table, bool is_delete, const po::Tuple* t, const po::Tuple* old, bool key_only) {
    Pending p{table.relation.oid, is_delete, key_only, false, lsn, {}, false, std::nullopt, {}};
    auto replace = [&](std::size_t i, std::string value) {
      if (p.replaced.empty()) known = *t;
      known[i] = po::Value{};
      std::string name;
      util::append_json_string(name, table.relation.columns[i].name);
      p.replaced.emplace_back(std::move(name), std::move(value));
    };
    if (!table_.unavailable_placeholder.empty() && !key_only) {
      std::string placeholder;
      util::append_json_string(placeholder, table_.unavailable_placeholder);
      for (std::size_t i = 0; i < t->size() && i < table.relation.columns.size(); ++i) {
        bool in_old = old && i < old->size() && (*old)[i].kind == po::Value::text;
        if ((*t)[i].kind == po::Value::unchanged_toast && !in_old) replace(i, placeholder);
      }
    }
    for (std::size_t i : table.text_columns) {
      if (i >= t->size() || (*t)[i].kind != po::Value::text || table.relation.columns[i].key) continue;
      std::string text;
      util::append_json_string(text, (*t)[i].data);
      replace(i, std::move(text));
    }
    if (!p.replaced.empty()) t = &known;
    if (render) {
      if (table.plain) p.text = table.plain->render(*t, old, key_only);
      p.minified = p.text.has_value();
      if (!p.text) p.fill = append_row_values(table.relation, *t, old, p.values, key_only);
    }
    out.push_back(std::move(p));
  };
  if (auto* i = std::get_if<po::Insert>(&m)) {
    if (auto* t = wanted(i->relation)) push(*t, false, &i->new_tuple, nullptr, false);
  } else if (auto* u = std::get_if<po::Update>(&m)) {
    if (auto* t = wanted(u->relation)) {
      // The before-image: the whole old row (REPLICA IDENTITY FULL), the old key (the key
      // changed), else the key, which the new row holds.
      if (u->old_kind == 'O') push(*t, true, &u->old_tuple, nullptr, false);
      else push(*t, true, u->old_kind == 'K' ? &u->old_tuple : &u->new_tuple, nullptr, true);
      push(*t, false, &u->new_tuple, u->old_kind == 'O' ? &u->old_tuple : nullptr, false);
      out[out.size() - 2].of_update = out.back().of_update = true;
    }
  } else if (auto* d = std::get_if<po::Delete>(&m)) {
    if (auto* t = wanted(d->relation)) push(*t, true, &d->old_tuple, nullptr, d->old_kind != 'O');
  } else if (auto* t = std::get_if<po::Truncate>(&m)) {
    // One truncation per table read, in the order the statement named them.
    for (uint32_t oid : t->relations)
      if (wanted(oid)) out.push_back(Pending{oid, true, false, true, lsn, {}, false, std::nullopt, {}});
  }
}

Status WalReader::fill(std::size_t want) {
  while (!ended_ && pending_.size() < want) {
    auto m = pull(kInTransactionWait);
    if (!m) return m.error();
    if (!*m) continue;
    if (auto* c = std::get_if<po::Commit>(&**m)) {
      ended_ = true;
      ends_.emplace_back(c->commit_lsn, c->end_lsn);
      break;
    }
    if (auto* r = std::get_if<po::Relation>(&**m)) {
      if (auto s = learn(*r); !s) return s;  // a column added or dropped, a rename
      continue;
    }
    changes_.clear();
    changes_of(**m, message_lsn_, changes_, held_.texts.empty());
    // Rows read ahead were rendered then.
    for (std::size_t i = 0; i < changes_.size() && i < held_.texts.size(); ++i) changes_[i].text = std::move(held_.texts[i]);
    for (auto& p : changes_) pending_.push_back(std::move(p));
  }
  return {};
}

Status WalReader::read_ahead(std::size_t rows, std::vector<Pending>& chunk) {
  const std::size_t own = chunk.size();
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // ahead_ index -> its rows' count
  // Messages are bounded too: transactions with no change of the table (sent empty before
  // PostgreSQL 15) add none.
  while (chunk.size() - own < rows && ahead_.size() < 4 * rows + 16) {
    auto data = next_message(std::chrono::milliseconds(0));
    if (!data) return data.error();
    if (!*data) break;
    auto m = po::decode((*data)->message);
    if (!m) return m.error();
    ahead_.push_back(Ahead{std::string((*data)->message), (*data)->lsn, {}});
    bool plain = std::holds_alternative<po::Begin>(*m) || std::holds_alternative<po::Commit>(*m) ||
                 std::holds_alternative<po::Insert>(*m) || std::holds_alternative<po::Update>(*m) ||
                 std::holds_alternative<po::Delete>(*m);
    if (!plain) break;  // a new shape of the table, a truncation, anything else: read in its turn
    std::size_t before = chunk.size();
    changes_of(*m, (*data)->lsn, chunk);
    if (chunk.size() > before) spans.emplace_back(ahead_.size() - 1, chunk.size() - before);
  }
  if (auto s = render(chunk); !s) return s;
  std::size_t next = own;
  for (auto [index, count] : spans)
    for (std::size_t i = 0; i < count; ++i) ahead_[index].texts.push_back(std::move(*chunk[next++].text));
  chunk.resize(own);
  return {};
}

Status WalReader::render(std::vector<Pending>& rows) {
  // Groups of rows rendered together, in the order their first row comes: a table's rows, or, in
  // a pipeline of many tables, the rows of every table of one shape that need no code of their
  // owner's (built-in types, nothing read from the table), whichever table they belong to.
  struct Group {
    TableState* table;  // its (first) table
    bool plain;
    std::vector<std::size_t> at;  // indexes into `rows`
  };
  std::vector<Group> groups;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Pending& p = rows[i];
    if (p.is_truncate || p.text) continue;  // no data, or rendered already
    auto it = tables_.find(p.table);
    if (it == tables_.end()) return retriable(fmt::format("rendering rows of the table with oid {}: the WAL never described it", p.table));
    TableState& table = it->second;
    if (table.columns.empty()) table.columns = RowRenderer::columns_json(table.relation);
    const bool plain = decide_ && table.built_in && !p.fill;
    auto g = std::find_if(groups.begin(), groups.end(), [&](const Group& x) {
      return x.plain == plain && (plain ? x.table->columns == table.columns : x.table == &table);
    });
    if (g == groups.end()) {
      groups.push_back({&table, plain, {}});
      g = groups.end() - 1;
    }
    g->at.push_back(i);
  }
  if (groups.empty()) return {};
  auto array_of = [&](const std::vector<std::size_t>& at) {
    std::string a = "[";
    for (std::size_t i : at) {
      if (a.size() > 1) a += ',';
      a += rows[i].values;
    }
    return a + "]";
  };
  Result<std::vector<std::string>> rendered = std::vector<std::string>{};
  if (!decide_) {  // one table, captured by enable_outbox
    rendered = RowRenderer::render(db_, groups[0].table->relation, array_of(groups[0].at), groups[0].table->columns);
  } else {  // a pipeline's tables: every group in one statement ("rel" 0: rows needing no owner)
    std::string all = "[";
    for (const auto& g : groups) {
      if (all.size() > 1) all += ',';
      all += fmt::format("{{\"rel\":{},\"columns\":{},\"rows\":{}}}", g.plain ? 0u : g.table->relation.oid, g.table->columns,
                         array_of(g.at));
    }
    rendered = RowRenderer::render_tables(db_, all + "]");
  }
  if (!rendered) return rendered.error();
  std::size_t count = 0;
  for (const auto& g : groups) count += g.at.size();
  if (rendered->size() != count)
    return retriable(fmt::format("rendering rows read from the WAL: {} rows came back for {}", rendered->size(), count));
  std::size_t next = 0;
  for (const auto& g : groups)
    for (std::size_t i : g.at) rows[i].text = std::move((*rendered)[next++]);
  return {};
}

Result<std::vector<DeltaRow>> WalReader::delta_rows(std::int64_t from_row, std::size_t limit) {
  std::vector<DeltaRow> out;
  // The last chunk's rows asked for again (a trailing DELETE whose pair was not read yet).
  for (auto& r : last_)
    if (r.row_num >= from_row && out.size() < limit) out.push_back(r);
  // Rows delivered before a restart are read past, not rendered.
  while (next_row_ < from_row) {
    if (pending_.empty()) {
      if (ended_) break;
      if (auto s = fill(1); !s) return s.error();
      continue;
    }
    pending_.pop_front();
    ++next_row_;
  }
  const std::size_t want = limit - out.size();
  if (auto s = fill(want); !s) return s.error();
  std::vector<Pending> chunk;
  while (!pending_.empty() && chunk.size() < want) {
    chunk.push_back(std::move(pending_.front()));
    pending_.pop_front();
  }
  if (!chunk.empty()) {
    // The transaction read to its end with room left: what arrived behind it is rendered along.
    std::size_t room = want - chunk.size();
    auto s = ended_ && pending_.empty() && ahead_.empty() && room > 0 ? read_ahead(room, chunk) : render(chunk);
    if (!s) return s.error();
    for (auto& p : chunk) {
      std::string text = p.text ? std::move(*p.text) : std::string();
      if (!p.replaced.empty()) text = with_values(text, p.replaced);
      out.push_back({next_row_++, p.is_delete, std::move(text), p.is_truncate, p.table, p.lsn, p.of_update, p.minified});
    }
  }
  // Only a chunk's last row is ever asked for again (its pair may come next): the rest is not kept.
  last_.assign(out.end() - std::min<std::size_t>(out.size(), 1), out.end());
  return out;
}

Status WalReader::read_past_transaction() {
  while (in_txn_ && !ended_) {
    pending_.clear();
    if (auto s = fill(1); !s) return s;
  }
  pending_.clear();
  last_.clear();
  return {};
}

Status WalReader::skip_transaction() {
  if (auto s = read_past_transaction(); !s) return s;
  return confirm(commit_lsn_);
}

Status WalReader::keep_alive() { return stream_->confirm(stream_->confirmed()); }

Status WalReader::confirm(po::Lsn commit_lsn) {
  po::Lsn end = 0;
  while (!ends_.empty() && ends_.front().first <= commit_lsn) {
    end = ends_.front().second;
    ends_.pop_front();
  }
  if (end == 0) return {};
  return stream_->confirm(end);
}

}  // namespace relay::postgres
