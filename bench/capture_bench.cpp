// What capturing a table costs its writers ("capture"): pgbench, one single-row INSERT per
// transaction, synchronous_commit off (so the CPU cost shows, not the disk), 1 and 8 writers, on
// identical tables captured in each way side by side in one run: not captured, a hand-written
// AFTER ... FOR EACH ROW trigger inserting to_jsonb(NEW) into an outbox table, the same writing the
// outbox's own row format (the least any trigger writing that format costs), enable_outbox's
// trigger capture alone and with the relay reading the outbox beside the writers, its WAL capture
// with the relay reading the table's slot, and the table in a publication whose pgoutput slot
// pg_recvlogical reads (what any WAL reader asks of the server). A reader runs only during its own
// case: every slot decodes the whole WAL.
// Then the delivery side of both capture modes: a backlog of single-row transactions drained
// (to Redis when the benchmark's Redis runs, else to a file), and commit → acknowledged latency
// while rows arrive one per transaction at 1,000 per second.
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <thread>

#include "bench_support.h"

namespace bench {
namespace {

// pgbench's transaction: one single-row INSERT into `table`.
std::string insert_into(const std::string& table) { return fmt::format("INSERT INTO {} (v) VALUES (random());", table); }

// A reader of a table's changes for the duration of one case.
struct Reader {
  virtual ~Reader() = default;
};

// Waits until the logical slot `slot` has confirmed the server's whole WAL: a reader starting on a
// slot first decodes what was written since it last read (the other cases' writes), which must
// not be counted against its own case.
void wait_caught_up(relay::pg::Connection& c, const std::string& slot) {
  for (int i = 0; i < 600; ++i) {
    auto r = c.exec("SELECT coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) < 65536, false) "
                    "FROM pg_replication_slots WHERE slot_name = $1",
                    {slot});
    if (r && r->rows() == 1 && r->boolean(0, 0)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  die("the slot " + slot + " did not catch up within 60 s");
}

struct RecvLogical : Reader {
  pid_t pid;
  explicit RecvLogical(const std::string& url) {
    pid = fork();
    if (pid == 0) {
      std::string bin = postgres_bin() + "/pg_recvlogical";
      execl(bin.c_str(), bin.c_str(), "-d", url.c_str(), "--slot", "relay_bench_capture", "--start", "-o", "proto_version=1", "-o",
            "publication_names=bench_capture", "-f", "/dev/null", "-F", "1", static_cast<char*>(nullptr));
      _exit(127);
    }
    auto c = connect(url);
    wait_caught_up(c, "relay_bench_capture");
  }
  ~RecvLogical() override {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
  }
};

// A relay running one pipeline of the database (enabled for the case, disabled after), once it
// owns the pipeline and, for WAL capture, its slot has caught up.
struct RelayReader : Reader {
  relay::pg::Connection c;
  std::string pipeline;
  std::optional<Relay> relay;
  RelayReader(const std::string& url, const std::string& pipeline_name) : c(connect(url)), pipeline(pipeline_name) {
    exec(c, fmt::format("SELECT pgtrickle.enable_relay('{}')", pipeline));
    relay.emplace(std::vector<std::string>{"--postgres-url", url, "--metrics-addr", "127.0.0.1:0", "--sql-file-dir", "/tmp"},
                  "/tmp/relay_bench_" + pipeline + ".err");
    int port = relay->port();
    for (int i = 0; i < 500 && metric(port, "pgtrickle_relay_pipeline_owned") < 1; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto slot = c.exec("SELECT slot_name FROM pgtrickle.relay_slots WHERE pipeline = $1", {pipeline});
    if (slot && slot->rows() == 1) wait_caught_up(c, slot->str(0, 0));
  }
  ~RelayReader() override {
    relay.reset();
    exec(c, fmt::format("SELECT pgtrickle.disable_relay('{}')", pipeline));
  }
};

// A pipeline to Redis when the benchmark's Redis runs, else to a file under /tmp.
std::string sink_config(const std::string& table, const std::string& unique) {
  const char* redis = std::getenv("PGTRICKLE_TEST_REDIS_URL");
  if (redis && *redis)
    return fmt::format(R"({{"stream_table": "{}", "sink_type": "redis", "url": "{}", "stream_key": "{}"}})", table, redis, unique);
  return fmt::format(R"({{"stream_table": "{}", "sink_type": "file", "path": "/tmp/{}.jsonl"}})", table, unique);
}

// Both capture modes' delivery: a backlog drained, then latency at a steady 1,000 rows/s.
void delivery_by_mode(const std::function<void(const std::string&, double, const std::string&)>& report) {
  const std::string db = "relay_bench_capture_delivery";
  const long backlog = 200000;
  const char* redis = std::getenv("PGTRICKLE_TEST_REDIS_URL");
  const std::string target = redis && *redis ? "redis" : "file";
  std::cout << fmt::format("capture: delivery by capture mode to {}: a backlog of {} single-row transactions, then latency at 1,000 rows/s\n",
                           target, backlog);
  for (const std::string mode : {"trigger", "wal"}) {
    auto c = fresh_database(db);
    const std::string url = db_url(db);
    exec(c, "CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v float8, at timestamptz DEFAULT now())");
    exec(c, fmt::format("SELECT pgtrickle.enable_outbox('t', capture => '{}')", mode));
    std::string unique = fmt::format("relay_bench_capture_{}_{}", mode, getpid());
    exec(c, "SELECT pgtrickle.set_relay_outbox('t-out', config => '" + sink_config("t", unique) + "'::jsonb)");
    const std::vector<std::string> args = {"--postgres-url", url, "--metrics-addr", "127.0.0.1:0", "--sql-file-dir", "/tmp"};
    { RelayReader first(url, "t-out"); }  // WAL: the pipeline's slot exists before the backlog
    exec(c, "SELECT pgtrickle.enable_relay('t-out')");
    pgbench(url, insert_into("t"), 2, 0, backlog / 2);
    auto start = std::chrono::steady_clock::now();
    std::optional<Relay> relay;
    relay.emplace(args, "/tmp/relay_bench_capture_" + mode + ".err");
    int port = relay->port();
    while (metric(port, "pgtrickle_relay_messages_delivered_total") < backlog) {
      if (seconds_since(start) > 300) die("the relay did not drain the backlog in 300 s: see " + relay->err_path);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    double drain = backlog / seconds_since(start);
    long rss = relay->rss_peak_kb();
    // Latency: a fresh histogram (a new relay), rows one per transaction at 1,000/s for 10 s.
    relay.reset();
    relay.emplace(args, "/tmp/relay_bench_capture_" + mode + "_latency.err");
    port = relay->port();
    // A new relay's walsender first decodes again from the slot's restart point, which after the
    // drain lies far back: the writers start once that is done, as in a relay that keeps running.
    std::this_thread::sleep_for(std::chrono::seconds(5));
    double before = std::max(0.0, metric(port, "pgtrickle_relay_messages_delivered_total"));
    pgbench(url, insert_into("t"), 1, 10, 0, 1000);
    for (int i = 0; i < 500 && metric(port, "pgtrickle_relay_messages_delivered_total") < before + 9000; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    double p50 = latency_quantile(port, 0.50) * 1000, p99 = latency_quantile(port, 0.99) * 1000;
    std::cout << fmt::format("  {:<8} drain {:>8.0f} rows/s (peak RSS {} KiB); commit → ack at 1,000 rows/s: p50 {:.1f} ms, p99 {:.1f} ms\n",
                             mode, drain, rss, p50, p99);
    report(fmt::format("capture_{}_drain_{}_rows_per_s", mode, target), drain, "rows/s");
    report(fmt::format("capture_{}_latency_p50_ms", mode), p50, "ms");
    report(fmt::format("capture_{}_latency_p99_ms", mode), p99, "ms");
    exec(c, "SELECT pgtrickle.delete_relay('t-out')");  // drops the WAL pipeline's slot
    if (target == "file") std::remove(("/tmp/" + unique + ".jsonl").c_str());
  }
}

}  // namespace

void capture_costs(const std::function<void(const std::string&, double, const std::string&)>& report) {
  const std::string db = "relay_bench_capture";
  auto c = fresh_database(db);
  const std::string url = db_url(db);
  for (const char* t : {"plain", "handwritten", "format", "unread", "captured", "walcaptured", "published"})
    exec(c, fmt::format("CREATE TABLE {} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v float8, at timestamptz DEFAULT now())", t));
  exec(c, "CREATE TABLE handwritten_outbox (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload jsonb NOT NULL)");
  exec(c, "CREATE FUNCTION handwritten_capture() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
          "INSERT INTO handwritten_outbox (payload) VALUES (to_jsonb(NEW)); RETURN NULL; END $$");
  exec(c, "CREATE TRIGGER capture AFTER INSERT OR UPDATE OR DELETE ON handwritten FOR EACH ROW EXECUTE FUNCTION handwritten_capture()");
  exec(c, "SELECT pgtrickle.enable_outbox('unread')");
  // The least a trigger writing the outbox's rows can cost: a plain row trigger inserting each row
  // as trigger capture writes it (payload v1, the outbox's columns, defaults and indexes), without
  // what makes capture safe and complete (the owner check, waking a waiting relay, deltas per
  // statement, claim checks): what remains above the hand-written trigger is the row format.
  exec(c, "CREATE TABLE format_outbox (LIKE pgtrickle.outbox_unread INCLUDING ALL)");
  exec(c, "CREATE FUNCTION format_capture() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
          "INSERT INTO format_outbox (payload, inserted_count, deleted_count) VALUES (jsonb_build_object('v', 1, "
          "'inserted', jsonb_build_array(to_jsonb(NEW)), 'deleted', '[]'::jsonb, 'full_refresh', false), 1, 0); "
          "RETURN NULL; END $$");
  exec(c, "CREATE TRIGGER capture AFTER INSERT ON format FOR EACH ROW EXECUTE FUNCTION format_capture()");
  exec(c, "SELECT pgtrickle.enable_outbox('captured')");
  exec(c, "SELECT pgtrickle.enable_outbox('walcaptured', capture => 'wal')");
  // Each captured table has a pipeline to a file, read by a relay during its own case only.
  std::vector<std::string> outputs;
  for (const char* t : {"captured", "walcaptured"}) {
    outputs.push_back(fmt::format("/tmp/relay_bench_{}_{}.jsonl", t, getpid()));
    exec(c, fmt::format(R"(SELECT pgtrickle.set_relay_outbox('{0}-out', config => '{{"stream_table": "{0}", "sink_type": "file", "path": "{1}"}}'::jsonb))",
                        t, outputs.back()));
    exec(c, fmt::format("SELECT pgtrickle.disable_relay('{}-out')", t));
  }
  exec(c, "CREATE PUBLICATION bench_capture FOR TABLE published");
  exec(c, "SELECT pg_create_logical_replication_slot('relay_bench_capture', 'pgoutput')");
  const auto [rounds, seconds] = Rounds::from_env(5, 3);
  std::cout << fmt::format("capture: writers' cost, pgbench single-row INSERTs, synchronous_commit off, best of {} rounds of {} s per case\n",
                           rounds, seconds);
  struct Case {
    std::string table, label;
    std::function<std::unique_ptr<Reader>()> reader;
  };
  const std::vector<Case> cases = {
      {"plain", "not captured", nullptr},
      {"handwritten", "hand-written row trigger", nullptr},
      {"format", "row trigger, outbox row format", nullptr},
      // The writers' own share, as the hand-written trigger's (which has no reader either).
      {"unread", "enable_outbox (trigger)", nullptr},
      {"captured", "enable_outbox (trigger), relay", [&] { return std::make_unique<RelayReader>(url, "captured-out"); }},
      {"walcaptured", "enable_outbox (wal), relay", [&] { return std::make_unique<RelayReader>(url, "walcaptured-out"); }},
      {"published", "pgoutput slot, pg_recvlogical", [&] { return std::make_unique<RecvLogical>(url); }}};
  std::vector<std::string> tables;
  for (const auto& k : cases) tables.push_back(k.table);
  for (int clients : {1, 8}) {
    auto tps = best_of_rounds(tables, rounds, [&](const std::string& table) {
      const auto& k = *std::find_if(cases.begin(), cases.end(), [&](const Case& x) { return x.table == table; });
      auto reader = k.reader ? k.reader() : nullptr;
      return pgbench_tps(url, insert_into(table), clients, seconds);
    });
    for (const auto& k : cases) {
      // As the issue measures it: the time each transaction adds to the writers' total, 1/rate.
      double added_us = us_added(tps[k.table], tps["plain"]);
      std::cout << fmt::format("  {:<32} {} writer(s): {:>8.0f} tx/s, {:>6.1f} us added per transaction, {:>3.0f} % of uncaptured\n",
                               k.label, clients, tps[k.table], added_us, 100 * tps[k.table] / tps["plain"]);
      report(fmt::format("capture_{}_{}w_tps", k.table, clients), tps[k.table], "tx/s");
    }
  }
  for (const char* t : {"captured", "walcaptured"}) exec(c, fmt::format("SELECT pgtrickle.delete_relay('{}-out')", t));
  exec(c, "SELECT pg_drop_replication_slot('relay_bench_capture')");
  for (const auto& f : outputs) std::remove(f.c_str());
  delivery_by_mode(report);
}

}  // namespace bench
