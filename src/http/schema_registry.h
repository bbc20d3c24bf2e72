// A client of a schema registry's Confluent API (Confluent Schema Registry, Apicurio Registry's
// /apis/ccompat/v7): registers Avro schemas under subjects and reads them back by id, each once per
// process (ids are cached, so a message costs no registry call). A registry that cannot be reached,
// or answers 5xx, is a retriable error; one that refuses a schema (409: incompatible, 422: invalid)
// is permanent, with the registry's own reason.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "http/curl_client.h"
#include "relay/result.h"

namespace relay::http {

struct RegistryOptions {
  std::string url;                 // e.g. http://registry:8080/apis/ccompat/v7 (no trailing slash needed)
  std::string username, password;  // basic auth, when set
  std::string ca_file, cert_file, key_file;  // TLS, as the other HTTP clients take them
  long timeout_ms = 10000;
  std::function<void()> on_request;  // called at each request made (each cache miss), e.g. to count them
};

class SchemaRegistry {
 public:
  explicit SchemaRegistry(RegistryOptions options);
  // The id of `schema` (Avro's JSON text) under `subject`, registered there if it is not yet.
  Result<std::uint32_t> register_schema(const std::string& subject, const std::string& schema);
  // The schema (Avro's JSON text) of `id`.
  Result<std::string> schema_by_id(std::uint32_t id);
  // Registry calls made so far (the cache's misses).
  std::uint64_t calls() const { return calls_; }
  // Checks every connection against `access` (pipelines defined in SQL).
  void restrict_to(const HostAccess* access) { client_.restrict_to(access); }

 private:
  Result<ClientResponse> call(const std::string& method, const std::string& path, const std::string& body);

  RegistryOptions opt_;
  Client client_{1};
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::uint32_t> ids_;  // (subject, schema) -> id
  std::map<std::uint32_t, std::string> schemas_;                      // id -> schema
  std::uint64_t calls_ = 0;
};

// Kafka's TopicNameStrategy: a topic's key and value subjects, <topic>-key and <topic>-value.
inline std::string topic_subject(const std::string& topic, bool key) { return topic + (key ? "-key" : "-value"); }

}  // namespace relay::http
