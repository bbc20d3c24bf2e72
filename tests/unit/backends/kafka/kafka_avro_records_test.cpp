// AvroRecords (the Kafka sink's Avro converter) against a registry served in the test: each schema
// registered once per subject, a record's bytes the same whether its schema was seen before (found
// by its text) or read from the envelope as JSON, and a payload that holds the envelope's own words.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "backends/kafka/kafka_avro.h"
#include "format/avro_reader.h"

using namespace relay;

namespace {

// The Confluent API's register call, answering an id per distinct schema and counting the calls.
class FakeRegistry {
 public:
  FakeRegistry() {
    server_.Post(R"(/subjects/([^/]+)/versions)", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      ++calls_;
      auto [it, added] = ids_.emplace(req.body, static_cast<int>(ids_.size()) + 1);
      schemas_[it->second] = nlohmann::json::parse(req.body)["schema"].get<std::string>();
      res.set_content(nlohmann::json{{"id", it->second}}.dump(), "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeRegistry() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::string schema(int id) {
    std::lock_guard lock(mu_);
    return schemas_[id];
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  int calls_ = 0;
  std::map<std::string, int> ids_;
  std::map<int, std::string> schemas_;
};

const std::string kOrderSchema =
    R"({"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"note"}],"optional":false,"name":"shop.orders.Value"})";
const std::string kLineSchema =
    R"({"type":"struct","fields":[{"type":"int64","optional":false,"field":"line"}],"optional":false,"name":"shop.lines.Value"})";

std::string envelope(const std::string& schema, const std::string& payload) {
  return R"({"schema":)" + schema + R"(,"payload":)" + payload + "}";
}

// The value's JSON again, read from its bytes with the schema the registry holds under its id.
std::string read_back(FakeRegistry& registry, std::string_view bytes) {
  EXPECT_GE(bytes.size(), 5u);
  EXPECT_EQ(bytes[0], '\0');
  const int id = static_cast<unsigned char>(bytes[4]);
  avro::Reader reader;
  std::string error, out;
  EXPECT_TRUE(avro::Reader::from_schema(registry.schema(id), reader, error)) << error;
  EXPECT_TRUE(reader.read(bytes.substr(5), out, error)) << error;
  return out;
}

}  // namespace

TEST(AvroRecords, EachSchemaIsRegisteredOnceAndEachRecordReadsBackWhicheverWayItsSchemaWasFound) {
  FakeRegistry registry;
  Converters converters;
  converters.avro_value = true;
  kafka::AvroRecords records(converters, http::RegistryOptions{.url = registry.url()}, kafka::SubjectStrategy::topic);
  // Two tables, alternating; a note holding the envelope's own words, and one with an escaped quote.
  const std::vector<std::pair<std::string, std::string>> values = {
      {kOrderSchema, R"({"id":1,"note":",\"payload\":{\"id\":9}}"})"},
      {kLineSchema, R"({"line":7})"},
      {kOrderSchema, R"({"id":2,"note":null})"},
      {kLineSchema, R"({"line":8})"},
      {kOrderSchema, R"({"id":3,"note":"{\"schema\":1}"})"}};
  for (const auto& [schema, payload] : values) {
    std::string_view key, value;
    const std::string text = envelope(schema, payload);
    value = text;
    Outcome failure;
    ASSERT_TRUE(records.convert(schema == kOrderSchema ? "orders" : "lines", key, value, failure)) << failure.error;
    EXPECT_EQ(nlohmann::json::parse(read_back(registry, value)), nlohmann::json::parse(payload)) << payload;
  }
  EXPECT_EQ(registry.calls(), 2) << "each table's value schema registered once";
  // The same schema to another topic: its subject there, registered once more.
  const std::string text = envelope(kOrderSchema, R"({"id":4,"note":"x"})");
  std::string_view key, value = text;
  Outcome failure;
  ASSERT_TRUE(records.convert("orders-copy", key, value, failure)) << failure.error;
  EXPECT_EQ(registry.calls(), 3);
  // An envelope written with spaces (not as the formats write it) is still read, as JSON.
  const std::string spaced = R"({ "schema": )" + kLineSchema + R"(, "payload": {"line": 9} })";
  value = spaced;
  ASSERT_TRUE(records.convert("lines", key, value, failure)) << failure.error;
  EXPECT_EQ(nlohmann::json::parse(read_back(registry, value)), nlohmann::json({{"line", 9}}));
  EXPECT_EQ(registry.calls(), 3);
}
