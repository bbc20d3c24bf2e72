// What a backfill costs and how fast it goes ("backfill"): a 1,000,000-row table (five columns,
// about 100 bytes a row) is backfilled through one pipeline — to a file, to Redis when the
// benchmark's Redis runs, and to a file from a table captured from the WAL — while a writer updates
// random rows at 1,000 a second. Figures: the backfill's rows/s beside a COPY of the same table in
// the same run (and beside a COPY of its rows as JSON, which the server renders for a backfill), the
// writer's latency (p50, p99) during the backfill against the same writer without
// one just before, and the relay's peak resident memory.
#include <fmt/format.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "bench_support.h"

namespace bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr long kRows = 1000000;

// Rows per second `copy` (a COPY … TO STDOUT) hands out (best of 3): what PostgreSQL can read out.
double copy_rows_per_s(relay::pg::Connection& c, const char* copy) {
  double best = 0;
  for (int run = 0; run < 3; ++run) {
    auto t0 = Clock::now();
    PGresult* r = PQexec(c.raw(), copy);
    if (PQresultStatus(r) != PGRES_COPY_OUT) die("COPY accounts failed");
    PQclear(r);
    long rows = 0;
    char* buf = nullptr;
    while (PQgetCopyData(c.raw(), &buf, 0) > 0) {
      ++rows;
      PQfreemem(buf);
    }
    while (PGresult* rest = PQgetResult(c.raw())) PQclear(rest);
    best = std::max(best, rows / seconds_since(t0));
  }
  return best;
}

// A writer updating a random row 1,000 times a second, one transaction each, until stopped; the
// latency of each update, in milliseconds.
class Writer {
 public:
  explicit Writer(const std::string& url) : conn_(connect(url)) {
    thread_ = std::thread([this] {
      std::mt19937 rng(42);
      auto next = Clock::now();
      while (!stop_) {
        next += std::chrono::milliseconds(1);
        std::string id = std::to_string(1 + rng() % kRows);
        auto t0 = Clock::now();
        auto r = conn_.exec("UPDATE accounts SET balance = balance + 1, updated_at = now() WHERE id = $1", {id});
        if (!r) die("the writer's update failed: " + r.error().message);
        latencies_.push_back(seconds_since(t0) * 1000);
        std::this_thread::sleep_until(next);
      }
    });
  }
  // Stops the writer; its latencies' p50 and p99.
  std::pair<double, double> stop() {
    stop_ = true;
    thread_.join();
    std::sort(latencies_.begin(), latencies_.end());
    if (latencies_.empty()) return {0, 0};
    return {latencies_[latencies_.size() / 2], latencies_[latencies_.size() * 99 / 100]};
  }
  ~Writer() {
    if (thread_.joinable()) stop();
  }

 private:
  relay::pg::Connection conn_;
  std::atomic<bool> stop_{false};
  std::vector<double> latencies_;
  std::thread thread_;
};

}  // namespace

void backfill_costs(const std::function<void(const std::string&, double, const std::string&)>& report) {
  const std::string db = "relay_bench_backfill";
  const char* redis = std::getenv("PGTRICKLE_TEST_REDIS_URL");
  struct Case {
    std::string name, capture, sink;
  };
  std::vector<Case> cases = {{"file", "trigger", "file"}};
  if (redis && *redis) cases.push_back({"redis", "trigger", "redis"});
  cases.push_back({"wal_file", "wal", "file"});
  std::cout << fmt::format("backfill: {} rows, a writer updating random rows at 1,000/s during it; beside COPY of the same table\n", kRows);
  for (const auto& k : cases) {
    auto c = fresh_database(db);
    const std::string url = db_url(db);
    exec(c, "CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) NOT NULL, "
            "region text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())");
    exec(c, fmt::format("INSERT INTO accounts SELECT g, 'owner ' || g, (g % 10000) / 100.0, (ARRAY['eu','us','asia'])[1 + g % 3], now() "
                        "FROM generate_series(1, {}) AS g", kRows));
    exec(c, "VACUUM ANALYZE accounts");
    exec(c, fmt::format("SELECT pgtrickle.enable_outbox('accounts', capture => '{}')", k.capture));
    std::string unique = fmt::format("relay_bench_backfill_{}_{}", k.name, getpid());
    std::string sink = k.sink == "redis"
                           ? fmt::format(R"("sink_type": "redis", "url": "{}", "stream_key": "{}")", redis, unique)
                           : fmt::format(R"("sink_type": "file", "path": "/tmp/{}.jsonl")", unique);
    exec(c, "SELECT pgtrickle.set_relay_outbox('accounts-out', config => '{\"stream_table\": \"accounts\", " + sink + "}'::jsonb)");
    double copy_rate = copy_rows_per_s(c, "COPY accounts TO STDOUT");
    // The same rows as JSON objects, as a backfill has the server render them.
    double json_rate = copy_rows_per_s(c, "COPY (SELECT row_to_json(a) FROM accounts AS a) TO STDOUT");

    Relay relay({"--postgres-url", url, "--metrics-addr", "127.0.0.1:0", "--sql-file-dir", "/tmp"},
                "/tmp/relay_bench_backfill.err");
    int port = relay.port();
    for (int i = 0; i < 500 && metric(port, "pgtrickle_relay_pipeline_owned") < 1; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (k.capture == "wal")  // its slot streams before the clock starts
      for (int i = 0; i < 500; ++i) {
        auto r = c.exec("SELECT count(*) FROM pg_stat_replication");
        if (r && r->int64(0, 0) > 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }

    // The writer alone, then the same writer during the backfill.
    std::optional<Writer> alone(std::in_place, url);
    std::this_thread::sleep_for(std::chrono::seconds(5));
    auto [alone_p50, alone_p99] = alone->stop();
    alone.reset();
    Writer during(url);
    auto t0 = Clock::now();
    exec(c, "SELECT pgtrickle.backfill_relay('accounts-out')");
    for (;;) {
      auto r = c.exec("SELECT state FROM pgtrickle.relay_backfills ORDER BY id DESC LIMIT 1");
      if (r && r->rows() == 1 && r->str(0, 0) == "done") break;
      if (seconds_since(t0) > 600) die("the backfill did not finish within 10 minutes; see /tmp/relay_bench_backfill.err");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    double elapsed = seconds_since(t0);
    auto [during_p50, during_p99] = during.stop();
    auto done = c.exec("SELECT rows_done, rows_sent FROM pgtrickle.relay_backfills ORDER BY id DESC LIMIT 1");
    long rows_done = done ? done->int64(0, 0) : 0;
    double rate = rows_done / elapsed;
    std::cout << fmt::format("  {}: {} rows in {:.1f} s ({} sent; the others changed meanwhile), COPY {:.0f} rows/s, "
                             "COPY of row_to_json {:.0f} rows/s\n",
                             k.name, rows_done, elapsed, done ? done->int64(0, 1) : 0, copy_rate, json_rate);
    report(fmt::format("backfill_{}_rows_per_s", k.name), rate, "rows/s");
    report(fmt::format("backfill_{}_copy_rows_per_s", k.name), copy_rate, "rows/s");
    report(fmt::format("backfill_{}_percent_of_copy", k.name), 100.0 * rate / copy_rate, "%");
    report(fmt::format("backfill_{}_json_copy_rows_per_s", k.name), json_rate, "rows/s");
    report(fmt::format("backfill_{}_percent_of_json_copy", k.name), 100.0 * rate / json_rate, "%");
    report(fmt::format("backfill_{}_writer_p50_ms_alone", k.name), alone_p50, "ms");
    report(fmt::format("backfill_{}_writer_p50_ms_during", k.name), during_p50, "ms");
    report(fmt::format("backfill_{}_writer_p99_ms_alone", k.name), alone_p99, "ms");
    report(fmt::format("backfill_{}_writer_p99_ms_during", k.name), during_p99, "ms");
    report(fmt::format("backfill_{}_relay_peak_rss_mb", k.name), relay.rss_peak_kb() / 1024.0, "MB");
    if (k.sink == "file") std::remove(fmt::format("/tmp/{}.jsonl", unique).c_str());
  }
}

}  // namespace bench
