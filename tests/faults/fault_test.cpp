// The fault suite (PRODUCT §7): real faults against real servers while rows and messages flow.
// In every case nothing is lost, a copy carries the identity of the first (the target drops it),
// /health answers 503 while the fault lasts and 200 after, and the relay recovers without being
// restarted. Servers that are faulted are the test's own (ports 55720-55749; RabbitMQ also takes
// its port + 100 and + 200), never the shared ones. Each case adds its figures to
// $PGTRICKLE_TEST_WORK_DIR/faults.jsonl (tests/faults/table.sh turns that into docs/faults.md's table).
#include <signal.h>

#include "../contract/sink_contract.h"
#include "../contract/source_contract.h"
#include "fault_fixture.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kDelivered = "pgtrickle_relay_messages_delivered_total";

// The inserts of a forward feed, on a fresh connection each time (the database may have restarted
// since); ON CONFLICT makes a retried chunk harmless.
void insert_rows(const std::string& url, int from, int to) {
  std::string sql = "INSERT INTO items SELECT g, g FROM generate_series(" + std::to_string(from) + ", " +
                    std::to_string(to) + ") g ON CONFLICT DO NOTHING";
  bool ok = wait_until([&] {
    auto c = relay::pg::Connection::open(url, "fault-feed");
    return c && c->exec(sql).has_value();
  }, 60s);
  if (!ok) ADD_FAILURE() << "could not insert rows " << from << ".." << to;
}

std::vector<Outgoing> messages(int from, int to) {
  std::vector<Outgoing> out;
  for (int i = from; i <= to; ++i) out.push_back({"e-" + std::to_string(i), json{{"n", i}}.dump()});
  return out;
}

// One case: a forward pipeline "fwd" (outbox -> broker) and/or a reverse one "rev" (broker -> inbox)
// on one relay, fed steadily; the fault strikes once both are flowing.
class FaultCase : public testing::Test {
 protected:
  struct Fault {
    std::string name;
    std::function<void()> begin, end;
    std::chrono::milliseconds hold;
    bool database = false;  // the database is the faulted server: no inserts meanwhile
  };

  // Optional: a database on a server of the test's own (set before use_forward/use_reverse).
  void use_database(PrivateServer& pg) {
    pg.export_to_harnesses();
    db_ = std::make_unique<TestDb>();
  }
  TestDb& db() {
    if (!db_) db_ = std::make_unique<TestDb>();
    return *db_;
  }

  // `noticed`: whether the pipeline itself is expected to show the fault in /health (see
  // docs/faults.md for those that cannot); `extra`: sink options added to the harness's.
  void use_forward(const std::string& sink_type, const json& extra = json::object(), bool noticed = true, int rows = 1500) {
    sink_ = make_harness(sink_type);
    ASSERT_TRUE(sink_) << sink_type << " is not compiled in";
    backend_fwd_ = sink_type;
    rows_ = rows;
    unique_ = "f" + db().name();
    db().exec("CREATE TABLE items (id int PRIMARY KEY, seq int NOT NULL, note text NOT NULL DEFAULT 'ok')");
    db().exec("SELECT pgtrickle.enable_outbox('items')");
    auto [host, port] = sink_->server();
    json config = sink_->sink_config(unique_, host + ":" + std::to_string(port));
    config["stream_table"] = "items";
    config["batch_size"] = 20;
    for (auto& [k, v] : extra.items()) config[k] = v;
    set_outbox_pipeline(db(), "fwd", config);
    fwd_noticed_ = noticed;
  }

  void use_reverse(const std::string& source_type, bool noticed = true, int messages = 1000) {
    source_ = make_source_harness(source_type);
    ASSERT_TRUE(source_) << source_type << " is not compiled in";
    backend_rev_ = source_type;
    messages_ = messages;
    unique_rev_ = "r" + db().name();
    source_->prepare(unique_rev_);
    json config = source_->source_config(unique_rev_, 2000);
    config["inbox_name"] = "rev";
    config["batch_size"] = 20;
    set_inbox_pipeline(db(), "rev", config);
    rev_noticed_ = noticed;
  }

  void run(const Fault& fault) {
    std::string url = db().url();
    relay_ = std::make_unique<RelayProcess>(relay_args(db()));
    int port = relay_->admin_port();
    ASSERT_GT(port, 0) << relay_->err();
    HealthWatch watch(port);
    std::unique_ptr<Feeder> rows, msgs;
    if (sink_) rows = std::make_unique<Feeder>(rows_, 10, 50ms, [url](int a, int b) { insert_rows(url, a, b); });
    if (source_)
      msgs = std::make_unique<Feeder>(messages_, 100, 300ms, [this](int a, int b) { source_->publish(unique_rev_, messages(a, b), 60s); });

    // Mid-stream: both directions have delivered something and still have more coming.
    ASSERT_TRUE(wait_until([&] {
      return (!sink_ || counter(port, kDelivered, "fwd") >= 100) && (!source_ || counter(port, kDelivered, "rev") >= 100);
    }, 60s)) << relay_->err();

    // A broker that is down takes no publishes; a database that is down takes no inserts.
    if (msgs && !fault.database) msgs->pause();
    if (rows && fault.database) rows->pause();
    watch.fault_begins();
    fault.begin();
    std::this_thread::sleep_for(fault.hold);
    fault.end();
    watch.fault_ends();
    double fwd_at_end = sink_ ? counter(port, kDelivered, "fwd") : 0;
    double rev_at_end = source_ ? counter(port, kDelivered, "rev") : 0;
    if (msgs) msgs->resume();
    if (rows) rows->resume();

    // Recovered: each pipeline is running and delivers again, /health says 200, the relay untouched.
    double fwd_recover = -1, rev_recover = -1;
    bool recovered = wait_until([&] {
      int status = 0;
      auto health = json::parse(http_get(port, "/health", status), nullptr, false);
      auto running = [&](const std::string& name) {
        if (health.is_discarded()) return false;
        for (const auto& p : health.value("pipelines", json::array()))
          if (p.value("name", "") == name) return p.value("state", "") == "running";
        return false;
      };
      // Delivering again, or already done: a server slow to say it is ready may come back after
      // the relay has delivered everything.
      auto delivering = [&](const char* name, double at_end, int total) {
        double now = counter(port, kDelivered, name);
        return running(name) && (now > at_end || now >= total);
      };
      if (sink_ && fwd_recover < 0 && delivering("fwd", fwd_at_end, rows_)) fwd_recover = seconds_since(watch.ended());
      if (source_ && rev_recover < 0 && delivering("rev", rev_at_end, messages_)) rev_recover = seconds_since(watch.ended());
      return status == 200 && (!sink_ || fwd_recover >= 0) && (!source_ || rev_recover >= 0);
    }, 120s);
    EXPECT_TRUE(recovered) << "the pipelines recover by themselves\n" << relay_->err();
    EXPECT_TRUE(relay_->alive()) << "the relay kept running";

    if (rows) rows->wait_done();
    if (msgs) msgs->wait_done();
    std::string health_fwd = watch.summary("fwd"), health_rev = watch.summary("rev");
    EXPECT_TRUE(watch.degraded_during()) << "/health shows the fault while it lasts: " << watch.summary();
    if (sink_ && fwd_noticed_) {
      EXPECT_TRUE(watch.degraded_during("fwd")) << "the forward pipeline shows the fault: " << health_fwd;
    }
    if (source_ && rev_noticed_) {
      EXPECT_TRUE(watch.degraded_during("rev")) << "the reverse pipeline shows the fault: " << health_rev;
    }

    if (sink_) {
      ASSERT_TRUE(wait_until([&] {
        return query_value(url, "SELECT coalesce((SELECT last_id FROM pgtrickle.relay_offsets WHERE pipeline = 'fwd' AND next_row IS NULL), 0) "
                                ">= (SELECT max(id) FROM pgtrickle.outbox_items)") == "t";
      }, 120s)) << "every row acknowledged\n" << relay_->err();
      auto got = sink_->read(unique_, rows_, 60s);
      auto c = check_forward(got, rows_);
      EXPECT_TRUE(c.missing.empty()) << c.missing.size() << " rows lost, the first " << c.missing.front();
      EXPECT_TRUE(c.one_identity_per_row) << "a copy came with another identity";
      if (ordered_) { EXPECT_TRUE(c.in_order) << "first arrivals out of row order"; }
      record({fault.name, backend_fwd_, "forward", rows_, c.distinct, static_cast<long long>(c.missing.size()), c.duplicates,
              fwd_recover, health_fwd});
    }
    if (source_) {
      ASSERT_TRUE(wait_until([&] { return query_value(url, "SELECT count(*) FROM pgtrickle.inbox_rev") == std::to_string(messages_); }, 120s))
          << query_value(url, "SELECT count(*) FROM pgtrickle.inbox_rev") << " of " << messages_ << " in the inbox\n" << relay_->err();
      long long distinct = std::stoll(query_value(url, "SELECT count(DISTINCT event_id) FROM pgtrickle.inbox_rev WHERE event_id ~ '^e-[0-9]+$' "
                                                       "AND (payload->>'n')::int = substr(event_id, 3)::int"));
      EXPECT_EQ(distinct, messages_) << "one inbox row per message, with its own payload";
      double skipped = counter(port, "pgtrickle_relay_dedup_skipped_total", "rev");
      record({fault.name, backend_rev_, "reverse", messages_, distinct, messages_ - distinct,
              static_cast<long long>(std::max(0.0, skipped)), rev_recover, health_rev});
    }
    EXPECT_EQ(query_value(url, "SELECT count(*) FROM pgtrickle.relay_dead_letters"), "0") << "a fault is not a permanent error";
    relay_->signal(SIGTERM);
    EXPECT_EQ(relay_->wait(20s), 0) << relay_->err();
  }

  SinkHarness& sink_harness() { return *sink_; }
  SourceHarness& source_harness() { return *source_; }
  bool ordered_ = true;

 private:
  std::unique_ptr<TestDb> db_;
  std::unique_ptr<SinkHarness> sink_;
  std::unique_ptr<SourceHarness> source_;
  std::unique_ptr<RelayProcess> relay_;
  std::string backend_fwd_, backend_rev_, unique_, unique_rev_;
  int rows_ = 0, messages_ = 0;
  bool fwd_noticed_ = true, rev_noticed_ = true;
};

// ---- servers restarted ------------------------------------------------------------------------

TEST_F(FaultCase, PostgresRestartedMidStream) {
  PrivateServer pg("pg", 55720);
  PrivateServer nats("nats", 55725);
  nats.export_to_harnesses();
  use_database(pg);
  use_forward("nats");
  use_reverse("nats");
  run({"PostgreSQL restarted", [&] { pg.stop(); }, [&] { pg.start(); }, 3s, true});
}

TEST_F(FaultCase, NatsRestartedMidStream) {
  PrivateServer nats("nats", 55726);  // the JetStream store stays in its directory
  nats.export_to_harnesses();
  use_forward("nats");
  use_reverse("nats");
  run({"broker restarted", [&] { nats.stop(); }, [&] { nats.start(); }, 3s});
}

TEST_F(FaultCase, RedisRestartedMidStream) {
  PrivateServer redis("redis", 55727, "REDIS_SERVER_ARGS='--appendonly yes --appendfsync always'");
  redis.export_to_harnesses();
  use_forward("redis");
  use_reverse("redis");
  run({"broker restarted", [&] { redis.stop(); }, [&] { redis.start(); }, 3s});
}

TEST_F(FaultCase, RabbitmqRestartedMidStream) {
  PrivateServer rabbit("rabbitmq", 55728);  // durable queues, persistent messages
  rabbit.export_to_harnesses();
  use_forward("rabbitmq");
  use_reverse("rabbitmq");
  run({"broker restarted", [&] { rabbit.stop(); }, [&] { rabbit.start(); }, 3s});
}

TEST_F(FaultCase, KafkaBrokerKilledMidStream) {
  PrivateServer kafka("kafka", 55795);  // the log directory stays: topics and group offsets survive
  kafka.export_to_harnesses();
  use_forward("kafka");
  use_reverse("kafka");
  run({"broker killed (kill -9)", [&] { kafka.kill(); }, [&] { kafka.start(); }, 3s});
}

// fauxqs keeps its queues in memory: it is frozen instead of restarted.
TEST_F(FaultCase, SqsFrozenMidStream) {
  PrivateServer sqs("sqs", 55729);
  sqs.export_to_harnesses();
  ordered_ = false;  // a standard queue does not keep order
  // A request to a frozen endpoint fails after timeout_ms (30 s by default); 5 s here. The
  // source reports after three failed receives of 10 s or more: later than this freeze.
  use_forward("sqs", {{"timeout_ms", 5000}});
  use_reverse("sqs", /*noticed=*/false);
  run({"broker frozen 10 s", [&] { sqs.freeze(); }, [&] { sqs.thaw(); }, 10s});
}

// ---- brokers frozen (kill -STOP) for 30 s --------------------------------------------------

TEST_F(FaultCase, NatsFrozenThirtySeconds) {
  PrivateServer nats("nats", 55730);
  nats.export_to_harnesses();
  use_forward("nats");
  use_reverse("nats");
  run({"broker frozen 30 s", [&] { nats.freeze(); }, [&] { nats.thaw(); }, 30s});
}

TEST_F(FaultCase, RedisFrozenThirtySeconds) {
  PrivateServer redis("redis", 55731);
  redis.export_to_harnesses();
  use_forward("redis");
  run({"broker frozen 30 s", [&] { redis.freeze(); }, [&] { redis.thaw(); }, 30s});
}

}  // namespace
