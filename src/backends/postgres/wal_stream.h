// A logical replication connection streaming one slot through pgoutput (protocol version 1, or 2
// with big transactions streamed while they run, wal_transactions.h): the WAL capture's transport. It answers the server's keepalives and reports the position the relay
// confirmed, which is where the slot lets PostgreSQL release WAL and where a restart resumes.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/postgres/pgoutput.h"
#include "pg/connection.h"
#include "relay/result.h"

namespace relay::postgres {

class WalStream {
 public:
  struct Options {
    std::string conninfo;
    std::string slot;
    std::vector<std::string> publications;  // streamed together
    std::string application_name = "pgtrickle-relay wal";
    // Where to start: the slot's confirmed position when 0 (the server never sends what lies before it).
    pgoutput::Lsn from = 0;
    // From PostgreSQL 14: protocol version 2 with `streaming 'on'` (a transaction bigger than the
    // server's logical_decoding_work_mem is sent while it runs); older servers stream protocol 1.
    bool streaming = false;
  };

  // Connects and starts streaming. Errors name the fix: wal_level, the REPLICATION attribute, a
  // missing slot or publication, a slot another connection is reading.
  static Result<WalStream> start(const Options& options);

  WalStream(WalStream&&) noexcept;
  WalStream& operator=(WalStream&&) noexcept;
  ~WalStream();

  struct Data {
    pgoutput::Lsn lsn = 0;     // the WAL position of the change
    std::string_view message;  // one pgoutput message, valid until the next call
  };
  // The next message, waiting at most `timeout`; nullopt when none came.
  Result<std::optional<Data>> next(std::chrono::milliseconds timeout);
  // Everything up to `lsn` is handled for good: reported as written, flushed and applied, so the
  // slot's confirmed position moves there. Sent at once.
  Status confirm(pgoutput::Lsn lsn);
  pgoutput::Lsn confirmed() const { return confirmed_; }
  // A setting the server reported for the stream's session (DateStyle, TimeZone...); "" unknown.
  std::string parameter(const char* name) const {
    const char* v = PQparameterStatus(conn_.raw(), name);
    return v ? v : "";
  }
  // The end of the server's WAL as last reported (keepalives and data): the lag is its distance
  // from what the relay confirmed.
  pgoutput::Lsn server_wal_end() const { return wal_end_; }
  // Whether the server streams transactions while they run (Options::streaming, on a server that can).
  bool streaming() const { return streaming_; }

 private:
  WalStream() = default;
  Status send_status(bool reply_requested);
  Status wait_readable(std::chrono::milliseconds timeout);
  void release_buffer();

  pg::Connection conn_;
  char* buffer_ = nullptr;  // the last PQgetCopyData buffer
  pgoutput::Lsn confirmed_ = 0;
  pgoutput::Lsn wal_end_ = 0;
  bool streaming_ = false;
};

}  // namespace relay::postgres
