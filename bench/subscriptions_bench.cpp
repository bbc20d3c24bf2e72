// What subscriptions (schema pgstream) cost ("subscriptions"). First the writers: pgbench, one
// single-row INSERT of a verified user per transaction, synchronous_commit off, 1 and 8 writers,
// on identical tables side by side in one run (cases in turns, best of N rounds, as "capture"):
// not captured; the seed's generated trigger function written by hand (postgres-stream's
// _publish_after_insert_on_users: events gathered in a jsonb array, one INSERT ... SELECT from
// jsonb_array_elements into a copy of pgstream.events, a deferred constraint trigger with the
// WHEN), with one block and with five; pgstream with one matching subscription, with five of which
// one matches, and with five matching (five events per INSERT). The tables belong to a role that
// is not a superuser, as an application's do: the generated functions run as that role and hand
// the events to the table's emit function, the installer's.
// Then retention: 1,000,000 events of a day past retention dropped by
// pgstream.maintain_partitions(), against DELETE of the same rows from an identical partition,
// in seconds and in WAL bytes.
#include <fmt/format.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "bench_support.h"

namespace bench {
namespace {

const std::string kOwner = "relay_bench_subscriber";  // the tables' owner: not a superuser
const std::string kColumns = "ARRAY['id', 'email', 'created_at']";
const std::string kMatch = "new.email_verified = true";
// When clauses the benchmark's rows (verified users at example.com) never match.
const std::vector<std::string> kNoMatch = {"new.email_verified = false", "new.email LIKE '%@example.org'", "new.id < 0",
                                           "new.email IS NULL"};

// A users table of the seed's example, owned by `owner`.
void create_users(relay::pg::Connection& c, const std::string& table, const std::string& owner) {
  exec(c, fmt::format("CREATE TABLE {} (id bigserial PRIMARY KEY, email text, email_verified bool, created_at timestamptz DEFAULT now())",
                      table));
  exec(c, fmt::format("ALTER TABLE {} OWNER TO {}", table, owner));
}

// Subscriptions of stream 1 on `table`, one per when clause, keys <table>-<n>.
void subscribe(relay::pg::Connection& c, const std::string& table, const std::vector<std::string>& whens) {
  for (size_t i = 0; i < whens.size(); ++i)
    exec(c, fmt::format("INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name, when_clause, column_names) "
                        "VALUES ('{0}-{1}', 1, 'INSERT', 'public', '{0}', {2}, {3})",
                        table, i, relay::pg::quote_literal(whens[i]), kColumns));
}

// The seed's generated function and trigger, written by hand, with `blocks` subscriptions that
// match a verified user, writing into bench_events.
void hand_written(relay::pg::Connection& c, const std::string& table, int blocks) {
  std::string body, when;
  for (int i = 0; i < blocks; ++i) {
    body += fmt::format(R"(
  if {2} then
    v_jsonb_output := v_jsonb_output || (jsonb_build_object(
      'tg_name', '{0}-{1}',
      'new', jsonb_build_object('id', new.id, 'email', new.email, 'created_at', new.created_at),
      'old', null
    ) || v_base_payload || '{{}}'::jsonb);
  end if;
)",
                        table, i, kMatch);
    when += fmt::format("{}({})", i > 0 ? " or " : "", kMatch);
  }
  exec(c, fmt::format(R"(create function public._publish_after_insert_on_{0}()
returns trigger as $$
declare
  v_jsonb_output jsonb := '[]'::jsonb;
  v_base_payload jsonb := jsonb_build_object(
    'tg_op', tg_op,
    'tg_table_name', tg_table_name,
    'tg_table_schema', tg_table_schema,
    'timestamp', (extract(epoch from now()) * 1000)::bigint
  );
begin{1}
  if jsonb_array_length(v_jsonb_output) > 0 then
    insert into public.bench_events (payload, stream_id)
    select elem, 1
    from jsonb_array_elements(v_jsonb_output) as t(elem);
  end if;
  return new;
end;
$$ language plpgsql
set search_path = ''
security definer)",
                      table, body));
  exec(c, fmt::format("ALTER FUNCTION public._publish_after_insert_on_{}() OWNER TO {}", table, kOwner));
  exec(c, fmt::format("create constraint trigger pgstream_insert after insert on public.{0} deferrable initially deferred "
                      "for each row when ({1}) execute procedure public._publish_after_insert_on_{0}()",
                      table, when));
}

// An INSERT of a verified user into `table`: pgbench's transaction.
std::string insert_user(const std::string& table) {
  return fmt::format("INSERT INTO {} (email, email_verified) VALUES ('user@example.com', true);", table);
}

// The WAL position, as text.
std::string wal_lsn(relay::pg::Connection& c) {
  auto r = c.exec("SELECT pg_current_wal_lsn()::text");
  if (!r) die(r.error().message);
  return r->str(0, 0);
}

double wal_bytes_since(relay::pg::Connection& c, const std::string& lsn) {
  auto r = c.exec("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::float8", {lsn});
  if (!r) die(r.error().message);
  return r->float64(0, 0);
}

// A day past retention: its partition's name suffix (YYYYMMDD), its first instant and the next day's.
struct Day {
  std::string suffix, from, to;
};

// pgstream.events_<day>, a partition of a day past retention, holding `events` events of stream 1
// written in 1,000 transactions (numbered, as a relay reading the stream would have them).
void old_partition(relay::pg::Connection& c, const Day& day, long events) {
  exec(c, fmt::format("CREATE TABLE pgstream.events_{} PARTITION OF pgstream.events FOR VALUES FROM ('{}') TO ('{}')", day.suffix,
                      day.from, day.to));
  exec(c, fmt::format("ALTER TABLE pgstream.events_{} OWNER TO pgtrickle_maker", day.suffix));  // as maintain_partitions makes them
  const long per_tx = events / 1000;
  for (long t = 0; t < 1000; ++t)
    exec(c, fmt::format("INSERT INTO pgstream.events (stream_id, payload, created_at) "
                        "SELECT 1, jsonb_build_object('tg_name', 'user-signup', 'tg_op', 'INSERT', 'tg_table_name', 'users', "
                        "'tg_table_schema', 'public', 'timestamp', 1700000000000 + g, 'new', jsonb_build_object('id', g, "
                        "'email', 'user' || g || '@example.com', 'created_at', '{0}'::timestamptz + interval '12 hours'), 'old', null), "
                        "'{0}'::timestamptz + interval '12 hours' FROM generate_series({1}, {2}) AS g",
                        day.from, t * per_tx + 1, (t + 1) * per_tx));
  exec(c, "SELECT pgtrickle.outbox_watermark()");
  exec(c, "VACUUM ANALYZE pgstream.events_" + day.suffix);
  exec(c, "CHECKPOINT");  // both ways start from a checkpoint: their first change of a page is logged whole
}

void retention(const std::function<void(const std::string&, double, const std::string&)>& report) {
  const long events = 1000000;
  auto c = fresh_database("relay_bench_subscriptions_retention");
  exec(c, "SELECT pgstream.stream_outbox(1)");
  auto r = c.exec("SELECT to_char(d, 'YYYYMMDD'), d || ' 00:00:00+00', d + 1 || ' 00:00:00+00' "
                  "FROM (SELECT (now() AT TIME ZONE 'UTC')::date - (retention_days + 3) AS d FROM pgstream.partition_settings) AS s");
  if (!r) die(r.error().message);
  const Day day{r->str(0, 0), r->str(0, 1), r->str(0, 2)};
  std::cout << fmt::format("subscriptions: retention of {} events of one day past retention (1,000 transactions)\n", events);

  old_partition(c, day, events);
  std::string lsn = wal_lsn(c);
  auto t0 = std::chrono::steady_clock::now();
  exec(c, fmt::format("DELETE FROM pgstream.events WHERE created_at >= '{}' AND created_at < '{}'", day.from, day.to));
  double delete_s = seconds_since(t0), delete_wal = wal_bytes_since(c, lsn);
  exec(c, "DROP TABLE pgstream.events_" + day.suffix);

  old_partition(c, day, events);
  lsn = wal_lsn(c);
  t0 = std::chrono::steady_clock::now();
  auto dropped = c.exec("SELECT count(*) FROM pgstream.maintain_partitions() WHERE action = 'dropped' AND partition = $1",
                        {"pgstream.events_" + day.suffix});
  double drop_s = seconds_since(t0), drop_wal = wal_bytes_since(c, lsn);
  if (!dropped || dropped->int64(0, 0) != 1) die("pgstream.maintain_partitions() did not drop pgstream.events_" + day.suffix);

  std::cout << fmt::format("  DELETE of the rows: {:.3f} s, {:.1f} MB of WAL; maintain_partitions() dropping the partition: {:.3f} s, "
                           "{:.3f} MB of WAL\n",
                           delete_s, delete_wal / 1e6, drop_s, drop_wal / 1e6);
  report("subscriptions_retention_delete_s", delete_s, "s");
  report("subscriptions_retention_delete_wal_bytes", delete_wal, "B");
  report("subscriptions_retention_partition_drop_s", drop_s, "s");
  report("subscriptions_retention_partition_drop_wal_bytes", drop_wal, "B");
}

}  // namespace

void subscription_costs(const std::function<void(const std::string&, double, const std::string&)>& report) {
  const std::string db = "relay_bench_subscriptions";
  auto c = fresh_database(db);
  const std::string url = db_url(db);
  exec(c, fmt::format("DO $$ BEGIN CREATE ROLE {}; EXCEPTION WHEN duplicate_object THEN NULL; END $$", kOwner));
  // The hand-written functions' events table: pgstream.events' layout, partitioned by day, with
  // today's partition (and a default one, as pgstream.events has).
  exec(c, "CREATE TABLE bench_events (LIKE pgstream.events INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES) "
          "PARTITION BY RANGE (created_at)");
  exec(c, "DO $$ DECLARE d date := (now() AT TIME ZONE 'UTC')::date; BEGIN "
          "EXECUTE format('CREATE TABLE bench_events_today PARTITION OF bench_events FOR VALUES FROM (%L) TO (%L)', "
          "d || ' 00:00:00+00', d + 1 || ' 00:00:00+00'); END $$");
  exec(c, "CREATE TABLE bench_events_default PARTITION OF bench_events DEFAULT");
  exec(c, fmt::format("ALTER TABLE bench_events OWNER TO {}", kOwner));

  struct Case {
    std::string table, label, hand_written;  // hand_written: the case it is compared with
  };
  const std::vector<Case> cases = {
      {"plain", "not captured", ""},
      {"hand_written", "seed's function by hand, 1 match", ""},
      {"pgstream_1", "pgstream, 1 subscription", "hand_written"},
      {"pgstream_5_1_match", "pgstream, 5 subscriptions, 1 matches", "hand_written"},
      {"hand_written_5", "seed's function by hand, 5 match", ""},
      {"pgstream_5", "pgstream, 5 subscriptions, 5 match", "hand_written_5"}};
  std::vector<std::string> tables;
  for (const auto& k : cases) {
    create_users(c, k.table, kOwner);
    tables.push_back(k.table);
  }
  hand_written(c, "hand_written", 1);
  hand_written(c, "hand_written_5", 5);
  subscribe(c, "pgstream_1", {kMatch});
  std::vector<std::string> one_of_five = {kMatch};
  one_of_five.insert(one_of_five.end(), kNoMatch.begin(), kNoMatch.end());
  subscribe(c, "pgstream_5_1_match", one_of_five);
  subscribe(c, "pgstream_5", std::vector<std::string>(5, kMatch));

  const auto [rounds, seconds] = Rounds::from_env(4, 3);
  std::cout << fmt::format("subscriptions: writers' cost, pgbench single-row INSERTs of a verified user, synchronous_commit off, "
                           "best of {} rounds of {} s per case\n",
                           rounds, seconds);
  for (int clients : {1, 8}) {
    auto tps = best_of_rounds(tables, rounds, [&](const std::string& table) {
      return pgbench_tps(url, insert_user(table), clients, seconds);
    });
    for (const auto& k : cases) {
      const std::string key = fmt::format("subscriptions_{}_{}w", k.table, clients);
      double added = us_added(tps[k.table], tps["plain"]);
      double ratio = k.hand_written.empty() ? 0 : added / us_added(tps[k.hand_written], tps["plain"]);
      std::cout << fmt::format("  {:<38} {} writer(s): {:>8.0f} tx/s, {:>6.1f} us added per transaction{}\n", k.label, clients,
                               tps[k.table], added,
                               k.hand_written.empty() ? "" : fmt::format(", {:.2f} x the hand-written function's", ratio));
      report(key + "_tps", tps[k.table], "tx/s");
      if (k.table == "plain") continue;
      report(key + "_us_added", added, "us");
      if (!k.hand_written.empty()) report(key + "_vs_hand_written", ratio, "x");
    }
  }
  auto events = c.exec("SELECT (SELECT count(*) FROM pgstream.events), (SELECT count(*) FROM bench_events)");
  if (events) std::cout << fmt::format("  (events written: {} by pgstream, {} by hand)\n", events->str(0, 0), events->str(0, 1));
  retention(report);
}

}  // namespace bench
