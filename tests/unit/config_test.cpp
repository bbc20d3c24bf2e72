#include <fmt/format.h>
#include <gtest/gtest.h>

#include "config/file_config.h"
#include "config/pipeline_config.h"
#include "config/specs.h"

using namespace relay;
using json = nlohmann::json;

namespace {

std::vector<std::string> problems_of(Direction d, const json& in) {
  std::vector<std::string> p;
  normalize_pipeline(d, in, "p", p);
  return p;
}

bool any_contains(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v)
    if (x.find(s) != std::string::npos) return true;
  return false;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

}  // namespace

TEST(Config, Seed001FlatForwardFormBecomesCanonical) {
  std::vector<std::string> p;
  json c = normalize_pipeline(Direction::forward, json::parse(R"({
      "stream_table": "orders_stream", "sink_type": "nats", "nats_url": "nats://localhost:4222",
      "nats_stream": "pgtrickle", "subject_template": "pgtrickle.{stream_table}.{op}"})"), "orders-to-nats", p);
  ASSERT_TRUE(p.empty()) << joined(p);
  EXPECT_EQ(c["source"], json::parse(R"({"type":"outbox","stream_table":"orders_stream"})"));
  EXPECT_EQ(c["sink"]["type"], "nats");
  EXPECT_EQ(c["sink"]["url"], "nats://localhost:4222");
  EXPECT_EQ(c["sink"]["stream"], "pgtrickle");
  EXPECT_EQ(c["sink"]["subject"], "pgtrickle.{stream_table}.{op}");
  EXPECT_EQ(c["sink"]["create_stream"], true);  // default filled
  EXPECT_EQ(c["batch_size"], 1000);
}

TEST(Config, Seed001FlatReverseFormBecomesCanonical) {
  std::vector<std::string> p;
  json c = normalize_pipeline(Direction::reverse, json::parse(R"({
      "source_type": "nats", "nats_url": "nats://localhost:4222", "nats_stream": "commands",
      "nats_consumer": "relay-consumer", "inbox_table": "orders_inbox"})"), "nats-to-orders-inbox", p);
  ASSERT_TRUE(p.empty()) << joined(p);
  EXPECT_EQ(c["source"]["consumer"], "relay-consumer");
  EXPECT_EQ(c["sink"]["type"], "pg-inbox");
  EXPECT_EQ(c["sink"]["inbox_table"], "orders_inbox");
}

TEST(Config, PgTrickleStoredLayoutIsAccepted) {
  std::vector<std::string> p;
  json c = normalize_pipeline(Direction::forward, json::parse(R"({
      "source_type": "outbox", "source": {"outbox": "orders", "group": null, "retention_hours": 24},
      "sink_type": "stdout", "sink": {"type": "stdout"}})"), "x", p);
  // null means "not set", as pg_trickle stores an absent group.
  ASSERT_TRUE(p.empty()) << joined(p);
  EXPECT_FALSE(c["source"].contains("group"));
  c = normalize_pipeline(Direction::forward, json::parse(R"({"source_type":"outbox","source":{"outbox":"orders"},
      "sink_type":"file","sink":{"type":"file","path":"/tmp/x"}})"), "x", p);
  ASSERT_TRUE(p.empty()) << joined(p);
  EXPECT_EQ(c["source"]["outbox"], "orders");
  EXPECT_EQ(c["sink"]["format"], "jsonl");
}

TEST(Config, AStoredLayoutWhoseSectionIsNotAnObjectIsReportedNotThrown) {
  // pg_trickle's layout, with "sink" a string beside "sink_type" (found by the config fuzzer).
  auto p = problems_of(Direction::forward, json::parse(R"({"source_type": "outbox", "sink_type": "nats",
      "source": {"stream_table": "orders"}, "sink": "outbox"})"));
  EXPECT_TRUE(any_contains(p, "\"sink\" must be an object with a \"type\"")) << joined(p);
  p = problems_of(Direction::forward, json::parse(R"({"source_type": "outbox", "source": 7, "sink": {"type": "stdout"}})"));
  EXPECT_TRUE(any_contains(p, "\"source\" must be an object with a \"type\"")) << joined(p);
}

TEST(Config, AForwardPipelineNamingTablesReadsThemFromTheWal) {
  std::vector<std::string> p;
  json c = normalize_pipeline(Direction::forward, json::parse(R"({"tables": ["public.*"], "exclude": "public.audit_*",
      "sink_type": "stdout"})"), "x", p);
  ASSERT_TRUE(p.empty()) << joined(p);
  EXPECT_EQ(c["source"]["type"], "wal");
  EXPECT_EQ(c["source"]["tables"], json::parse(R"(["public.*"])"));
  EXPECT_EQ(c["source"]["exclude"], "public.audit_*");
  p = problems_of(Direction::forward, json::parse(R"({"source": {"type": "wal"}, "sink": {"type": "stdout"}})"));
  EXPECT_TRUE(any_contains(p, "tables")) << joined(p);
  p = problems_of(Direction::reverse, json::parse(R"({"source": {"type": "wal", "tables": ["t"]}, "inbox_name": "x"})"));
  EXPECT_TRUE(any_contains(p, "use set_relay_outbox")) << joined(p);
}

TEST(Config, UnknownSinkTypeSuggestsAndListsTheValidOnes) {
  auto p = problems_of(Direction::forward, json::parse(R"({"stream_table":"t","sink_type":"natz"})"));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("unknown sink_type \"natz\" (did you mean \"nats\"?)"), std::string::npos) << p[0];
  EXPECT_NE(p[0].find("kafka"), std::string::npos);
}

TEST(Config, UnknownKeySuggestsTheClosestKey) {
  auto p = problems_of(Direction::forward, json::parse(R"({"source":{"type":"outbox","stream_table":"t"},
      "sink":{"type":"nats","url":"nats://x","subjct":"a.b"}})"));
  EXPECT_TRUE(any_contains(p, "unknown key \"subjct\" (did you mean \"subject\"?)")) << joined(p);
  EXPECT_TRUE(any_contains(p, "missing required key \"subject\"")) << joined(p);
}

TEST(Config, WrongValueTypeNamesKeyExpectationAndValue) {
  auto p = problems_of(Direction::forward, json::parse(R"({"stream_table":"t","sink_type":"file","path":"/x",
      "rotate_bytes":"ten","batch_size":0,"granularity":"rows"})"));
  EXPECT_TRUE(any_contains(p, "key \"rotate_bytes\" must be an integer, got \"ten\"")) << joined(p);
  EXPECT_TRUE(any_contains(p, "key \"batch_size\" must be between 1 and 100000, got 0")) << joined(p);
  EXPECT_TRUE(any_contains(p, "key \"granularity\" must be one of row, delta, got \"rows\"")) << joined(p);
}

TEST(Config, AWildcardPublishSubjectIsRefusedWithATemplateToUse) {
  auto p = problems_of(Direction::forward, json::parse(R"({"source":{"type":"outbox","stream_table":"order_view"},
      "sink":{"type":"nats","url":"nats://localhost:4222","subject":"orders.>"}})"));
  ASSERT_EQ(p.size(), 1u) << joined(p);
  EXPECT_NE(p[0].find("\"orders.>\" is a wildcard"), std::string::npos) << p[0];
  EXPECT_NE(p[0].find("\"orders.{op}\""), std::string::npos) << p[0];
}

TEST(Config, OneOfGroupsNeedExactlyOne) {
  auto p = problems_of(Direction::forward, json::parse(R"({"source":{"type":"outbox"},"sink":{"type":"stdout"}})"));
  EXPECT_TRUE(any_contains(p, "needs exactly one of stream_table, outbox, got none")) << joined(p);
  p = problems_of(Direction::reverse, json::parse(R"({"source":{"type":"stdin"},"sink":{"type":"inbox","inbox_name":"a","inbox_table":"b"}})"));
  EXPECT_TRUE(any_contains(p, "got inbox_name and inbox_table")) << joined(p);
}

TEST(Config, DirectionMismatchSaysWhichFunctionToUse) {
  auto p = problems_of(Direction::forward, json::parse(R"({"source":{"type":"kafka","brokers":"b","topic":"t","group_id":"g"},
      "sink":{"type":"stdout"}})"));
  EXPECT_TRUE(any_contains(p, "use set_relay_inbox")) << joined(p);
}

TEST(Config, SecretValuesAreNeverEchoed) {
  auto p = problems_of(Direction::forward, json::parse(R"({"stream_table":"t","sink_type":"nats","url":"nats://x",
      "subject":"a.b","password":12345})"));
  ASSERT_TRUE(any_contains(p, "key \"password\" must be a string, got \"***\"")) << joined(p);
  EXPECT_FALSE(any_contains(p, "12345"));
}

TEST(Config, SecretReferencesAreResolvedAtBuildTime) {
  ::setenv("RELAY_TEST_TOKEN", "s3cret", 1);
  ::setenv("RELAY_TEST_BATCH", "50", 1);
  std::vector<std::string> p;
  json c = normalize_pipeline(Direction::forward, json::parse(R"({"stream_table":"t","sink_type":"nats","url":"nats://x",
      "subject":"a.b","token":"${ENV:RELAY_TEST_TOKEN}","batch_size":"${ENV:RELAY_TEST_BATCH}"})"), "p", p);
  ASSERT_TRUE(p.empty()) << joined(p);
  auto r = resolve_secrets(c);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)["sink"]["token"], "s3cret");
  EXPECT_EQ((*r)["batch_size"], 50);
  auto missing = resolve_secret_string("${ENV:RELAY_TEST_NOT_SET_ANYWHERE}");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("RELAY_TEST_NOT_SET_ANYWHERE is not set"), std::string::npos);
}

// A value naming a table, a slot, a stream or a consumer group is there for others to see (pg_class,
// pg_replication_slots, a broker's listings): a reference in it would publish its secret. Tried
// in every such key, whole and inside a longer name, as an attacker would hope it resolves.
TEST(Config, AReferenceIsRefusedInEveryKeyWhoseValueBecomesAName) {
  // The keys of the finding, at least, are among them.
  EXPECT_EQ(named_object(*find_spec(Role::sink, "pg-inbox"), "inbox_table"), "a table");
  EXPECT_EQ(named_object(*find_spec(Role::source, "wal"), "slot_name"), "a replication slot");
  EXPECT_EQ(named_object(*find_spec(Role::source, "kafka"), "group_id"), "a consumer group");
  EXPECT_EQ(named_object(*find_spec(Role::sink, "nats"), "stream"), "a JetStream stream");
  EXPECT_EQ(named_object(*find_spec(Role::source, "outbox"), "stream_table"), "a table");
  EXPECT_EQ(named_object(*find_spec(Role::sink, "nats"), "url"), "");
  auto refused = [](const BackendSpec& spec, const KeySpec& k, const json& value) {
    // The place of the key in a pipeline of the direction it belongs to.
    json config = {{"source", {{"type", "outbox"}, {"stream_table", "t"}}}, {"sink", {{"type", "stdout"}}}};
    Direction d = Direction::forward;
    if (spec.role == Role::source && !is_forward_source(spec.name)) d = Direction::reverse;
    if (spec.role == Role::sink && spec.name == "pg-inbox") d = Direction::reverse;
    if (d == Direction::reverse) config = {{"source", {{"type", "stdin"}}}, {"sink", {{"type", "pg-inbox"}, {"inbox_name", "i"}}}};
    if (spec.role == Role::pipeline) config[std::string(k.key)] = value;
    else {
      json& side = config[spec.role == Role::source ? "source" : "sink"];
      side = {{"type", spec.name}};
      side[std::string(k.key)] = value;
    }
    auto p = problems_of(d, config);
    return any_contains(p, fmt::format("key \"{}\" names {}, which others can see: a reference (${{ENV:...}} or ${{FILE:...}}) "
                                       "is not allowed there, as its value would be published under that name; write the name itself",
                                       k.key, named_object(spec, k.key)));
  };
  int keys = 0;
  std::vector<const BackendSpec*> specs{&kPipelineSpec};
  for (const auto* spec : backend_specs()) specs.push_back(spec);
  for (const auto* spec : specs)
    for (const auto& k : spec->keys) {
      if (named_object(*spec, k.key).empty()) continue;
      ++keys;
      for (const json& v : {json("${ENV:SECRET}"), json("orders_${FILE:/run/secrets/t}"), json::array({"a", "${ENV:SECRET}"})})
        EXPECT_TRUE(refused(*spec, k, v)) << to_string(spec->role) << " " << spec->name << " " << k.key << " = " << v.dump();
      EXPECT_FALSE(refused(*spec, k, "pgtrickle_literal_name")) << spec->name << " " << k.key;
    }
  EXPECT_GE(keys, 20);
  // Keys naming nothing keep their references.
  EXPECT_TRUE(problems_of(Direction::forward, json::parse(R"({"stream_table":"t","sink_type":"nats","url":"${ENV:NATS_URL}",
      "subject":"a.b","token":"${FILE:/run/secrets/nats}"})")).empty());
}

TEST(Config, RedactionHidesSecretsAndUrlPasswords) {
  json c = json::parse(R"({"source":{"type":"outbox","stream_table":"t"},
      "sink":{"type":"pg-inbox","postgres_url":"postgres://relay:hunter2@db/x","inbox_name":"a"}})");
  json r = redact_config(c);
  EXPECT_EQ(r["sink"]["postgres_url"], "***");
  json n = json::parse(R"({"source":{"type":"outbox","stream_table":"t"},"sink":{"type":"nats","url":"nats://u:pw@h:4222","subject":"a"}})");
  EXPECT_EQ(redact_config(n)["sink"]["url"], "nats://u:***@h:4222");
}

TEST(Config, RedactionHidesHeadersQueryTokensAndKafkaOauthConfig) {
  json c = json::parse(R"({"source":{"type":"outbox","stream_table":"t"},
      "sink":{"type":"webhook","url":"https://bob:hunter2@hooks.example/in?token=T0K&api_key=K3Y&region=eu",
              "headers":{"X-Api-Key":"literal-key","Authorization":"${ENV:HOOK_TOKEN}"}}})");
  json r = redact_config(c);
  EXPECT_EQ(r["sink"]["url"], "https://bob:***@hooks.example/in?token=***&api_key=***&region=eu");
  EXPECT_EQ(r["sink"]["headers"]["X-Api-Key"], "***");
  EXPECT_EQ(r["sink"]["headers"]["Authorization"], "${ENV:HOOK_TOKEN}") << "a reference names where the secret is";
  json k = json::parse(R"({"source":{"type":"outbox","stream_table":"t"},"sink":{"type":"kafka","brokers":"b:9092","topic":"t",
      "rdkafka":{"sasl.oauthbearer.config":"principal=admin clientSecret=s3","sasl.password":"pw","client.id":"relay"}}})");
  json rk = redact_config(k);
  EXPECT_EQ(rk["sink"]["rdkafka"]["sasl.oauthbearer.config"], "***");
  EXPECT_EQ(rk["sink"]["rdkafka"]["sasl.password"], "***");
  EXPECT_EQ(rk["sink"]["rdkafka"]["client.id"], "relay");
}

TEST(ConfigFile, Seed000IsParsedAndItsWildcardExampleGetsAClearError) {
  std::vector<std::string> p;
  auto cfg = parse_config_text(R"(
[global]
postgres_url = "postgres://user:pass@localhost/mydb"
metrics_bind = "0.0.0.0:9090"
ha_group = "relay-primary"

[[pipeline]]
name = "revenue-to-kafka"
source = { type = "outbox", stream_table = "revenue_by_region" }
sink = { type = "kafka", brokers = "kafka:9092", topic = "revenue-deltas" }

[[pipeline]]
name = "orders-to-nats"
source = { type = "outbox", stream_table = "order_view" }
sink = { type = "nats", url = "nats://localhost:4222", subject = "orders.>" }

[[pipeline]]
name = "payments-from-kafka"
source = { type = "kafka", brokers = "kafka:9092", topic = "payment-events", group_id = "pgtrickle-inbox" }
sink = { type = "inbox", inbox_name = "payment_events" }
)", "relay.toml", p);
  EXPECT_EQ(cfg.global.metrics_addr, "0.0.0.0:9090");
  EXPECT_EQ(cfg.global.relay_group_id, "relay-primary");
  ASSERT_EQ(cfg.pipelines.size(), 3u);
  EXPECT_EQ(cfg.pipelines[2].direction, Direction::reverse);
  EXPECT_EQ(cfg.pipelines[2].sink_type, "pg-inbox");
  ASSERT_EQ(p.size(), 1u) << joined(p);
  EXPECT_NE(p[0].find("relay.toml (line 12)"), std::string::npos) << p[0];
  EXPECT_NE(p[0].find("orders.{op}"), std::string::npos) << p[0];
}

TEST(ConfigFile, TheDatabasePoolSizeIsAWholeNumber) {
  std::vector<std::string> p;
  auto cfg = parse_config_text("[global]\ndatabase_pool_size = 8\n", "relay.toml", p);
  EXPECT_TRUE(p.empty()) << joined(p);
  EXPECT_EQ(cfg.global.database_pool_size, "8");
  parse_config_text("[global]\ndatabase_pool_size = \"eight\"\n", "relay.toml", p);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("key \"database_pool_size\" must be a whole number of connections, e.g. database_pool_size = 4"),
            std::string::npos) << p[0];
}

// Found by fuzzing: a source type that is not text was read as text and threw.
TEST(ConfigFile, ASourceTypeThatIsNotTextIsAProblemNotACrash) {
  std::vector<std::string> p;
  parse_config_text("[[pipeline]]\nname = \"p\"\nsource = { type = 1000 }\nsink = { type = \"stdout\" }\n", "relay.toml", p);
  ASSERT_FALSE(p.empty());
  EXPECT_NE(joined(p).find("type"), std::string::npos) << joined(p);
}

TEST(ConfigFile, MalformedTomlNamesLineAndColumn) {
  std::vector<std::string> p;
  parse_config_text("[global]\npostgres_url = \"x\n", "bad.toml", p);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("bad.toml:2:"), std::string::npos) << p[0];
  EXPECT_NE(p[0].find("malformed TOML"), std::string::npos);
}

// The field report's example: an unquoted value reads as a failed boolean in the parser's words;
// the message also says how a value is written, and shows the line.
TEST(ConfigFile, ATomlSyntaxErrorSaysWhatWasExpectedAndShowsTheLine) {
  std::vector<std::string> p;
  parse_config_text("[global]\nnot = [toml\n", "f.toml", p);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("f.toml:2:"), std::string::npos) << p[0];
  EXPECT_NE(p[0].find("a value is a quoted string"), std::string::npos) << p[0];
  EXPECT_NE(p[0].find("(line 2: not = [toml)"), std::string::npos) << p[0];
  p.clear();
  parse_config_text("[[pipeline]]\nname \"x\"\n", "f.toml", p);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("key = value"), std::string::npos) << p[0];
  p.clear();
  parse_config_text("[global]\npostgres_url = \"postgres://relay:hunter2@db/x\nnext = 1\n", "f.toml", p);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("ends on its line"), std::string::npos) << p[0];
  EXPECT_EQ(p[0].find("hunter2"), std::string::npos) << "the line is shown without its password: " << p[0];
}

TEST(ConfigFile, UnknownSectionsAndGlobalKeysAreErrors) {
  std::vector<std::string> p;
  parse_config_text("[globl]\n[global]\nmetrics_bnd = \"x\"\n", "f.toml", p);
  EXPECT_TRUE(any_contains(p, "unknown section \"globl\" (did you mean \"global\"?)")) << joined(p);
  EXPECT_TRUE(any_contains(p, "unknown key \"metrics_bnd\" (did you mean \"metrics_bind\"?)")) << joined(p);
}

TEST(Config, AFlatKeyOfBothPipelineAndSinkGoesWhereItsValueFits) {
  std::vector<std::string> p;
  json c = normalize_pipeline(Direction::forward, json::parse(R"({"stream_table":"t","sink_type":"file","path":"/x","format":"csv"})"), "p", p);
  ASSERT_TRUE(p.empty()) << joined(p);
  EXPECT_EQ(c["sink"]["format"], "csv");
  EXPECT_EQ(c["format"], "json");
  c = normalize_pipeline(Direction::forward, json::parse(R"({"stream_table":"t","sink_type":"file","path":"/x","format":"cloudevents"})"), "p", p);
  ASSERT_TRUE(p.empty()) << joined(p);
  EXPECT_EQ(c["format"], "cloudevents");
  EXPECT_EQ(c["sink"]["format"], "jsonl");
}

TEST(Config, NumbersTooLargeForAnIntegerOptionAreProblemsNotWrappedValues) {
  // 1e300 and 1e10 once went through an undefined float-to-int conversion (retry_max_ms wrapped).
  auto p = problems_of(Direction::forward, json::parse(R"({"stream_table":"t","sink_type":"stdout",
      "batch_size":1e300,"retry_max_ms":1e10,"retry_initial_ms":10000000000,"poll_interval_ms":2.5})"));
  EXPECT_TRUE(any_contains(p, "key \"batch_size\" must be an integer, got 1e+300")) << joined(p);
  EXPECT_TRUE(any_contains(p, "key \"retry_max_ms\" must be between 0 and 2147483647, got 10000000000.0")) << joined(p);
  EXPECT_TRUE(any_contains(p, "key \"retry_initial_ms\" must be between 0 and 2147483647, got 10000000000")) << joined(p);
  EXPECT_TRUE(any_contains(p, "key \"poll_interval_ms\" must be an integer, got 2.5")) << joined(p);
  // An integral float is an integer, and is bounded like one.
  p = problems_of(Direction::forward, json::parse(R"({"stream_table":"t","sink_type":"stdout","batch_size":500000.0})"));
  EXPECT_TRUE(any_contains(p, "key \"batch_size\" must be between 1 and 100000, got 500000.0")) << joined(p);
  EXPECT_TRUE(problems_of(Direction::forward, json::parse(R"({"stream_table":"t","sink_type":"stdout","batch_size":100.0})")).empty());
}

TEST(Config, BackendIntegersAreCheckedAgainstTheirRangeBeforeAnyBackendStarts) {
  auto p = problems_of(Direction::forward, json::parse(R"({"stream_table":"t","sink_type":"webhook","url":"http://h/",
      "timeout_ms":0,"max_in_flight":65})"));
  EXPECT_TRUE(any_contains(p, "key \"timeout_ms\" must be between 1 and 3600000, got 0")) << joined(p);
  EXPECT_TRUE(any_contains(p, "key \"max_in_flight\" must be between 1 and 64, got 65")) << joined(p);
  p = problems_of(Direction::reverse, json::parse(R"({"source_type":"rabbitmq","url":"amqp://h/","queue":"q","prefetch":70000,
      "inbox_table":"i"})"));
  EXPECT_TRUE(any_contains(p, "key \"prefetch\" must be between 1 and 65535, got 70000")) << joined(p);
  p = problems_of(Direction::reverse, json::parse(R"({"source_type":"nats","url":"nats://h","stream":"s","consumer":"c",
      "max_deliver":-2,"inbox_table":"i"})"));
  EXPECT_TRUE(any_contains(p, "key \"max_deliver\" must be between -1 and 2147483647, got -2")) << joined(p);
  p = problems_of(Direction::reverse, json::parse(R"({"source_type":"stdin","inbox_table":"i","max_payload_bytes":0})"));
  EXPECT_TRUE(any_contains(p, "key \"max_payload_bytes\" must be between 1 and 1073741824, got 0")) << joined(p);
  // Beyond 64 bits is out of range too, not wrapped.
  p = problems_of(Direction::reverse, json::parse(R"({"source_type":"http","listen":"127.0.0.1:1","bearer_token":"x",
      "max_body_bytes":18446744073709551615,"inbox_table":"i"})"));
  EXPECT_TRUE(any_contains(p, "key \"max_body_bytes\" must be between 1 and 1073741824, got 18446744073709551615")) << joined(p);
  // Sizes may pass 2^31, and an integral float becomes an integer.
  json c = normalize_pipeline(Direction::forward, json::parse(R"({"stream_table":"t","sink_type":"redis","url":"redis://h",
      "stream_key":"s","maxlen":5000000000.0})"), "p", p = {});
  ASSERT_TRUE(p.empty()) << joined(p);
  EXPECT_TRUE(c["sink"]["maxlen"].is_number_integer());
  EXPECT_EQ(c["sink"]["maxlen"].get<long long>(), 5000000000LL);
}

// An exactly-once pipeline batches 4,000 messages unless told: each batch is one Kafka transaction.
TEST(Config, ExactlyOncePipelinesBatchMoreUnlessTold) {
  auto batch = [](const char* config) {
    std::vector<std::string> p;
    auto c = build_pipeline_config("p", Direction::forward, true, json::parse(config), "sql", p);
    EXPECT_TRUE(p.empty()) << joined(p);
    return c.batch_size;
  };
  EXPECT_EQ(batch(R"({"stream_table": "t", "sink_type": "kafka", "brokers": "k:9092", "topic": "t"})"), 1000);
  EXPECT_EQ(batch(R"({"stream_table": "t", "sink_type": "kafka", "brokers": "k:9092", "topic": "t", "delivery": "exactly_once"})"), 4000);
  EXPECT_EQ(batch(R"({"stream_table": "t", "sink_type": "kafka", "brokers": "k:9092", "topic": "t", "delivery": "exactly_once",
                      "batch_size": 1000})"), 1000);
  EXPECT_EQ(batch(R"({"source": {"type": "outbox", "stream_table": "t"}, "sink": {"type": "kafka", "brokers": "k:9092", "topic": "t"},
                      "delivery": "exactly_once", "batch_size": 250})"), 250);
}

// The relay checks formats as set_relay_outbox does (tests/sql/formats.sql): Debezium's options
// and topic naming, CloudEvents' binary mode, each wrong combination named with what to write.
TEST(Config, FormatsAndTheirOptions) {
  std::vector<std::string> p;
  auto c = build_pipeline_config("cdc", Direction::forward, true, json::parse(R"({
      "stream_table": "customers", "sink_type": "kafka", "brokers": "k:9092", "format": "debezium",
      "schemas": true, "tombstones": false, "decimal_handling": "string", "time_precision": "connect",
      "binary_handling": "hex", "interval_handling": "string"})"), "sql", p);
  ASSERT_TRUE(p.empty()) << joined(p);
  EXPECT_EQ(c.format, Format::debezium);
  EXPECT_EQ(c.sink()["topic"], "cdc.{schema}.{table}") << "Debezium's topic naming, the pipeline's name as the prefix";
  EXPECT_EQ(c.debezium.topic_prefix, "cdc");
  EXPECT_TRUE(c.debezium.schemas);
  EXPECT_FALSE(c.debezium.tombstones);
  EXPECT_EQ(c.debezium.modes.decimal, debezium::DecimalHandling::string);
  EXPECT_EQ(c.debezium.modes.time, debezium::TimePrecision::connect);
  EXPECT_EQ(c.debezium.modes.binary, debezium::BinaryHandling::hex);
  EXPECT_EQ(c.debezium.modes.interval, debezium::IntervalHandling::string);
  EXPECT_EQ(c.debezium.skipped, "t") << "Debezium's default skipped.operations: a TRUNCATE is not sent";

  auto problems = [](const char* config) {
    std::vector<std::string> p;
    build_pipeline_config("p", Direction::forward, true, json::parse(config), "sql", p);
    return joined(p);
  };
  EXPECT_NE(problems(R"({"stream_table": "t", "sink_type": "stdout", "schemas": true})").find("it needs \"format\": \"debezium\""),
            std::string::npos);
  EXPECT_NE(problems(R"({"stream_table": "t", "sink_type": "stdout", "format": "debezium", "granularity": "delta"})")
                .find("\"granularity\": \"row\""), std::string::npos);
  auto skipped = [](const char* value) {
    std::vector<std::string> p;
    auto c = build_pipeline_config("p", Direction::forward, true, json::parse(std::string(R"({"stream_table": "t",
        "sink_type": "stdout", "format": "debezium", "skipped_operations": )") + value + "}"), "sql", p);
    return p.empty() ? c.debezium.skipped : joined(p);
  };
  EXPECT_EQ(skipped(R"("none")"), "");
  EXPECT_EQ(skipped(R"("t, d")"), "td");
  EXPECT_NE(skipped(R"("truncate")").find("of c (create), u (update), d (delete) and t (truncate), or is \"none\"; got \"truncate\""),
            std::string::npos);
  EXPECT_NE(problems(R"({"stream_table": "t", "sink_type": "stdout", "cloudevents_mode": "binary"})")
                .find("it needs \"format\": \"cloudevents\""), std::string::npos);
  EXPECT_NE(problems(R"({"stream_table": "t", "sink_type": "webhook", "url": "http://h/x", "batch": true,
                         "format": "cloudevents", "cloudevents_mode": "binary"})").find("a batched request carries many events"),
            std::string::npos);
  EXPECT_EQ(problems(R"({"stream_table": "t", "sink_type": "webhook", "url": "http://h/x", "format": "cloudevents",
                         "cloudevents_mode": "binary"})"), "");
}

TEST(Config, TheOutboxEventRoutersSettingsKeepDebeziumsNamesAndNameTheKafkaTopic) {
  auto build = [](const char* config, std::vector<std::string>& p) {
    return build_pipeline_config("orders", Direction::forward, true, json::parse(config), "sql", p);
  };
  std::vector<std::string> p;
  auto c = build(R"({"source": {"type": "wal", "tables": ["public.outbox"]}, "sink": {"type": "kafka", "brokers": "k:9092"},
                     "format": "outbox_event_router"})", p);
  ASSERT_EQ(joined(p), "");
  EXPECT_EQ(c.format, Format::outbox_event_router);
  EXPECT_EQ(c.sink()["topic"], "outbox.event.{{ aggregatetype }}") << "Debezium's default route.topic.replacement";
  EXPECT_EQ(c.debezium.router.route_by, "aggregatetype");

  // A connector's properties, its transforms.<name>. prefix kept.
  c = build(R"({"source": {"type": "wal", "tables": ["public.outbox"]}, "sink": {"type": "kafka", "brokers": "k:9092"},
                "format": "outbox_event_router", "schemas": true, "outbox_event_router": {
                  "transforms.outbox.type": "io.debezium.transforms.outbox.EventRouter",
                  "transforms.outbox.route.by.field": "type", "route.topic.replacement": "events.${routedByValue}.v1",
                  "table.field.event.key": "customer_id", "table.expand.json.payload": "true",
                  "table.fields.additional.placement": "type:header:eventType, tenant:envelope"}})", p);
  ASSERT_EQ(joined(p), "");
  EXPECT_EQ(c.sink()["topic"], "events.{{ type }}.v1");
  EXPECT_EQ(c.debezium.router.event_key, "customer_id");
  EXPECT_TRUE(c.debezium.router.expand_json);
  ASSERT_EQ(c.debezium.router.additional.size(), 2u);
  EXPECT_EQ(c.debezium.router.additional[0].alias, "eventType");
  EXPECT_EQ(c.debezium.router.additional[1].placement, debezium::RouterOptions::Placement::envelope);
  EXPECT_EQ(c.debezium.router.additional[1].alias, "tenant");

  auto problems = [&](const char* router, const char* sink = R"({"type": "kafka", "brokers": "k:9092"})") {
    std::vector<std::string> q;
    build(fmt::format(R"({{"source": {{"type": "wal", "tables": ["public.outbox"]}}, "sink": {}, "format": "outbox_event_router",
                          "outbox_event_router": {}}})", sink, router).c_str(), q);
    return joined(q);
  };
  EXPECT_NE(problems(R"({"route.topic.regex": "(.*)-x"})").find("only the default \"(?<routedByValue>.*)\""), std::string::npos);
  EXPECT_NE(problems(R"({"route.topic.replacement": "t.${other}"})").find("refers to the group \"other\""), std::string::npos);
  EXPECT_NE(problems(R"({"table.fields.additional.placement": "tenant:partition"})").find("column:placement[:alias]"), std::string::npos);
  EXPECT_NE(problems(R"({"table.expand.json.payload": "yes"})").find("must be true or false, got \"yes\""), std::string::npos);
  EXPECT_NE(problems(R"({"route.by.fields": "x"})").find("is none of the router's settings"), std::string::npos);
  EXPECT_NE(problems(R"({"route.by.field": "type"})", R"({"type": "nats", "url": "nats://n", "subject": "s"})")
                .find("a nats sink routes by its own template"), std::string::npos);
  EXPECT_EQ(problems(R"({})", R"({"type": "nats", "url": "nats://n", "subject": "outbox.{{ aggregatetype }}"})"), "");
  std::vector<std::string> q;
  build(R"({"stream_table": "t", "sink_type": "stdout", "outbox_event_router": {}})", q);
  EXPECT_NE(joined(q).find("it needs \"format\": \"outbox_event_router\""), std::string::npos);
  q.clear();
  build(R"({"stream_table": "t", "sink_type": "stdout", "format": "outbox_event_router", "tombstones": false})", q);
  EXPECT_NE(joined(q).find("sends only inserted rows' payloads, and no tombstones"), std::string::npos);
}

TEST(Config, PropagatedSourceTypesAreListsOfRegularExpressions) {
  auto build = [](const char* config, std::vector<std::string>& p) {
    return build_pipeline_config("orders", Direction::forward, true, json::parse(config), "sql", p);
  };
  std::vector<std::string> q;
  auto c = build(R"j({"stream_table": "t", "sink_type": "stdout", "format": "debezium",
                     "column_propagate_source_type": "public\\.t\\.a, public\\.t\\.(b\\,c)",
                     "datatype_propagate_source_type": ".+\\.numeric"})j", q);
  EXPECT_EQ(joined(q), "");
  EXPECT_EQ(c.debezium.propagate.columns, (std::vector<std::string>{"public\\.t\\.a", "public\\.t\\.(b,c)"}));
  EXPECT_EQ(c.debezium.propagate.datatypes, std::vector<std::string>{".+\\.numeric"});
  build(R"j({"stream_table": "t", "sink_type": "stdout", "format": "debezium", "column_propagate_source_type": "public\\.t\\.(a"})j", q);
  EXPECT_NE(joined(q).find("\"public\\.t\\.(a\" is none"), std::string::npos) << joined(q);
  q.clear();
  build(R"j({"stream_table": "t", "sink_type": "stdout", "column_propagate_source_type": ".*"})j", q);
  EXPECT_NE(joined(q).find("it needs \"format\": \"debezium\""), std::string::npos);
}

TEST(Config, HeartbeatsGoToDebeziumsHeartbeatTopicFromAWalPipelineToKafka) {
  auto build = [](const char* config, std::vector<std::string>& p) {
    return build_pipeline_config("orders", Direction::forward, true, json::parse(config), "sql", p);
  };
  std::vector<std::string> q;
  auto c = build(R"j({"source": {"type": "wal", "tables": ["public.t"]}, "sink": {"type": "kafka", "brokers": "k:9092"},
                      "format": "debezium", "topic_prefix": "shop", "heartbeat_interval_ms": 5000})j", q);
  EXPECT_EQ(joined(q), "");
  EXPECT_EQ(c.debezium.heartbeat_interval_ms, 5000);
  EXPECT_EQ(c.debezium.heartbeat_topic, "__debezium-heartbeat.shop");
  c = build(R"j({"source": {"type": "wal", "tables": ["public.t"]}, "sink": {"type": "kafka", "brokers": "k:9092"},
                 "format": "debezium", "topic_heartbeat_prefix": "hb"})j", q);
  EXPECT_EQ(c.debezium.heartbeat_topic, "hb.orders");
  build(R"j({"stream_table": "t", "sink_type": "stdout", "format": "debezium", "heartbeat_interval_ms": 1000})j", q);
  EXPECT_NE(joined(q).find("it needs source type \"wal\" and a kafka sink"), std::string::npos) << joined(q);
  q.clear();
  build(R"j({"source": {"type": "wal", "tables": ["public.t"]}, "sink": {"type": "kafka", "brokers": "k:9092"},
             "format": "debezium", "heartbeat_action_query": "INSERT INTO hb VALUES (now())"})j", q);
  EXPECT_NE(joined(q).find("\"heartbeat_action_query\" is not offered"), std::string::npos) << joined(q);
}

TEST(Config, TransactionMetadataGoesToDebeziumsTransactionTopicFromAWalPipelineToKafka) {
  auto build = [](const char* config, std::vector<std::string>& p) {
    return build_pipeline_config("orders", Direction::forward, true, json::parse(config), "sql", p);
  };
  std::vector<std::string> q;
  auto c = build(R"j({"source": {"type": "wal", "tables": ["public.t"]}, "sink": {"type": "kafka", "brokers": "k:9092"},
                      "format": "debezium", "topic_prefix": "shop", "provide_transaction_metadata": true})j", q);
  EXPECT_EQ(joined(q), "");
  EXPECT_TRUE(c.debezium.transaction_metadata);
  EXPECT_EQ(c.debezium.transaction_topic, "shop.transaction");
  c = build(R"j({"source": {"type": "wal", "tables": ["public.t"]}, "sink": {"type": "kafka", "brokers": "k:9092"},
                 "format": "debezium", "topic_transaction": "tx"})j", q);
  EXPECT_EQ(c.debezium.transaction_topic, "orders.tx");
  build(R"j({"stream_table": "t", "sink_type": "kafka", "brokers": "k:9092", "format": "debezium",
             "provide_transaction_metadata": true})j", q);
  EXPECT_NE(joined(q).find("which the WAL tells: it needs source type \"wal\" and a kafka sink"), std::string::npos) << joined(q);
}
