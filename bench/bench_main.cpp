// pgtrickle-relay benchmarks. Each scenario prints its figures beside the previous run's
// (bench/results.json), so a regression shows; --save records the new figures.
//
//   relay_bench --postgres-url URL [--rows N] [--reverse-rows N] [--only TARGET]... [--save]
//   (a TARGET is a forward target such as "nats", or a reverse one such as "reverse_nats")
//
// Forward, for the file and every broker whose server bench/run.sh started: a backlog of N small rows
// (one outbox row each) drained by one pipeline (beside the rate at which COPY reads the same outbox
// rows), then commit → acknowledged latency at 1,000 rows/s, with the relay's resident memory.
// Reverse, for every broker and the HTTP receiver: a backlog of 100,000 messages (--reverse-rows)
// drained by one pipeline into an inbox, duplicates skipped by event_id.
// Takeover ("takeover"): the time a standby relay needs to own a pipeline after its owner was killed
// (kill -9) or stalled (kill -STOP, lease 5 s), with rows flowing, and whether a row was lost.
// Capture ("capture", capture_bench.cpp): what each way of capturing a table costs its writers.
// Backfill ("backfill", backfill_bench.cpp): a 1,000,000-row table backfilled beside COPY, with a writer.
// Subscriptions ("subscriptions", subscriptions_bench.cpp): what pgstream subscriptions cost the
// writers beside the seed's hand-written trigger function, and retention by partition drop vs DELETE.
// Many pipelines ("many_pipelines", many_pipelines_bench.cpp): N = 10 to 1,000 pipelines in one relay:
// connections, start-up, memory, threads, idle CPU of the relay and the server, latency.
// One big transaction ("big_transaction", big_transaction_bench.cpp): 1,000,000 rows in one
// transaction through WAL capture, a pipeline of source type wal (streamed while it runs, and
// sent whole at its commit) and trigger capture, beside pg_recvlogical (protocol 1, and 2 with
// streaming): COMMIT → last row, server CPU and spill, relay memory and spill.
// Beside Debezium ("debezium", debezium_bench.cpp): the same WAL backlog (200,000 single-row
// transactions, one 1,000,000-row transaction) drained by the relay and by Debezium 3.6.1 alone:
// rows/s, peak memory, CPU of each and of the server.
// Beside Debezium's JDBC sink ("jdbc_sink", jdbc_sink_bench.cpp): one Kafka topic drained into the
// same PostgreSQL by a reverse pipeline into an inbox and by the JDBC sink connector upserting.
#include <fcntl.h>
#include <sys/prctl.h>
#include <fmt/format.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <optional>
#include <thread>

#include "bench_support.h"
#include "broker_alone.h"
#include "jdbc_sink_bench.h"
#include "pg/catalog.h"
#include "pg/connection.h"

using namespace std::chrono;
using json = nlohmann::json;
using relay::pg::Connection;
using namespace bench;

namespace {

int g_rows = 200000;
int g_reverse_rows = 100000;
bool g_save = false;
std::string g_results = std::string(RELAY_SOURCE_DIR) + "/bench/results.json";


json load_previous() {
  std::ifstream f(g_results);
  if (!f) return json::object();
  return json::parse(f, nullptr, false);
}

void report(json& results, const json& previous, const std::string& key, double value, const std::string& unit) {
  results[key] = value;
  std::string before = previous.contains(key) ? fmt::format("{:.0f}", previous[key].get<double>()) : "-";
  std::cout << fmt::format("  {:<44} {:>12.1f} {:<6} (previous: {})\n", key, value, unit, before);
}

// Where a scenario sends its messages: the file, or a broker named by the PGTRICKLE_TEST_* variables
// that bench/run.sh exports after starting the servers.
struct Target {
  std::string name;
  // The sink part of set_relay_outbox's flat config, for a destination of its own named `unique`.
  std::function<json(const std::string& unique)> sink;
};

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Runs a script of tests/node/ (the independent broker clients) and returns its stdout.
std::string run_node(const std::string& script, const std::vector<std::string>& args) {
  std::string cmd = "node " + std::string(RELAY_SOURCE_DIR) + "/tests/node/" + script;
  for (const auto& a : args) cmd += " '" + a + "'";
  FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  if (pclose(p) != 0) die("failed: " + cmd);
  return out;
}

// A local HTTP receiver answering 200 at once, for the webhook target; started on first use. Like
// a production server it keeps connections open and serves more of them than the relay opens
// (cpp-httplib's defaults close a connection after 5 requests and serve 8 at a time, so a new
// connection waited for an idle one to time out).
int webhook_receiver_port() {
  static httplib::Server server;
  static int port = [] {
    server.set_tcp_nodelay(true);
    server.set_keep_alive_max_count(1000000);
    server.new_task_queue = [] { return new httplib::ThreadPool(64); };
    server.Post(".*", [](const httplib::Request&, httplib::Response& res) { res.status = 200; });
    int p = server.bind_to_any_port("127.0.0.1");
    std::thread([] { server.listen_after_bind(); }).detach();
    return p;
  }();
  return port;
}

std::vector<Target> targets() {
  std::vector<Target> out;
  out.push_back({"file", [](const std::string& unique) {
                   return json{{"sink_type", "file"}, {"path", "/tmp/relay_bench_" + unique + ".jsonl"}};
                 }});
  if (!env("PGTRICKLE_TEST_KAFKA_BROKERS").empty())
    out.push_back({"kafka", [](const std::string& unique) {
                     return json{{"sink_type", "kafka"}, {"brokers", env("PGTRICKLE_TEST_KAFKA_BROKERS")}, {"topic", unique}};
                   }});
  // The same with Debezium's change events (key object, value with source block): what the
  // rendering of each value costs beside the relay's own envelope.
  if (!env("PGTRICKLE_TEST_KAFKA_BROKERS").empty())
    out.push_back({"kafka_debezium", [](const std::string& unique) {
                     return json{{"sink_type", "kafka"}, {"brokers", env("PGTRICKLE_TEST_KAFKA_BROKERS")}, {"topic", unique},
                                 {"format", "debezium"}};
                   }});
  // Exactly once: each batch (1,000 rows) one Kafka transaction with the pipeline's position.
  if (!env("PGTRICKLE_TEST_KAFKA_BROKERS").empty())
    out.push_back({"kafka_exactly_once", [](const std::string& unique) {
                     return json{{"sink_type", "kafka"}, {"brokers", env("PGTRICKLE_TEST_KAFKA_BROKERS")}, {"topic", unique},
                                 {"delivery", "exactly_once"}};
                   }});
  // With their schemas, as Kafka Connect's JsonConverter writes them by default (schemas.enable).
  if (!env("PGTRICKLE_TEST_KAFKA_BROKERS").empty())
    out.push_back({"kafka_debezium_schemas", [](const std::string& unique) {
                     return json{{"sink_type", "kafka"}, {"brokers", env("PGTRICKLE_TEST_KAFKA_BROKERS")}, {"topic", unique},
                                 {"format", "debezium"}, {"schemas", true}};
                   }});
  // And in Avro through the schema registry (Kafka Connect's Avro converter's records).
  if (!env("PGTRICKLE_TEST_KAFKA_BROKERS").empty() && !env("PGTRICKLE_TEST_SCHEMA_REGISTRY_URL").empty())
    out.push_back({"kafka_debezium_avro", [](const std::string& unique) {
                     return json{{"sink_type", "kafka"}, {"brokers", env("PGTRICKLE_TEST_KAFKA_BROKERS")}, {"topic", unique},
                                 {"format", "debezium"}, {"value_converter", "avro"},
                                 {"schema_registry_url", env("PGTRICKLE_TEST_SCHEMA_REGISTRY_URL")}};
                   }});
  if (!env("PGTRICKLE_TEST_REDIS_URL").empty())
    out.push_back({"redis", [](const std::string& unique) {
                     return json{{"sink_type", "redis"}, {"url", env("PGTRICKLE_TEST_REDIS_URL")}, {"stream_key", unique}};
                   }});
  out.push_back({"webhook", [](const std::string&) {
                   return json{{"sink_type", "webhook"}, {"url", fmt::format("http://127.0.0.1:{}/events", webhook_receiver_port())},
                               {"max_in_flight", 8}};
                 }});
  out.push_back({"webhook_batched", [](const std::string&) {
                   return json{{"sink_type", "webhook"}, {"url", fmt::format("http://127.0.0.1:{}/events", webhook_receiver_port())},
                               {"batch", true}};
                 }});
  if (!env("PGTRICKLE_TEST_NATS_URL").empty())
    out.push_back({"nats", [](const std::string& unique) {
                     return json{{"sink_type", "nats"}, {"url", env("PGTRICKLE_TEST_NATS_URL")}, {"stream", unique},
                                 {"subject", unique + ".{op}"}};
                   }});
  // The slow brokers last: what they keep stored weighs on the machine.
  if (!env("PGTRICKLE_TEST_RABBITMQ_URL").empty())
    out.push_back({"rabbitmq", [](const std::string& unique) {
                     // A durable queue bound to the routing keys, declared with an independent client.
                     run_node("rabbitmq.js", {"setup", env("PGTRICKLE_TEST_RABBITMQ_URL"), unique, "amq.topic", unique + ".#"});
                     return json{{"sink_type", "rabbitmq"}, {"url", env("PGTRICKLE_TEST_RABBITMQ_URL")}, {"exchange", "amq.topic"},
                                 {"routing_key", unique + ".{op}"}};
                   }});
  if (!env("PGTRICKLE_TEST_SQS_ENDPOINT").empty())
    out.push_back({"sqs", [](const std::string& unique) {
                     std::string queue = run_node("sqs.js", {"create", env("PGTRICKLE_TEST_SQS_ENDPOINT"), unique});
                     while (!queue.empty() && (queue.back() == '\n' || queue.back() == ' ')) queue.pop_back();
                     return json{{"sink_type", "sqs"}, {"queue_url", queue}, {"endpoint_url", env("PGTRICKLE_TEST_SQS_ENDPOINT")},
                                 {"region", "us-east-1"}, {"access_key_id", "bench"}, {"secret_access_key", "bench"},
                                 {"max_in_flight", 8}};
                   }});
  return out;
}

// The rate at which COPY reads the backlog's outbox rows: what PostgreSQL can hand out.
double copy_rows_per_s(Connection& c) {
  auto t = steady_clock::now();
  PGresult* r = PQexec(c.raw(), "COPY (SELECT o.id, o.payload FROM pgtrickle.outbox_bench o) TO STDOUT");
  if (PQresultStatus(r) != PGRES_COPY_OUT) die("COPY failed");
  PQclear(r);
  char* buf;
  long rows = 0;
  while (PQgetCopyData(c.raw(), &buf, 0) > 0) {
    ++rows;
    PQfreemem(buf);
  }
  PQclear(PQgetResult(c.raw()));
  return rows / seconds_since(t);
}

// A relay drains a backlog of g_rows rows (one outbox row each) from the start, best of `runs`.
void forward_backlog(Connection& c, const std::string& db, const Target& target, int runs, json& results, const json& previous) {
  double rate = 0, registry_requests = -1;  // -1: not an Avro target
  long rss_kb = 0;
  std::vector<double> of_copy;  // file: each drain as a share of a COPY read just before it
  for (int run = 0; run < runs; ++run) {
    double copy_rate = target.name == "file" ? copy_rows_per_s(c) : 0;
    std::string unique = fmt::format("bench_{}_{}_{}", target.name, getpid(), run);
    json config = target.sink(unique);
    config["stream_table"] = "bench";  // batch_size and the rest: the defaults
    exec(c, "SELECT pgtrickle.set_relay_outbox('bench', config => " + relay::pg::quote_literal(config.dump()) + "::jsonb)");
    exec(c, "DELETE FROM pgtrickle.relay_offsets");
    auto start = steady_clock::now();
    Relay relay({"--postgres-url", db_url(db), "--metrics-addr", "127.0.0.1:0", "--log-level", "info"},
                fmt::format("/tmp/relay_bench_{}.{}.err", target.name, run));
    int port = relay.port();
    while (metric(port, "pgtrickle_relay_messages_delivered_total") < g_rows) {
      if (seconds_since(start) > 300) die("the relay did not drain the backlog in 300 s: see " + relay.err_path);
      std::this_thread::sleep_for(10ms);
    }
    double run_rate = g_rows / seconds_since(start);
    rate = std::max(rate, run_rate);
    if (config.value("value_converter", "") == "avro")
      registry_requests = std::max(registry_requests, metric(port, "pgtrickle_relay_schema_registry_requests_total"));
    rss_kb = std::max(rss_kb, relay.rss_peak_kb());
    if (target.name == "file") {
      unlink(config["path"].get<std::string>().c_str());
      of_copy.push_back(100.0 * run_rate / copy_rate);
      std::cout << fmt::format("  run {}: {:.0f} msg/s, COPY just before: {:.0f} rows/s ({:.0f} %)\n", run + 1, run_rate, copy_rate,
                               of_copy.back());
    }
  }
  std::cout << fmt::format("forward → {}: drain a backlog of {} rows, best of {}\n", target.name, g_rows, runs);
  report(results, previous, "forward_" + target.name + "_messages_per_s", rate, "msg/s");
  report(results, previous, "forward_" + target.name + "_peak_rss_kb", static_cast<double>(rss_kb), "KiB");
  if (registry_requests >= 0) report(results, previous, "forward_" + target.name + "_registry_requests", registry_requests, "");
  if (!of_copy.empty()) {
    // The machine's speed drifts: each run is compared with COPY on the same minute, and the median kept.
    std::sort(of_copy.begin(), of_copy.end());
    report(results, previous, "forward_file_percent_of_copy", of_copy[of_copy.size() / 2], "%");
  }
}

// The backlog every target drains, and the rate at which COPY reads the same outbox rows.
std::string backlog_database(json& results, const json& previous) {
  std::string db = "relay_bench_backlog";
  auto c = fresh_database(db);
  exec(c, "CREATE TABLE bench (id bigint PRIMARY KEY, name text, amount numeric)");
  exec(c, "SELECT pgtrickle.enable_outbox('bench')");
  auto t0 = steady_clock::now();
  exec(c, fmt::format("DO $$ BEGIN FOR i IN 1..{} LOOP INSERT INTO bench VALUES (i, 'customer-' || i, i * 1.5); END LOOP; END $$", g_rows));
  double load_s = seconds_since(t0);
  exec(c, "VACUUM ANALYZE");
  double copy_rate = 0;
  for (int run = 0; run < 3; ++run) copy_rate = std::max(copy_rate, copy_rows_per_s(c));
  std::cout << fmt::format("backlog: {} rows written in {:.1f} s, one INSERT each; COPY reads them back, best of 3\n", g_rows, load_s);
  report(results, previous, "copy_same_rows_per_s", copy_rate, "rows/s");
  return db;
}

// Wall-clock arrival of each `NOTIFY pgtrickle_outbox_new` at a listener of its own: paired with
// the commits' start times (outbox_commits.committed_at, where the relay's clock starts too), it
// gives PostgreSQL's share of every latency figure: the commit's WAL flush and the notification.
// Counts the wake-ups writers send (NOTIFY pgtrickle_outbox_new) while rows are committed: a
// writer notifies only when a relay waits for its outbox, so the count per commit shows what
// waking the relay costs the writers (1: every commit; less: the relay was busy reading).
class NotifyCounter {
 public:
  explicit NotifyCounter(const std::string& url) : c_(connect(url)) {
    exec(c_, "LISTEN pgtrickle_outbox_new");
    thread_ = std::thread([this] {
      while (!done_) {
        pollfd p{c_.socket(), POLLIN, 0};
        ::poll(&p, 1, 50);
        notifications_ += c_.notifications().size();
      }
    });
  }
  // Notifications received per commit.
  double stop_per_commit(long commits) {
    done_ = true;
    thread_.join();
    return commits > 0 ? static_cast<double>(notifications_) / static_cast<double>(commits) : 0;
  }

 private:
  Connection c_;
  std::atomic<bool> done_{false};
  size_t notifications_ = 0;
  std::thread thread_;
};

// A new database with a table t (id, v) whose changes go to an outbox, for commit_rows_paced.
Connection fresh_paced_table_database(const std::string& name) {
  auto c = fresh_database(name);
  exec(c, "CREATE TABLE t (id bigint PRIMARY KEY, v text)");
  exec(c, "SELECT pgtrickle.enable_outbox('t')");
  return c;
}

// Commits rows 1, 2, … of table t, one per transaction, at `rate` per second while `more(row)`.
void commit_rows_paced(Connection& c, int rate, const std::function<bool(long)>& more) {
  auto start = steady_clock::now();
  for (long i = 1; more(i); ++i) {
    exec(c, fmt::format("INSERT INTO t VALUES ({}, 'row {}')", i, i));
    std::this_thread::sleep_until(start + microseconds(1000000LL * i / rate));
  }
}

// Commit → broker-acknowledged (file: fdatasync'd) latency while rows arrive one per transaction
// at about `rate` per second, as the relay's histogram bucket bounds.
void forward_latency(const Target& target, int rate, int rows, json& results, const json& previous) {
  std::string db = "relay_bench_latency";
  auto c = fresh_paced_table_database(db);
  json config = target.sink(fmt::format("lat_{}_{}", target.name, getpid()));
  config["stream_table"] = "t";
  exec(c, "SELECT pgtrickle.set_relay_outbox('lat', config => " + relay::pg::quote_literal(config.dump()) + "::jsonb)");
  Relay relay({"--postgres-url", db_url(db), "--metrics-addr", "127.0.0.1:0"}, "/tmp/relay_bench_latency_" + target.name + ".err");
  int port = relay.port();
  std::this_thread::sleep_for(500ms);
  // One row first, timed on its own: a broker may make a new topic or queue on first use, which
  // the steady figures below leave out (and which a fresh bench target pays every run).
  auto delivered = [&](long n, steady_clock::time_point since) {
    while (metric(port, "pgtrickle_relay_messages_delivered_total") < n) {
      if (seconds_since(since) > 120) die("the relay did not deliver the rows in time: see " + relay.err_path);
      std::this_thread::sleep_for(1ms);
    }
  };
  auto first = steady_clock::now();
  exec(c, "INSERT INTO t VALUES (0, 'first row')");
  delivered(1, first);
  double first_row_ms = seconds_since(first) * 1000;
  LatencyBuckets before = latency_buckets(port);
  NotifyCounter notify_counter(db_url(db));
  auto start = steady_clock::now();
  commit_rows_paced(c, rate, [&](long i) { return i <= rows; });
  double achieved = rows / seconds_since(start);
  delivered(rows + 1, start);
  LatencyBuckets measured = latency_buckets(port);
  for (auto& [bound, count] : measured) count -= before[bound];
  std::cout << fmt::format("forward → {} latency: {} rows, one per transaction, at {:.0f} rows/s (aimed at {}), after a first row\n",
                           target.name, rows, achieved, rate);
  report(results, previous, "forward_" + target.name + "_first_row_ms", first_row_ms, "ms");
  report(results, previous, "forward_" + target.name + "_latency_p50_ms", latency_quantile(measured, 0.50) * 1000, "ms");
  report(results, previous, "forward_" + target.name + "_latency_p99_ms", latency_quantile(measured, 0.99) * 1000, "ms");
  report(results, previous, "forward_" + target.name + "_notifications_per_commit", notify_counter.stop_per_commit(rows), "");
  report(results, previous, "forward_" + target.name + "_steady_rss_kb", static_cast<double>(relay.rss_peak_kb()), "KiB");
  if (target.name == "file") unlink(config["path"].get<std::string>().c_str());
}

// A native client's own publish → ack latency at the same rate, while rows are committed one per
// transaction into an outbox table as in forward_latency: the floor the broker sets on the relay's
// figure on this machine, where both fsync to the same disk. With `beside_relay`, a relay also
// reads those commits and delivers them to Redis meanwhile, so the broker shares the machine with
// all the work of the relay's own run but its own (figures named <name>_beside_relay_*).
void broker_alone_latency(const std::string& name, int rate, int messages, const std::function<AckLatency(int messages, int rate)>& measure,
                          json& results, const json& previous, bool beside_relay = false) {
  std::string db = "relay_bench_alone";
  auto c = fresh_paced_table_database(db);
  std::optional<Relay> relay;
  if (beside_relay) {
    json config = {{"stream_table", "t"}, {"sink_type", "redis"}, {"url", env("PGTRICKLE_TEST_REDIS_URL")},
                   {"stream_key", fmt::format("beside_{}", getpid())}};
    exec(c, "SELECT pgtrickle.set_relay_outbox('beside', config => " + relay::pg::quote_literal(config.dump()) + "::jsonb)");
    relay.emplace(std::vector<std::string>{"--postgres-url", db_url(db), "--metrics-addr", "127.0.0.1:0"}, "/tmp/relay_bench_beside.err");
    std::this_thread::sleep_for(500ms);
  }
  std::atomic<bool> done{false};
  std::thread writer([&] { commit_rows_paced(c, rate, [&](long) { return !done; }); });
  AckLatency l = measure(messages, rate);
  done = true;
  writer.join();
  std::cout << fmt::format("{} alone: {} messages from a native client at {}/s, while {} rows/s are committed to an outbox{}\n",
                           name, messages, rate, rate, beside_relay ? " and a relay delivers them to Redis" : "");
  std::string figure = name + (beside_relay ? "_beside_relay" : "_alone");
  report(results, previous, figure + "_ack_p50_ms", l.p50_ms, "ms");
  report(results, previous, figure + "_ack_p99_ms", l.p99_ms, "ms");
}


// ---- reverse: broker → inbox ----------------------------------------------------------------------

struct ReverseTarget {
  std::string name;
  // Publishes a backlog of `rows` messages into a place of its own named `unique` and returns the
  // source part of set_relay_inbox's flat config that reads it.
  std::function<json(const std::string& unique, int rows)> fill;
};

// Runs bench/publish.js (the official broker clients) and returns its stdout lines.
std::vector<std::string> publish_backlog(const std::string& kind, const std::string& address, const std::string& unique, int rows) {
  std::string cmd = fmt::format("NODE_PATH={0}/tests/node/node_modules node {0}/bench/publish.js {1} '{2}' {3} {4}", RELAY_SOURCE_DIR,
                                kind, address, unique, rows);
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  if (pclose(p) != 0) die("failed: " + cmd);
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  if (lines.empty()) die("no output from: " + cmd);
  std::cout << fmt::format("  (published {} messages with the {} client in {} s)\n", rows, kind, lines.back().substr(lines.back().find(' ') + 1));
  return lines;
}

std::vector<ReverseTarget> reverse_targets() {
  std::vector<ReverseTarget> out;
  if (!env("PGTRICKLE_TEST_REDIS_URL").empty())
    out.push_back({"redis", [](const std::string& unique, int rows) {
                     publish_backlog("redis", env("PGTRICKLE_TEST_REDIS_URL"), unique, rows);
                     return json{{"source_type", "redis"}, {"url", env("PGTRICKLE_TEST_REDIS_URL")}, {"stream_key", unique}, {"group", "relay"}};
                   }});
  if (!env("PGTRICKLE_TEST_NATS_URL").empty())
    out.push_back({"nats", [](const std::string& unique, int rows) {
                     publish_backlog("nats", env("PGTRICKLE_TEST_NATS_URL"), unique, rows);
                     return json{{"source_type", "nats"}, {"url", env("PGTRICKLE_TEST_NATS_URL")}, {"stream", unique}, {"consumer", "relay"}};
                   }});
  if (!env("PGTRICKLE_TEST_KAFKA_BROKERS").empty())
    out.push_back({"kafka", [](const std::string& unique, int rows) {
                     publish_backlog("kafka", env("PGTRICKLE_TEST_KAFKA_BROKERS"), unique, rows);
                     // A group of its own per run: the mock cluster keeps a departed member until its session
                     // times out, and a second run in the same group would wait for that first.
                     return json{{"source_type", "kafka"}, {"brokers", env("PGTRICKLE_TEST_KAFKA_BROKERS")}, {"topic", unique},
                                 {"group_id", "relay_" + unique}};
                   }});
  if (!env("PGTRICKLE_TEST_RABBITMQ_URL").empty())
    out.push_back({"rabbitmq", [](const std::string& unique, int rows) {
                     publish_backlog("rabbitmq", env("PGTRICKLE_TEST_RABBITMQ_URL"), unique, rows);
                     return json{{"source_type", "rabbitmq"}, {"url", env("PGTRICKLE_TEST_RABBITMQ_URL")}, {"queue", unique}};
                   }});
  if (!env("PGTRICKLE_TEST_SQS_ENDPOINT").empty())
    out.push_back({"sqs", [](const std::string& unique, int rows) {
                     std::string queue = publish_backlog("sqs", env("PGTRICKLE_TEST_SQS_ENDPOINT"), unique, rows).front();
                     return json{{"source_type", "sqs"}, {"queue_url", queue}, {"endpoint_url", env("PGTRICKLE_TEST_SQS_ENDPOINT")},
                                 {"region", "us-east-1"}, {"access_key_id", "bench"}, {"secret_access_key", "bench"}};
                   }});
  return out;
}

void report_reverse(const std::string& name, int rows, double rate, long rss_kb, json& results, const json& previous,
                    int runs = 1) {
  std::cout << fmt::format("reverse {} → inbox: a backlog of {} messages{}\n", name, rows,
                           runs > 1 ? fmt::format(", best of {}", runs) : "");
  report(results, previous, "reverse_" + name + "_messages_per_s", rate, "msg/s");
  report(results, previous, "reverse_" + name + "_peak_rss_kb", static_cast<double>(rss_kb), "KiB");
}

// Waits until the relay on `port` has committed `rows` messages to the inbox; returns the rate from
// the first commit seen to the last (joining a consumer group, connecting... are not throughput).
double drain_rate(Relay& relay, int port, int rows, steady_clock::time_point start) {
  double first_count = 0;
  steady_clock::time_point first{};
  while (true) {
    double n = metric(port, "pgtrickle_relay_messages_delivered_total");
    if (n > 0 && first_count == 0) {
      first_count = n;
      first = steady_clock::now();
      std::cout << fmt::format("  (first commit {:.2f} s after the relay started)\n", seconds_since(start));
    }
    if (n >= rows) break;
    if (seconds_since(start) > 300) die("the relay did not drain the backlog in 300 s: see " + relay.err_path);
    std::this_thread::sleep_for(10ms);
  }
  double span = seconds_since(first);
  return span > 0 && rows > first_count ? (rows - first_count) / span : rows / seconds_since(start);
}

// A relay drains a broker backlog into a fresh inbox (INSERT ... ON CONFLICT DO NOTHING), best of `runs`.
void reverse_backlog(const ReverseTarget& target, int runs, json& results, const json& previous) {
  double best = 0;
  long rss_kb = 0;
  for (int run = 0; run < runs; ++run) {
    std::string db = "relay_bench_reverse";
    auto c = fresh_database(db);
    std::string unique = fmt::format("rbench_{}_{}_{}", target.name, getpid(), run);
    json config = target.fill(unique, g_reverse_rows);
    config["inbox_name"] = "bench";
    config["batch_size"] = 5000;  // larger inbox transactions: fewer commits to wait for
    exec(c, "SELECT pgtrickle.create_inbox('bench')");
    exec(c, "SELECT pgtrickle.set_relay_inbox('bench', config => " + relay::pg::quote_literal(config.dump()) + "::jsonb)");
    auto start = steady_clock::now();
    Relay relay({"--postgres-url", db_url(db), "--metrics-addr", "127.0.0.1:0"}, "/tmp/relay_bench_reverse_" + target.name + ".err");
    int port = relay.port();
    best = std::max(best, drain_rate(relay, port, g_reverse_rows, start));
    auto rows = c.exec("SELECT count(*) FROM pgtrickle.inbox_bench");
    if (!rows || rows->text(0, 0) != std::to_string(g_reverse_rows))
      die(fmt::format("the inbox holds {} rows, not {}", rows ? std::string(rows->text(0, 0)) : "?", g_reverse_rows));
    rss_kb = std::max(rss_kb, relay.rss_peak_kb());
  }
  report_reverse(target.name, g_reverse_rows, best, rss_kb, results, previous, runs);
}

// The HTTP receiver, each request answered only after the inbox commit: `clients` keep-alive clients
// POST one event per request, or (`per_request` > 1) JSON arrays of events as the webhook sink's
// batched mode sends them; the figure is messages committed per second.
void reverse_http(const std::string& name, int clients, int per_request, json& results, const json& previous) {
  std::string db = "relay_bench_reverse";
  auto c = fresh_database(db);
  int http_port = 55490;
  json config = {{"source_type", "http"}, {"listen", fmt::format("127.0.0.1:{}", http_port)}, {"path", "/events"},
                 {"bearer_token", "bench-token"}, {"inbox_name", "bench"}};
  exec(c, "SELECT pgtrickle.create_inbox('bench')");
  exec(c, "SELECT pgtrickle.set_relay_inbox('bench', config => " + relay::pg::quote_literal(config.dump()) + "::jsonb)");
  Relay relay({"--postgres-url", db_url(db), "--metrics-addr", "127.0.0.1:0"}, "/tmp/relay_bench_reverse_" + name + ".err");
  int port = relay.port();
  // Ready once the receiver answers its probe.
  for (int i = 0;; ++i) {
    httplib::Client probe("127.0.0.1", http_port);
    if (auto r = probe.Get("/events"); r && r->status == 200) break;
    if (i > 500) die("the HTTP receiver did not start: see " + relay.err_path);
    std::this_thread::sleep_for(10ms);
  }
  const int rows = g_reverse_rows, requests = (rows + per_request - 1) / per_request;
  std::atomic<int> next{0}, failures{0};
  auto start = steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t)
    threads.emplace_back([&] {
      httplib::Client client("127.0.0.1", http_port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(60, 0);
      auto event = [](int n, bool with_key) {
        return fmt::format(R"({{{}"n":{},"customer_id":{},"amount":1.5}})", with_key ? fmt::format(R"("dedup_key":"b-{}",)", n) : "", n,
                           n % 100);
      };
      for (int r = next++; r < requests; r = next++) {
        httplib::Headers h = {{"Authorization", "Bearer bench-token"}};
        std::string body;
        int first = r * per_request + 1, last = std::min(rows, first + per_request - 1);
        if (per_request == 1) {
          h.emplace("Idempotency-Key", fmt::format("b-{}", first));
          body = event(first, false);
        } else {
          body = "[";
          for (int n = first; n <= last; ++n) body += (n > first ? "," : "") + event(n, true);
          body += "]";
        }
        for (int attempt = 0;; ++attempt) {
          auto res = client.Post("/events", h, body, "application/json");
          if (res && res->status / 100 == 2) break;
          if (attempt > 100) { ++failures; break; }
          std::this_thread::sleep_for(10ms);
        }
      }
    });
  for (auto& t : threads) t.join();
  if (failures) die(fmt::format("{} requests were not accepted: see {}", failures.load(), relay.err_path));
  double rate = drain_rate(relay, port, rows, start);
  report_reverse(name, rows, rate, relay.rss_peak_kb(), results, previous);
}

}  // namespace

// Failover: two relays of a group share one pipeline while rows keep coming; the owner is killed
// (kill -9) or stalled (kill -STOP, past the lease) and the time until the standby owns the
// pipeline is measured; at the end every row must be in the file once at least.
void takeover(int runs, json& results, const json& previous) {
  std::string db = "relay_bench_takeover";
  auto c = fresh_database(db);
  exec(c, "CREATE TABLE t (id bigint PRIMARY KEY)");
  exec(c, "SELECT pgtrickle.enable_outbox('t')");
  std::string path = fmt::format("/tmp/relay_bench_takeover_{}.jsonl", getpid());
  unlink(path.c_str());
  exec(c, "SELECT pgtrickle.set_relay_outbox('ha', config => " +
              relay::pg::quote_literal(json{{"stream_table", "t"}, {"sink_type", "file"}, {"path", path}}.dump()) + "::jsonb)");
  std::atomic<bool> writing{true};
  std::atomic<long> inserted{0};
  std::thread writer([&] {
    auto w = connect(db_url(db));
    while (writing) {
      exec(w, fmt::format("INSERT INTO t VALUES ({})", inserted + 1));
      ++inserted;
      std::this_thread::sleep_for(5ms);
    }
  });
  std::vector<std::string> args = {"--postgres-url", db_url(db), "--metrics-addr", "127.0.0.1:0"};  // the default lease
  auto measure = [&](int sig, std::vector<double>& out) {
    auto owner = std::make_unique<Relay>(args, "/tmp/relay_bench_takeover_a.err");
    int owner_port = owner->port();
    while (metric(owner_port, "pgtrickle_relay_pipelines_owned") != 1) std::this_thread::sleep_for(10ms);
    auto standby = std::make_unique<Relay>(args, "/tmp/relay_bench_takeover_b.err");
    int standby_port = standby->port();
    std::this_thread::sleep_for(1500ms);  // the standby has tried and stands by
    kill(owner->pid, sig);
    auto t0 = steady_clock::now();
    while (metric(standby_port, "pgtrickle_relay_pipelines_owned") != 1) {
      if (seconds_since(t0) > 60) die("no takeover within 60 s: see /tmp/relay_bench_takeover_b.err");
      std::this_thread::sleep_for(5ms);
    }
    out.push_back(seconds_since(t0) * 1000);
    if (sig == SIGSTOP) kill(owner->pid, SIGCONT);
    std::this_thread::sleep_for(500ms);
    owner.reset();
    standby.reset();
  };
  std::vector<double> killed, stalled;
  for (int i = 0; i < runs; ++i) measure(SIGKILL, killed);
  for (int i = 0; i < std::max(2, runs / 3); ++i) measure(SIGSTOP, stalled);
  writing = false;
  writer.join();
  std::set<long> ids;
  {
    Relay last(args, "/tmp/relay_bench_takeover_a.err");
    last.port();
    auto t0 = steady_clock::now();
    while (static_cast<long>(ids.size()) < inserted && seconds_since(t0) < 30) {
      std::this_thread::sleep_for(100ms);
      std::ifstream f(path);
      for (std::string line; std::getline(f, line);)
        if (!line.empty() && line.back() == '}') ids.insert(json::parse(line)["payload"]["id"].get<long>());
    }
  }
  unlink(path.c_str());
  auto stats = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return std::pair{v[v.size() / 2], v.back()};
  };
  auto [k50, kmax] = stats(killed);
  auto [s50, smax] = stats(stalled);
  std::cout << fmt::format("takeover: {} kill -9 and {} kill -STOP of the owner (default lease), rows inserted every 5 ms\n",
                           killed.size(), stalled.size());
  report(results, previous, "takeover_kill9_p50_ms", k50, "ms");
  report(results, previous, "takeover_kill9_max_ms", kmax, "ms");
  report(results, previous, "takeover_stall_p50_ms", s50, "ms");
  report(results, previous, "takeover_stall_max_ms", smax, "ms");
  report(results, previous, "takeover_rows_lost", static_cast<double>(inserted - static_cast<long>(ids.size())), "rows");
}

int main(int argc, char** argv) {
  g_program = "relay_bench";
  std::vector<std::string> only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--postgres-url" && i + 1 < argc) g_url = argv[++i];
    else if (a == "--rows" && i + 1 < argc) g_rows = std::stoi(argv[++i]);
    else if (a == "--reverse-rows" && i + 1 < argc) g_reverse_rows = std::stoi(argv[++i]);
    else if (a == "--only" && i + 1 < argc) only.push_back(argv[++i]);
    else if (a == "--save") g_save = true;
    else die("unknown argument " + a + "; usage: relay_bench --postgres-url URL [--rows N] [--reverse-rows N] [--only TARGET]... [--save]");
  }
  if (g_url.empty()) die("--postgres-url is required (bench/run.sh starts a server and passes it)");
  json previous = load_previous();
  json results = previous.is_object() ? previous : json::object();  // targets not run keep their figures
  auto named = [&](const std::string& name) { return std::find(only.begin(), only.end(), name) != only.end(); };
  auto wanted = [&](const std::string& name) {
    if (only.empty() || named(name)) return true;
    // --only kafka runs exactly once and its Debezium format (JSON, with schemas, and Avro) too, to
    // print them side by side.
    return (name.starts_with("kafka_debezium") || name == "kafka_exactly_once") && named("kafka");
  };
  bool any_forward = false;
  for (const auto& target : targets()) any_forward = any_forward || wanted(target.name);
  std::string db = any_forward ? backlog_database(results, previous) : "";
  for (const auto& target : targets()) {
    if (!wanted(target.name)) continue;
    auto c = connect(db_url(db));
    // Latency first, while the broker holds little (some, like Kafka's mock cluster, slow down
    // as their logs grow); then the backlog: best of 5 for the file, 2 for the fast brokers, 1
    // for the slow ones.
    forward_latency(target, 1000, 5000, results, previous);
    if (target.name == "nats")
      broker_alone_latency("nats", 1000, 5000, [](int n, int r) { return nats_pub_ack_alone(env("PGTRICKLE_TEST_NATS_URL"), n, r); },
                           results, previous);
    if (target.name == "rabbitmq") {
      auto confirms = [](int n, int r) { return rabbitmq_confirm_alone(env("PGTRICKLE_TEST_RABBITMQ_URL"), n, r); };
      broker_alone_latency("rabbitmq", 1000, 5000, confirms, results, previous);
      if (!env("PGTRICKLE_TEST_REDIS_URL").empty()) broker_alone_latency("rabbitmq", 1000, 5000, confirms, results, previous, true);
    }
    if (target.name == "kafka_exactly_once")
      broker_alone_latency("kafka_transaction", 1000, 2000,
                           [](int n, int r) { return kafka_transaction_alone(env("PGTRICKLE_TEST_KAFKA_BROKERS"), n, r); }, results, previous);
    if (target.name == "sqs")
      broker_alone_latency("sqs", 1000, 5000, [](int n, int r) { return sqs_send_alone(env("PGTRICKLE_TEST_SQS_ENDPOINT"), n, r); },
                           results, previous);
    int runs = target.name == "file" ? 5 : (target.name == "rabbitmq" || target.name == "sqs") ? 1 : 2;
    forward_backlog(c, db, target, runs, results, previous);
    if (target.name == "kafka") {
      std::cout << fmt::format("Kafka alone: {} relay-sized messages from librdkafka with the relay's producer settings\n", g_rows);
      report(results, previous, "kafka_alone_messages_per_s", kafka_produce_alone(env("PGTRICKLE_TEST_KAFKA_BROKERS"), g_rows), "msg/s");
    }
    if (target.name == "kafka_exactly_once") {
      std::cout << fmt::format("Kafka alone, transactional: {} relay-sized messages, a transaction every 1,000\n", g_rows);
      report(results, previous, "kafka_alone_transactional_messages_per_s",
             kafka_produce_alone(env("PGTRICKLE_TEST_KAFKA_BROKERS"), g_rows, 1000), "msg/s");
    }
    if (target.name == "nats") {
      std::cout << fmt::format("nats-server alone: {} relay-sized messages from a native client (nats.c, 4,000 in flight)\n", g_rows);
      report(results, previous, "nats_server_alone_messages_per_s", nats_publish_alone(env("PGTRICKLE_TEST_NATS_URL"), g_rows), "msg/s");
    }
  }
  for (const auto& target : reverse_targets())
    if (wanted("reverse_" + target.name))
      reverse_backlog(target, target.name == "sqs" || target.name == "rabbitmq" ? 1 : 2, results, previous);
  if (wanted("reverse_http")) reverse_http("http", 64, 1, results, previous);
  if (wanted("reverse_http_batched")) reverse_http("http_batched", 4, 1000, results, previous);
  if (wanted("takeover")) takeover(10, results, previous);
  if (wanted("capture"))
    capture_costs([&](const std::string& key, double value, const std::string& unit) { report(results, previous, key, value, unit); });
  if (wanted("backfill"))
    backfill_costs([&](const std::string& key, double value, const std::string& unit) { report(results, previous, key, value, unit); });
  if (wanted("subscriptions"))
    subscription_costs([&](const std::string& key, double value, const std::string& unit) { report(results, previous, key, value, unit); });
  if (wanted("wal_tables"))
    wal_table_costs([&](const std::string& key, double value, const std::string& unit) { report(results, previous, key, value, unit); });
  if (wanted("many_pipelines"))
    many_pipeline_costs([&](const std::string& key, double value, const std::string& unit) { report(results, previous, key, value, unit); });
  if (wanted("console"))
    console_costs([&](const std::string& key, double value, const std::string& unit) { report(results, previous, key, value, unit); });
  if (wanted("big_transaction"))
    big_transaction_costs([&](const std::string& key, double value, const std::string& unit) { report(results, previous, key, value, unit); });
  if (wanted("debezium"))
    debezium_costs([&](const std::string& key, double value, const std::string& unit) { report(results, previous, key, value, unit); });
  if (wanted("jdbc_sink"))
    jdbc_sink_costs([&](const std::string& key, double value, const std::string& unit) { report(results, previous, key, value, unit); });
  if (g_save) {
    std::ofstream(g_results) << results.dump(2) << "\n";
    std::cout << "saved to " << g_results << "\n";
  }
}
