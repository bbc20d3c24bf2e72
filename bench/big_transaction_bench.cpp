// One big transaction ("big_transaction"): a single transaction inserts 1,000,000 rows of about 200
// bytes (PGTRICKLE_BENCH_BIG_ROWS sets another count) into a table read, each in a run of its own
// (every slot decodes the whole WAL):
// - by pg_recvlogical through a pgoutput slot, protocol 1: the decode floor of every CDC tool,
//   timed until its walsender has sent the whole transaction; and with protocol 2 streaming;
// - by the relay, a pipeline of source type "wal" naming the table, to a file: the transaction
//   streamed while it runs (the default), and sent whole at its commit ("streaming": false);
// - by the relay, the table captured from the WAL (enable_outbox(t, capture => 'wal')), to a file;
// - by the relay, the table captured by trigger (its delta in a claim-check table), to a file.
// For each: COMMIT → the last row delivered (sent, for pg_recvlogical), the server's CPU meanwhile
// (every PostgreSQL process), what the server spilled for the slot (pg_stat_replication_slots),
// and the relay's peak resident memory and what it held on disk at the COMMIT.
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>

#include "bench_support.h"

namespace bench {
namespace {

long big_rows() {
  const char* v = std::getenv("PGTRICKLE_BENCH_BIG_ROWS");
  return v && std::atol(v) > 0 ? std::atol(v) : 1000000;
}

struct Outcome {
  double seconds = 0, server_cpu = 0;
  long relay_peak_kb = -1;
  double server_spill_mb = -1;  // what the server spilled to disk for the slot
  double relay_spill_mb = -1;   // what the relay held on disk at the COMMIT
};

// How the table is read in one case: made ready before the transaction, and done once `rows`
// rows were delivered.
struct Case {
  std::string key, title;
  std::string capture;   // enable_outbox's capture, or "" (a publication, or a pipeline of source type wal)
  std::string pipeline;  // the pipeline's config, or "" (pg_recvlogical)
  bool streaming = false;  // pg_recvlogical: protocol 2 with streaming
};

// Bytes of the relay's spill files (nameless, so found through its open descriptors), at this moment.
double spilled_mb(pid_t relay) {
  double bytes = 0;
  std::error_code ec;
  for (const auto& fd : std::filesystem::directory_iterator(fmt::format("/proc/{}/fd", relay), ec)) {
    auto target = std::filesystem::read_symlink(fd.path(), ec);
    struct stat st{};
    if (!ec && target.string().find("pgtrickle-relay-spill-") != std::string::npos && ::stat(fd.path().c_str(), &st) == 0)
      bytes += static_cast<double>(st.st_size);
  }
  return bytes / 1048576.0;
}

void drop_slots(relay::pg::Connection& c) {
  exec(c, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()");
}

Outcome run_case(const Case& k, long rows) {
  const std::string db = "relay_bench_big";
  auto c = fresh_database(db);
  const std::string url = db_url(db);
  const pid_t postmaster = postmaster_pid(c);
  exec(c, "CREATE TABLE big (id bigint PRIMARY KEY, name text, note text, amount numeric(12,2), at timestamptz)");
  pid_t recvlogical = -1;
  std::optional<Relay> relay;
  int port = -1;
  if (k.pipeline.empty()) {
    exec(c, "CREATE PUBLICATION bench_big FOR TABLE big");
    exec(c, "SELECT pg_create_logical_replication_slot('relay_bench_big', 'pgoutput')");
    recvlogical = fork();
    if (recvlogical == 0) {
      std::string bin = postgres_bin() + "/pg_recvlogical";
      if (k.streaming)
        execl(bin.c_str(), bin.c_str(), "-d", url.c_str(), "--slot", "relay_bench_big", "--start", "-o", "proto_version=2", "-o",
              "streaming=on", "-o", "publication_names=bench_big", "-f", "/dev/null", "-F", "1", "-s", "1", static_cast<char*>(nullptr));
      else
        execl(bin.c_str(), bin.c_str(), "-d", url.c_str(), "--slot", "relay_bench_big", "--start", "-o", "proto_version=1", "-o",
              "publication_names=bench_big", "-f", "/dev/null", "-F", "1", "-s", "1", static_cast<char*>(nullptr));
      _exit(127);
    }
  } else {
    if (!k.capture.empty()) exec(c, fmt::format("SELECT pgtrickle.enable_outbox('big', capture => '{}')", k.capture));
    exec(c, "SELECT pgtrickle.set_relay_outbox('big-out', config => '" + k.pipeline + "'::jsonb)");
    relay.emplace(std::vector<std::string>{"--postgres-url", url, "--metrics-addr", "127.0.0.1:0", "--sql-file-dir", "/tmp",
                                           "--state-dir", "/tmp/relay_bench_state"},
                  "/tmp/relay_bench_big_" + k.key + ".err");
    port = relay->port();
    for (int i = 0; i < 500 && metric(port, "pgtrickle_relay_pipeline_owned") < 1; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // The reader streams (a WAL reader's slot exists) before the transaction begins.
  for (int i = 0; i < 300; ++i) {
    auto r = c.exec("SELECT count(*) FROM pg_stat_replication");
    if (k.capture == "trigger" || (r && r->int64(0, 0) >= 1)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));

  exec(c, "BEGIN");
  exec(c, fmt::format("INSERT INTO big SELECT g, 'customer ' || g || ' ' || md5(g::text), repeat(md5((g + 1)::text), 2) || ' note', "
                      "g * 1.25, '2026-01-01 00:00+00'::timestamptz + g * interval '1 second' FROM generate_series(1, {}) AS g", rows));
  Outcome o;
  if (relay) o.relay_spill_mb = spilled_mb(relay->pid);
  const double cpu0 = server_cpu(postmaster);
  const auto t0 = std::chrono::steady_clock::now();
  exec(c, "COMMIT");
  auto end = c.exec("SELECT pg_current_wal_lsn()::text");
  const std::string target = end ? end->str(0, 0) : "0/0";
  for (;;) {
    if (seconds_since(t0) > 900) die("the transaction was not delivered in 900 s (" + k.key + ")");
    bool done;
    if (relay) {
      done = metric(port, "pgtrickle_relay_messages_delivered_total") >= rows;
    } else {
      auto r = c.exec("SELECT coalesce(bool_and(sent_lsn >= $1::pg_lsn), false) FROM pg_stat_replication", {target});
      done = r && r->boolean(0, 0);
    }
    if (done) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  o.seconds = seconds_since(t0);
  o.server_cpu = server_cpu(postmaster) - cpu0;
  if (auto spill = c.exec("SELECT coalesce(sum(spill_bytes), 0) FROM pg_stat_replication_slots AS s JOIN pg_replication_slots "
                          "USING (slot_name) WHERE database = current_database()"))
    o.server_spill_mb = static_cast<double>(spill->int64(0, 0)) / 1048576.0;
  if (relay) {
    o.relay_peak_kb = relay->rss_peak_kb();
    relay.reset();
  }
  if (recvlogical > 0) {
    kill(recvlogical, SIGTERM);
    waitpid(recvlogical, nullptr, 0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the walsender ends
  drop_slots(c);
  std::remove(fmt::format("/tmp/relay_bench_big_{}_{}.jsonl", k.key, getpid()).c_str());
  return o;
}

}  // namespace

void big_transaction_costs(const std::function<void(const std::string&, double, const std::string&)>& report) {
  const long rows = big_rows();
  const std::string file = R"("sink_type": "file", "path": "/tmp/relay_bench_big_{}_)" + std::to_string(getpid()) + R"(.jsonl")";
  auto wal_pipeline = [&](const std::string& key, bool streaming) {
    return R"({"source": {"type": "wal", "tables": ["public.big"], "streaming": )" + std::string(streaming ? "true" : "false") +
           R"(}, "sink": {"type": "file", "path": "/tmp/relay_bench_big_)" + key + "_" + std::to_string(getpid()) + R"(.jsonl"}})";
  };
  const std::vector<Case> cases = {
      {"recvlogical", "pg_recvlogical, pgoutput protocol 1 (every CDC tool's decode floor)", "", ""},
      {"recvlogical_streaming", "pg_recvlogical, pgoutput protocol 2, streaming", "", "", true},
      {"wal_pipeline", "the relay, a pipeline of source type wal, streamed while it runs", "", wal_pipeline("wal_pipeline", true)},
      {"wal_pipeline_whole", "the relay, a pipeline of source type wal, \"streaming\": false", "", wal_pipeline("wal_pipeline_whole", false)},
      {"wal", "the relay, WAL capture of the table", "wal", "{\"stream_table\": \"big\", " + fmt::format(fmt::runtime(file), "wal") + "}"},
      {"trigger", "the relay, trigger capture (claim-check)", "trigger",
       "{\"stream_table\": \"big\", " + fmt::format(fmt::runtime(file), "trigger") + "}"}};
  std::cout << fmt::format("big_transaction: one transaction inserting {} rows (~200 bytes each), COMMIT → last row delivered\n", rows);
  double floor_s = 0, floor_cpu = 0;
  for (const auto& k : cases) {
    Outcome o = run_case(k, rows);
    if (k.key == "recvlogical") {
      floor_s = o.seconds;
      floor_cpu = o.server_cpu;
    }
    std::cout << fmt::format("  {}: {:.2f} s ({:.2f}x the floor), server CPU {:.1f} s ({:.2f}x), server spill {:.1f} MB{}{}\n", k.title,
                             o.seconds, floor_s > 0 ? o.seconds / floor_s : 0, o.server_cpu, floor_cpu > 0 ? o.server_cpu / floor_cpu : 0,
                             o.server_spill_mb,
                             o.relay_peak_kb > 0 ? fmt::format(", relay peak RSS {:.1f} MB", o.relay_peak_kb / 1024.0) : "",
                             o.relay_spill_mb > 0 ? fmt::format(", relay spill {:.1f} MB at the COMMIT", o.relay_spill_mb) : "");
    report("big_transaction_" + k.key + "_seconds", o.seconds, "s");
    report("big_transaction_" + k.key + "_server_cpu_s", o.server_cpu, "s");
    if (o.server_spill_mb >= 0) report("big_transaction_" + k.key + "_server_spill_mb", o.server_spill_mb, "MB");
    if (o.relay_peak_kb > 0) report("big_transaction_" + k.key + "_relay_peak_rss_mb", o.relay_peak_kb / 1024.0, "MB");
    if (o.relay_spill_mb >= 0) report("big_transaction_" + k.key + "_relay_spill_mb", o.relay_spill_mb, "MB");
  }
  // Protocol 2 must cost small transactions nothing: a backlog of single-row transactions drained
  // with streaming on and off.
  const long small = 200000;
  const WalDrain off = relay_wal_drain(small, false, false), on = relay_wal_drain(small, false, true);
  std::cout << fmt::format("  {} single-row transactions drained by a pipeline of source type wal: streaming {:.0f} rows/s (relay CPU "
                           "{:.1f} s, server {:.1f} s), \"streaming\": false {:.0f} rows/s ({:.1f} s, {:.1f} s): {:.3f}x\n",
                           small, on.rows_per_s, on.relay_cpu_s, on.server_cpu_s, off.rows_per_s, off.relay_cpu_s, off.server_cpu_s,
                           on.rows_per_s / std::max(off.rows_per_s, 1.0));
  report("big_transaction_small_drain_streaming_rows_per_s", on.rows_per_s, "rows/s");
  report("big_transaction_small_drain_whole_rows_per_s", off.rows_per_s, "rows/s");
}

}  // namespace bench
