#include "backends/postgres/outbox_reader.h"

#include <fmt/format.h>
#include <poll.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "pg/copy_text.h"

namespace relay::postgres {
namespace {

using pg::quote_ident;
using pg::quote_literal;

// The rows of an outbox after a position, in order, as the SELECT both read paths run: the
// arguments are SQL text (parameters such as "$1" for the prepared page, numbers for a COPY).
// Columns: seq, id, is_event, is_claim_check, payload, headers, refresh_id, commit time (epoch).
struct ReadArgs {
  std::string after_seq, watermark, after_id, limit;
};

std::string read_sql(const OutboxReader::Table& table, const ReadArgs& a) {
  std::string t = quote_ident(table.outbox);
  if (table.legacy)  // pg_trickle's own outbox: id order
    return fmt::format("SELECT 0, o.id, false, o.is_claim_check, o.payload, NULL, o.refresh_id, extract(epoch from o.created_at), NULL "
                       "FROM pgtrickle.{} o WHERE o.id > {} ORDER BY o.id LIMIT {}",
                       t, a.after_id, a.limit);
  // The commits from the position's own (which may have rows left) up to the watermark, in commit
  // order, each one's rows by id (the nested loop keeps that order): every commit numbered up to
  // the watermark is visible to this statement, and none can appear below it later, so no row is
  // skipped when transactions commit out of id order.
  return fmt::format(
      "SELECT c.seq, o.id, o.kind = 'event', o.is_claim_check, o.payload, CASE WHEN o.kind = 'event' THEN o.headers END, "
      "o.refresh_id, c.epoch, c.xid FROM (SELECT seq, xid, extract(epoch from committed_at) AS epoch "
      "FROM pgtrickle.outbox_commits WHERE outbox = {0} AND seq >= {1} AND seq <= {2} ORDER BY seq LIMIT {4}) c "
      "CROSS JOIN LATERAL (SELECT o.id, o.kind, o.is_claim_check, o.payload, o.headers, o.refresh_id "
      "FROM pgtrickle.{5} o WHERE o.xid = c.xid AND o.id > CASE WHEN c.seq = {1} THEN {3} ELSE 0 END "
      "ORDER BY o.id LIMIT {4}) o LIMIT {4}",
      quote_literal(table.outbox), a.after_seq, a.watermark, a.after_id, a.limit, t);
}

// A failed read, with what to do when the relay's role may not read the table.
Error read_error(const std::string& outbox, Error e) {
  while (!e.message.empty() && e.message.back() == '\n') e.message.pop_back();
  if (e.message.find("permission denied") != std::string::npos)
    e.message += "; the relay's role needs SELECT on it: run `pgtrickle-relay install` again (it grants pgtrickle_relay every "
                 "existing outbox) or GRANT SELECT ON pgtrickle." + outbox + " TO pgtrickle_relay";
  e.message = "cannot read the outbox " + outbox + ": " + e.message;
  return e;
}

}  // namespace

OutboxReader::OutboxReader(pg::ConnectionPool& pool, OutboxListener& listener, Table table, std::size_t stream_rows,
                           CommitNumbering& numbering, int stop_fd)
    : pool_(&pool), listener_(&listener), table_(std::move(table)), stream_rows_(stream_rows), numbering_(&numbering),
      stop_fd_(stop_fd) {
  // pg_trickle's own outboxes have no commit numbers: their page takes the id and the limit only.
  page_sql_ = read_sql(table_, table_.legacy ? ReadArgs{"", "", "$1", "$2"} : ReadArgs{"$1", "$2", "$3", "$4"});
  if (!table_.delta.empty())
    delta_sql_ = fmt::format("SELECT row_num, row_op IN ('DELETE', 'D'), row_data::text FROM pgtrickle.{} "
                             "WHERE outbox_id = $1 AND row_num >= $2 ORDER BY row_num LIMIT $3",
                             quote_ident(table_.delta));
}

OutboxReader::~OutboxReader() {
  if (turn_) pool_->forget(turn_->place);
}

void OutboxReader::connect() {
  subscription_ = listener_->subscribe(table_.outbox);
  waiting_ = false;
}

Result<pg::ConnectionPool::Lease> OutboxReader::borrow(bool long_read) {
  if (!turn_) {
    turn_ = std::make_unique<PoolTurn>();
    turn_->place.notify = [fd = &turn_->fd] { fd->signal(); };
  }
  // A moment on the thread (statements give connections back that fast), then a turn in
  // the queue: a busy pool never holds the thread for long.
  auto lease = pool_->try_borrow(turn_->place, long_read, std::chrono::milliseconds(250), long_read ? nullptr : &page_sql_);
  waiting_for_pool_ = lease && !*lease;
  if (lease && *lease) turn_->fd.drain();  // a turn signalled earlier is used up
  return lease;
}

void OutboxReader::start_after(std::int64_t seq, std::int64_t id, bool include_id) {
  after_seq_ = seq;
  after_id_ = include_id ? id - 1 : id;
  caught_up_ = false;
}

Result<bool> OutboxReader::open_stream() {
  if (!table_.legacy) {
    // A round of the relay's, begun after this call, and committed before the read below starts.
    auto w = numbering_->watermark(table_.outbox, subscription_.get());
    if (!w) return w.error();
    watermark_ = *w;
  }
  auto lease = borrow(/*long_read=*/!paging_);
  if (!lease) return lease.error();
  if (!*lease) return false;
  pg::Connection& db = **lease;
  if (paging_) {
    // Caught up so far: a prepared statement (no planning) reads what the last commits added, on
    // its home connection; on another, unprepared (a plan held on every connection would not fit).
    pg::Params args{std::to_string(after_id_), std::to_string(kPageRows)};
    if (!table_.legacy) args.insert(args.begin(), {std::to_string(after_seq_), std::to_string(watermark_)});
    auto r = lease->home() ? db.exec_cached(page_sql_, args) : db.exec(page_sql_, args);
    if (!r) return read_error(table_.outbox, r.error());
    page_ = std::move(*r);
    page_next_ = 0;
    streaming_ = true;
    return true;
  }
  // A backlog: one COPY stream over a long stretch of it, so the server produces rows while the
  // relay expands the ones already received.
  std::string sql = "COPY (" +
                    read_sql(table_, {std::to_string(after_seq_), std::to_string(watermark_), std::to_string(after_id_),
                                      std::to_string(stream_rows_)}) +
                    ") TO STDOUT";
  if (!PQsendQuery(db.raw(), sql.c_str())) return retriable(std::string("cannot read the outbox: ") + PQerrorMessage(db.raw()));
  PGresult* r = PQgetResult(db.raw());
  bool copying = r && PQresultStatus(r) == PGRES_COPY_OUT;
  std::string error = r && !copying ? PQresultErrorMessage(r) : PQerrorMessage(db.raw());
  const char* sqlstate = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  ErrorKind kind = pg::classify_sqlstate(sqlstate ? sqlstate : "", db.ok());
  if (r) PQclear(r);
  if (!copying) {
    while (PGresult* extra = PQgetResult(db.raw())) PQclear(extra);
    return read_error(table_.outbox, Error{kind, error});
  }
  copy_ = std::move(*lease);
  streaming_ = true;
  streamed_ = 0;
  return true;
}

void OutboxReader::pause() {
  // Rows wait for the sink now, not for writers: writers need not notify meanwhile.
  if (waiting_) {
    subscription_->stop_waiting();
    waiting_ = false;
  }
  // Nor does it wait for the pool: its place goes to the next borrower.
  if (turn_) pool_->forget(turn_->place);
  waiting_for_pool_ = false;
  if (!copy_) return;
  // The stream is cancelled, and what the server sent meanwhile dropped. A stream that ended
  // before the cancel reached the server leaves the request in flight, which could cancel the next
  // borrower's statement: that connection is closed rather than given back.
  PGconn* c = copy_->raw();
  if (PGcancel* cancel = PQgetCancel(c)) {
    char why[256];
    (void)PQcancel(cancel, why, sizeof why);
    PQfreeCancel(cancel);
  }
  char* buf = nullptr;
  int n;
  while ((n = PQgetCopyData(c, &buf, 0)) > 0) PQfreemem(buf);
  bool cancelled = false;
  while (PGresult* r = PQgetResult(c)) {
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    cancelled = cancelled || (state && std::string_view(state) == "57014");
    PQclear(r);
  }
  if (!cancelled) copy_.discard();
  copy_ = {};
  streaming_ = false;
  caught_up_ = false;
}

template <typename NextField>
Result<bool> OutboxReader::fill_row(NextField next_field, OutboxRow& row) {
  bool null = false;
  auto num = [&](std::int64_t& out) {
    next_field(field_, null);
    out = 0;
    if (!null) std::from_chars(field_.data(), field_.data() + field_.size(), out);
  };
  num(row.seq);
  num(row.id);
  next_field(field_, null);
  row.is_event = field_ == "t";
  next_field(field_, null);
  row.is_claim_check = field_ == "t";
  next_field(row.payload, null);
  if (null) row.payload.clear();
  next_field(row.headers, null);
  if (null) row.headers.clear();
  next_field(row.refresh_id, null);
  if (null) row.refresh_id.clear();
  next_field(field_, null);
  // The rows of one transaction share their commit time: convert its text once.
  if (!null && field_ != committed_text_) {
    committed_text_ = field_;
    committed_at_ = 0;
    std::from_chars(field_.data(), field_.data() + field_.size(), committed_at_);
  }
  row.committed_at = null ? 0 : committed_at_;
  // The writer's transaction (an xid8, epoch and id): its 32-bit id, as the WAL gives it.
  next_field(field_, null);
  std::uint64_t xid = 0;
  if (!null) std::from_chars(field_.data(), field_.data() + field_.size(), xid);
  row.xid = static_cast<std::uint32_t>(xid);
  if (row.id <= 0) return retriable("unreadable row in the outbox stream");
  // Track the position by the row's transaction (seq) and id for the next read.
  quiet_looks_ = 0;
  after_seq_ = row.seq;
  after_id_ = row.id;
  return true;
}

Result<bool> OutboxReader::next(OutboxRow& row) {
  while (true) {
    if (!streaming_) {
      if (caught_up_) return false;
      auto opened = open_stream();
      if (!opened) return opened.error();
      if (!*opened) return false;  // waiting for the pool
    }
    if (paging_) {
      if (page_next_ < page_.rows()) {
        int i = page_next_++;
        int col = 0;
        auto ok = fill_row(
            [&](std::string& out, bool& null) {
              null = page_.null(i, col);
              out.assign(page_.text(i, col));
              ++col;
            },
            row);
        if (!ok) return ok.error();
        return true;
      }
      // A short page means every committed row up to the watermark was read; a full one, that a
      // backlog built up: it is read as a COPY stream from here.
      streaming_ = false;
      if (read_to_watermark(static_cast<std::size_t>(page_.rows()), kPageRows)) caught_up_ = true;
      else paging_ = false;
      page_ = {};
      if (caught_up_) return false;
      continue;
    }
    char* buf = nullptr;
    int n = PQgetCopyData(copy_->raw(), &buf, 0);
    if (n > 0) {
      const char* p = buf;
      const char* end = buf + n;
      if (end > p && end[-1] == '\n') --end;
      auto ok = fill_row([&](std::string& out, bool& null) { pg::read_copy_field(p, end, out, null); }, row);
      PQfreemem(buf);
      if (!ok) return ok.error();
      ++streamed_;
      return true;
    }
    if (n == -2) {
      std::string error = PQerrorMessage(copy_->raw());
      copy_.discard();
      streaming_ = false;
      return retriable("lost the outbox stream: " + error);
    }
    // End of this stream: a short one means every committed row up to the watermark was read, and
    // the next reads are pages again. Its connection goes back to the pool.
    PGresult* r = PQgetResult(copy_->raw());
    bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    std::string error = r ? PQresultErrorMessage(r) : PQerrorMessage(copy_->raw());
    if (r) PQclear(r);
    while (PGresult* extra = PQgetResult(copy_->raw())) PQclear(extra);
    copy_ = {};
    streaming_ = false;
    if (!ok) return retriable("the outbox stream failed: " + error);
    if (read_to_watermark(streamed_, stream_rows_)) {
      caught_up_ = true;
      paging_ = true;
      return false;
    }
  }
}

// Whether a read that returned `got` rows of at most `limit` reached the watermark. A read takes
// up to `limit` commits from the position's own, which has no rows left when the position is at its
// end; every other commit has at least one row. So `limit - 1` rows may still leave commits behind,
// and only fewer says the read reached the watermark (pg_trickle's own outboxes are read by id).
bool OutboxReader::read_to_watermark(std::size_t got, std::size_t limit) const {
  return got + (table_.legacy ? 0 : 1) < limit;
}

Result<std::vector<DeltaRow>> OutboxReader::delta_rows(std::int64_t outbox_id, std::int64_t from_row, std::size_t limit) {
  std::vector<DeltaRow> rows;
  if (table_.delta.empty()) return rows;
  auto lease = pool_->borrow(pg::PooledSession::kWait);
  if (!lease) return lease.error();
  auto r = (*lease)->exec_cached(delta_sql_, {std::to_string(outbox_id), std::to_string(from_row), std::to_string(limit)});
  if (!r) return r.error();
  rows.reserve(r->rows());
  for (int i = 0; i < r->rows(); ++i) rows.push_back({r->int64(i, 0), r->boolean(i, 1), r->str(i, 2)});
  return rows;
}

Task<bool> OutboxReader::wait_for_rows(Executor& executor, Deadline deadline) {
  // Writers of our outboxes notify only while a reader says it waits (pg_trickle's notify always),
  // for their notifications commit one at a time database-wide. A reader woken goes on waiting
  // while it reads, unless rows came again meanwhile: then commits flow steadily, and it says it
  // no longer waits. A reader that does not wait looks again a few times, 1, 2, 4 and 8 ms apart,
  // before it says it waits: under a steady flow of commits it keeps reading and no writer
  // notifies.
  if (waiting_for_pool_) {
    // Rows are there: the reader waits for a pooled connection, for its turn at most until the
    // deadline (then it looks again), holding no thread meanwhile.
    co_await executor.readable(deadline, turn_->fd.fd(), stop_fd_);
    co_return true;
  }
  const bool flagged = !table_.legacy;
  caught_up_ = false;
  if (flagged && waiting_) {
    pollfd fd{subscription_->fd(), POLLIN, 0};
    if (::poll(&fd, 1, 0) > 0) {
      subscription_->clear();
      subscription_->stop_waiting();
      waiting_ = false;
      quiet_looks_ = 0;
      co_return true;
    }
  }
  if (flagged && !waiting_) {
    if (quiet_looks_ < 4) {
      auto until = std::min(deadline, Clock::now() + std::chrono::milliseconds(1 << quiet_looks_));
      co_await executor.readable(until, stop_fd_);
      ++quiet_looks_;
      co_return true;
    }
    // From now on writers notify; what committed before they could see it is read first.
    subscription_->clear();
    const int recorded = subscription_->ask_to_wait();
    std::optional<bool> said;
    while (!(said = subscription_->waiting_recorded()))
      if (co_await executor.readable(Clock::now() + std::chrono::seconds(1), recorded, stop_fd_) == 1) break;
    waiting_ = said.value_or(false);
    waiting_since_ = Clock::now();
    if (waiting_) co_return true;
  }
  // A writer that looked just before we said we wait commits a moment later: look again soon, once.
  constexpr auto kLateCommit = std::chrono::milliseconds(2);
  const bool late_look = flagged && Clock::now() < waiting_since_ + kLateCommit;
  if (late_look) deadline = std::min(deadline, waiting_since_ + kLateCommit);
  int woken = co_await executor.readable(deadline, subscription_->fd(), stop_fd_);
  if (woken == 0) {
    subscription_->clear();  // rows came: read them, still waiting
    co_return true;
  }
  if (woken > 0) co_return true;  // the reader stops
  // The deadline passed: a reader the listener wakes need not look, but for the late commit.
  const bool woken_by_listener = waiting_ || !flagged;
  co_return !woken_by_listener || late_look;
}

}  // namespace relay::postgres
