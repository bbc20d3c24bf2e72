// Options that apply to a whole pipeline, whatever its source and sink.
#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kKeys[] = {
    {.key = "batch_size", .type = integer, .description = "Most messages handed to the sink at once.", .default_json = "1000", .min = 1, .max = 100000},
    {.key = "poll_interval_ms", .type = integer, .description = "How often the source is polled when no notification wakes it.", .default_json = "1000", .min = 1},
    {.key = "granularity", .type = enumeration, .description = "row: one message per changed row (op insert/update/delete); delta: one message per outbox row (one per route when the sink's templates read row fields).", .allowed = "row|delta", .default_json = "\"row\""},
    {.key = "format", .type = enumeration, .description = "Envelope of each message: the relay's JSON envelope or a CloudEvents 1.0 structured event.", .allowed = "json|cloudevents", .default_json = "\"json\""},
    {.key = "key", .type = string_list, .description = "Columns (a name or a list) or a template forming the message key; default the row's primary key."},
    {.key = "backfill", .type = enumeration, .description = "initial: the first time the pipeline starts with no stored position, it sends every existing row of its table (op read) before the changes; later backfills: SELECT pgtrickle.backfill_relay(name). Forward pipelines of tables captured with enable_outbox.", .allowed = "none|initial", .default_json = "\"none\""},
    {.key = "backfill_chunk_rows", .type = integer, .description = "Rows a backfill reads from the table at once (in key order, between two positions of the change stream): bounds its memory.", .default_json = "10000", .min = 100, .max = 100000},
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
