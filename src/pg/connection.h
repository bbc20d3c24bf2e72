// libpq RAII: connections, results, parameterised statements, notifications, error classification.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/host_access.h"
#include "relay/result.h"

namespace relay::pg {

class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* r) : r_(r, &PQclear) {}
  PGresult* get() const { return r_.get(); }
  int rows() const { return PQntuples(r_.get()); }
  bool null(int row, int col) const { return PQgetisnull(r_.get(), row, col); }
  std::string_view text(int row, int col) const {
    return {PQgetvalue(r_.get(), row, col), static_cast<size_t>(PQgetlength(r_.get(), row, col))};
  }
  std::string str(int row, int col) const { return std::string(text(row, col)); }
  long long int64(int row, int col) const;
  double float64(int row, int col) const;
  bool boolean(int row, int col) const { return text(row, col) == "t"; }
  // Rows an INSERT/UPDATE/DELETE touched.
  long long affected() const;

 private:
  std::shared_ptr<PGresult> r_;
};

// Parameters are sent as text; std::nullopt is SQL NULL.
using Params = std::vector<std::optional<std::string>>;

// SQL quoting for the few statements that cannot take parameters (identifiers, COPY).
std::string quote_ident(std::string_view ident);
std::string quote_literal(std::string_view text);

// Maps a failed result or a broken connection to retriable / permanent / fatal, by SQLSTATE.
ErrorKind classify_sqlstate(std::string_view sqlstate, bool connection_ok);

class Connection {
 public:
  Connection() = default;
  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;

  // Connects with libpq's own rules (URL or key=value; PG* env vars and ~/.pgpass apply).
  static Result<Connection> open(const std::string& conninfo, const std::string& application_name);
  // For a server a pipeline defined in SQL names: nothing of the relay's own libpq set-up applies
  // (PG* variables, ~/.pgpass or PGPASSFILE, the service file, ~/.postgresql's certificate, key,
  // root certificate and CRL); files the conninfo names must lie under --sql-secrets-dir.
  static Result<Connection> open_isolated(const std::string& conninfo, const std::string& application_name,
                                          const HostAccess& limits);

  // Runs one statement that may run a table owner's code (a backfill's estimate is planned through
  // her row security policies) on a connection of its own, closed after it: what that code could
  // leave in a session (a statement prepared under a name the relay runs as itself, an advisory
  // lock) goes with it, and never reaches a pooled, locking or lag-counting session.
  static Result<PgResult> exec_apart(const std::string& conninfo, const std::string& application_name,
                                     const std::string& sql, const Params& params);

  // Connects to the database of `conninfo` as another role, with its password (the console's logins):
  // the role and password given replace those of `conninfo`.
  static Result<Connection> open_as(const std::string& conninfo, const std::string& role, const std::string& password,
                                    const std::string& application_name);

  // A logical replication connection (replication=database) to the database of `conninfo`, its
  // session set to print values as the relay reads them: ISO dates, UTC, exact floats.
  static Result<Connection> open_replication(const std::string& conninfo, const std::string& application_name);

  bool ok() const { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }
  PGconn* raw() const { return conn_.get(); }
  int socket() const { return PQsocket(conn_.get()); }

  Result<PgResult> exec(const std::string& sql);
  Result<PgResult> exec(const std::string& sql, const Params& params);
  Status prepare(const std::string& name, const std::string& sql);
  // Runs `sql` as a statement prepared on this connection the first time (a shared connection
  // serves many pipelines: the name stands for that exact text). At most kMostCached texts stay
  // prepared, each holding a plan in the server's memory: past that, the least recently run goes.
  Result<PgResult> exec_cached(const std::string& sql, const Params& params);
  static constexpr std::size_t kMostCached = 200;
  Result<PgResult> exec_prepared(const std::string& name, const Params& params);
  // Pipelined use: send now, collect the result later (nothing else may be sent in between).
  Status send_prepared(const std::string& name, const Params& params);
  Status send(const std::string& sql, const Params& params);  // the same, for an unnamed statement
  Result<PgResult> receive(const std::string& what);
  // After send_prepared: reads what arrived and says whether receive() would return without waiting.
  bool result_ready();

  // Runs `copy_sql` (a COPY … FROM STDIN) and sends `data` (COPY text rows) as its input.
  Status copy_in(const std::string& copy_sql, std::string_view data);
  // The SQLSTATE of the last statement that failed ("" if it had none, e.g. a lost connection).
  const std::string& last_sqlstate() const { return last_sqlstate_; }

  struct Notification {
    std::string channel, payload;
    int sender_pid = 0;  // the notifying session's backend
  };
  // Reads whatever arrived on the socket and returns pending notifications.
  std::vector<Notification> notifications();
  // The server process of this session (0 when closed).
  int backend_pid() const;
  std::string quote_ident(std::string_view ident) const;

 private:
  static Result<Connection> connect(const char* const* keys, const char* const* vals);
  Result<PgResult> check(PGresult* r, std::string_view what);
  std::shared_ptr<PGconn> conn_;
  std::string last_sqlstate_;
  struct Cached {
    std::string name;     // its prepared statement's
    std::uint64_t used;   // when last run (uses_ then)
  };
  std::unordered_map<std::string, Cached> cached_;  // exec_cached: statement text -> its statement
  std::uint64_t uses_ = 0;
  std::uint64_t prepared_ = 0;  // names given so far
};

}  // namespace relay::pg
