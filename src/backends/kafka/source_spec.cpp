#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kKeys[] = {
    {.key = "brokers", .type = string_list, .description = "Bootstrap brokers, \"host:port,...\" or a list.", .required = true, .destination = Destination::host_list},
    {.key = "topic", .type = string_list, .description = "Topic or topics to consume, \"a,b\" or a list; \"^regex\" subscribes by pattern.", .required = true, .aliases = "topics"},
    {.key = "group_id", .type = string, .description = "Consumer group; offsets are committed after the inbox commit.", .required = true},
    {.key = "auto_offset_reset", .type = enumeration, .description = "Where a new group starts.", .allowed = "earliest|latest", .default_json = "\"earliest\""},
    {.key = "rdkafka", .type = object, .description = "Any librdkafka consumer property, e.g. {\"session.timeout.ms\": \"10000\"}; also accepted as rdkafka.<name> keys. enable.auto.commit is the relay's: offsets are committed only after the inbox commit."},
};
}  // namespace

const BackendSpec kKafkaSourceSpec{Role::source, "kafka", "Apache Kafka consumer group.", kKeys, "", "kafka_"};

}  // namespace relay
