// Reverse pipelines that need only PostgreSQL: JSON lines from stdin into an inbox, the inbox
// created when missing (also under a name without the inbox_ prefix, as in seed 001), and the
// column mapping, seen from SQL.
#include <fmt/format.h>

#include <fstream>

#include "fixture.h"

using namespace relay::test;
using namespace std::chrono_literals;

namespace {

// Runs the relay with `input` on its standard input; returns its exit code.
int run_with_stdin(const std::string& toml, const std::string& input, std::string& output) {
  std::string in = toml + ".in";
  std::ofstream(in) << input;
  return run_command(shell_quote(relay_binary()) + " --config " + toml + " < " + in, output);
}

}  // namespace

TEST(Reverse, StdinJsonLinesLandInTheInboxOnceAndTheRelayStopsAtTheEnd) {
  TestDb db;
  std::string toml = write_toml(db, R"([[pipeline]]
name = "events-from-stdin"
source = { type = "stdin" }
sink = { type = "inbox", inbox_name = "events", event_type = "$.type", aggregate_id = "$.order_id" }
batch_size = 2
)");
  std::string input =
      R"({"dedup_key": "a", "type": "order.created", "order_id": 7, "amount": 10.50})" "\n"
      R"({"dedup_key": "b", "type": "order.paid", "order_id": 7})" "\n"
      "\n"
      R"({"dedup_key": "a", "type": "order.created", "order_id": 7, "amount": 10.50})" "\n"
      "not json at all\n"
      R"({"dedup_key": "big", "amount": 1e200000})" "\n"  // valid JSON that jsonb cannot hold
      R"({"dedup_key": "nul", "note": "a\u0000b"})" "\n"
      R"({"event_id": 42, "type": "order.shipped"})";  // no final newline
  std::string output;
  int code = run_with_stdin(toml, input, output);
  EXPECT_EQ(code, 0) << output;
  EXPECT_NE(output.find("Created the missing inbox"), std::string::npos) << output;
  // It stops because the input ended, and says so; no signal was sent.
  EXPECT_NE(output.find("Stopping; draining. reason=\"the input ended\""), std::string::npos) << output;
  EXPECT_EQ(output.find("SIGTERM"), std::string::npos) << output;
  EXPECT_EQ(output.find("stop signal"), std::string::npos) << output;
  EXPECT_EQ(db.value("SELECT string_agg(event_id || ' ' || coalesce(event_type, '-') || ' ' || coalesce(aggregate_id, '-'), ', ' "
                     "ORDER BY event_id) FROM pgtrickle.inbox_events WHERE error IS NULL"),
            "42 order.shipped -, a order.created 7, b order.paid 7");
  EXPECT_EQ(db.value("SELECT payload->>'amount' FROM pgtrickle.inbox_events WHERE event_id = 'a'"), "10.50");
  // The line that is not JSON is kept as a JSON string, its error noted, under the line's digest.
  EXPECT_EQ(db.value("SELECT payload #>> '{}' FROM pgtrickle.inbox_events WHERE error LIKE '%not valid JSON%'"), "not json at all");
  EXPECT_EQ(db.value("SELECT left(event_id, 7) FROM pgtrickle.inbox_events WHERE error LIKE '%not valid JSON%'"), "sha256:");
  // So are lines PostgreSQL's jsonb refuses: a number beyond numeric, the escape \u0000.
  EXPECT_EQ(db.value("SELECT payload #>> '{}' FROM pgtrickle.inbox_events WHERE error LIKE '%numeric range%'"),
            R"({"dedup_key": "big", "amount": 1e200000})");
  EXPECT_EQ(db.value("SELECT payload #>> '{}' FROM pgtrickle.inbox_events WHERE error LIKE '%u0000%'"),
            R"({"dedup_key": "nul", "note": "a\u0000b"})");
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_events"), 6);
  // The standard views of create_inbox exist.
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_events_pending"), 6);
}

TEST(Reverse, AnInboxTableWithoutThePrefixIsCreatedAsNamedWithTheStandardColumns) {
  TestDb db;
  // Seed 001's reverse example names its inbox "orders_inbox": pgtrickle.orders_inbox, not inbox_orders_inbox.
  db.exec(R"(SELECT pgtrickle.set_relay_inbox('stdin-to-orders-inbox', config => '{"source_type": "stdin", "inbox_table": "orders_inbox"}'::jsonb))");
  std::string output;
  std::string in = work_dir() + "/bare-" + db.name() + ".in";
  std::ofstream(in) << R"({"dedup_key": "x1", "n": 1})" "\n" R"({"dedup_key": "x2", "n": 2})" "\n";
  int code = run_command(shell_quote(relay_binary()) + " --postgres-url '" + db.relay_url() + "' --metrics-addr 127.0.0.1:0 < " + in, output);
  EXPECT_EQ(code, 0) << output;
  EXPECT_EQ(db.value("SELECT string_agg(event_id, ',' ORDER BY event_id) FROM pgtrickle.orders_inbox WHERE NOT processed"), "x1,x2");
  EXPECT_EQ(db.value("SELECT to_regclass('pgtrickle.inbox_orders_inbox') IS NULL"), "t");
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.orders_inbox_pending"), 2);
  // It is a registered inbox: the helper functions work on it by name.
  EXPECT_EQ(db.value("SELECT pgtrickle.inbox_mark_processed('orders_inbox', 'x1')"), "t");
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.orders_inbox_pending"), 1);
  // create_inbox on the same name later keeps that table.
  db.exec("SELECT pgtrickle.create_inbox('orders_inbox')");
  EXPECT_EQ(db.value("SELECT to_regclass('pgtrickle.inbox_orders_inbox') IS NULL"), "t");
}

TEST(Reverse, AnInboxUnderRowLevelSecurityIsFilledThroughItsPolicy) {
  // PostgreSQL refuses COPY into a table whose row level security applies to the relay: its rows
  // then go in with INSERT, under the policy, from the first batch on.
  TestDb db;
  db.exec("SELECT pgtrickle.create_inbox('guarded')");
  db.exec("ALTER TABLE pgtrickle.inbox_guarded ENABLE ROW LEVEL SECURITY");
  db.exec("CREATE POLICY relay_writes ON pgtrickle.inbox_guarded FOR INSERT TO pgtrickle_relay WITH CHECK (event_type = 'allowed')");
  db.exec("CREATE POLICY relay_reads ON pgtrickle.inbox_guarded FOR SELECT TO pgtrickle_relay USING (true)");
  std::string toml = write_toml(db, R"([[pipeline]]
name = "guarded-from-stdin"
source = { type = "stdin" }
sink = { type = "inbox", inbox_name = "guarded", event_type = "$.type" }
batch_size = 3
)");
  std::string input;
  for (int i = 1; i <= 7; ++i) input += fmt::format(R"({{"dedup_key": "e{}", "type": "allowed"}})" "\n", i);
  input += R"({"dedup_key": "e2", "type": "allowed"})" "\n";  // a duplicate
  std::string output;
  EXPECT_EQ(run_with_stdin(toml, input, output), 0) << output;
  EXPECT_EQ(db.value("SELECT string_agg(event_id, ',' ORDER BY event_id) FROM pgtrickle.inbox_guarded"), "e1,e2,e3,e4,e5,e6,e7");
  EXPECT_EQ(output.find("WARN"), std::string::npos) << output;
}

TEST(Reverse, AReverseTemplateOrABadMappingIsRefusedWithWhatToWrite) {
  TestDb db;
  std::string toml = write_toml(db, R"([[pipeline]]
name = "bad"
source = { type = "stdin" }
sink = { type = "inbox", inbox_name = "bad", event_id = "id" }
)");
  RelayProcess relay({"--config", toml});
  std::string error = wait_for_pipeline_error(relay, "bad");
  EXPECT_NE(error.find("event_id: \"id\" is not a field reference; write a JSON path into the payload such as \"$.id\""),
            std::string::npos)
      << error;
}

TEST(Reverse, TheSeedAggregateOverTheInboxReturnsTheTotals) {
  TestDb db;
  // Seed 000: create_inbox, then a query grouping unprocessed payments by customer_id; docs/inbox.md's
  // one extra line gives the inbox that column, computed from the payload.
  db.exec("SELECT pgtrickle.create_inbox('payment_events')");
  db.exec("ALTER TABLE pgtrickle.inbox_payment_events ADD COLUMN customer_id text GENERATED ALWAYS AS (payload->>'customer_id') STORED");
  std::string toml = write_toml(db, R"([[pipeline]]
name = "payments-from-stdin"
source = { type = "stdin" }
sink = { type = "inbox", inbox_name = "payment_events" }
)");
  std::string input;
  for (int i = 1; i <= 30; ++i)
    input += fmt::format(R"({{"dedup_key": "pay-{}", "customer_id": "c{}", "amount": {}.25}})", i, i % 3, i) + "\n";
  input += R"({"dedup_key": "pay-7", "customer_id": "c1", "amount": 7.25})" "\n";  // a redelivery
  std::string output;
  ASSERT_EQ(run_with_stdin(toml, input, output), 0) << output;
  db.exec("SELECT pgtrickle.inbox_mark_processed('payment_events', 'pay-3')");
  std::string totals = db.value(
      "SELECT string_agg(format('%s %s %s', customer_id, total_paid, payment_count), ', ' ORDER BY customer_id) FROM ("
      "SELECT customer_id, SUM((payload->>'amount')::numeric) AS total_paid, COUNT(*) AS payment_count "
      "FROM pgtrickle.inbox_payment_events WHERE processed = false GROUP BY customer_id) AS seed_query");
  // c0: 6, 9, ..., 30 without 3 (processed) → 9 payments; c1: 1, 4, ..., 28 → 10; c2: 2, 5, ..., 29 → 10.
  EXPECT_EQ(totals, "c0 164.25 9, c1 147.50 10, c2 157.50 10");
}
