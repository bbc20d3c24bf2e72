// A webhook of a pipeline defined in SQL, aimed at a listener of the pipeline admin's choosing,
// carries only the secrets the operator made available to such pipelines: never the relay's own
// environment (PGPASSWORD) nor a file of its host.
#include <sys/stat.h>

#include <fstream>
#include <thread>

#include "../fixture.h"
#include "receiver.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

TEST(WebhookHostSecrets, HeadersOfAPipelineDefinedInSqlResolveOnlyWhatTheOperatorAllowed) {
  Receiver listener;
  TestDb db;
  std::string secrets = work_dir() + "/hook-secrets-" + db.name(), host_file = work_dir() + "/root-only-" + db.name();
  ::mkdir(secrets.c_str(), 0700);
  { std::ofstream(secrets + "/token") << "allowed-file-token\n"; }
  { std::ofstream(host_file) << "root-only-file-secret"; }
  ::chmod(host_file.c_str(), 0600);
  ::symlink(host_file.c_str(), (secrets + "/link").c_str());
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  db.exec("INSERT INTO t VALUES (1)");
  std::string url = "http://127.0.0.1:" + std::to_string(listener.port());
  auto hook = [&](const std::string& name, json headers) {
    set_outbox_pipeline(db, name, {{"stream_table", "t"}, {"sink_type", "webhook"}, {"url", url + "/" + name}, {"headers", headers}});
  };
  hook("env", {{"X-Pgpass", "${ENV:PGPASSWORD}"}});
  hook("file", {{"X-Hostfile", "${FILE:" + host_file + "}"}});
  hook("link", {{"X-Hostfile", "${FILE:" + secrets + "/link}"}});
  hook("dotdot", {{"X-Hostfile", "${FILE:" + secrets + "/../root-only-" + db.name() + "}"}});
  hook("allowed", {{"X-Token", "${ENV:RELAY_SQL_HOOK_TOKEN}"}, {"X-File", "${FILE:" + secrets + "/token}"}});
  RelayProcess relay(relay_args(db), {"PGPASSWORD=relay-pg-password", "RELAY_SQL_HOOK_TOKEN=allowed-env-token",
                                      "PGTRICKLE_RELAY_SQL_SECRETS_ENV_PREFIX=RELAY_SQL_",
                                      "PGTRICKLE_RELAY_SQL_SECRETS_DIR=" + secrets});
  // What the operator allowed arrives (so the listener would see a leaked header too).
  ASSERT_TRUE(wait_until([&] { return listener.count_accepted("/allowed") == 1; }, 15s)) << relay.err();
  auto allowed = listener.accepted("/allowed")[0];
  EXPECT_EQ(allowed.header("X-Token"), "allowed-env-token");
  EXPECT_EQ(allowed.header("X-File"), "allowed-file-token");

  std::string env_error = wait_for_pipeline_error(relay, "env");
  EXPECT_NE(env_error.find("${ENV:PGPASSWORD}"), std::string::npos) << env_error;
  EXPECT_NE(env_error.find("--sql-secrets-env-prefix"), std::string::npos) << env_error;
  for (const char* p : {"file", "link", "dotdot"}) {
    std::string error = wait_for_pipeline_error(relay, p);
    EXPECT_NE(error.find("--sql-secrets-dir"), std::string::npos) << p << ": " << error;
    EXPECT_EQ(error.find("root-only-file-secret"), std::string::npos) << error;
  }
  for (const auto& r : listener.all()) {
    for (const auto& [name, value] : r.headers) {
      EXPECT_EQ(value.find("relay-pg-password"), std::string::npos) << r.path << " " << name;
      EXPECT_EQ(value.find("root-only-file-secret"), std::string::npos) << r.path << " " << name;
    }
  }
  EXPECT_EQ(relay.err().find("relay-pg-password"), std::string::npos);
}
