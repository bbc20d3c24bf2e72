#include "backends/redis/redis_encode.h"

#include <fmt/format.h>

#include <charconv>

#include "util/json_escape.h"
#include "util/strings.h"

namespace relay::redis {
namespace {

void bulk(std::string& out, std::string_view s) {
  out += '$';
  util::append_int(out, static_cast<std::int64_t>(s.size()));
  out += "\r\n";
  out += s;
  out += "\r\n";
}

void bulk2(std::string& out, std::string_view a, std::string_view b) {
  out += '$';
  util::append_int(out, static_cast<std::int64_t>(a.size() + b.size()));
  out += "\r\n";
  out += a;
  out += b;
  out += "\r\n";
}

}  // namespace

void append_xadd(std::string& out, const Message& m, long long maxlen) {
  const bool trim = maxlen > 0;
  const bool has_key = !m.key.empty();
  // XADD key [MAXLEN ~ n] * + the field/value pairs.
  size_t args = 3 + (trim ? 3 : 0) + 2 * (4 + (has_key ? 1 : 0) + m.headers.size());
  out += '*';
  util::append_int(out, static_cast<std::int64_t>(args));
  out += "\r\n$4\r\nXADD\r\n";
  bulk(out, m.routes[0]);
  if (trim) {
    out += "$6\r\nMAXLEN\r\n$1\r\n~\r\n";
    char digits[24];
    auto r = std::to_chars(digits, digits + sizeof digits, maxlen);
    bulk(out, std::string_view(digits, static_cast<size_t>(r.ptr - digits)));
  }
  out += "$1\r\n*\r\n";
  out += "$9\r\ndedup_key\r\n";
  bulk(out, m.dedup_key);
  out += "$12\r\nstream_table\r\n";
  bulk(out, m.source);
  out += "$2\r\nop\r\n";
  bulk(out, to_string(m.op));
  if (has_key) {
    out += "$3\r\nkey\r\n";
    bulk(out, m.key);
  }
  out += "$7\r\npayload\r\n";
  bulk(out, m.body);
  for (const auto& [name, value] : m.headers) {
    bulk2(out, kHeaderPrefix, name);
    bulk(out, value);
  }
}

Result<Url> parse_url(std::string_view url) {
  auto bad = [&](std::string_view what) {
    return fatal(fmt::format("sink.url: {}; expected redis://[user:password@]host[:port][/db]", what));
  };
  if (util::starts_with(url, "rediss://"))
    return bad("TLS (rediss://) is not supported by this build's hiredis; use a TLS proxy (e.g. stunnel) and redis://");
  if (!util::starts_with(url, "redis://")) return bad("the scheme must be redis://");
  std::string_view rest = url.substr(8);
  Url u;
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      // redis://secret@host: a password alone, as redis-cli -u reads it.
      if (!util::percent_decode(userinfo, u.password)) return bad("the password has a bad %-escape");
    } else {
      if (!util::percent_decode(userinfo.substr(0, colon), u.user)) return bad("the user has a bad %-escape");
      if (!util::percent_decode(userinfo.substr(colon + 1), u.password)) return bad("the password has a bad %-escape");
    }
    u.has_password = true;
  }
  if (auto problem = util::parse_host_port(authority, u.host, u.port); !problem.empty()) return bad(problem);
  // The path is the database number; a query string (?timeout=...) is not read.
  path = path.substr(0, path.find('?'));
  if (!path.empty()) {
    auto r = std::from_chars(path.data(), path.data() + path.size(), u.db);
    if (r.ec != std::errc() || r.ptr != path.data() + path.size() || u.db < 0)
      return bad(fmt::format("the database \"{}\" is not a number", path));
  }
  return u;
}

ErrorKind classify_reply(std::string_view reply) {
  struct Row {
    std::string_view prefix;
    ErrorKind kind;
  };
  // First match wins. Permanent: this entry can never be added; fatal: the configuration or the
  // server setup is wrong for every entry (an operator must act); retriable: the server may recover.
  static constexpr Row kTable[] = {
      {"WRONGTYPE", ErrorKind::permanent},          // the routed key holds another type
      {"OOM", ErrorKind::retriable},                // maxmemory reached with noeviction; consumers may trim
      {"LOADING", ErrorKind::retriable},            // the server is loading its dataset
      {"BUSY", ErrorKind::retriable},               // a script is running
      {"MASTERDOWN", ErrorKind::retriable},
      {"READONLY", ErrorKind::retriable},           // a replica after a failover; the url will point back
      {"TRYAGAIN", ErrorKind::retriable},
      {"CLUSTERDOWN", ErrorKind::retriable},
      {"NOREPLICAS", ErrorKind::retriable},         // min-replicas-to-write not met
      {"MISCONF", ErrorKind::retriable},            // the server cannot persist and refuses writes
      {"NOPERM", ErrorKind::fatal},                 // the ACL user may not XADD to this key
      {"NOAUTH", ErrorKind::fatal},
      {"WRONGPASS", ErrorKind::fatal},
      {"MOVED", ErrorKind::fatal},                  // Redis Cluster: not supported
      {"ASK", ErrorKind::fatal},
      {"CROSSSLOT", ErrorKind::fatal},
      {"ERR unknown command", ErrorKind::fatal},    // a server older than 5.0 (no streams)
      {"ERR max number of clients", ErrorKind::retriable},
      {"ERR", ErrorKind::permanent},                // refused for its content (e.g. too large an argument)
  };
  for (const auto& row : kTable)
    if (util::starts_with(reply, row.prefix) &&
        (reply.size() == row.prefix.size() || reply[row.prefix.size()] == ' ' || row.prefix.find(' ') != std::string_view::npos))
      return row.kind;
  return ErrorKind::permanent;
}

}  // namespace relay::redis
