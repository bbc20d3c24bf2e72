#include "core/registry.h"

#include "config/specs.h"
#include "sinks/pg_inbox/pg_inbox_sink.h"
#include "sinks/stdout/stream_sink.h"
#include "sources/outbox/outbox_source.h"
#include "util/strings.h"

namespace relay {
namespace {

const BackendEntry kBackends[] = {
    {&kOutboxSourceSpec, make_outbox_source, nullptr},
    {&kStdoutSinkSpec, nullptr, make_stdout_sink},
    {&kFileSinkSpec, nullptr, make_file_sink},
    {&kPgInboxSinkSpec, nullptr, make_pg_inbox_sink},
    // Broker backends: the spec is always known (so configs validate everywhere); the factory is
    // present when the backend is compiled in.
    {&kNatsSinkSpec},
    {&kNatsSourceSpec},
    {&kKafkaSinkSpec},
    {&kKafkaSourceSpec},
    {&kRedisSinkSpec},
    {&kRedisSourceSpec},
    {&kRabbitmqSinkSpec},
    {&kRabbitmqSourceSpec},
    {&kSqsSinkSpec},
    {&kSqsSourceSpec},
    {&kWebhookSinkSpec},
    {&kHttpSourceSpec},
    {&kStdinSourceSpec},
};

}  // namespace

std::span<const BackendEntry> backends() { return kBackends; }

const BackendEntry* find_backend(Role role, std::string_view type) {
  for (const auto& b : kBackends) {
    if (b.spec->role != role) continue;
    if (b.spec->name == type || util::list_contains(b.spec->type_aliases, type)) return &b;
  }
  return nullptr;
}

}  // namespace relay
