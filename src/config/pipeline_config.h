// Parse -> validate (pure) -> typed config. The same validator serves the TOML file, the SQL
// catalog, `pgtrickle-relay validate` and hot reload.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "config/config_section.h"
#include "config/host_access.h"
#include "config/debezium_modes.h"
#include "relay/result.h"

namespace relay {

enum class Direction { forward, reverse };
const char* to_string(Direction d);
enum class Granularity { row, delta };
enum class Format { json, cloudevents, debezium, outbox_event_router };
// The formats written by Debezium's encoders: its change events, or its outbox event router's records.
inline bool debezium_family(Format f) { return f == Format::debezium || f == Format::outbox_event_router; }

// What formats "debezium" and "outbox_event_router" write beside the row (the pipeline options of
// the same names).
struct DebeziumOptions {
  std::string topic_prefix;  // default the pipeline's name
  bool schemas = false;
  bool tombstones = true;
  std::string skipped = "t";  // the operations not sent (skipped_operations): letters of c, u, d, t
  debezium::Modes modes;
  debezium::PropagateSourceType propagate;  // column_ / datatype_propagate_source_type
  int heartbeat_interval_ms = 0;  // heartbeat.interval.ms; 0: no heartbeats
  std::string heartbeat_topic;    // <topic_heartbeat_prefix>.<topic_prefix>
  bool transaction_metadata = false;  // provide.transaction.metadata
  std::string transaction_topic;      // <topic_prefix>.<topic_transaction>
  debezium::RouterOptions router;  // format outbox_event_router ("outbox_event_router")
};

// How a Kafka sink writes keys and values: Kafka Connect's JsonConverter, or its Avro converter with
// a schema registry (formats debezium and outbox_event_router). An Avro part needs the envelope's
// schema, so the format writes schemas whenever one part is Avro (DebeziumOptions::schemas); a JSON
// part then carries its schema only when the pipeline's "schemas" asked for it.
struct Converters {
  bool avro_key = false, avro_value = false;
  bool json_schemas = false;  // the pipeline's "schemas"
  bool any_avro() const { return avro_key || avro_value; }
};

struct PipelineConfig {
  std::string name;
  Direction direction = Direction::forward;
  bool enabled = true;
  std::string origin;         // "sql" or the TOML file it came from
  std::string relay_group;    // the relay group assigned to run it ("relay_group"); empty: not assigned
  nlohmann::json canonical;   // {"source":{"type":...},"sink":{"type":...}, options}, defaults filled
  std::string source_type;    // canonical backend names
  std::string sink_type;

  int batch_size = 1000;
  static constexpr int kExactlyOnceBatchSize = 4000;  // its default with "delivery": "exactly_once"
  int poll_interval_ms = 1000;
  Granularity granularity = Granularity::row;
  Format format = Format::json;
  bool cloudevents_binary = false;  // "cloudevents_mode": "binary"
  DebeziumOptions debezium;
  Converters converters;
  std::vector<std::string> key_columns;  // explicit key columns ("key" option), empty = the row's key
  std::string key_template;              // "key" given as a template
  bool backfill_initial = false;         // "backfill": "initial"
  int backfill_chunk_rows = 10000;
  bool rebuild_lost_slot = false;        // "on_slot_lost": "rebuild"
  int retry_initial_ms = 100;
  int retry_max_ms = 30000;
  bool dead_letter = true;
  bool exactly_once = false;             // "delivery": "exactly_once"

  const nlohmann::json& source() const { return canonical.at("source"); }
  const nlohmann::json& sink() const { return canonical.at("sink"); }
  // The same, read through the backend's spec (defaults from the spec, undeclared keys refused).
  ConfigSection source_section() const;
  ConfigSection sink_section() const;
  // The relay group whose lock, epoch and stored position the pipeline runs under, on a relay of
  // group `relay_group_id`. A pipeline defined in SQL and assigned to no group may run on a relay of
  // any group, one at a time, under the default group's name; a file's pipeline runs in its relay's
  // group.
  std::string owning_group(const std::string& relay_group_id) const {
    if (!relay_group.empty()) return relay_group;
    return origin == "sql" ? "default" : relay_group_id;
  }
  // Whether a relay of group `relay_group_id` may run it.
  bool runs_in(const std::string& relay_group_id) const { return relay_group.empty() || relay_group == relay_group_id; }
  // Same configuration (so a reload need not restart the pipeline)?
  bool same_as(const PipelineConfig& o) const { return canonical == o.canonical && enabled == o.enabled; }
};

// Turns any accepted shape (canonical/nested, pg_trickle's stored layout, the flat SQL form of
// seed 001) into the canonical form, checking it against the backend specs. Every problem found is
// appended to `problems` as a sentence naming the key, the value and what is expected.
nlohmann::json normalize_pipeline(Direction direction, const nlohmann::json& input, const std::string& name,
                                  std::vector<std::string>& problems);

// normalize_pipeline + typed options. Problems as above; the result is only usable when none.
PipelineConfig build_pipeline_config(const std::string& name, Direction direction, bool enabled,
                                     const nlohmann::json& input, std::string origin,
                                     std::vector<std::string>& problems);

// Replaces ${ENV:NAME} and ${FILE:/path} in every string of `config`, converting whole-value
// references of integer/boolean keys to their type. Errors name the reference, never its value.
// With `limits` (a pipeline defined in SQL) only what the operator allowed resolves, and keys naming
// files on the host must be literal paths under the allowed directory.
Result<nlohmann::json> resolve_secrets(const nlohmann::json& config, const HostAccess* limits = nullptr);
Result<std::string> resolve_secret_string(const std::string& text, const HostAccess* limits = nullptr);
// Whether a string of `v` (at any depth) holds ${ENV:...} or ${FILE:...}.
bool holds_reference(const nlohmann::json& v);

// A copy of `config` with the values of secret keys (and passwords in URLs) replaced by "***".
nlohmann::json redact_config(const nlohmann::json& canonical);

}  // namespace relay
