#include "sources/outbox/outbox_reader.h"

#include <fmt/format.h>
#include <poll.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "pg/copy_text.h"

namespace relay::outbox {
namespace {

using pg::quote_ident;
using pg::quote_literal;

}  // namespace

OutboxReader::OutboxReader(std::string postgres_url, std::string application_name, Table table, std::size_t stream_rows)
    : url_(std::move(postgres_url)), app_(std::move(application_name)), table_(std::move(table)), stream_rows_(stream_rows) {}

Status OutboxReader::connect() {
  auto s = pg::Connection::open(url_, app_);
  if (!s) return s.error();
  stream_ = std::move(*s);
  // Reading up to the watermark relies on each statement seeing what committed before it, whatever
  // the database's default isolation.
  auto l = stream_.exec("SET default_transaction_isolation = 'read committed'; LISTEN pgtrickle_outbox_new");
  if (!l) return l.error();
  if (!table_.delta.empty()) {
    auto d = pg::Connection::open(url_, app_ + " (claim-check)");
    if (!d) return d.error();
    delta_ = std::move(*d);
    auto p = delta_.prepare("ob_delta", fmt::format("SELECT row_num, row_op IN ('DELETE', 'D'), row_data::text FROM pgtrickle.{} "
                                                    "WHERE outbox_id = $1 AND row_num >= $2 ORDER BY row_num LIMIT $3",
                                                    quote_ident(table_.delta)));
    if (!p) return p;
  }
  return {};
}

void OutboxReader::start_after(std::int64_t seq, std::int64_t id, bool include_id) {
  after_seq_ = seq;
  after_id_ = include_id ? id - 1 : id;
  caught_up_ = false;
}

Status OutboxReader::open_stream() {
  std::string t = quote_ident(table_.outbox);
  std::string sql;
  if (table_.legacy) {
    sql = fmt::format(
        "COPY (SELECT 0, o.id, false, o.is_claim_check, o.payload, NULL, o.refresh_id, extract(epoch from o.created_at) "
        "FROM pgtrickle.{} o WHERE o.id > {} ORDER BY o.id LIMIT {}) TO STDOUT",
        t, after_id_, stream_rows_);
  } else {
    // The commits after the position (and the position's own, which may have rows left), in order,
    // up to the watermark: every commit numbered up to it is visible to the COPY's snapshot, and
    // none can appear below it later, so no row is skipped when transactions commit out of id order.
    auto c = stream_.exec(fmt::format("SELECT seq, xid, committed_epoch, watermark FROM pgtrickle.outbox_pending_commits({}, {}, 2)",
                                      quote_literal(table_.outbox), after_seq_));
    if (!c) {
      if (c.error().message.find("outbox_pending_commits") != std::string::npos && c.error().message.find("does not exist") != std::string::npos)
        return fatal("the SQL installed in this database is older than this relay: run `pgtrickle-relay install --postgres-url ...` "
                     "again to update it (" + c.error().message + ")");
      return c.error();
    }
    if (c->rows() == 0) {
      caught_up_ = true;
      streaming_ = false;
      return {};
    }
    watermark_ = c->int64(0, 3);
    std::string columns = "o.id, o.kind = 'event', o.is_claim_check, o.payload, CASE WHEN o.kind = 'event' THEN o.headers END, o.refresh_id";
    if (c->rows() == 1) {
      // One transaction (a large one, or the only one): a plain seek on (xid, id).
      std::int64_t seq = c->int64(0, 0);
      sql = fmt::format("COPY (SELECT {}, {}, {} FROM pgtrickle.{} o WHERE o.xid = {}::xid8 AND o.id > {} ORDER BY o.id LIMIT {}) TO STDOUT",
                        seq, columns, c->null(0, 2) ? "NULL" : c->str(0, 2), t, quote_literal(c->str(0, 1)),
                        seq == after_seq_ ? after_id_ : 0, stream_rows_);
    } else {
      // Several transactions: in commit order, each one's rows by id (the nested loop keeps that order).
      sql = fmt::format(
          "COPY (SELECT c.seq, {5}, c.epoch FROM (SELECT seq, xid, extract(epoch from committed_at) AS epoch "
          "FROM pgtrickle.outbox_commits WHERE outbox = {0} AND seq >= {1} AND seq <= {2} ORDER BY seq LIMIT {4}) c "
          "CROSS JOIN LATERAL (SELECT o.id, o.kind, o.is_claim_check, o.payload, o.headers, o.refresh_id "
          "FROM pgtrickle.{6} o WHERE o.xid = c.xid AND o.id > CASE WHEN c.seq = {1} THEN {3} ELSE 0 END "
          "ORDER BY o.id LIMIT {4}) o LIMIT {4}) TO STDOUT",
          quote_literal(table_.outbox), after_seq_, watermark_, after_id_, stream_rows_, columns, t);
    }
  }
  if (!PQsendQuery(stream_.raw(), sql.c_str())) return retriable(std::string("cannot read the outbox: ") + PQerrorMessage(stream_.raw()));
  PGresult* r = PQgetResult(stream_.raw());
  bool copying = r && PQresultStatus(r) == PGRES_COPY_OUT;
  std::string error = r && !copying ? PQresultErrorMessage(r) : PQerrorMessage(stream_.raw());
  if (r) PQclear(r);
  if (!copying) {
    while (PGresult* extra = PQgetResult(stream_.raw())) PQclear(extra);
    while (!error.empty() && error.back() == '\n') error.pop_back();
    if (error.find("permission denied") != std::string::npos)
      error += "; the relay's role needs SELECT on it: run `pgtrickle-relay install` again (it grants pgtrickle_relay every "
               "existing outbox) or GRANT SELECT ON pgtrickle." + table_.outbox + " TO pgtrickle_relay";
    return Error{stream_.ok() ? ErrorKind::fatal : ErrorKind::retriable, "cannot read the outbox " + table_.outbox + ": " + error};
  }
  streaming_ = true;
  streamed_ = 0;
  return {};
}

Result<bool> OutboxReader::next(OutboxRow& row) {
  while (true) {
    if (!streaming_) {
      if (caught_up_) return false;
      if (auto s = open_stream(); !s) return s.error();
      if (!streaming_) return false;  // nothing committed past the position
    }
    char* buf = nullptr;
    int n = PQgetCopyData(stream_.raw(), &buf, 0);
    if (n > 0) {
      auto ok = parse_line(buf, n, row);
      PQfreemem(buf);
      if (!ok) return ok.error();
      ++streamed_;
      // Track the position by the row's transaction (seq) and id for the next stream.
      after_seq_ = row.seq;
      after_id_ = row.id;
      return true;
    }
    if (n == -2) return retriable(std::string("lost the outbox stream: ") + PQerrorMessage(stream_.raw()));
    // End of this stream: a short one means every committed row up to the watermark was read.
    PGresult* r = PQgetResult(stream_.raw());
    bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    std::string error = r ? PQresultErrorMessage(r) : PQerrorMessage(stream_.raw());
    if (r) PQclear(r);
    while (PGresult* extra = PQgetResult(stream_.raw())) PQclear(extra);
    streaming_ = false;
    if (!ok) return retriable("the outbox stream failed: " + error);
    if (streamed_ < stream_rows_) {
      caught_up_ = true;
      return false;
    }
  }
}

Result<bool> OutboxReader::parse_line(const char* line, int len, OutboxRow& row) {
  const char* p = line;
  const char* end = line + len;
  if (end > p && end[-1] == '\n') --end;
  bool null = false;
  auto num = [&](std::int64_t& out) {
    pg::read_copy_field(p, end, field_, null);
    out = 0;
    if (!null) std::from_chars(field_.data(), field_.data() + field_.size(), out);
  };
  num(row.seq);
  num(row.id);
  pg::read_copy_field(p, end, field_, null);
  row.is_event = field_ == "t";
  pg::read_copy_field(p, end, field_, null);
  row.is_claim_check = field_ == "t";
  pg::read_copy_field(p, end, row.payload, null);
  if (null) row.payload.clear();
  pg::read_copy_field(p, end, row.headers, null);
  if (null) row.headers.clear();
  pg::read_copy_field(p, end, row.refresh_id, null);
  if (null) row.refresh_id.clear();
  pg::read_copy_field(p, end, field_, null);
  // The rows of one transaction share their commit time: convert its text once.
  if (!null && field_ != committed_text_) {
    committed_text_ = field_;
    committed_at_ = 0;
    std::from_chars(field_.data(), field_.data() + field_.size(), committed_at_);
  }
  row.committed_at = null ? 0 : committed_at_;
  if (row.id <= 0) return retriable("unreadable row in the outbox stream");
  return true;
}

Result<std::vector<DeltaRow>> OutboxReader::delta_rows(std::int64_t outbox_id, std::int64_t from_row, std::size_t limit) {
  std::vector<DeltaRow> rows;
  if (table_.delta.empty()) return rows;
  auto r = delta_.exec_prepared("ob_delta", {std::to_string(outbox_id), std::to_string(from_row), std::to_string(limit)});
  if (!r) return r.error();
  rows.reserve(r->rows());
  for (int i = 0; i < r->rows(); ++i) rows.push_back({r->int64(i, 0), r->boolean(i, 1), r->str(i, 2)});
  return rows;
}

void OutboxReader::wait_for_rows(Deadline deadline, int stop_fd) {
  while (Clock::now() < deadline) {
    for (auto& [channel, payload] : stream_.notifications())
      if (payload == table_.outbox) {
        caught_up_ = false;
        return;
      }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd fds[2] = {{stream_.socket(), POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(std::max<long long>(ms, 0)));
    if (n <= 0 || fds[1].revents || (fds[0].revents & (POLLERR | POLLHUP))) break;
  }
  caught_up_ = false;  // the poll interval passed: look again
}

}  // namespace relay::outbox
