// The keys that choose Kafka Connect's converters and reach a schema registry, shared by the Kafka
// sink and (to read Avro back) the Kafka source.
#pragma once

#include <array>

#include "relay/config_spec.h"

namespace relay::kafka {

inline constexpr std::array<KeySpec, 9> kSchemaRegistryKeys{{
    {.key = "value_converter", .type = ValueType::enumeration, .description = "How record values are written, as Kafka Connect's value.converter: \"json\" (JsonConverter) or \"avro\" (the Avro converter: the Confluent wire format, schemas in the schema registry; formats debezium and outbox_event_router); default \"json\".", .allowed = "json|avro"},
    {.key = "key_converter", .type = ValueType::enumeration, .description = "How record keys are written, as Kafka Connect's key.converter; default the value_converter.", .allowed = "json|avro"},
    {.key = "schema_registry_url", .type = ValueType::string, .description = "The schema registry's Confluent API, e.g. \"http://registry:8081\" (Apicurio Registry: \".../apis/ccompat/v7\"); needed by the avro converter.", .destination = Destination::url},
    {.key = "schema_registry_username", .type = ValueType::string, .description = "Basic auth user for the schema registry."},
    {.key = "schema_registry_password", .type = ValueType::string, .description = "Basic auth password for the schema registry.", .secret = true},
    {.key = "schema_registry_tls_ca", .type = ValueType::string, .description = "CA certificate file (PEM) that verifies the schema registry; default the system's CA store.", .host_file = HostFile::read},
    {.key = "schema_registry_tls_cert", .type = ValueType::string, .description = "Client certificate file (PEM) for the schema registry, with schema_registry_tls_key.", .host_file = HostFile::read},
    {.key = "schema_registry_tls_key", .type = ValueType::string, .description = "Client private key file (PEM) for the schema registry.", .secret = true, .host_file = HostFile::read},
    {.key = "subject_name_strategy", .type = ValueType::enumeration, .description = "Subjects schemas are registered under: \"topic\" (<topic>-key, <topic>-value: Kafka's TopicNameStrategy), \"record\" (the record's full name) or \"topic_record\" (<topic>-<record name>); default \"topic\".", .allowed = "topic|record|topic_record"},
}};

}  // namespace relay::kafka
