#include "backends/postgres/wal_stream.h"

#include <fmt/format.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace relay::postgres {

namespace {

std::string connection_error(PGconn* c) {
  std::string msg = c ? PQerrorMessage(c) : "no connection";
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

// What the operator can do about a server's refusal to stream.
std::string fix_for(std::string_view message) {
  if (message.find("wal_level") != std::string_view::npos)
    return "; set wal_level = logical in postgresql.conf and restart PostgreSQL";
  if (message.find("must be superuser or replication role") != std::string_view::npos ||
      message.find("permission denied to start WAL sender") != std::string_view::npos ||
      message.find("REPLICATION attribute") != std::string_view::npos)
    return "; give the relay's login the REPLICATION attribute (ALTER ROLE <login> REPLICATION)";
  if (message.find("no pg_hba.conf entry for replication") != std::string_view::npos)
    return "; allow the relay's login a replication connection in pg_hba.conf (host replication <login> <address> ...)";
  if (message.find("number of requested standby connections exceeds max_wal_senders") != std::string_view::npos ||
      message.find("max_wal_senders") != std::string_view::npos)
    return "; raise max_wal_senders (every WAL pipeline holds one) and restart PostgreSQL";
  if (message.find("is active for PID") != std::string_view::npos)
    return "; another connection is reading this slot (a former owner): it is ended when ownership moves";
  if (message.find("does not exist") != std::string_view::npos) return "; the capture set-up is missing: run enable_outbox again";
  return "";
}

}  // namespace

Result<WalStream> WalStream::start(const Options& options) {
  auto c = pg::Connection::open_replication(options.conninfo, options.application_name);
  if (!c) {
    auto e = c.error();
    e.message += fix_for(e.message);
    return e;
  }
  WalStream s;
  s.conn_ = std::move(*c);
  s.confirmed_ = options.from;
  std::string names;  // "a","b": each quoted, then the list a string
  for (const auto& p : options.publications) names += (names.empty() ? "" : ",") + s.conn_.quote_ident(p);
  s.streaming_ = options.streaming && PQserverVersion(s.conn_.raw()) >= 140000;
  std::string sql = fmt::format("START_REPLICATION SLOT {} LOGICAL {} (proto_version '{}', publication_names {}, messages 'true'{})",
                                s.conn_.quote_ident(options.slot), pgoutput::format_lsn(options.from), s.streaming_ ? 2 : 1,
                                pg::quote_literal(names), s.streaming_ ? ", streaming 'on'" : "");
  pg::PgResult started(PQexec(s.conn_.raw(), sql.c_str()));
  if (PQresultStatus(started.get()) != PGRES_COPY_BOTH) {
    const char* state = PQresultErrorField(started.get(), PG_DIAG_SQLSTATE);
    std::string msg = connection_error(s.conn_.raw());
    std::string fix = fix_for(msg);
    ErrorKind kind = state && std::string_view(state).substr(0, 2) == "42" ? ErrorKind::fatal : ErrorKind::retriable;
    return Error{kind, fmt::format("cannot stream replication slot \"{}\": {}{}", options.slot, msg, fix)};
  }
  return s;
}

WalStream::WalStream(WalStream&& o) noexcept
    : conn_(std::move(o.conn_)), buffer_(o.buffer_), confirmed_(o.confirmed_), wal_end_(o.wal_end_), streaming_(o.streaming_) {
  o.buffer_ = nullptr;
}

WalStream& WalStream::operator=(WalStream&& o) noexcept {
  if (this != &o) {
    release_buffer();
    conn_ = std::move(o.conn_);
    buffer_ = o.buffer_;
    o.buffer_ = nullptr;
    confirmed_ = o.confirmed_;
    wal_end_ = o.wal_end_;
    streaming_ = o.streaming_;
  }
  return *this;
}

WalStream::~WalStream() { release_buffer(); }

void WalStream::release_buffer() {
  if (buffer_) PQfreemem(buffer_);
  buffer_ = nullptr;
}

Status WalStream::wait_readable(std::chrono::milliseconds timeout) {
  pollfd p{conn_.socket(), POLLIN, 0};
  int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (r < 0 && errno != EINTR) return retriable(fmt::format("waiting for the replication stream: {}", std::strerror(errno)));
  if (r > 0 && PQconsumeInput(conn_.raw()) != 1)
    return retriable("lost the replication connection: " + connection_error(conn_.raw()));
  return {};
}

Result<std::optional<WalStream::Data>> WalStream::next(std::chrono::milliseconds timeout) {
  release_buffer();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int n = PQgetCopyData(conn_.raw(), &buffer_, 1);
    if (n > 0) {
      auto framed = pgoutput::decode_copy_data(std::string_view(buffer_, static_cast<size_t>(n)));
      if (!framed) return framed.error();
      if (auto* data = std::get_if<pgoutput::XLogData>(&*framed)) {
        wal_end_ = std::max(wal_end_, data->wal_end);
        return std::optional<Data>(Data{data->start, data->payload});
      }
      const auto& keepalive = std::get<pgoutput::Keepalive>(*framed);
      wal_end_ = std::max(wal_end_, keepalive.wal_end);
      release_buffer();
      if (keepalive.reply_requested)
        if (auto s = send_status(false); !s) return s.error();
      continue;
    }
    if (n == 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      // Out of time: what the socket already holds is still read (libpq buffers only what was
      // read from it), so a reader asking for what already arrived gets all of it, not a buffer's worth.
      if (left.count() <= 0) {
        pollfd p{conn_.socket(), POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0) return std::optional<Data>();
        if (PQconsumeInput(conn_.raw()) != 1) return retriable("lost the replication connection: " + connection_error(conn_.raw()));
        continue;
      }
      if (auto s = wait_readable(left); !s) return s.error();
      continue;
    }
    // -1: the server ended the stream; -2: the connection failed. Either way, say why.
    pg::PgResult end(PQgetResult(conn_.raw()));
    std::string msg = connection_error(conn_.raw());
    return retriable(fmt::format("the replication stream ended: {}{}", msg.empty() ? "the server closed it" : msg, fix_for(msg)));
  }
}

Status WalStream::confirm(pgoutput::Lsn lsn) {
  confirmed_ = std::max(confirmed_, lsn);
  return send_status(false);
}

Status WalStream::send_status(bool reply_requested) {
  auto now = pgoutput::to_pg_time(std::chrono::system_clock::now());
  std::string msg = pgoutput::standby_status_update(confirmed_, confirmed_, confirmed_, now, reply_requested);
  if (PQputCopyData(conn_.raw(), msg.data(), static_cast<int>(msg.size())) != 1 || PQflush(conn_.raw()) != 0)
    return retriable("lost the replication connection: " + connection_error(conn_.raw()));
  return {};
}

}  // namespace relay::postgres
