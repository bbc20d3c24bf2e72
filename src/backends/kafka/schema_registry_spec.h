// The keys that choose Kafka Connect's converters and reach a schema registry, shared by the Kafka
// sink (which writes Avro) and the Kafka source (which reads it back).
#pragma once

#include <array>

#include "relay/config_spec.h"

namespace relay::kafka {

inline constexpr std::array<KeySpec, 8> kSchemaRegistryKeys{{
    {.key = "value_converter", .type = ValueType::enumeration, .description = "Record values as Kafka Connect's value.converter: \"json\" (JsonConverter's; a source reads them as they are) or \"avro\" (the Avro converter's: the Confluent wire format, schemas in the schema registry; a sink writes it for formats debezium and outbox_event_router); default \"json\".", .allowed = "json|avro"},
    {.key = "key_converter", .type = ValueType::enumeration, .description = "Record keys as Kafka Connect's key.converter; default the value_converter.", .allowed = "json|avro"},
    {.key = "schema_registry_url", .type = ValueType::string, .description = "The schema registry's Confluent API, e.g. \"http://registry:8081\" (Apicurio Registry: \".../apis/ccompat/v7\"); needed by the avro converter.", .destination = Destination::url},
    {.key = "schema_registry_username", .type = ValueType::string, .description = "Basic auth user for the schema registry."},
    {.key = "schema_registry_password", .type = ValueType::string, .description = "Basic auth password for the schema registry.", .secret = true},
    {.key = "schema_registry_tls_ca", .type = ValueType::string, .description = "CA certificate file (PEM) that verifies the schema registry; default the system's CA store.", .host_file = HostFile::read},
    {.key = "schema_registry_tls_cert", .type = ValueType::string, .description = "Client certificate file (PEM) for the schema registry, with schema_registry_tls_key.", .host_file = HostFile::read},
    {.key = "schema_registry_tls_key", .type = ValueType::string, .description = "Client private key file (PEM) for the schema registry.", .secret = true, .host_file = HostFile::read},
}};

}  // namespace relay::kafka
