// Debezium's PostgreSQL connector 3.6.1 beside the relay: the connector in its embedded engine
// (tests/java/debezium-run), the relay's records read back from Kafka, and the comparison of the
// two, record by record. Keys and values are compared as Kafka Connect's JsonConverter writes them
// (schema and payload); with the Avro converters, each side's Avro records are first read back by
// Apicurio Registry's Avro converter for Kafka Connect (tests/java/connect-read), and the Avro
// schemas registered for them are compared too.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../fixture.h"

namespace relay::test {

// How keys and values are written: Kafka Connect's JsonConverter with schemas, or the Avro converter
// with the suite's schema registry (Debezium's: Apicurio's; the relay's: "value_converter": "avro").
enum class Converter { json, avro };

// A record as compared: topic, key and value (JsonConverter's JSON, parsed; the value's payload
// without the fields that cannot be the same), headers; with Avro, the schemas registered for key
// and value (null without).
struct DebeziumRecord {
  std::string topic;
  nlohmann::json key, value;
  nlohmann::json headers = nlohmann::json::object();  // name: text
  nlohmann::json key_schema, value_schema;
  nlohmann::json sent_ts_ms;  // the value's payload's ts_ms as sent (compared it is masked)
};

// Records by topic and key, each key's records in their order (Kafka orders a key's records, not a
// topic's across partitions); a record sent again (at least once) counted once.
using ByKey = std::map<std::string, std::vector<DebeziumRecord>>;
ByKey by_key(const std::vector<DebeziumRecord>& records);
size_t count(const ByKey& records);

// Debezium's engine on the test's database with `converter`, its records read as they come.
class Debezium {
 public:
  // `more`: further connector properties, one per line.
  Debezium(TestDb& db, Converter converter, const std::string& prefix, const std::string& tables,
           const std::string& snapshot_mode, const std::string& more = "");
  bool streaming(TestDb& db);  // its slot is read (after the snapshot, when there is one)
  std::vector<DebeziumRecord> records(size_t at_least);
  std::string log() const { return process_->err(); }

 private:
  Converter converter_;
  std::string props_, slot_;
  std::unique_ptr<ChildProcess> process_;
};

// The relay's records of `topics`, read back from Kafka: at least `at_least` of each, not counting
// those sent again.
std::vector<DebeziumRecord> relay_records(Converter converter, const std::vector<std::string>& topics,
                                          const std::map<std::string, size_t>& at_least);

// A pipeline reading `tables` from the WAL into Kafka as Debezium's change events under `prefix`,
// schemas on, written with `converter`, with `options` beside (they may replace those).
void set_debezium_pipeline(TestDb& db, Converter converter, const std::string& name, const nlohmann::json& tables,
                           const std::string& prefix, const nlohmann::json& options = nlohmann::json::object());

// Reads every record with Kafka Connect's JsonConverter (schemas enabled); "" when all were read,
// else what the converter said of each it rejected.
std::string connect_rejects(const std::vector<DebeziumRecord>& records);

// Ours the same as Debezium's, key by key: keys, values, schemas (the registered ones too) and
// Debezium's headers; the relay's log on a failure.
void expect_debeziums_own(const std::vector<DebeziumRecord>& mine, const std::vector<DebeziumRecord>& theirs,
                          RelayProcess& relay);

// `records` with a snapshot read's position masked: Debezium reads its snapshot at one position, a
// backfill in chunks between positions of the change stream (docs/debezium.md).
std::vector<DebeziumRecord> position_masked(std::vector<DebeziumRecord> records);

// Debezium's records and ours of each topic (`per_topic`: how many of each, a record sent again
// counted once) are the same; with `reads_masked`, a snapshot read's position is not compared.
void expect_debeziums_records(Converter converter, Debezium& debezium, RelayProcess& relay,
                              const std::map<std::string, size_t>& per_topic, bool reads_masked = false);

}  // namespace relay::test
