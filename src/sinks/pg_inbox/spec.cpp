#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kKeys[] = {
    {.key = "postgres_url", .type = string, .description = "Database holding the inbox (libpq URL or key=value); default the relay's own database.", .secret = true},
    {.key = "inbox_name", .type = string, .description = "Inbox created by create_inbox(name): the table pgtrickle.inbox_<name>.", .one_of = "inbox", .aliases = "inbox"},
    {.key = "inbox_table", .type = string, .description = "Inbox table by name; unqualified names live in schema pgtrickle.", .one_of = "inbox"},
    {.key = "event_type", .type = string, .description = "Template for the event_type column.", .default_json = "\"{stream_table}.{op}\"", .template_ = true},
    {.key = "max_retries", .type = integer, .description = "max_retries of an inbox the relay creates.", .default_json = "3"},
    {.key = "schedule", .type = string, .description = "Accepted for compatibility with pg_trickle's set_relay_inbox.", .default_json = "\"1s\""},
    {.key = "with_dead_letter", .type = boolean, .description = "with_dead_letter of an inbox the relay creates.", .default_json = "true"},
    {.key = "retention_hours", .type = integer, .description = "Retention of an inbox the relay creates.", .default_json = "72"},
};
}  // namespace

const BackendSpec kPgInboxSinkSpec{Role::sink, "pg-inbox", "A PostgreSQL inbox table, local or remote; duplicates are skipped by event_id.", kKeys, "inbox", "pg_inbox_"};

}  // namespace relay
