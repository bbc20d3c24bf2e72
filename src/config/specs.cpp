#include "config/specs.h"

#include <fmt/format.h>

#include "util/strings.h"

namespace relay {
namespace {

#define RELAY_SPEC_POINTER(spec, role, flag, factory) &spec,
const BackendSpec* const kSpecs[] = {RELAY_BACKEND_LIST(RELAY_SPEC_POINTER)};
#undef RELAY_SPEC_POINTER

// Every key whose value names an object others can see, with what it names: the validators of
// the TOML file and of set_relay_* (through the spec rows' names_object) read this one list. The
// pipeline's own name, which also names its slot, publication and status row, is never resolved.
struct NamedObject {
  Role role;
  std::string_view backend;  // "*": a pipeline option
  std::string_view key;
  std::string_view names;
};
constexpr NamedObject kNamedObjects[] = {
    {Role::pipeline, "*", "relay_group", "a relay group"},
    {Role::pipeline, "*", "topic_prefix", "Kafka topics and the source of every event"},
    {Role::pipeline, "*", "topic_heartbeat_prefix", "a Kafka topic"},
    {Role::pipeline, "*", "topic_transaction", "a Kafka topic"},
    {Role::source, "outbox", "stream_table", "a table"},
    {Role::source, "outbox", "outbox", "an outbox table"},
    {Role::source, "outbox", "group", "a relay group"},
    {Role::source, "outbox", "slot_name", "a replication slot"},
    {Role::source, "pgstream", "slot_name", "a replication slot"},
    {Role::source, "wal", "tables", "tables"},
    {Role::source, "wal", "exclude", "tables"},
    {Role::source, "wal", "slot_name", "a replication slot"},
    {Role::sink, "pg-inbox", "inbox_name", "an inbox table"},
    {Role::sink, "pg-inbox", "inbox_table", "a table"},
    {Role::sink, "kafka", "topic", "Kafka topics"},
    {Role::source, "kafka", "topic", "Kafka topics"},
    {Role::source, "kafka", "group_id", "a consumer group"},
    {Role::sink, "nats", "stream", "a JetStream stream"},
    {Role::sink, "nats", "subject", "subjects"},
    {Role::source, "nats", "stream", "a JetStream stream"},
    {Role::source, "nats", "consumer", "a durable consumer"},
    {Role::sink, "redis", "stream_key", "Redis streams"},
    {Role::source, "redis", "stream_key", "a Redis stream"},
    {Role::source, "redis", "group", "a consumer group"},
    {Role::source, "redis", "consumer", "a consumer of a group"},
    {Role::sink, "rabbitmq", "exchange", "an exchange"},
    {Role::source, "rabbitmq", "queue", "a queue"},
};

}  // namespace

std::string_view named_object(const BackendSpec& spec, std::string_view key) {
  for (const auto& n : kNamedObjects)
    if (n.role == spec.role && n.backend == spec.name && n.key == key) return n.names;
  return {};
}

std::string reference_in_name_problem(std::string_view key, std::string_view named) {
  return fmt::format("key \"{}\" names {}, which others can see: a reference (${{ENV:...}} or ${{FILE:...}}) is not "
                     "allowed there, as its value would be published under that name; write the name itself", key, named);
}

std::span<const BackendSpec* const> backend_specs() { return kSpecs; }

const BackendSpec* find_spec(Role role, std::string_view type) {
  for (const auto* s : kSpecs) {
    if (s->role != role) continue;
    if (s->name == type || util::list_contains(s->type_aliases, type)) return s;
  }
  return nullptr;
}

bool is_forward_source(std::string_view type) { return type == "outbox" || type == "pgstream" || type == "wal"; }

}  // namespace relay
