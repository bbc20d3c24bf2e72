#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kOutboxSourceKeys[] = {
    {.key = "stream_table", .type = string, .description = "The table (or pg_trickle stream table) whose outbox is read, e.g. \"orders\" or \"sales.orders\".", .one_of = "target", .aliases = "table"},
    {.key = "outbox", .type = string, .description = "The outbox by name (\"outbox_orders\", or a name given to create_outbox / outbox_publish).", .one_of = "target"},
    {.key = "group", .type = string, .description = "The relay group that runs the pipeline, as pg_trickle's set_relay_outbox(p_name, p_outbox, p_group, ...) stores it: the same as the pipeline option relay_group."},
    {.key = "slot_name", .type = slot_name, .description = "For a table captured from the WAL: the pipeline's replication slot, instead of one named from the pipeline (pgtrickle_ and a hash). Created if missing and dropped with the pipeline; one that exists and was not created for this pipeline is refused."},
    {.key = "retention_hours", .type = integer, .description = "Accepted for compatibility with pg_trickle's set_relay_outbox; retention is set per outbox by enable_outbox."},
};
}  // namespace

const BackendSpec kOutboxSourceSpec{Role::source, "outbox", "Rows committed to a PostgreSQL outbox table, in commit order.", kOutboxSourceKeys};

}  // namespace relay
