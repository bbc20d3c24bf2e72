#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kPgstreamSourceKeys[] = {
    {.key = "stream_id", .type = integer, .description = "The stream whose events are read: the stream_id of rows in pgstream.subscriptions (postgres-stream's subscriptions).", .required = true, .max = kNoLimit},
    {.key = "read_from", .type = enumeration, .description = "table: the events are read from pgstream.events in commit order (any wal_level, no replication slot); wal: from the WAL, through a logical slot of the pipeline's own and the stream's publication pgtrickle_pgstream_<N> (wal_level = logical and a relay login with REPLICATION; the slot holds WAL while the pipeline is behind). A pipeline keeps the way it started with: to change it, delete the pipeline (delete_relay, which forgets its position) and define it again.", .allowed = "table|wal", .default_json = "\"table\""},
    {.key = "slot_name", .type = slot_name, .description = "With read_from wal: the pipeline's replication slot, instead of one named from the pipeline (pgtrickle_ and a hash). Created if missing and dropped with the pipeline; one that exists and was not created for this pipeline is refused."},
};
}  // namespace

const BackendSpec kPgstreamSourceSpec{Role::source, "pgstream",
                                      "Events of a stream of pgstream.subscriptions (postgres-stream): each subscribed change of a table as the "
                                      "event JSON the subscription defines, in commit order.",
                                      kPgstreamSourceKeys};

}  // namespace relay
