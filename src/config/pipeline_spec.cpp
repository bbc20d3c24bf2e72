// Options that apply to a whole pipeline, whatever its source and sink.
#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kKeys[] = {
    {.key = "batch_size", .type = integer, .description = "Most messages handed to the sink at once.", .default_json = "1000", .min = 1, .max = 100000},
    {.key = "poll_interval_ms", .type = integer, .description = "How often the source is polled when no notification wakes it.", .default_json = "1000", .min = 1},
    {.key = "granularity", .type = enumeration, .description = "row: one message per changed row (op insert/update/delete); delta: one message per outbox row (one per route when the sink's templates read row fields).", .allowed = "row|delta", .default_json = "\"row\""},
    {.key = "format", .type = enumeration, .description = "Envelope of each message: the relay's JSON envelope, a CloudEvents 1.0 event, the change event of the Debezium PostgreSQL connector (key object, before/after/source/op, a tombstone after a delete), or the record Debezium's outbox event router makes of an outbox table's inserted row (topic outbox.event.<aggregatetype>, key the aggregate id, value the payload, header id).", .allowed = "json|cloudevents|debezium|outbox_event_router", .default_json = "\"json\""},
    {.key = "outbox_event_router", .type = object, .description = "format outbox_event_router: the settings of Debezium's outbox event router under its names (a connector's \"transforms.<name>.\" prefix may stay): table.field.event.id (default id), table.field.event.key (aggregateid), table.field.event.payload (payload), route.by.field (aggregatetype), route.topic.replacement (outbox.event.${routedByValue}: a Kafka sink's default topic), table.fields.additional.placement (\"column:header|envelope[:alias],...\"), table.field.additional.missing (error|ignore), table.expand.json.payload (false), table.json.payload.null.behavior (ignore|optional_bytes), table.json.payload.empty.array.behavior (ignore|optional_string), table.op.invalid.behavior (warn|error|fatal: an UPDATE of an outbox row is skipped with a warning or an error logged, or dead-lettered)."},
    {.key = "cloudevents_mode", .type = enumeration, .description = "format cloudevents: structured (the whole event as the body, content type application/cloudevents+json) or binary (the data as the body, each attribute a header named by the sink's protocol binding: ce_ Kafka, ce- HTTP and NATS, cloudEvents_ AMQP); default structured.", .allowed = "structured|binary"},
    {.key = "topic_prefix", .type = string, .description = "formats debezium and outbox_event_router: source.name and the first part of every schema name and of a Kafka sink's default topic <topic_prefix>.<schema>.<table> (Debezium's topic.prefix); default the pipeline's name."},
    {.key = "schemas", .type = boolean, .description = "formats debezium and outbox_event_router: wrap key and value in Kafka Connect's JsonConverter envelope {\"schema\", \"payload\"} (schemas.enable); default false."},
    {.key = "tombstones", .type = boolean, .description = "format debezium: after a delete, a record with the same key and a null value, for log compaction (tombstones.on.delete); sinks without null values never send it; default true."},
    {.key = "skipped_operations", .type = string, .description = "format debezium: the operations not sent, comma-separated: c (create), u (update), d (delete), t (truncate), or none (Debezium's skipped.operations); default t: a TRUNCATE is not sent, as Debezium does."},
    {.key = "decimal_handling", .type = enumeration, .description = "formats debezium and outbox_event_router: numeric and money as Connect Decimal bytes (precise), a JSON number (double) or a string (decimal.handling.mode); default precise.", .allowed = "precise|double|string"},
    {.key = "time_precision", .type = enumeration, .description = "formats debezium and outbox_event_router: date and time types as Debezium's time.precision.mode writes them; default adaptive.", .allowed = "adaptive|adaptive_time_microseconds|connect"},
    {.key = "binary_handling", .type = enumeration, .description = "formats debezium and outbox_event_router: bytea and bit strings as Debezium's binary.handling.mode writes them; default bytes.", .allowed = "bytes|base64|base64-url-safe|hex"},
    {.key = "interval_handling", .type = enumeration, .description = "formats debezium and outbox_event_router: interval as microseconds (numeric) or an ISO 8601 string (interval.handling.mode); default numeric.", .allowed = "numeric|string"},
    {.key = "hstore_handling", .type = enumeration, .description = "formats debezium and outbox_event_router: hstore as a JSON string of its pairs (json) or a Connect map (map) (hstore.handling.mode); default json.", .allowed = "json|map"},
    {.key = "include_unknown_datatypes", .type = boolean, .description = "format debezium: a column of a type Debezium does not map (a composite, tsquery, pg_lsn, box...) is sent as the bytes of its text, as binary_handling writes bytes, instead of left out (Debezium's include.unknown.datatypes); default false."},
    {.key = "column_propagate_source_type", .type = string, .description = "format debezium: regular expressions, comma-separated, matched whole and ignoring case against <schema>.<table>.<column>: each matching column's value schema carries its source type in parameters __debezium.source.column.type, .length, .scale and .name (Debezium's column.propagate.source.type), e.g. \"public\\.orders\\..*\"."},
    {.key = "datatype_propagate_source_type", .type = string, .description = "format debezium: as column_propagate_source_type, matched against <schema>.<table>.<type name> (Debezium's datatype.propagate.source.type), e.g. \".+\\.numeric\"."},
    {.key = "key", .type = string_list, .description = "Columns (a name or a list) or a template forming the message key; default the row's primary key."},
    {.key = "backfill", .type = enumeration, .description = "initial: the first time the pipeline starts with no stored position, it sends every existing row of its table (op read) before the changes; later backfills: SELECT pgtrickle.backfill_relay(name). Forward pipelines of tables captured with enable_outbox.", .allowed = "none|initial", .default_json = "\"none\""},
    {.key = "backfill_chunk_rows", .type = integer, .description = "Rows a backfill reads from the table at once (in key order, between two positions of the change stream): bounds its memory.", .default_json = "10000", .min = 100, .max = 100000},
    {.key = "on_slot_lost", .type = enumeration, .description = "A pipeline reading a replication slot (WAL capture) whose slot the server invalidated (max_slot_wal_keep_size, idle_replication_slot_timeout): fail (stop, naming the slot and the ways out) or rebuild (make a new slot, send a gap marker (op gap) with the positions of the changes that cannot be read, then backfill every table the pipeline captures). Once, on request: SELECT pgtrickle.rebuild_relay_slot(name).", .allowed = "fail|rebuild", .default_json = "\"fail\""},
    {.key = "retry_initial_ms", .type = integer, .description = "First wait before retrying a transient failure; doubles up to retry_max_ms, with jitter.", .default_json = "100"},
    {.key = "retry_max_ms", .type = integer, .description = "Longest wait between retries of a transient failure.", .default_json = "30000"},
    {.key = "dead_letter", .type = boolean, .description = "Set undeliverable messages aside in pgtrickle.relay_dead_letters and go on; false stops the pipeline instead.", .default_json = "true"},
    {.key = "enabled", .type = boolean, .description = "Whether the pipeline runs.", .default_json = "true"},
    {.key = "relay_group", .type = string, .description = "The relay group that runs the pipeline (relays started with that --relay-group-id); unset: a relay of any group, one at a time."},
    {.key = "description", .type = string, .description = "Free text for operators."},
};
}  // namespace

const BackendSpec kPipelineSpec{Role::pipeline, "*", "Pipeline options", kKeys};

}  // namespace relay
