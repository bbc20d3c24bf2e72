#include "pg/connection.h"

#include <fmt/format.h>

#include "config/host_paths.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>

namespace relay::pg {

long long PgResult::int64(int row, int col) const { return std::strtoll(PQgetvalue(r_.get(), row, col), nullptr, 10); }
long long PgResult::affected() const { return std::strtoll(PQcmdTuples(r_.get()), nullptr, 10); }
double PgResult::float64(int row, int col) const { return std::strtod(PQgetvalue(r_.get(), row, col), nullptr); }

ErrorKind classify_sqlstate(std::string_view s, bool connection_ok) {
  if (!connection_ok || s.empty()) return ErrorKind::retriable;  // lost connection: reconnect and retry
  std::string_view cls = s.substr(0, 2);
  if (cls == "08") return ErrorKind::retriable;        // connection exception
  if (cls == "40") return ErrorKind::retriable;        // serialization failure, deadlock
  if (cls == "53") return ErrorKind::retriable;        // insufficient resources (disk full, too many connections)
  if (cls == "57") return ErrorKind::retriable;        // operator intervention: shutdown, cancel, restart
  if (cls == "58") return ErrorKind::retriable;        // system error (I/O)
  if (s == "55P03" || s == "55006") return ErrorKind::retriable;  // lock not available, object in use
  if (cls == "22" || cls == "23") return ErrorKind::permanent;    // bad data, constraint violation: this input
  if (cls == "54") return ErrorKind::permanent;  // program limit exceeded (a value too large for an index): this input
  if (cls == "42" || cls == "28" || cls == "3D" || cls == "3F") return ErrorKind::fatal;  // missing object, privilege, auth
  if (cls == "P0") return ErrorKind::fatal;            // raised by our SQL functions: a config problem
  return ErrorKind::retriable;
}

Result<Connection> Connection::open(const std::string& conninfo, const std::string& application_name) {
  // expand_dbname=1: the dbname value may itself be a URL or key=value string.
  const char* keys[] = {"dbname", "application_name", "connect_timeout", nullptr};
  const char* vals[] = {conninfo.c_str(), application_name.c_str(), "10", nullptr};
  return connect(keys, vals);
}

Result<Connection> Connection::open_as(const std::string& conninfo, const std::string& role, const std::string& password,
                                       const std::string& application_name) {
  const char* keys[] = {"dbname", "user", "password", "application_name", "connect_timeout", nullptr};
  const char* vals[] = {conninfo.c_str(), role.c_str(), password.c_str(), application_name.c_str(), "10", nullptr};
  return connect(keys, vals);
}

Result<PgResult> Connection::exec_apart(const std::string& conninfo, const std::string& application_name,
                                        const std::string& sql, const Params& params) {
  auto apart = open(conninfo, application_name);
  if (!apart) return apart.error();
  return apart->exec(sql, params);
}

Result<Connection> Connection::open_replication(const std::string& conninfo, const std::string& application_name) {
  // The stream's own settings, after the connection string's options (or PGOPTIONS; e.g. -c
  // logical_decoding_work_mem=256MB, which the walsender reads), which they would otherwise replace.
  std::string options;
  if (PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), nullptr)) {
    for (PQconninfoOption* o = parsed; o->keyword; ++o)
      if (std::string_view(o->keyword) == "options" && o->val) options = std::string(o->val) + " ";
    PQconninfoFree(parsed);
  }
  if (const char* env = std::getenv("PGOPTIONS"); options.empty() && env && *env) options = std::string(env) + " ";
  options += "-c datestyle=ISO -c intervalstyle=postgres -c timezone=UTC -c extra_float_digits=3";
  const char* keys[] = {"dbname", "replication", "application_name", "connect_timeout", "options", nullptr};
  const char* vals[] = {conninfo.c_str(), "database", application_name.c_str(), "10", options.c_str(), nullptr};
  return connect(keys, vals);
}

namespace {

// Stands for "no file": a path that cannot exist (/dev/null is no directory), so libpq finds
// nothing where it would otherwise fall back to ~/.pgpass or ~/.postgresql/.
constexpr const char* kNoFile = "/dev/null/none";

// libpq options that name files on the host: a pipeline defined in SQL names them literally and
// only under the operator's secrets directory.
bool names_host_file(std::string_view keyword) {
  return keyword == "passfile" || keyword == "sslcert" || keyword == "sslkey" || keyword == "sslrootcert" ||
         keyword == "sslcrl" || keyword == "sslcrldir";
}

void append_option(std::string& out, std::string_view keyword, std::string_view value) {
  out += keyword;
  out += "='";
  for (char c : value) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  out += "' ";
}

}  // namespace

Result<Connection> Connection::open_isolated(const std::string& conninfo, const std::string& application_name,
                                             const HostAccess& limits) {
  char* parse_error = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> given(PQconninfoParse(conninfo.c_str(), &parse_error),
                                                                      &PQconninfoFree);
  if (parse_error) PQfreemem(parse_error);  // it may quote the URL, secrets and all
  if (!given) return fatal("postgres_url is not a libpq URL (postgresql://...) or key=value string");
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> defaults(PQconndefaults(), &PQconninfoFree);
  if (!defaults) return retriable("cannot allocate libpq's connection defaults");

  // Every option gets a value: what the URL says, else libpq's compiled-in default, else empty
  // (or "no file"); an option libpq sees unset it would take from the relay's environment
  // (PGPASSWORD, PGUSER, PGSSLKEY, ...), its service file or its home directory.
  std::string explicit_options;
  std::string sslmode, sslrootcert;
  for (auto* o = given.get(); o->keyword; ++o) {
    if (!o->val) continue;
    std::string_view k = o->keyword;
    std::string v = o->val;
    if (k == "service")
      return fatal("postgres_url: \"service\" names an entry of the relay host's service file, which a pipeline defined in "
                   "SQL may not use; write host, port, dbname and user instead");
    if (k == "sslmode") sslmode = v;
    if (k == "sslrootcert") sslrootcert = v;
    if (names_host_file(k) && !(k == "sslrootcert" && v == "system")) {
      auto real = readable_file_under(limits.secrets_dir, v, fmt::format("postgres_url option {}", k), "--sql-secrets-dir");
      if (!real) return real.error();
      v = *real;
    }
    append_option(explicit_options, k, v);
  }
  if ((sslmode == "verify-ca" || sslmode == "verify-full") && sslrootcert.empty())
    return fatal(fmt::format("postgres_url: sslmode={} needs sslrootcert, a file under --sql-secrets-dir (or sslrootcert=system) "
                             "in a pipeline defined in SQL: the relay's own ~/.postgresql/root.crt is not used", sslmode));
  std::string all;
  for (auto* d = defaults.get(); d->keyword; ++d) {
    std::string_view k = d->keyword;
    bool set = false;
    for (auto* o = given.get(); o->keyword && !set; ++o) set = o->val && k == o->keyword;
    // "service" stays unset (an empty one is looked up, and not found): with every other option
    // set, a service named by PGSERVICE has nothing left to fill in.
    if (set || k == "service" || k == "application_name" || k == "connect_timeout") continue;
    if (names_host_file(k)) append_option(all, k, kNoFile);
    else if (d->compiled) append_option(all, k, d->compiled);
    else if (d->envvar || k == "user" || k == "password" || k == "dbname" || k == "host") append_option(all, k, "");
  }
  all += explicit_options;
  append_option(all, "application_name", application_name);
  if (explicit_options.find("connect_timeout=") == std::string::npos) append_option(all, "connect_timeout", "10");
  const char* keys[] = {"dbname", nullptr};
  const char* vals[] = {all.c_str(), nullptr};
  return connect(keys, vals);
}

namespace {

// A server that vanished without a word (its host or the network gone) is noticed within about 30 s,
// not when the kernel's retransmissions give up after many minutes: TCP keepalives while a
// connection is idle, and a limit on how long sent data may go unacknowledged. They come first, so
// the connection string's own values win.
constexpr const char* kLivenessKeys[] = {"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                                         "tcp_user_timeout"};
constexpr const char* kLivenessValues[] = {"1", "15", "5", "3", "30000"};

}  // namespace

Result<Connection> Connection::connect(const char* const* given_keys, const char* const* given_vals) {
  std::vector<const char*> keys(std::begin(kLivenessKeys), std::end(kLivenessKeys));
  std::vector<const char*> vals(std::begin(kLivenessValues), std::end(kLivenessValues));
  for (; *given_keys; ++given_keys, ++given_vals) {
    keys.push_back(*given_keys);
    vals.push_back(*given_vals);
  }
  keys.push_back(nullptr);
  vals.push_back(nullptr);
  Connection c;
  c.conn_ = std::shared_ptr<PGconn>(PQconnectdbParams(keys.data(), vals.data(), 1), &PQfinish);
  if (!c.conn_) return retriable("cannot allocate a PostgreSQL connection");
  if (PQstatus(c.conn_.get()) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c.conn_.get());
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    // Auth failures and missing databases will not fix themselves, but an operator may fix them
    // while we wait, so they are retried too; the message says what is wrong.
    return retriable("cannot connect to PostgreSQL: " + msg);
  }
  PQsetnonblocking(c.conn_.get(), 0);
  // The relay's queries are index lookups and COPY streams: PostgreSQL's JIT only adds compile
  // time to them (170–230 ms per 100,000-row outbox stream, which takes 0.37 s without it).
  PQclear(PQexec(c.conn_.get(), "SET jit = off"));
  return c;
}

Result<PgResult> Connection::check(PGresult* r, std::string_view what) {
  PgResult res(r);
  auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_SINGLE_TUPLE) return res;
  std::string sqlstate = r && PQresultErrorField(r, PG_DIAG_SQLSTATE) ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : "";
  last_sqlstate_ = sqlstate;
  std::string msg = r && PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
                                                                         : PQerrorMessage(conn_.get());
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  bool conn_ok = ok();
  if (!conn_ok) msg = "lost the PostgreSQL connection: " + msg;
  return Error{classify_sqlstate(sqlstate, conn_ok), fmt::format("{}{}{}", msg, sqlstate.empty() ? "" : " (SQLSTATE " + sqlstate + ")",
                                                                 what.empty() ? "" : fmt::format(" in {}", what))};
}

Result<PgResult> Connection::exec(const std::string& sql) {
  if (!conn_) return retriable("not connected to PostgreSQL");
  return check(PQexec(conn_.get(), sql.c_str()), {});
}

static constexpr size_t kCopyChunk = size_t{1} << 20;  // PQputCopyData takes an int length

Status Connection::copy_in(const std::string& copy_sql, std::string_view data) {
  if (!conn_) return retriable("not connected to PostgreSQL");
  PGresult* started = PQexec(conn_.get(), copy_sql.c_str());
  if (!started || PQresultStatus(started) != PGRES_COPY_IN) {
    auto r = check(started, {});
    if (!r) return r.error();
    return permanent("COPY did not start: " + copy_sql);  // not a COPY FROM STDIN statement
  }
  PQclear(started);
  bool sent = true;
  for (size_t off = 0; sent && off < data.size(); off += kCopyChunk) {
    size_t n = std::min(kCopyChunk, data.size() - off);
    sent = PQputCopyData(conn_.get(), data.data() + off, static_cast<int>(n)) == 1;
  }
  sent = sent && PQputCopyEnd(conn_.get(), nullptr) == 1;
  // The COPY's own result, then nothing: read both whatever happened, so the connection is ready again.
  auto r = check(PQgetResult(conn_.get()), {});
  while (PGresult* extra = PQgetResult(conn_.get())) PQclear(extra);
  if (!r) return r.error();
  if (!sent) return retriable(std::string("lost the PostgreSQL connection: ") + PQerrorMessage(conn_.get()));
  return {};
}

namespace {
struct ParamArrays {
  std::vector<const char*> values;
  explicit ParamArrays(const Params& p) {
    values.reserve(p.size());
    for (const auto& v : p) values.push_back(v ? v->c_str() : nullptr);
  }
};
}  // namespace

Result<PgResult> Connection::exec(const std::string& sql, const Params& params) {
  if (!conn_) return retriable("not connected to PostgreSQL");
  ParamArrays a(params);
  return check(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(params.size()), nullptr, a.values.data(), nullptr,
                            nullptr, 0),
               {});
}

Status Connection::prepare(const std::string& name, const std::string& sql) {
  if (!conn_) return retriable("not connected to PostgreSQL");
  auto r = check(PQprepare(conn_.get(), name.c_str(), sql.c_str(), 0, nullptr), name);
  if (!r) return r.error();
  return {};
}

Result<PgResult> Connection::exec_cached(const std::string& sql, const Params& params) {
  auto found = cached_.find(sql);
  if (found == cached_.end()) {
    if (cached_.size() >= kMostCached) {
      auto oldest = std::min_element(cached_.begin(), cached_.end(),
                                     [](const auto& a, const auto& b) { return a.second.used < b.second.used; });
      if (auto s = exec("DEALLOCATE " + oldest->second.name); !s) return s.error();
      cached_.erase(oldest);
    }
    std::string name = "relay_cached_" + std::to_string(++prepared_);
    if (auto s = prepare(name, sql); !s) return s.error();
    found = cached_.emplace(sql, Cached{std::move(name), 0}).first;
  }
  found->second.used = ++uses_;
  return exec_prepared(found->second.name, params);
}

Result<PgResult> Connection::exec_prepared(const std::string& name, const Params& params) {
  if (!conn_) return retriable("not connected to PostgreSQL");
  ParamArrays a(params);
  return check(PQexecPrepared(conn_.get(), name.c_str(), static_cast<int>(params.size()), a.values.data(), nullptr,
                              nullptr, 0),
               name);
}

Status Connection::send_prepared(const std::string& name, const Params& params) {
  if (!conn_) return retriable("not connected to PostgreSQL");
  ParamArrays a(params);
  if (!PQsendQueryPrepared(conn_.get(), name.c_str(), static_cast<int>(params.size()), a.values.data(), nullptr, nullptr, 0))
    return retriable(std::string("cannot send ") + name + ": " + PQerrorMessage(conn_.get()));
  return {};
}

Status Connection::send(const std::string& sql, const Params& params) {
  if (!conn_) return retriable("not connected to PostgreSQL");
  ParamArrays a(params);
  if (!PQsendQueryParams(conn_.get(), sql.c_str(), static_cast<int>(params.size()), nullptr, a.values.data(), nullptr, nullptr, 0))
    return retriable(std::string("cannot send a statement: ") + PQerrorMessage(conn_.get()));
  return {};
}

bool Connection::result_ready() {
  // A broken connection counts as ready: receive() then reports why.
  return !conn_ || !PQconsumeInput(conn_.get()) || !PQisBusy(conn_.get());
}

Result<PgResult> Connection::receive(const std::string& what) {
  if (!conn_) return retriable("not connected to PostgreSQL");
  PGresult* first = PQgetResult(conn_.get());
  while (PGresult* extra = PQgetResult(conn_.get())) PQclear(extra);
  return check(first, what);
}

std::vector<Connection::Notification> Connection::notifications() {
  std::vector<Notification> out;
  if (!conn_) return out;
  PQconsumeInput(conn_.get());
  while (PGnotify* n = PQnotifies(conn_.get())) {
    out.push_back({n->relname, n->extra ? n->extra : "", n->be_pid});
    PQfreemem(n);
  }
  return out;
}

int Connection::backend_pid() const { return conn_ ? PQbackendPID(conn_.get()) : 0; }

namespace {
std::string quoted(std::string_view text, char quote) {
  std::string out(1, quote);
  for (char c : text) {
    if (c == quote) out += quote;
    out += c;
  }
  out += quote;
  return out;
}
}  // namespace

std::string quote_ident(std::string_view ident) { return quoted(ident, '"'); }
std::string quote_literal(std::string_view text) { return quoted(text, '\''); }
std::string Connection::quote_ident(std::string_view ident) const { return pg::quote_ident(ident); }

}  // namespace relay::pg
