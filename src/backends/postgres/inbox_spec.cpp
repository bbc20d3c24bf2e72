#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kPgInboxSinkKeys[] = {
    {.key = "postgres_url", .type = string, .description = "Database holding the inbox (libpq URL or key=value); default the relay's own database.", .secret = true, .destination = Destination::conninfo},
    {.key = "inbox_name", .type = string, .description = "Inbox created by create_inbox(name): the table pgtrickle.inbox_<name>.", .one_of = "inbox", .aliases = "inbox"},
    {.key = "inbox_table", .type = string, .description = "Inbox table by name; unqualified names live in schema pgtrickle.", .one_of = "inbox"},
    {.key = "event_id", .type = string, .description = "Where event_id comes from instead of the message's identity: a JSON path into the payload (\"$.id\") or \"header:<name>\"."},
    {.key = "event_type", .type = string, .description = "The event_type column: a template in outbox pipelines (default \"{stream_table}.{op}\"); in reverse pipelines the subject, topic, routing key or stream key by default, or a JSON path (\"$.type\"), \"header:<name>\" or fixed text.", .template_ = true},
    {.key = "aggregate_id", .type = string, .description = "Where aggregate_id comes from instead of the message key: a JSON path (\"$.order_id\") or \"header:<name>\"."},
    {.key = "trace_id", .type = string, .description = "Where trace_id comes from instead of the traceparent header: a JSON path or \"header:<name>\"."},
    {.key = "invalid_payload", .type = enumeration, .description = "A payload that is not JSON: stored as a JSON string with the error column set, or set aside in pgtrickle.relay_dead_letters.", .allowed = "store|dead_letter", .default_json = "\"store\""},
    {.key = "max_payload_bytes", .type = integer, .description = "Larger payloads are set aside in pgtrickle.relay_dead_letters.", .default_json = "1048576", .min = 1, .max = 1 << 30},
    {.key = "max_retries", .type = integer, .description = "max_retries of an inbox the relay creates.", .default_json = "3"},
    {.key = "schedule", .type = string, .description = "Accepted for compatibility with pg_trickle's set_relay_inbox.", .default_json = "\"1s\""},
    {.key = "with_dead_letter", .type = boolean, .description = "with_dead_letter of an inbox the relay creates.", .default_json = "true"},
    {.key = "retention_hours", .type = integer, .description = "Retention of an inbox the relay creates.", .default_json = "72"},
};
}  // namespace

const BackendSpec kPgInboxSinkSpec{Role::sink, "pg-inbox", "A PostgreSQL inbox table, local or remote; duplicates are skipped by event_id.", kPgInboxSinkKeys, "inbox", "pg_inbox_"};

}  // namespace relay
