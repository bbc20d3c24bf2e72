// Every backend's config spec, declared here and defined in the backend's own folder
// (src/backends/<name>/*_spec.cpp), listed in specs.cpp. Pure data: the validator, the SQL rows and
// the docs read it whether or not the backend is compiled into this binary.
#pragma once

#include <span>
#include <string_view>

#include "relay/config_spec.h"

namespace relay {

extern const BackendSpec kPipelineSpec;

extern const BackendSpec kOutboxSourceSpec;
extern const BackendSpec kNatsSourceSpec;
extern const BackendSpec kKafkaSourceSpec;
extern const BackendSpec kRedisSourceSpec;
extern const BackendSpec kRabbitmqSourceSpec;
extern const BackendSpec kSqsSourceSpec;
extern const BackendSpec kHttpSourceSpec;
extern const BackendSpec kStdinSourceSpec;

extern const BackendSpec kStdoutSinkSpec;
extern const BackendSpec kFileSinkSpec;
extern const BackendSpec kPgInboxSinkSpec;
extern const BackendSpec kNatsSinkSpec;
extern const BackendSpec kKafkaSinkSpec;
extern const BackendSpec kRedisSinkSpec;
extern const BackendSpec kRabbitmqSinkSpec;
extern const BackendSpec kSqsSinkSpec;
extern const BackendSpec kWebhookSinkSpec;

// Every source and sink spec, in the order of the docs and the SQL catalog.
std::span<const BackendSpec* const> backend_specs();
// Finds a spec by type name or alias ("inbox" → pg-inbox); null when unknown.
const BackendSpec* find_spec(Role role, std::string_view type);

}  // namespace relay
