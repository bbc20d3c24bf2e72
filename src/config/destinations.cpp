#include "config/destinations.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstring>
#include <memory>

#include "util/strings.h"

namespace relay {
namespace {

// An IPv4 or IPv6 address as bytes; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is its IPv4 one,
// so it cannot slip past an IPv4 rule.
struct Address {
  int family = 0;  // AF_INET or AF_INET6
  std::array<unsigned char, 16> bytes{};
  size_t size() const { return family == AF_INET ? 4 : 16; }
};

bool from_sockaddr(const sockaddr_storage& sa, Address& out) {
  if (sa.ss_family == AF_INET) {
    out.family = AF_INET;
    std::memcpy(out.bytes.data(), &reinterpret_cast<const sockaddr_in&>(sa).sin_addr, 4);
    return true;
  }
  if (sa.ss_family != AF_INET6) return false;
  const auto& a6 = reinterpret_cast<const sockaddr_in6&>(sa).sin6_addr;
  if (IN6_IS_ADDR_V4MAPPED(&a6)) {
    out.family = AF_INET;
    std::memcpy(out.bytes.data(), a6.s6_addr + 12, 4);
  } else {
    out.family = AF_INET6;
    std::memcpy(out.bytes.data(), a6.s6_addr, 16);
  }
  return true;
}

bool parse_address(std::string_view text, Address& out) {
  std::string s(text);
  sockaddr_storage sa{};
  if (inet_pton(AF_INET, s.c_str(), &reinterpret_cast<sockaddr_in&>(sa).sin_addr) == 1) sa.ss_family = AF_INET;
  else if (inet_pton(AF_INET6, s.c_str(), &reinterpret_cast<sockaddr_in6&>(sa).sin6_addr) == 1) sa.ss_family = AF_INET6;
  else return false;
  return from_sockaddr(sa, out);
}

std::string_view strip_dot(std::string_view name) { return !name.empty() && name.back() == '.' ? name.substr(0, name.size() - 1) : name; }

// One entry of --sql-allow-destinations / --sql-deny-destinations: a host name, an address or a
// CIDR, each optionally with ":port" ("[v6]:port" for IPv6).
struct Rule {
  std::string text;
  std::string name;     // a host name, when not a network
  Address net;          // when name is empty
  int prefix = 0;
  int port = 0;         // 0: any port

  static Rule parse(std::string_view entry) {
    Rule r;
    r.text = std::string(entry);
    if (auto slash = entry.find('/'); slash != std::string_view::npos && parse_address(entry.substr(0, slash), r.net)) {
      int bits = std::atoi(std::string(entry.substr(slash + 1)).c_str());
      bool mapped = r.net.family == AF_INET && entry.substr(0, slash).find(':') != std::string_view::npos;  // ::ffff:a.b.c.d/n
      r.prefix = std::clamp(bits - (mapped ? 96 : 0), 0, static_cast<int>(r.net.size() * 8));
      return r;
    }
    std::string host(entry);
    if (std::string h; !parse_address(entry, r.net) && util::parse_host_port(entry, h, r.port).empty()) host = h;
    else r.port = 0;
    if (r.net.family || parse_address(host, r.net)) {
      r.prefix = static_cast<int>(r.net.size() * 8);
      return r;
    }
    r.name = std::string(strip_dot(host));
    return r;
  }

  bool matches_port(int p) const { return port == 0 || port == p; }
  bool matches_name(std::string_view host, int p) const { return !name.empty() && matches_port(p) && util::iequals(name, strip_dot(host)); }
  bool matches_address(const Address& a, int p) const {
    if (!name.empty() || a.family != net.family || !matches_port(p)) return false;
    int full = prefix / 8, rest = prefix % 8;
    if (!std::equal(a.bytes.begin(), a.bytes.begin() + full, net.bytes.begin())) return false;
    if (rest == 0) return true;
    unsigned char mask = static_cast<unsigned char>(0xFF << (8 - rest));
    return (a.bytes[full] & mask) == (net.bytes[full] & mask);
  }
};

std::vector<Rule> parse_rules(const std::vector<std::string>& entries) {
  std::vector<Rule> out;
  for (const auto& e : entries)
    if (!e.empty()) out.push_back(Rule::parse(e));
  return out;
}

std::string address_text(const Address& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(a.family, a.bytes.data(), buf, sizeof buf);
  return buf;
}

std::string host_port(std::string_view host, int port) {
  std::string h = host.find(':') != std::string_view::npos ? fmt::format("[{}]", host) : std::string(host);
  return port ? fmt::format("{}:{}", h, port) : h;
}

int default_port(std::string_view scheme) {
  static constexpr std::pair<std::string_view, int> kPorts[] = {
      {"http", 80},     {"https", 443},  {"nats", 4222},     {"tls", 4222},        {"redis", 6379}, {"rediss", 6379},
      {"amqp", 5672},   {"amqps", 5671}, {"postgres", 5432}, {"postgresql", 5432},
  };
  for (auto [s, p] : kPorts)
    if (util::iequals(s, scheme)) return p;
  return 0;
}

// Where a value sends the client, as the client reads it; a value that cannot be read that way
// names no destination the lists can judge, and is refused (`problem` says why, never quoting the
// value: it may hold a password).
struct Destinations {
  std::vector<std::pair<std::string, int>> hosts;
  std::string problem;
};

// "[scheme://][user[:password]@]host[:port][/path...]": the host and port of one address. Without
// a scheme only when `scheme_optional` (the NATS client and librdkafka take "host:port" as such);
// `port` comes in as the default for the scheme-less form.
std::string read_address(std::string_view text, bool scheme_optional, std::string& host, int& port) {
  std::string_view rest = text;
  if (size_t scheme_end = rest.find("://"); scheme_end != std::string_view::npos) {
    std::string_view scheme = rest.substr(0, scheme_end);
    if (scheme.empty() || scheme.find_first_of("/?#@[") != std::string_view::npos) return "its scheme cannot be read";
    if (int p = default_port(scheme)) port = p;
    rest.remove_prefix(scheme_end + 3);
  } else if (!scheme_optional) {
    return "it is not a URL (scheme://host...)";
  }
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (authority.empty()) return "it names no host";
  if (auto problem = util::parse_host_port(authority, host, port); !problem.empty()) return problem;
  // What resolves and connects is a name or an address, nothing else (no spaces, '@', '%', ...).
  for (char c : host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == ':'))
      return "its host is not a host name or an address";
  return "";
}

// Whether a URL template renders its host (or scheme) from the message.
bool host_is_rendered(std::string_view url) {
  size_t scheme_end = url.find("://");
  size_t from = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  return url.substr(0, url.find_first_of("/?#", from)).find('{') != std::string_view::npos;
}

// A list of addresses: comma- or space-separated (librdkafka takes both), or a JSON array of them.
std::vector<std::string> split_hosts(const nlohmann::json& v) {
  std::vector<std::string> out;
  auto add = [&](std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
      size_t end = s.find_first_of(", \t\r\n", i);
      if (end == std::string_view::npos) end = s.size();
      if (end > i) out.emplace_back(s.substr(i, end - i));
      i = end + 1;
    }
  };
  if (v.is_string()) add(v.get_ref<const std::string&>());
  else if (v.is_array())
    for (const auto& e : v)
      if (e.is_string()) add(e.get_ref<const std::string&>());
  return out;
}

// The (host, port) pairs a key's value names. `templated`: a URL rendered per message, whose host
// may come from a row; the HTTP client checks it as each connection opens.
Destinations destinations_of(Destination kind, const nlohmann::json& v, bool templated) {
  Destinations out;
  std::string host;
  int port = 0;
  auto add = [&](std::string_view text, bool scheme_optional, int default_port_) {
    if (!out.problem.empty()) return;
    host.clear();
    port = default_port_;
    if (auto why = read_address(text, scheme_optional, host, port); !why.empty()) out.problem = why;
    else out.hosts.emplace_back(host, port);
  };
  switch (kind) {
    case Destination::none: break;
    case Destination::url:
      if (!v.is_string()) out.problem = "it is not a string";
      else if (templated && host_is_rendered(v.get_ref<const std::string&>())) break;
      else add(v.get_ref<const std::string&>(), false, 0);
      break;
    case Destination::url_list:  // NATS: "nats://a:4222, tls://user:pass@b, c:4223, d"
      for (const auto& u : split_hosts(v)) add(u, true, 4222);
      if (out.hosts.empty() && out.problem.empty()) out.problem = "it names no server";
      break;
    case Destination::host_list:  // Kafka: "a:9092,SASL_SSL://b:9093,[::1]:9092"
      for (const auto& hp : split_hosts(v)) add(hp, true, 9092);
      if (out.hosts.empty() && out.problem.empty()) out.problem = "it names no broker";
      break;
    case Destination::conninfo: {
      if (!v.is_string()) {
        out.problem = "it is not a string";
        break;
      }
      if (v.get_ref<const std::string&>().empty()) break;  // the relay's own database
      char* err = nullptr;
      std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> opts(PQconninfoParse(v.get_ref<const std::string&>().c_str(), &err),
                                                                        &PQconninfoFree);
      if (err) PQfreemem(err);  // it may quote the value, password and all
      if (!opts) {
        out.problem = "it is not a libpq URL or key=value string";
        break;
      }
      std::string hosts, addrs, ports;
      for (auto* o = opts.get(); o->keyword; ++o) {
        if (!o->val) continue;
        if (std::strcmp(o->keyword, "host") == 0) hosts = o->val;
        else if (std::strcmp(o->keyword, "hostaddr") == 0) addrs = o->val;
        else if (std::strcmp(o->keyword, "port") == 0) ports = o->val;
      }
      // libpq connects to hostaddr when given (host then only names it for TLS), else to host;
      // a host starting with '/' or '@' is a local socket, not the network.
      auto list = util::split_list(!addrs.empty() ? addrs : hosts, ',');
      auto port_list = util::split_list(ports, ',');
      for (size_t i = 0; i < list.size(); ++i) {
        if (list[i].empty() || list[i].front() == '/' || list[i].front() == '@') continue;
        std::string_view p = port_list.empty() || port_list[std::min(i, port_list.size() - 1)].empty()
                                 ? "5432" : port_list[std::min(i, port_list.size() - 1)];
        int n = 0;
        if (auto r = std::from_chars(p.data(), p.data() + p.size(), n); r.ec != std::errc() || r.ptr != p.data() + p.size()) {
          out.problem = "its port is not a number";
          break;
        }
        out.hosts.emplace_back(std::string(list[i]), n);
      }
      break;
    }
  }
  return out;
}

}  // namespace

std::string destination_refusal(const HostAccess& access, std::string_view host, int port,
                                const std::vector<sockaddr_storage>& resolved) {
  std::string_view name = host;
  if (name.size() > 1 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
  std::vector<Address> addresses;
  if (Address literal; parse_address(name, literal)) addresses.push_back(literal);
  for (const auto& sa : resolved)
    if (Address a; from_sockaddr(sa, a)) addresses.push_back(a);
  std::string dest = host_port(name, port);

  for (const auto& rule : parse_rules(access.deny_destinations)) {
    if (rule.matches_name(name, port))
      return fmt::format("the destination {} is denied by --sql-deny-destinations (sql_deny_destinations) entry \"{}\"", dest, rule.text);
    for (const auto& a : addresses)
      if (rule.matches_address(a, port))
        return fmt::format("the destination {} ({}) is denied by --sql-deny-destinations (sql_deny_destinations) entry \"{}\"", dest,
                           address_text(a), rule.text);
  }
  auto allow = parse_rules(access.allow_destinations);
  if (allow.empty()) return "";
  if (std::any_of(allow.begin(), allow.end(), [&](const Rule& r) { return r.matches_name(name, port); })) return "";
  bool all_allowed = !addresses.empty() && std::all_of(addresses.begin(), addresses.end(), [&](const Address& a) {
    return std::any_of(allow.begin(), allow.end(), [&](const Rule& r) { return r.matches_address(a, port); });
  });
  if (all_allowed) return "";
  return fmt::format("the destination {} is not in --sql-allow-destinations (sql_allow_destinations: {}); pipelines defined in SQL "
                     "reach only those, ask the relay's operator to add it",
                     dest, util::join(access.allow_destinations, ","));
}

std::string check_destination(const HostAccess& access, std::string_view host, int port) {
  std::vector<sockaddr_storage> resolved;
  std::string name(host);
  if (name.size() > 1 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (getaddrinfo(name.c_str(), nullptr, &hints, &list) == 0) {
    for (auto* ai = list; ai; ai = ai->ai_next) {
      sockaddr_storage sa{};
      std::memcpy(&sa, ai->ai_addr, std::min<size_t>(ai->ai_addrlen, sizeof sa));
      resolved.push_back(sa);
    }
    freeaddrinfo(list);
  }
  return destination_refusal(access, host, port, resolved);
}

Status check_section_destinations(const HostAccess& access, const BackendSpec& spec, const nlohmann::json& section,
                                  std::string_view part) {
  if (!section.is_object()) return {};
  auto check = [&](std::string_view key, Destination kind, bool templated, const nlohmann::json& v) -> Status {
    auto found = destinations_of(kind, v, templated);
    // Fail closed: what the lists cannot read, they cannot allow.
    if (!found.problem.empty())
      return fatal(fmt::format("{}.{}: the destination cannot be checked against --sql-allow-destinations and "
                               "--sql-deny-destinations: {}; a pipeline defined in SQL connects only where they can judge",
                               part, key, found.problem));
    for (const auto& [host, port] : found.hosts)
      if (auto why = check_destination(access, host, port); !why.empty())
        return fatal(fmt::format("{}.{}: {}", part, key, why));
    return {};
  };
  for (const auto& k : spec.keys) {
    if (k.destination == Destination::none || !section.contains(k.key)) continue;
    if (auto s = check(k.key, k.destination, k.template_, section[std::string(k.key)]); !s) return s;
  }
  // librdkafka properties can name brokers too, in either spelling of the name.
  if (section.contains("rdkafka") && section["rdkafka"].is_object())
    for (auto it = section["rdkafka"].begin(); it != section["rdkafka"].end(); ++it) {
      std::string prop = it.key();
      std::replace(prop.begin(), prop.end(), '_', '.');
      if (prop == "bootstrap.servers" || prop == "metadata.broker.list")
        if (auto s = check("rdkafka." + it.key(), Destination::host_list, false, it.value()); !s) return s;
    }
  return {};
}

}  // namespace relay
