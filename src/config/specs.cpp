#include "config/specs.h"

#include "util/strings.h"

namespace relay {
namespace {

const BackendSpec* const kSpecs[] = {
    &kOutboxSourceSpec, &kStdoutSinkSpec,     &kFileSinkSpec,     &kPgInboxSinkSpec,
    &kNatsSinkSpec,     &kNatsSourceSpec,     &kKafkaSinkSpec,    &kKafkaSourceSpec,
    &kRedisSinkSpec,    &kRedisSourceSpec,    &kRabbitmqSinkSpec, &kRabbitmqSourceSpec,
    &kSqsSinkSpec,      &kSqsSourceSpec,      &kWebhookSinkSpec,  &kHttpSourceSpec,
    &kStdinSourceSpec,
};

}  // namespace

std::span<const BackendSpec* const> backend_specs() { return kSpecs; }

const BackendSpec* find_spec(Role role, std::string_view type) {
  for (const auto* s : kSpecs) {
    if (s->role != role) continue;
    if (s->name == type || util::list_contains(s->type_aliases, type)) return s;
  }
  return nullptr;
}

}  // namespace relay
