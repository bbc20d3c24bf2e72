// The schema registry client (src/http/schema_registry.h) against Apicurio Registry's Confluent API
// (scripts/servers/schema-registry.sh, PGTRICKLE_TEST_SCHEMA_REGISTRY_URL), with the Avro schemas
// src/format/avro.h makes of Connect schemas.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include "../../contract/sink_contract.h"
#include "format/avro.h"
#include "http/schema_registry.h"

namespace relay::test {
namespace {

std::string registry_url() { return test_server_env("PGTRICKLE_TEST_SCHEMA_REGISTRY_URL"); }

// A subject no other test uses.
std::string fresh_subject(const std::string& what) {
  return "relay-test-" + what + "-" + std::to_string(::getpid()) + "-" + std::to_string(::time(nullptr)) + "-value";
}

std::string avro_of(const std::string& connect_schema) {
  avro::Converter c;
  std::string error;
  EXPECT_TRUE(avro::Converter::from_connect(connect_schema, c, error)) << error;
  return c.schema();
}

const std::string kRow =
    R"({"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"name"}],"optional":false,"name":"srv.public.t.Value"})";

TEST(SchemaRegistry, ASchemaIsRegisteredOnceAndReadBackByItsId) {
  const std::string subject = fresh_subject("once");
  const std::string schema = avro_of(kRow);
  http::SchemaRegistry registry({.url = registry_url()});
  auto id = registry.register_schema(subject, schema);
  ASSERT_TRUE(id) << id.error().message;
  auto again = registry.register_schema(subject, schema);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, *id);
  EXPECT_EQ(registry.calls(), 1u) << "the second registration came from the cache";

  // Another client (a consumer) reads it by id: the text the converter registers.
  http::SchemaRegistry reader({.url = registry_url()});
  auto text = reader.schema_by_id(*id);
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text, schema);
  // Another client registering the same schema under the subject gets the same id.
  auto same = reader.register_schema(subject, schema);
  ASSERT_TRUE(same) << same.error().message;
  EXPECT_EQ(*same, *id);
}

TEST(SchemaRegistry, AnIncompatibleChangeIsRefusedWithTheRegistrysReason) {
  const std::string subject = fresh_subject("incompatible");
  const std::string url = registry_url();
  http::SchemaRegistry registry({.url = url});
  ASSERT_TRUE(registry.register_schema(subject, avro_of(kRow)));
  // BACKWARD, Confluent's default (Apicurio's is none): a new schema reads what the old one wrote.
  {
    auto at = url.find("/apis/");
    httplib::Client c(url.substr(0, at));
    auto r = c.Put(url.substr(at) + "/config/" + subject, R"({"compatibility":"BACKWARD"})", "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
  }
  // A field added without a default: what the old schema wrote has no value for it.
  auto added = registry.register_schema(
      subject, avro_of(R"({"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},)"
                       R"({"type":"string","optional":true,"field":"name"},{"type":"int64","optional":false,"field":"total"}],)"
                       R"("optional":false,"name":"srv.public.t.Value"})"));
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().kind, ErrorKind::permanent) << added.error().message;
  EXPECT_NE(added.error().message.find("409"), std::string::npos) << added.error().message;
  // An optional field (a union with null, default null) is a compatible change.
  auto optional = registry.register_schema(
      subject, avro_of(R"({"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},)"
                       R"({"type":"string","optional":true,"field":"name"},{"type":"int64","optional":true,"field":"total"}],)"
                       R"("optional":false,"name":"srv.public.t.Value"})"));
  EXPECT_TRUE(optional) << optional.error().message;
}

TEST(SchemaRegistry, ARegistryThatCannotBeReachedIsWaitedFor) {
  http::SchemaRegistry registry({.url = "http://127.0.0.1:9/apis/ccompat/v7", .timeout_ms = 2000});
  auto id = registry.register_schema("nowhere-value", avro_of(kRow));
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().kind, ErrorKind::retriable) << id.error().message;
  EXPECT_NE(id.error().message.find("cannot be reached"), std::string::npos) << id.error().message;
}

TEST(SchemaRegistry, AnUnknownIdIsAClearError) {
  http::SchemaRegistry registry({.url = registry_url()});
  auto text = registry.schema_by_id(987654321);
  ASSERT_FALSE(text);
  EXPECT_NE(text.error().message.find("404"), std::string::npos) << text.error().message;
}

}  // namespace
}  // namespace relay::test
