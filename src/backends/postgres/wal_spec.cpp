#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kWalSourceKeys[] = {
    {.key = "tables", .type = array, .description = "The tables captured, by name and pattern: \"schema.table\" (unqualified: public), a part double-quoted to keep its case, * matching within a part (\"public.*\", \"sales.order_*\"); an entry may be {\"name\": ..., \"where\": \"status <> 'draft'\", \"columns\": [\"id\", \"status\"]}, a row filter and a column list the server applies (the filter reads only replica-identity columns, the list holds them). Naming a table takes its owner's rights; a pattern also picks up tables created later, of any owner, and takes a superuser's. The install's own schemas are never captured.", .required = true},
    {.key = "exclude", .type = string_list, .description = "Tables left out although \"tables\" matches them, by name and pattern as in \"tables\" (\"public.audit_*\")."},
    {.key = "failover", .type = boolean, .description = "PostgreSQL 17 and later: the pipeline's slot is a failover slot, which a physical standby with sync_replication_slots keeps in step, so a promoted standby goes on from it (Debezium's slot.failover); an existing slot is altered. Refused below 17. Default false."},
    {.key = "slot_name", .type = slot_name, .description = "The pipeline's replication slot, instead of one named from the pipeline (pgtrickle_ and a hash). Created if missing and dropped with the pipeline; one that exists and was not created for this pipeline is refused."},
    {.key = "streaming", .type = boolean, .description = "PostgreSQL 14 and later: a transaction bigger than the server's logical_decoding_work_mem is sent to the relay while it runs (pgoutput protocol 2, streaming on), held by the relay (in memory up to streaming_memory_mb, the rest spilled to a file under the relay's --state-dir) and delivered at its commit exactly as one sent whole, so the server neither spills it nor decodes it after the commit; an aborted transaction or subtransaction sends nothing. false: the server sends each transaction at its commit (protocol 1). Default true; a table captured with capture => 'wal' and a pgstream stream read from the WAL stream so too, with these defaults.", .default_json = "true"},
    {.key = "streaming_memory_mb", .type = integer, .description = "Megabytes of streamed transactions' changes the pipeline holds in memory, all open transactions together, before the biggest is spilled to a file under the relay's --state-dir (nameless: it goes with the transaction, or with the relay). 1 to 4096; default 16.", .default_json = "16", .min = 1, .max = 4096},
};
}  // namespace

const BackendSpec kWalSourceSpec{Role::source, "wal",
                                 "Changes of many tables read from the WAL through one publication and one logical slot of the "
                                 "pipeline's own, in commit order: every table a pattern matches, those created later too.",
                                 kWalSourceKeys};

}  // namespace relay
