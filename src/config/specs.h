// Every backend's config spec, declared here and defined in the backend's own folder.
#pragma once

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

}  // namespace relay
