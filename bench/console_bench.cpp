// What the console costs at 1,000 pipelines, a row a second into each table: the relay's and the
// server's CPU over the same 30 s of writes with the console off, on with nobody looking (it still
// samples every pipeline's status every 30 s for its plots), and on with the pipelines' page open
// (a logged-in client asking for the list every 5 s, as the page does: one statement for all of them).
#include <signal.h>
#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>

#include "bench_support.h"

namespace bench {
namespace {

constexpr int kPipelines = 1000;
const std::string kRole = "relay_bench_console", kPassword = "relay-bench-console-pw";

// The console logs in only where the server checks passwords: a scram-sha-256 line for its role.
void password_login(relay::pg::Connection& c) {
  auto r = c.exec("SHOW hba_file");
  if (!r) die("SHOW hba_file: " + r.error().message);
  const std::string hba = r->str(0, 0), line = "host all " + kRole + " 127.0.0.1/32 scram-sha-256";
  std::stringstream text;
  text << std::ifstream(hba).rdbuf();
  if (text.str().find(line) == std::string::npos) {
    std::ofstream(hba, std::ios::trunc) << line << "\n" << text.str();
    exec(c, "SELECT pg_reload_conf()");
  }
  exec(c, "DO $$ BEGIN CREATE ROLE " + kRole + " LOGIN IN ROLE pgtrickle_relay_admin; "
          "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$");
  exec(c, "ALTER ROLE " + kRole + " PASSWORD '" + kPassword + "'");
}

struct Costs {
  double relay_cpu = 0, server_cpu = 0, writes = 0;
  double console_cpu = 0;  // the console's own threads ("console", "console-plots"), in relay_cpu too
  long rss_kb = 0;
  std::vector<double> list_ms;  // each refresh of the open page, answered
};

Costs measure(const std::string& url, const std::string& relay_url, pid_t postmaster, const std::string& console, bool looking) {
  std::vector<std::string> args = {"--postgres-url", relay_url, "--metrics-addr", "127.0.0.1:0", "--sql-file-dir", "/tmp"};
  if (!console.empty()) args.insert(args.end(), {"--console-addr", console});
  Relay relay(args, fmt::format("/tmp/relay_bench_console_{}{}.err", console.empty() ? "off" : "on", looking ? "_looking" : ""));
  const int port = relay.port();
  auto t0 = std::chrono::steady_clock::now();
  while (metric(port, "pgtrickle_relay_pipelines_owned") < kPipelines && seconds_since(t0) < 120)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::this_thread::sleep_for(std::chrono::seconds(10));  // settled
  std::atomic<bool> done{false};
  Costs c;
  std::thread page;
  if (looking) {
    page = std::thread([&, cport = relay.port("Serving the console.")] {
      httplib::Client client("127.0.0.1", cport);
      auto login = client.Post("/api/login", nlohmann::json{{"role", kRole}, {"password", kPassword}}.dump(), "application/json");
      if (!login || login->status != 200) die("the console's login failed: " + (login ? login->body : std::string("no answer")));
      std::string cookie = login->get_header_value("Set-Cookie");
      cookie = cookie.substr(0, cookie.find(';'));
      while (!done) {
        const auto asked = std::chrono::steady_clock::now();
        auto list = client.Get("/api/pipelines", {{"Cookie", cookie}});
        if (!list || list->status != 200) die("the console's list failed");
        c.list_ms.push_back(seconds_since(asked) * 1000);
        for (int i = 0; i < 50 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  const double relay_before = process_cpu(relay.pid, false), server_before = server_cpu(postmaster);
  const double console_before = threads_cpu(relay.pid, "console");
  c.writes = tps_of(pgbench(url, fmt::format("\\set t random(1, {})\nINSERT INTO t:t (v) VALUES (random());", kPipelines), 2, 30, 0,
                            kPipelines));
  c.relay_cpu = process_cpu(relay.pid, false) - relay_before;
  c.console_cpu = threads_cpu(relay.pid, "console") - console_before;
  c.server_cpu = server_cpu(postmaster) - server_before;
  c.rss_kb = relay.status_kb("VmRSS");
  done = true;
  if (page.joinable()) page.join();
  return c;
}

}  // namespace

void console_costs(const std::function<void(const std::string&, double, const std::string&)>& report) {
  const std::string db = "relay_bench_console";
  auto c = fresh_database(db);
  const std::string url = db_url(db);
  const pid_t postmaster = postmaster_pid(c);
  const std::string relay_url = make_many_pipelines(c, url, kPipelines, fmt::format("relay_bench_console_{}", getpid()));
  password_login(c);
  const Costs off = measure(url, relay_url, postmaster, "", false);
  const Costs idle = measure(url, relay_url, postmaster, "127.0.0.1:0", false);
  const Costs open = measure(url, relay_url, postmaster, "127.0.0.1:0", true);
  std::cout << fmt::format("console at {} pipelines, a row a second into each table, 30 s:\n", kPipelines);
  for (const auto& [name, x] : {std::pair{"off", off}, std::pair{"on, nobody looking", idle}, std::pair{"on, the pipelines' page open", open}})
    std::cout << fmt::format("  {}: relay CPU {:.2f} s ({:+.1f} %; the console's threads {:.2f} s), server CPU {:.2f} s ({:+.1f} %), "
                             "{:.0f} writes/s, relay {:.1f} MB\n", name, x.relay_cpu, (x.relay_cpu / off.relay_cpu - 1) * 100, x.console_cpu,
                             x.server_cpu, (x.server_cpu / off.server_cpu - 1) * 100, x.writes, x.rss_kb / 1024.0);
  report("console_off_relay_cpu_s", off.relay_cpu, "s");
  report("console_off_server_cpu_s", off.server_cpu, "s");
  report("console_idle_relay_cpu_s", idle.relay_cpu, "s");
  report("console_idle_server_cpu_s", idle.server_cpu, "s");
  report("console_open_relay_cpu_s", open.relay_cpu, "s");
  report("console_open_server_cpu_s", open.server_cpu, "s");
  report("console_open_relay_rss_mb", open.rss_kb / 1024.0, "MB");
  report("console_open_console_threads_cpu_s", open.console_cpu, "s");
  // What one refresh of the open page costs, alone: the list's statement runs in one server
  // process, so its time is that process's CPU, out of the 5 s between refreshes.
  auto ms = open.list_ms;
  std::sort(ms.begin(), ms.end());
  if (!ms.empty()) {
    const double median = ms[ms.size() / 2];
    std::cout << fmt::format("  one refresh of the list: median {:.0f} ms over {} (max {:.0f} ms), {:.1f} % of a core at one every 5 s\n",
                             median, ms.size(), ms.back(), median / 50);
    report("console_list_ms", median, "ms");
  }
}

}  // namespace bench
