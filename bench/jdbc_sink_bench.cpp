// The relay's reverse path beside Debezium's JDBC sink connector ("jdbc_sink"): one Kafka topic of
// 200,000 small JSON records (PGTRICKLE_BENCH_JDBC_ROWS), one partition, each a value with its
// Kafka Connect schema (JsonConverter's {"schema", "payload"}, as the JDBC sink needs a schema) and
// the header dedup_key "b-<id>", drained into the same PostgreSQL server by each alone, one after
// the other: (a) the relay, a reverse pipeline from the topic into an inbox (batch_size 5000, as the
// reverse benchmark runs it), one row per event id, the offset committed after the rows; (b)
// Debezium's JDBC sink connector 3.6.0 in Kafka Connect 4.4's standalone worker
// (tests/java/jdbc-sink), one task upserting each record into a table keyed by id (batch.size 5000).
// For each: messages/s from the first rows committed to the last, peak resident memory and CPU of
// the program (start to end: the JVM's start-up included; the JDBC sink's also from its first rows
// to its last), and the server's CPU meanwhile (start to end).
#include "jdbc_sink_bench.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>
#include <utility>
#include <vector>

#include "bench_support.h"
#include "pg/catalog.h"

namespace bench {
namespace {

struct Drain {
  // program_cpu: start to end; drain_cpu: from the first rows committed to the last.
  double messages_per_s = 0, seconds = 0, program_cpu = 0, drain_cpu = 0, server_cpu = 0;
  long peak_kb = -1;
};

// The value of record `n`: its fields with JsonConverter's schema.
std::string record_value(long n) {
  return fmt::format(
      R"({{"schema":{{"type":"struct","name":"bench.event","optional":false,"fields":[{{"field":"id","type":"int64","optional":false}},)"
      R"({{"field":"customer_id","type":"int32","optional":false}},{{"field":"amount","type":"double","optional":false}}]}},)"
      R"("payload":{{"id":{},"customer_id":{},"amount":1.5}}}})",
      n, n % 100);
}

// Runs `cmd`, dies unless it exits 0; its standard output.
std::string run(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) die("cannot run: " + cmd);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  if (pclose(p) != 0) die("failed: " + cmd + "\n" + out.substr(0, 2000));
  return out;
}

// The topic, one partition, with records 1..rows, through tests/node/kafka.js (kafkajs, acks = all).
void publish(const std::string& brokers, const std::string& topic, long rows) {
  const std::string file = fmt::format("/tmp/relay_bench_jdbc_{}.jsonl", getpid());
  {
    std::ofstream f(file);
    for (long n = 1; n <= rows; ++n) {
      std::string body = record_value(n), escaped;
      for (char ch : body) escaped += ch == '"' ? std::string("\\\"") : std::string(1, ch);
      f << fmt::format(R"({{"body":"{}","id":"b-{}"}})", escaped, n) << '\n';
    }
    if (!f) die("cannot write " + file);
  }
  const std::string kafka_js = std::string(RELAY_SOURCE_DIR) + "/tests/node/kafka.js";
  run(fmt::format("node {} create '{}' {} 1", kafka_js, brokers, topic));
  const auto start = std::chrono::steady_clock::now();
  run(fmt::format("node {} publish '{}' {} {}", kafka_js, brokers, topic, file));
  std::cout << fmt::format("  (published {} messages with kafkajs in {:.1f} s)\n", rows, seconds_since(start));
  std::remove(file.c_str());
}

long count_of(relay::pg::Connection& c, const std::string& sql) {
  auto r = c.exec(sql);
  if (!r) die("failed: " + sql + ": " + r.error().message);
  return static_cast<long>(r->int64(0, 0));
}

Drain relay_drain(const std::string& brokers, const std::string& topic, long rows) {
  const std::string db = "relay_bench_jdbc";
  auto c = fresh_database(db);
  const pid_t postmaster = postmaster_pid(c);
  const std::string config = fmt::format(
      R"({{"source_type": "kafka", "brokers": "{}", "topic": "{}", "group_id": "relay_{}", "inbox_name": "bench", "batch_size": 5000}})",
      brokers, topic, topic);
  exec(c, "SELECT pgtrickle.create_inbox('bench')");
  exec(c, "SELECT pgtrickle.set_relay_inbox('bench', config => " + relay::pg::quote_literal(config) + "::jsonb)");
  const double cpu0 = server_cpu(postmaster);
  const auto start = std::chrono::steady_clock::now();
  Relay relay({"--postgres-url", db_url(db), "--metrics-addr", "127.0.0.1:0"}, "/tmp/relay_bench_jdbc_relay.err");
  const int port = relay.port();
  double first_count = 0;
  std::chrono::steady_clock::time_point first{};
  for (;;) {
    const double n = metric(port, "pgtrickle_relay_messages_delivered_total");
    if (n > 0 && first_count == 0) {
      first_count = n;
      first = std::chrono::steady_clock::now();
    }
    if (n >= rows) break;
    if (seconds_since(start) > 900) die("the relay did not drain the topic in 900 s: see " + relay.err_path);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Drain d;
  d.seconds = seconds_since(first);
  d.messages_per_s = rows > first_count && d.seconds > 0 ? (rows - first_count) / d.seconds : rows / seconds_since(start);
  d.server_cpu = server_cpu(postmaster) - cpu0;
  d.program_cpu = d.drain_cpu = process_cpu(relay.pid, false);
  d.peak_kb = relay.rss_peak_kb();
  // The inbox's guarantee: one row per event id, every message there.
  const long total = count_of(c, "SELECT count(*) FROM pgtrickle.inbox_bench");
  const long ids = count_of(c, "SELECT count(DISTINCT event_id) FROM pgtrickle.inbox_bench");
  if (total != rows || ids != rows)
    die(fmt::format("after the relay's drain the inbox holds {} rows with {} event ids, not {} (one per message)", total, ids, rows));
  return d;
}

Drain jdbc_sink_drain(const std::string& brokers, const std::string& topic, long rows) {
  const std::string db = "relay_bench_jdbc_sink";
  auto c = fresh_database(db);
  const pid_t postmaster = postmaster_pid(c);
  exec(c, "CREATE TABLE jdbc_sink (id bigint PRIMARY KEY, customer_id integer NOT NULL, amount double precision NOT NULL)");
  // The connector's properties: the table above, the same server over TCP.
  const std::string props = fmt::format("/tmp/relay_bench_jdbc_{}.properties", getpid());
  {
    std::string host = PQhost(c.raw()) ? PQhost(c.raw()) : "";
    if (host.empty() || host[0] == '/') host = "127.0.0.1";
    std::ofstream f(props);
    f << "connection.url=jdbc:postgresql://" << host << ":" << PQport(c.raw()) << "/" << db
      << "\nconnection.username=" << PQuser(c.raw())
      << "\nconnection.password=" << (PQpass(c.raw()) && *PQpass(c.raw()) ? PQpass(c.raw()) : "unused") << "\ntopics=" << topic
      << "\ncollection.name.format=jdbc_sink\ninsert.mode=upsert\nprimary.key.mode=record_value\nprimary.key.fields=id\n"
         "schema.evolution=none\nbatch.size=5000\n";
  }
  const std::string err = "/tmp/relay_bench_jdbc_sink.err";
  const std::string script = std::string(RELAY_SOURCE_DIR) + "/scripts/java-tools.sh";
  // Fetched and compiled before it is measured (the first time only): run without arguments, it
  // says its usage and exits 2.
  run(fmt::format("bash {} jdbc-sink 2>&1; test $? = 2", script));
  int pipe_fd[2];
  if (pipe(pipe_fd) != 0) die("pipe");
  const double cpu0 = server_cpu(postmaster);
  pid_t java = fork();
  if (java == 0) {
    dup2(pipe_fd[1], 1);
    close(pipe_fd[0]);
    close(pipe_fd[1]);
    if (FILE* e = std::freopen(err.c_str(), "w", stderr); !e) _exit(126);
    execlp("bash", "bash", script.c_str(), "jdbc-sink", brokers.c_str(), props.c_str(), std::to_string(rows).c_str(),
           static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipe_fd[1]);
  std::string output;
  std::thread reader([&] {
    char buf[4096];
    for (ssize_t n; (n = read(pipe_fd[0], buf, sizeof buf)) > 0;) output.append(buf, static_cast<std::size_t>(n));
  });
  // Its peak memory, sampled until it exits (VmHWM goes with the process), its CPU sampled with the
  // wall clock (the figures it prints are wall-clock times) and, in all, once reaped.
  long peak = -1;
  std::vector<std::pair<long, double>> cpu_at;  // (ms since the epoch, CPU seconds)
  int status = 0;
  rusage usage{};
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    if (seconds_since(start) > 900) {
      kill(java, SIGKILL);
      waitpid(java, &status, 0);
      die("the JDBC sink did not fill its table in 900 s: see " + err);
    }
    peak = std::max(peak, status_kb(java, "VmHWM"));
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    cpu_at.emplace_back(std::chrono::duration_cast<std::chrono::milliseconds>(now).count(), process_cpu(java, false));
    if (wait4(java, &status, WNOHANG, &usage) == java) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double server = server_cpu(postmaster) - cpu0;
  reader.join();
  close(pipe_fd[0]);
  std::remove(props.c_str());
  // {"rows": n, "started_ms": …, "first_ms": …, "first_rows": n, "last_ms": …}
  const auto at = output.find("{\"rows\"");
  if (at == std::string::npos || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    die("the JDBC sink did not finish (see " + err + "): " + output.substr(0, 2000));
  long seen = 0, started_ms = 0, first_ms = 0, first_rows = 0, last_ms = 0;
  const char* shape = "{\"rows\": %ld, \"started_ms\": %ld, \"first_ms\": %ld, \"first_rows\": %ld, \"last_ms\": %ld}";
  if (std::sscanf(output.c_str() + at, shape, &seen, &started_ms, &first_ms, &first_rows, &last_ms) != 5)
    die("cannot read the JDBC sink's figures: " + output.substr(at, 200));
  std::cout << fmt::format("  (the JDBC sink's first rows {:.1f} s after its start)\n", (first_ms - started_ms) / 1000.0);
  Drain d;
  d.seconds = (last_ms - first_ms) / 1000.0;
  d.messages_per_s = rows > first_rows && d.seconds > 0 ? (rows - first_rows) / d.seconds : 0;
  d.server_cpu = server;
  d.program_cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                  static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  d.peak_kb = std::max(peak, static_cast<long>(usage.ru_maxrss));
  // CPU from the last sample before the first rows to the first sample after the last row.
  double cpu_first = 0, cpu_last = d.program_cpu;
  for (const auto& [ms, cpu] : cpu_at)
    if (ms <= first_ms) cpu_first = cpu;
  for (auto it = cpu_at.rbegin(); it != cpu_at.rend(); ++it)
    if (it->first >= last_ms && it->second > 0) cpu_last = it->second;
  d.drain_cpu = cpu_last - cpu_first;
  // An upsert per record keyed by id: one row per message.
  const long total = count_of(c, "SELECT count(*) FROM jdbc_sink");
  const long ids = count_of(c, "SELECT count(DISTINCT id) FROM jdbc_sink WHERE id BETWEEN 1 AND " + std::to_string(rows));
  if (total != rows || ids != rows)
    die(fmt::format("after the JDBC sink's drain its table holds {} rows with {} of the ids 1..{}, not {}", total, ids, rows, rows));
  return d;
}

}  // namespace

void jdbc_sink_costs(const std::function<void(const std::string&, double, const std::string&)>& report) {
  const char* env_brokers = std::getenv("PGTRICKLE_TEST_KAFKA_BROKERS");
  if (!env_brokers || !*env_brokers) {
    std::cout << "jdbc_sink: skipped, no Kafka broker (PGTRICKLE_TEST_KAFKA_BROKERS; bench/run.sh starts one)\n";
    return;
  }
  const std::string brokers = env_brokers;
  const char* env_rows = std::getenv("PGTRICKLE_BENCH_JDBC_ROWS");
  const long rows = env_rows && std::atol(env_rows) > 0 ? std::atol(env_rows) : 200000;
  const std::string topic = fmt::format("jdbc_bench_{}", getpid());
  std::cout << fmt::format("jdbc_sink: a Kafka topic of {} JSON records (one partition) drained into PostgreSQL\n", rows);
  publish(brokers, topic, rows);
  const Drain ours = relay_drain(brokers, topic, rows);
  const Drain theirs = jdbc_sink_drain(brokers, topic, rows);
  std::cout << fmt::format("  {:<22} {:>14} {:>16}\n", "", "the relay", "JDBC sink 3.6.0");
  std::cout << fmt::format("  {:<22} {:>14} {:>16}\n", "", "(inbox)", "(upsert)");
  std::cout << fmt::format("  {:<22} {:>14.0f} {:>16.0f}   ({:.2f}x)\n", "messages/s", ours.messages_per_s, theirs.messages_per_s,
                           ours.messages_per_s / std::max(theirs.messages_per_s, 1.0));
  std::cout << fmt::format("  {:<22} {:>14.1f} {:>16.1f}\n", "first to last row, s", ours.seconds, theirs.seconds);
  std::cout << fmt::format("  {:<22} {:>14.1f} {:>16.1f}\n", "peak RSS, MB", ours.peak_kb / 1024.0, theirs.peak_kb / 1024.0);
  std::cout << fmt::format("  {:<22} {:>14.1f} {:>16.1f}\n", "program CPU, s", ours.program_cpu, theirs.program_cpu);
  std::cout << fmt::format("  {:<22} {:>14} {:>16.1f}\n", "  of which draining", "", theirs.drain_cpu);
  std::cout << fmt::format("  {:<22} {:>14.1f} {:>16.1f}\n", "server CPU, s", ours.server_cpu, theirs.server_cpu);
  const std::string k = "reverse_kafka_beside_jdbc_";
  report(k + "messages_per_s", ours.messages_per_s, "msg/s");
  report(k + "peak_rss_kb", static_cast<double>(ours.peak_kb), "KiB");
  report(k + "cpu_s", ours.program_cpu, "s");
  report(k + "server_cpu_s", ours.server_cpu, "s");
  report("jdbc_sink_messages_per_s", theirs.messages_per_s, "msg/s");
  report("jdbc_sink_peak_rss_kb", static_cast<double>(theirs.peak_kb), "KiB");
  report("jdbc_sink_cpu_s", theirs.program_cpu, "s");
  report("jdbc_sink_drain_cpu_s", theirs.drain_cpu, "s");
  report("jdbc_sink_server_cpu_s", theirs.server_cpu, "s");
  report("reverse_kafka_vs_jdbc_sink", ours.messages_per_s / std::max(theirs.messages_per_s, 1e-3), "x");
}

}  // namespace bench
