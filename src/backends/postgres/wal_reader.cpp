#include "backends/postgres/wal_reader.h"

#include <fmt/format.h>

#include <algorithm>

#include "backends/postgres/wal_rows.h"

namespace relay::postgres {

namespace po = pgoutput;

namespace {
// How long a read inside a transaction waits for the rest of it before asking again.
constexpr std::chrono::milliseconds kInTransactionWait{1000};
}  // namespace

WalReader::WalReader(std::string postgres_url, std::string application_name, Table table)
    : url_(std::move(postgres_url)), app_(std::move(application_name)), table_(std::move(table)) {}

Status WalReader::connect() {
  auto db = pg::Connection::open(url_, app_ + " rows");
  if (!db) return db.error();
  db_ = std::move(*db);
  prepared_.clear();
  render_name_.clear();
  auto s = WalStream::start({.conninfo = url_, .slot = table_.slot, .publication = table_.publication, .application_name = app_});
  if (!s) return s.error();
  stream_.emplace(std::move(*s));
  in_txn_ = ended_ = false;
  pending_.clear();
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
    auto data = stream_->next(std::max(left, std::chrono::milliseconds(0)));
    if (!data) return data.error();
    if (!*data) {
      // Idle: with every transaction read confirmed, the slot follows the server's WAL, so the WAL
      // other tables write is not held back for this one.
      if (ends_.empty() && stream_->server_wal_end() > stream_->confirmed())
        if (auto s = stream_->confirm(stream_->server_wal_end()); !s) return s.error();
      return false;
    }
    auto m = po::decode((*data)->message);
    if (!m) return m.error();
    if (auto* r = std::get_if<po::Relation>(&*m)) {
      if (r->schema == table_.schema && r->name == table_.name) set_relation(*r);
      continue;
    }
    if (auto* b = std::get_if<po::Begin>(&*m)) {
      in_txn_ = true;
      ended_ = false;
      commit_lsn_ = b->final_lsn;
      next_row_ = 1;
      row = OutboxRow{};
      row.seq = row.id = static_cast<std::int64_t>(b->final_lsn);
      row.is_claim_check = true;
      row.committed_at = std::chrono::duration<double>(po::from_pg_time(b->commit_time).time_since_epoch()).count();
      return true;
    }
  }
}

void WalReader::set_relation(const po::Relation& relation) {
  relation_ = relation;
  render_name_.clear();  // its shape may have changed
}

Status WalReader::add_change(const po::Message& m) {
  auto ours = [&](uint32_t oid) { return oid == relation_.oid && relation_.oid != 0; };
  auto push = [&](bool is_delete, const po::Tuple& t, const po::Tuple* old, bool key_only) {
    Pending p{is_delete, key_only, false, {}};
    append_row_values(relation_, t, old, p.values, key_only);
    pending_.push_back(std::move(p));
  };
  if (auto* r = std::get_if<po::Relation>(&m)) {
    if (r->schema == table_.schema && r->name == table_.name) set_relation(*r);  // a column added or dropped
  } else if (auto* i = std::get_if<po::Insert>(&m)) {
    if (ours(i->relation)) push(false, i->new_tuple, nullptr, false);
  } else if (auto* u = std::get_if<po::Update>(&m)) {
    if (ours(u->relation)) {
      // The before-image: the whole old row (REPLICA IDENTITY FULL), the old key (the key
      // changed), else the key, which the new row holds.
      if (u->old_kind == 'O') push(true, u->old_tuple, nullptr, false);
      else push(true, u->old_kind == 'K' ? u->old_tuple : u->new_tuple, nullptr, true);
      push(false, u->new_tuple, u->old_kind == 'O' ? &u->old_tuple : nullptr, false);
    }
  } else if (auto* d = std::get_if<po::Delete>(&m)) {
    if (ours(d->relation)) push(true, d->old_tuple, nullptr, d->old_kind != 'O');
  } else if (auto* t = std::get_if<po::Truncate>(&m)) {
    if (std::any_of(t->relations.begin(), t->relations.end(), ours)) pending_.push_back(Pending{true, false, true, {}});
  }
  return {};
}

Status WalReader::fill(std::size_t want) {
  while (!ended_ && pending_.size() < want) {
    auto data = stream_->next(kInTransactionWait);
    if (!data) return data.error();
    if (!*data) continue;
    auto m = po::decode((*data)->message);
    if (!m) return m.error();
    if (auto* c = std::get_if<po::Commit>(&*m)) {
      ended_ = true;
      ends_.emplace_back(c->commit_lsn, c->end_lsn);
      break;
    }
    if (auto s = add_change(*m); !s) return s;
  }
  return {};
}

Result<std::vector<std::string>> WalReader::render(const std::vector<Pending>& rows) {
  std::string array = "[";
  std::size_t count = 0;
  for (const auto& p : rows) {
    if (p.is_truncate) continue;  // no data
    if (array.size() > 1) array += ',';
    array += p.values;
    ++count;
  }
  array += ']';
  std::vector<std::string> out;
  if (count > 0) {
    // Prepared once per table shape: planning the statement cost as much as running it.
    if (render_name_.empty()) {
      std::string sql = RowRenderer::statement(relation_);
      auto [it, fresh] = prepared_.emplace(sql, "wal_render_" + std::to_string(prepared_.size()));
      if (fresh)
        if (auto s = db_.prepare(it->second, sql); !s) {
          prepared_.erase(it);
          return s.error();
        }
      render_name_ = it->second;
    }
    auto rendered = RowRenderer::render(db_, relation_, array, render_name_);
    if (!rendered) return rendered.error();
    if (rendered->size() != count)
      return retriable(fmt::format("rendering rows of {}.{}: {} rows came back for {}", table_.schema, table_.name,
                                   rendered->size(), count));
    out = std::move(*rendered);
  }
  // Back in the transaction's order, a truncation's place holding no text.
  std::vector<std::string> ordered;
  ordered.reserve(rows.size());
  std::size_t next = 0;
  for (const auto& p : rows) ordered.push_back(p.is_truncate ? std::string() : std::move(out[next++]));
  return ordered;
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
    auto rendered = render(chunk);
    if (!rendered) return rendered.error();
    for (std::size_t i = 0; i < chunk.size(); ++i)
      out.push_back({next_row_++, chunk[i].is_delete, std::move((*rendered)[i]), chunk[i].is_truncate});
  }
  last_ = out;
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
