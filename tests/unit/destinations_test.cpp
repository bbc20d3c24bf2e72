// The one home of the destination rules of pipelines defined in SQL: names, host:port, addresses
// and CIDRs, deny before allow, resolved addresses checked (IPv4-mapped IPv6 included).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include "config/destinations.h"
#include "config/specs.h"

using namespace relay;

namespace {

sockaddr_storage v4(const char* a) {
  sockaddr_storage s{};
  s.ss_family = AF_INET;
  inet_pton(AF_INET, a, &reinterpret_cast<sockaddr_in&>(s).sin_addr);
  return s;
}
sockaddr_storage v6(const char* a) {
  sockaddr_storage s{};
  s.ss_family = AF_INET6;
  inet_pton(AF_INET6, a, &reinterpret_cast<sockaddr_in6&>(s).sin6_addr);
  return s;
}
HostAccess defaults() {
  HostAccess a;
  a.deny_destinations = {"169.254.0.0/16", "fe80::/10", "fd00:ec2::254", "100.100.100.200", "metadata.google.internal"};
  return a;
}

}  // namespace

TEST(Destinations, LinkLocalAndMetadataAreDeniedByDefaultWhateverTheName) {
  HostAccess a = defaults();
  EXPECT_NE(destination_refusal(a, "169.254.169.254", 80, {}).find("--sql-deny-destinations"), std::string::npos);
  EXPECT_NE(destination_refusal(a, "metadata.google.internal.", 80, {}), "") << "a trailing dot is the same name";
  EXPECT_NE(destination_refusal(a, "METADATA.google.internal", 80, {}), "");
  EXPECT_NE(destination_refusal(a, "innocent.example", 80, {v4("169.254.169.254")}).find("169.254.169.254"), std::string::npos)
      << "a name resolving to a denied address is denied";
  EXPECT_NE(destination_refusal(a, "x.example", 443, {v6("::ffff:169.254.169.254")}), "") << "IPv4-mapped IPv6";
  EXPECT_NE(destination_refusal(a, "[fe80::1]", 80, {}), "");
  EXPECT_NE(destination_refusal(a, "[fd00:ec2::254]", 80, {}), "");
  EXPECT_EQ(destination_refusal(a, "hooks.example", 443, {v4("93.184.216.34")}), "");
  EXPECT_EQ(destination_refusal(a, "127.0.0.1", 8080, {}), "");
}

TEST(Destinations, AnAllowListAdmitsOnlyItsNamesPortsAndNetworks) {
  HostAccess a = defaults();
  a.allow_destinations = {"hooks.example", "queue.example:443", "10.1.0.0/16", "[2001:db8::1]:8443"};
  EXPECT_EQ(destination_refusal(a, "hooks.example", 8080, {v4("203.0.113.9")}), "") << "a name admits any of its ports";
  EXPECT_EQ(destination_refusal(a, "queue.example", 443, {v4("203.0.113.9")}), "");
  EXPECT_NE(destination_refusal(a, "queue.example", 80, {v4("203.0.113.9")}).find("--sql-allow-destinations"), std::string::npos);
  EXPECT_EQ(destination_refusal(a, "internal.example", 5672, {v4("10.1.2.3")}), "") << "its addresses are allowed";
  EXPECT_NE(destination_refusal(a, "internal.example", 5672, {v4("10.1.2.3"), v4("10.2.0.1")}), "") << "every address must be";
  EXPECT_NE(destination_refusal(a, "unresolved.example", 80, {}), "");
  EXPECT_EQ(destination_refusal(a, "[2001:db8::1]", 8443, {}), "");
  EXPECT_NE(destination_refusal(a, "[2001:db8::1]", 443, {}), "");
  EXPECT_NE(destination_refusal(a, "hooks.example", 80, {v4("169.254.169.254")}), "") << "deny wins over allow";
}

TEST(Destinations, ResolvingANameChecksWhatItResolvesTo) {
  HostAccess a;
  a.deny_destinations = {"127.0.0.0/8", "::1"};
  EXPECT_NE(check_destination(a, "localhost", 80), "");
  EXPECT_NE(check_destination(a, "2130706433", 80), "") << "127.0.0.1 written as a number";
}

TEST(Destinations, EveryDestinationKeyOfASectionIsChecked) {
  HostAccess a = defaults();
  auto refused = [&](const char* type, Role role, const nlohmann::json& section) {
    const auto* spec = find_spec(role, type);
    if (!spec) return std::string("no spec");
    auto s = check_section_destinations(a, *spec, section, "sink");
    return s ? std::string() : s.error().message;
  };
  EXPECT_NE(refused("webhook", Role::sink, {{"url", "http://169.254.169.254/latest/meta-data/"}}).find("sink.url"), std::string::npos);
  EXPECT_EQ(refused("webhook", Role::sink, {{"url", "http://{{ host }}/x"}}), "") << "checked per connection instead";
  EXPECT_NE(refused("sqs", Role::sink, {{"queue_url", "https://q.example/1/q"}, {"endpoint_url", "http://169.254.170.2"}})
                .find("sink.endpoint_url"),
            std::string::npos);
  EXPECT_NE(refused("kafka", Role::sink, {{"brokers", {"b.example:9092", "169.254.1.1:9092"}}}), "");
  EXPECT_NE(refused("kafka", Role::sink, {{"brokers", "b.example:9092"}, {"rdkafka", {{"bootstrap.servers", "169.254.1.1:9092"}}}})
                .find("rdkafka.bootstrap.servers"),
            std::string::npos);
  EXPECT_NE(refused("nats", Role::sink, {{"url", "nats://a.example:4222,nats://u:p@169.254.1.1:4222"}}), "");
  EXPECT_NE(refused("pg-inbox", Role::sink, {{"postgres_url", "host=169.254.1.1 dbname=x"}}), "");
  EXPECT_NE(refused("pg-inbox", Role::sink, {{"postgres_url", "postgres://u:p@[fe80::1]:5432/x"}}), "");
  EXPECT_EQ(refused("pg-inbox", Role::sink, {{"postgres_url", "host=/var/run/postgresql dbname=x"}}), "") << "a local socket";
  EXPECT_NE(refused("redis", Role::sink, {{"url", "redis://:pw@169.254.1.1:6379/0"}}), "");
  EXPECT_NE(refused("rabbitmq", Role::sink, {{"url", "amqp://metadata.google.internal"}}), "");
}

// Every form a client accepts is read as that client reads it, and what cannot be read is refused
// rather than let through: the lists cannot judge a destination they cannot see.
TEST(Destinations, EveryFormAClientAcceptsIsCheckedAndWhatCannotBeReadIsRefused) {
  HostAccess a = defaults();
  a.allow_destinations = {"allowed.example", "127.0.0.1:4222", "[::1]:9092"};
  auto refused = [&](const char* type, const nlohmann::json& section) {
    const auto* spec = find_spec(Role::sink, type);
    if (!spec) return std::string("no spec");
    auto s = check_section_destinations(a, *spec, section, "sink");
    return s ? std::string() : s.error().message;
  };
  // NATS: with or without a scheme, user info, lists.
  EXPECT_NE(refused("nats", {{"url", "127.0.0.1:4223"}}).find("not in --sql-allow-destinations"), std::string::npos)
      << "a scheme-less address, which the NATS client takes as nats://";
  EXPECT_EQ(refused("nats", {{"url", "127.0.0.1"}}), "") << "no port: the NATS client's 4222";
  EXPECT_EQ(refused("nats", {{"url", "127.0.0.1:4222"}}), "");
  EXPECT_EQ(refused("nats", {{"url", "nats://u:p@127.0.0.1"}}), "");
  EXPECT_NE(refused("nats", {{"url", "tls://127.0.0.1:4222, u:p@169.254.169.254:4222"}}).find("--sql-deny-destinations"),
            std::string::npos);
  EXPECT_NE(refused("nats", {{"url", "allowed.example:4222 169.254.169.254:4222"}}), "") << "space-separated";
  EXPECT_NE(refused("nats", {{"url", " , "}}), "") << "no server at all";
  // Kafka: SECURITY_PROTOCOL:// prefixes, IPv6, both spellings of the librdkafka property.
  EXPECT_NE(refused("kafka", {{"brokers", "PLAINTEXT://169.254.169.254:9092"}}).find("--sql-deny-destinations"), std::string::npos);
  EXPECT_NE(refused("kafka", {{"brokers", "allowed.example:9092,SASL_SSL://[fe80::1]:9093"}}).find("--sql-deny-destinations"),
            std::string::npos);
  EXPECT_EQ(refused("kafka", {{"brokers", "SSL://[::1]:9092"}}), "");
  EXPECT_NE(refused("kafka", {{"brokers", "[::1]:9093"}}), "");
  EXPECT_NE(refused("kafka", {{"brokers", "allowed.example:9092"}, {"rdkafka", {{"bootstrap_servers", "PLAINTEXT://169.254.1.1:9092"}}}})
                .find("rdkafka.bootstrap_servers"),
            std::string::npos);
  // URLs: a value that is no URL, or whose host or port cannot be read, is refused without quoting it.
  for (const char* url : {"allowed.example:6379", "redis://", "redis://u:s3cr3t-word", "redis://allowed.example:s3cr3t-word"}) {
    std::string why = refused("redis", {{"url", url}});
    EXPECT_NE(why.find("cannot be checked"), std::string::npos) << url << ": " << why;
    EXPECT_EQ(why.find("s3cr3t"), std::string::npos) << why;
  }
  EXPECT_EQ(refused("redis", {{"url", "redis://:pw@allowed.example:6379/0"}}), "");
  EXPECT_NE(refused("rabbitmq", {{"url", "amqp://guest:guest@127.0.0.1:5672/"}}), "") << "5672 is not the allowed port";
  EXPECT_NE(refused("webhook", {{"url", "169.254.169.254/latest"}}).find("cannot be checked"), std::string::npos);
  EXPECT_NE(refused("webhook", {{"url", "http://169.254.169.254/{{ path }}"}}), "") << "a template with a fixed host is checked";
  EXPECT_NE(refused("pg-inbox", {{"postgres_url", "postgres://%zz"}}).find("cannot be checked"), std::string::npos);
  EXPECT_NE(refused("pg-inbox", {{"postgres_url", "host=allowed.example port=x5432"}}).find("cannot be checked"), std::string::npos);
}
