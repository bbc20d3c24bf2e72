#include "config/destinations.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
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

std::string shown(std::string_view host, int port) {
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

// The host and port of a URL; false when it has no fixed host (a template or not a URL).
bool url_host(std::string_view url, std::string& host, int& port) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return false;
  std::string_view rest = url.substr(scheme_end + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (authority.empty() || authority.find('{') != std::string_view::npos) return false;
  port = default_port(url.substr(0, scheme_end));
  return util::parse_host_port(authority, host, port).empty();
}

std::vector<std::string> split_hosts(const nlohmann::json& v) {
  std::vector<std::string> out;
  auto add = [&](std::string_view s) {
    for (auto part : util::split_list(s, ',')) {
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
      if (!part.empty()) out.emplace_back(part);
    }
  };
  if (v.is_string()) add(v.get_ref<const std::string&>());
  else if (v.is_array())
    for (const auto& e : v)
      if (e.is_string()) add(e.get_ref<const std::string&>());
  return out;
}

// The (host, port) pairs a key's value names.
std::vector<std::pair<std::string, int>> destinations_of(Destination kind, const nlohmann::json& v) {
  std::vector<std::pair<std::string, int>> out;
  std::string host;
  int port = 0;
  switch (kind) {
    case Destination::none: break;
    case Destination::url:
      if (v.is_string() && url_host(v.get_ref<const std::string&>(), host, port)) out.emplace_back(host, port);
      break;
    case Destination::url_list:
      for (const auto& u : split_hosts(v))
        if (port = 0; url_host(u, host, port)) out.emplace_back(host, port);
      break;
    case Destination::host_list:
      for (const auto& hp : split_hosts(v))
        if (port = 9092; util::parse_host_port(hp, host, port).empty()) out.emplace_back(host, port);
      break;
    case Destination::conninfo: {
      if (!v.is_string() || v.get_ref<const std::string&>().empty()) break;
      char* err = nullptr;
      std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> opts(PQconninfoParse(v.get_ref<const std::string&>().c_str(), &err),
                                                                        &PQconninfoFree);
      if (err) PQfreemem(err);
      if (!opts) break;
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
        std::string_view p = port_list.empty() ? "5432" : port_list[std::min(i, port_list.size() - 1)];
        out.emplace_back(std::string(list[i]), std::atoi(std::string(p).c_str()));
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
  std::string dest = shown(name, port);

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
  auto check = [&](std::string_view key, Destination kind, const nlohmann::json& v) -> Status {
    for (const auto& [host, port] : destinations_of(kind, v))
      if (auto why = check_destination(access, host, port); !why.empty())
        return fatal(fmt::format("{}.{}: {}", part, key, why));
    return {};
  };
  for (const auto& k : spec.keys) {
    if (k.destination == Destination::none || !section.contains(k.key)) continue;
    if (auto s = check(k.key, k.destination, section[std::string(k.key)]); !s) return s;
  }
  // librdkafka properties can name brokers too.
  if (section.contains("rdkafka") && section["rdkafka"].is_object())
    for (const char* prop : {"bootstrap.servers", "metadata.broker.list"})
      if (section["rdkafka"].contains(prop))
        if (auto s = check(fmt::format("rdkafka.{}", prop), Destination::host_list, section["rdkafka"][prop]); !s) return s;
  return {};
}

}  // namespace relay
