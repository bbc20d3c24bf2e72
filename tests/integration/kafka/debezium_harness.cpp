#include "debezium_harness.h"

#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "../../contract/sink_contract.h"
#include "kafka_admin.h"

using json = nlohmann::json;
using namespace std::chrono_literals;

namespace relay::test {
namespace {

// Fields that cannot be the same: when each made the event, and which program made it.
const std::vector<json::json_pointer> kNotCompared = {
    json::json_pointer("/ts_ms"), json::json_pointer("/ts_us"), json::json_pointer("/ts_ns"),
    json::json_pointer("/source/version"), json::json_pointer("/source/ts_ms"), json::json_pointer("/source/ts_us"),
    json::json_pointer("/source/ts_ns")};

json comparable(json value) {
  json& payload = value.contains("payload") ? value["payload"] : value;
  for (const auto& p : kNotCompared)
    if (payload.contains(p)) payload[p] = "(not compared)";
  return value;
}

// A record from the text of its key and value (JsonConverter's, or null).
DebeziumRecord record_of(const std::string& topic, const json& key_text, const json& value_text,
                         const json& headers = json::object()) {
  DebeziumRecord r{topic};
  if (headers.is_object()) r.headers = headers;
  r.key = key_text.is_null() ? json() : json::parse(key_text.get<std::string>());
  if (!value_text.is_null()) {
    json value = json::parse(value_text.get<std::string>());
    const json& payload = value.contains("payload") ? value["payload"] : value;
    if (payload.is_object()) r.sent_ts_ms = payload.value("ts_ms", json());
    r.value = comparable(std::move(value));
  }
  return r;
}

// The Avro schema the registry holds under `id`, parsed; fetched once.
json registered_schema(int id) {
  static std::map<int, json> known;
  auto it = known.find(id);
  if (it != known.end()) return it->second;
  const json answer = schema_registry_call("GET", "/schemas/ids/" + std::to_string(id));
  if (!answer.is_object() || !answer.contains("schema")) return "(the registry has no schema " + std::to_string(id) + ")";
  return known[id] = json::parse(answer["schema"].get<std::string>());
}

// Avro records (each {"topic", "key", "value": bytes in base64 or null, "headers"}) read back by
// Apicurio's Avro converter for Kafka Connect, as a sink connector with it reads them; a record it
// cannot read is a test failure, named.
std::vector<DebeziumRecord> read_by_avro_converter(const std::vector<json>& raw) {
  if (raw.empty()) return {};
  static int calls = 0;
  const std::string path = work_dir() + "/avro-read-" + std::to_string(::getpid()) + "-" + std::to_string(++calls) + ".jsonl";
  std::ofstream f(path);
  for (const auto& r : raw) f << json({{"topic", r["topic"]}, {"key", r["key"]}, {"value", r["value"]}}).dump() << "\n";
  f.close();
  std::string out;
  run_command(source_script("scripts/java-tools.sh") + " connect-read " + shell_quote(path) + " avro " +
                  shell_quote(schema_registry_apicurio_url()) + " 2>&1",
              out);
  std::vector<DebeziumRecord> records;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("error:") && records.size() < raw.size()) {
      ADD_FAILURE() << "Apicurio's Avro converter cannot read record " << records.size() << " of "
                    << raw[records.size()]["topic"] << ": " << line;
      records.push_back(DebeziumRecord{raw[records.size()]["topic"]});
      continue;
    }
    if (line.empty() || line[0] != '{' || records.size() >= raw.size()) continue;
    const json decoded = json::parse(line);
    const json& r = raw[records.size()];
    DebeziumRecord record = record_of(r["topic"], decoded["key"], decoded["value"], r.value("headers", json::object()));
    if (decoded.contains("key_schema_id")) record.key_schema = registered_schema(decoded["key_schema_id"]);
    if (decoded.contains("value_schema_id")) record.value_schema = registered_schema(decoded["value_schema_id"]);
    records.push_back(std::move(record));
  }
  if (records.size() != raw.size()) ADD_FAILURE() << "the Avro converter read " << records.size() << " of " << raw.size() << ": " << out;
  return records;
}

}  // namespace

ByKey by_key(const std::vector<DebeziumRecord>& records) {
  ByKey out;
  for (const auto& r : records) {
    auto& list = out[r.topic + " " + r.key.dump()];
    bool again = r.value.is_null() ? !list.empty() && list.back().value.is_null()
                                   : std::any_of(list.begin(), list.end(), [&](const DebeziumRecord& o) { return o.value == r.value; });
    if (!again) list.push_back(r);
  }
  return out;
}

size_t count(const ByKey& records) {
  size_t n = 0;
  for (const auto& [k, list] : records) n += list.size();
  return n;
}

Debezium::Debezium(TestDb& db, Converter converter, const std::string& prefix, const std::string& tables,
                   const std::string& snapshot_mode, const std::string& more)
    : converter_(converter) {
  std::smatch m;
  const std::string url = db.url();
  std::regex re("postgresql://([^:@/]+)(?::([^@]*))?@([^:/]+):([0-9]+)/.*");
  if (!std::regex_match(url, m, re)) throw std::runtime_error("cannot read the test database's URL " + url);
  props_ = work_dir() + "/debezium-" + db.name() + ".properties";
  slot_ = "dbz_" + db.name();
  std::ofstream f(props_);
  f << "database.hostname=" << m[3] << "\ndatabase.port=" << m[4] << "\ndatabase.user=" << m[1]
    << "\ndatabase.password=" << (m[2].matched ? m[2].str() : "unused") << "\ndatabase.dbname=" << db.name()
    << "\ntopic.prefix=" << prefix << "\nslot.name=" << slot_ << "\npublication.name=" << slot_
    << "\npublication.autocreate.mode=filtered\ntable.include.list=" << tables << "\nsnapshot.mode=" << snapshot_mode
    << "\n" << more;
  if (converter == Converter::avro) f << "\navro.registry.url=" << schema_registry_apicurio_url() << "\n";
  f.close();
  process_ = std::make_unique<ChildProcess>("bash", java_tool("debezium-run", {props_}));
}

bool Debezium::streaming(TestDb& db) {
  return wait_until([&] { return slot_streams(db, "s.slot_name = '" + slot_ + "'"); }, 180s);
}

std::vector<DebeziumRecord> Debezium::records(size_t at_least) {
  std::vector<json> lines;
  wait_until([&] {
    lines.clear();
    for (const auto& line : read_lines(process_->out_path()))
      if (!line.empty() && line[0] == '{') lines.push_back(json::parse(line));
    return lines.size() >= at_least || !process_->alive();
  }, 60s);
  if (converter_ == Converter::avro) return read_by_avro_converter(lines);
  std::vector<DebeziumRecord> out;
  for (const auto& j : lines) out.push_back(record_of(j["topic"], j["key"], j["value"], j.value("headers", json::object())));
  return out;
}

std::vector<DebeziumRecord> relay_records(Converter converter, const std::vector<std::string>& topics,
                                          const std::map<std::string, size_t>& at_least) {
  std::vector<DebeziumRecord> out;
  for (const auto& topic : topics) {
    std::vector<DebeziumRecord> records;
    for (size_t want = at_least.at(topic), tries = 0; tries < 4; ++tries) {
      auto lines = parse_json_lines(run_node("kafka.js", {kafka_brokers(), topic, std::to_string(want), "30000"}));
      if (converter == Converter::avro) {
        for (auto& l : lines) l = {{"topic", topic}, {"key", l["raw_key"]}, {"value", l["raw_value"]}, {"headers", l["headers"]}};
        records = read_by_avro_converter(lines);
      } else {
        records.clear();
        for (const auto& l : lines)
          records.push_back(record_of(topic, l["key"], l["tombstone"].get<bool>() ? json() : l["body"], l.value("headers", json::object())));
      }
      size_t distinct = count(by_key(records));
      if (distinct >= at_least.at(topic) || records.size() < want) break;
      want += at_least.at(topic) - distinct;
    }
    out.insert(out.end(), records.begin(), records.end());
  }
  return out;
}

std::string connect_rejects(const std::vector<DebeziumRecord>& records) {
  const std::string path = work_dir() + "/connect-read-" + std::to_string(::getpid()) + ".jsonl";
  std::ofstream f(path);
  for (const auto& r : records)
    f << json({{"topic", r.topic}, {"key", r.key.is_null() ? json() : json(r.key.dump())},
               {"value", r.value.is_null() ? json() : json(r.value.dump())}}).dump() << "\n";
  f.close();
  std::string out, cmd = source_script("scripts/java-tools.sh") + " connect-read " + path + " true";
  int rc = run_command(cmd + " 2>&1", out);
  std::string rejected;
  size_t i = 0;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line == "ok") ++i;
    else if (line.starts_with("error:") && i < records.size()) {
      rejected += "record " + std::to_string(i) + " " + records[i].value.dump() + ": " + line + "\n";
      ++i;
    }
  }
  if (rc != 0 && rejected.empty()) rejected = "connect-read failed: " + out;
  if (i != records.size() && rejected.empty()) rejected = "connect-read read " + std::to_string(i) + " of " + std::to_string(records.size()) + ": " + out;
  return rejected;
}

void set_debezium_pipeline(TestDb& db, Converter converter, const std::string& name, const json& tables,
                           const std::string& prefix, const json& options) {
  json config = {{"source", {{"type", "wal"}, {"tables", tables}}}, {"sink", {{"type", "kafka"}, {"brokers", kafka_brokers()}}},
                 {"format", "debezium"}, {"topic_prefix", prefix}, {"schemas", true}};
  if (converter == Converter::avro) {
    config["sink"].update({{"key_converter", "avro"}, {"value_converter", "avro"}, {"schema_registry_url", schema_registry_url()}});
  }
  config.update(options);
  set_outbox_pipeline(db, name, config);
}

namespace {

void expect_same(const std::vector<DebeziumRecord>& mine, const std::vector<DebeziumRecord>& theirs) {
  ByKey a = by_key(mine), b = by_key(theirs);
  for (const auto& [k, list] : b) {
    auto it = a.find(k);
    if (it == a.end()) {
      ADD_FAILURE() << "Debezium wrote records of " << k << " and the relay none";
      continue;
    }
    ASSERT_EQ(it->second.size(), list.size()) << "records of " << k;
    for (size_t i = 0; i < list.size(); ++i) {
      EXPECT_EQ(it->second[i].key, list[i].key) << k << " record " << i;
      EXPECT_EQ(it->second[i].value.is_null() ? "null" : it->second[i].value["payload"].dump(),
                list[i].value.is_null() ? "null" : list[i].value["payload"].dump())
          << k << " record " << i << ": the payload (ours first)";
      if (!list[i].value.is_null()) {
        EXPECT_EQ(it->second[i].value["schema"].dump(), list[i].value["schema"].dump()) << k << " record " << i << ": the schema";
      }
      EXPECT_EQ(it->second[i].key_schema.dump(), list[i].key_schema.dump()) << k << " record " << i << ": the key's Avro schema";
      EXPECT_EQ(it->second[i].value_schema.dump(), list[i].value_schema.dump()) << k << " record " << i << ": the value's Avro schema";
      // Debezium's headers (ours carry the relay's own beside them, dedup_key), but for those that
      // name the program that made the record (__debezium.context.*: its name, run and task).
      for (const auto& [name, value] : list[i].headers.items()) {
        if (!name.starts_with("__debezium.context.")) {
          EXPECT_EQ(it->second[i].headers.value(name, json()), value) << k << " record " << i << ": header " << name;
        }
      }
    }
  }
  for (const auto& [k, list] : a)
    if (!b.count(k)) ADD_FAILURE() << "the relay wrote " << list.size() << " records of " << k << " and Debezium none";
}

}  // namespace

void expect_debeziums_own(const std::vector<DebeziumRecord>& mine, const std::vector<DebeziumRecord>& theirs, RelayProcess& relay) {
  expect_same(mine, theirs);
  // An Avro record was read by Apicurio's converter already (and written again by JsonConverter).
  const bool avro = !mine.empty() && !mine.front().value_schema.is_null();
  if (!avro) {
    EXPECT_EQ(connect_rejects(mine), "");
  }
  if (::testing::Test::HasFailure()) ADD_FAILURE() << "the relay's log:\n" << relay.err();
}

std::vector<DebeziumRecord> position_masked(std::vector<DebeziumRecord> records) {
  for (auto& r : records) {
    if (r.value.is_null()) continue;
    json& p = r.value["payload"];
    if (p.value("op", "") == "r")
      for (const char* f : {"txId", "lsn", "sequence"}) p["source"][f] = "(the read's position)";
  }
  return records;
}

void expect_debeziums_records(Converter converter, Debezium& debezium, RelayProcess& relay, const std::map<std::string, size_t>& per_topic,
                              bool reads_masked) {
  size_t n = 0;
  std::vector<std::string> topics;
  for (const auto& [topic, count] : per_topic) {
    n += count;
    topics.push_back(topic);
  }
  auto theirs = debezium.records(n);
  auto mine = relay_records(converter, topics, per_topic);
  if (reads_masked) {
    theirs = position_masked(std::move(theirs));
    mine = position_masked(std::move(mine));
  }
  ASSERT_EQ(count(by_key(theirs)), n) << debezium.log();
  ASSERT_EQ(count(by_key(mine)), n) << relay.err();
  expect_debeziums_own(mine, theirs, relay);
}

}  // namespace relay::test
