// What a pipeline defined in SQL may read on the relay's host through its config: ${ENV:...} only
// with the operator's prefix, ${FILE:...} and file-naming keys only under the operator's secrets
// directory. The operator's own TOML pipelines (no limits) read anything.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "config/host_access.h"
#include "config/pipeline_config.h"

using namespace relay;
using json = nlohmann::json;

namespace {

class HostAccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/host-access-XXXXXX";
    base_ = ::mkdtemp(tmpl);
    secrets_ = base_ + "/secrets";
    ::mkdir(secrets_.c_str(), 0700);
    write(secrets_ + "/token", "allowed-token\n");
    write(base_ + "/host-only", "host-only-secret");
    ::symlink((base_ + "/host-only").c_str(), (secrets_ + "/link-out").c_str());
    ::mkdir((secrets_ + "/sub").c_str(), 0700);
    ::mkfifo((secrets_ + "/fifo").c_str(), 0600);
    ::setenv("RELAY_SQL_TOKEN", "allowed-env", 1);
    ::setenv("HOST_ONLY_PASSWORD", "host-env-secret", 1);
    limits_.secrets_env_prefix = "RELAY_SQL_";
    limits_.secrets_dir = secrets_;
  }
  void TearDown() override { std::system(("rm -rf " + base_).c_str()); }
  static void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

  // The refusal of `text` for a pipeline defined in SQL; fails the test if it resolved.
  std::string refusal(const std::string& text) {
    auto r = resolve_secret_string(text, &limits_);
    EXPECT_FALSE(r) << text << " resolved to " << (r ? *r : "");
    std::string message = r ? "" : r.error().message;
    EXPECT_EQ(message.find("secret\n"), std::string::npos);
    EXPECT_EQ(message.find("host-only-secret"), std::string::npos) << message;
    EXPECT_EQ(message.find("host-env-secret"), std::string::npos) << message;
    return message;
  }

  std::string base_, secrets_;
  HostAccess limits_;
};

TEST_F(HostAccessTest, SqlPipelinesReadOnlyTheVariablesWithTheOperatorsPrefix) {
  auto ok = resolve_secret_string("Bearer ${ENV:RELAY_SQL_TOKEN}", &limits_);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(*ok, "Bearer allowed-env");
  std::string m = refusal("${ENV:HOST_ONLY_PASSWORD}");
  EXPECT_NE(m.find("${ENV:HOST_ONLY_PASSWORD}"), std::string::npos) << m;
  EXPECT_NE(m.find("--sql-secrets-env-prefix"), std::string::npos) << m;
  EXPECT_NE(m.find("\"RELAY_SQL_\""), std::string::npos) << m;
  limits_.secrets_env_prefix.clear();
  m = refusal("${ENV:RELAY_SQL_TOKEN}");
  EXPECT_NE(m.find("not set, so none"), std::string::npos) << m;
}

TEST_F(HostAccessTest, SqlPipelinesReadOnlyRegularFilesUnderTheSecretsDirectory) {
  auto ok = resolve_secret_string("${FILE:" + secrets_ + "/token}", &limits_);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(*ok, "allowed-token");
  for (const std::string& path : {base_ + "/host-only", secrets_ + "/link-out", secrets_ + "/../host-only",
                                  secrets_ + "/sub", secrets_ + "/fifo", std::string("/proc/self/environ"),
                                  std::string("/etc/shadow")}) {
    std::string m = refusal("${FILE:" + path + "}");
    EXPECT_NE(m.find("${FILE:" + path + "}"), std::string::npos) << m;
    EXPECT_NE(m.find("--sql-secrets-dir"), std::string::npos) << m;
  }
  limits_.secrets_dir.clear();
  EXPECT_NE(refusal("${FILE:" + secrets_ + "/token}").find("--sql-secrets-dir"), std::string::npos);
}

TEST_F(HostAccessTest, TheOperatorsOwnPipelinesReadAnything) {
  auto env = resolve_secret_string("${ENV:HOST_ONLY_PASSWORD}");
  ASSERT_TRUE(env);
  EXPECT_EQ(*env, "host-env-secret");
  auto file = resolve_secret_string("${FILE:" + base_ + "/host-only}");
  ASSERT_TRUE(file);
  EXPECT_EQ(*file, "host-only-secret");
}

TEST_F(HostAccessTest, KeysNamingHostFilesAreLiteralPathsUnderTheSecretsDirectory) {
  auto config = [](json sink) {
    return json{{"source", {{"type", "outbox"}, {"stream_table", "t"}}}, {"sink", std::move(sink)}};
  };
  json inside = config({{"type", "webhook"}, {"url", "https://h/x"}, {"tls_ca", secrets_ + "/sub/../token"}});
  auto r = resolve_secrets(inside, &limits_);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)["sink"]["tls_ca"], secrets_ + "/token") << "the real path, links and .. resolved";
  for (const json& sink : {json{{"type", "webhook"}, {"url", "https://h/x"}, {"tls_key", base_ + "/host-only"}},
                           json{{"type", "nats"}, {"url", "nats://h"}, {"subject", "a"}, {"creds_file", secrets_ + "/link-out"}},
                           json{{"type", "rabbitmq"}, {"url", "amqps://h"}, {"exchange", "x"}, {"tls_cert", "/etc/ssl/private/k.pem"}}}) {
    auto refused = resolve_secrets(config(sink), &limits_);
    ASSERT_FALSE(refused) << sink.dump();
    EXPECT_NE(refused.error().message.find("--sql-secrets-dir"), std::string::npos) << refused.error().message;
  }
  // A path built from a reference would carry the file's content into errors.
  auto built = resolve_secrets(config({{"type", "file"}, {"path", "/x/${FILE:" + secrets_ + "/token}"}}), &limits_);
  ASSERT_FALSE(built);
  EXPECT_NE(built.error().message.find("written literally"), std::string::npos) << built.error().message;
  EXPECT_EQ(built.error().message.find("allowed-token"), std::string::npos);
  // The operator's TOML pipelines name any file.
  EXPECT_TRUE(resolve_secrets(config({{"type", "webhook"}, {"url", "https://h/x"}, {"tls_key", base_ + "/host-only"}})));
}

TEST_F(HostAccessTest, KafkaPropertiesNamingFilesOrRunningHostCodeAreLimited) {
  auto kafka = [](json props) {
    return json{{"source", {{"type", "outbox"}, {"stream_table", "t"}}},
                {"sink", {{"type", "kafka"}, {"brokers", "h:9092"}, {"topic", "t"}, {"rdkafka", std::move(props)}}}};
  };
  auto ok = resolve_secrets(kafka({{"ssl.ca.location", secrets_ + "/token"}, {"sasl.password", "${ENV:RELAY_SQL_TOKEN}"}}), &limits_);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ((*ok)["sink"]["rdkafka"]["sasl.password"], "allowed-env");
  for (const json& props : {json{{"ssl.key.location", base_ + "/host-only"}}, json{{"ssl_key_location", "/etc/shadow"}},
                            json{{"sasl.kerberos.keytab", "/etc/krb5.keytab"}}, json{{"plugin.library.paths", "libevil"}},
                            json{{"sasl.kerberos.kinit.cmd", "touch /tmp/owned"}}, json{{"sasl.mechanism", "GSSAPI"}},
                            json{{"ssl.engine.location", secrets_ + "/token"}}}) {
    auto refused = resolve_secrets(kafka(props), &limits_);
    EXPECT_FALSE(refused) << props.dump();
    if (!refused) continue;
    EXPECT_NE(refused.error().message.find("rdkafka."), std::string::npos) << refused.error().message;
  }
  EXPECT_TRUE(resolve_secrets(kafka({{"sasl.kerberos.kinit.cmd", "kinit -R"}})));  // the operator's TOML
}

}  // namespace
