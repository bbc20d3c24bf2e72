#include "backends/registry.h"

#include <fmt/format.h>

#include <functional>

#include "backends/postgres/inbox_rows.h"
#include "util/strings.h"

namespace relay::postgres {
namespace {

class PgInboxSink final : public Sink {
 public:
  PgInboxSink(const PipelineConfig& config, const BuildContext& ctx, InboxRowOptions rows)
      : config_(config), ctx_(ctx), rows_(std::move(rows)) {
    const ConfigSection s = config.sink_section();
    url_ = s.has("postgres_url") ? s.text("postgres_url") : ctx.postgres_url;
    if (s.has("inbox_name")) {
      inbox_name_ = s.text("inbox_name");
      schema_ = "pgtrickle";
      table_ = "inbox_" + inbox_name_;
    } else {
      std::string t = s.text("inbox_table");
      auto dot = t.find('.');
      schema_ = dot == std::string::npos ? "pgtrickle" : t.substr(0, dot);
      table_ = dot == std::string::npos ? t : t.substr(dot + 1);
      if (util::starts_with(table_, "inbox_")) inbox_name_ = table_.substr(6);
    }
  }

  Status start() override {
    // A server named by a pipeline defined in SQL gets none of the relay's own credentials.
    std::string app = "pgtrickle-relay inbox " + config_.name;
    bool remote_from_sql = ctx_.host_access && config_.sink_section().has("postgres_url");
    auto c = remote_from_sql ? pg::Connection::open_isolated(url_, app, *ctx_.host_access) : pg::Connection::open(url_, app);
    if (!c) return c.error();
    db_ = std::move(*c);
    auto exists = db_.exec("SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NOT NULL", {schema_, table_});
    if (!exists) return exists.error();
    if (!exists->boolean(0, 0)) {
      if (auto s = create_inbox(); !s) return s;
    }
    begin_ = "BEGIN";
    if (ctx_.host_access && !remote_from_sql) {
      // Triggers, policies and defaults of a table run as the role that writes it: here the relay's
      // own role, which reads every raw config. A pipeline defined in SQL therefore writes, in the
      // relay's database, only into a table of the installer (as create_inbox makes) or a superuser,
      // in a schema of theirs. Checked now, so that a refusal stops the pipeline at once, and again
      // in each batch's transaction, after its lock and before its write, in the same round trip
      // as BEGIN: the table may be swapped for another at any time (the batch is then retried,
      // never acknowledged, until the table is the installer's again).
      std::string lock = fmt::format("SELECT pgtrickle._inbox_lock({}, {}, {}, 'ROW EXCLUSIVE')",
                                     pg::quote_literal("pipeline \"" + config_.name + "\""), pg::quote_literal(schema_),
                                     pg::quote_literal(table_));
      if (auto checked = db_.exec(lock); !checked) return checked.error();
      begin_ += "; " + lock;
    }
    std::string target = db_.quote_ident(schema_) + "." + db_.quote_ident(table_);
    copy_into_inbox_ = fmt::format("COPY {} ({}) FROM STDIN", target, kInboxCopyColumns);
    // Batches that hold an event_id the inbox already has go through a session-private staging
    // table, from which INSERT … ON CONFLICT DO NOTHING skips the duplicates.
    auto staging = db_.exec(fmt::format(
        "CREATE TEMPORARY TABLE IF NOT EXISTS {} (event_id text, event_type text, source text, aggregate_id text, "
        "payload jsonb, error text, headers jsonb, trace_id text) ON COMMIT DELETE ROWS", kStaging));
    if (!staging)
      return Error{staging.error().kind,
                   fmt::format("cannot create the temporary table the inbox sink skips duplicates with: {} (the relay's role "
                               "needs TEMPORARY on the database: GRANT TEMPORARY ON DATABASE <db> TO pgtrickle_relay)",
                               staging.error().message)};
    copy_into_staging_ = fmt::format("COPY {} ({}) FROM STDIN", kStaging, kInboxCopyColumns);
    return db_.prepare("inbox_merge", fmt::format("INSERT INTO {0} ({1}) SELECT {1} FROM {2} ON CONFLICT (event_id) DO NOTHING",
                                                  target, kInboxCopyColumns, kStaging));
  }

  void send(std::span<const Message> batch, std::span<Outcome> outcomes, Deadline) override {
    if (!db_.ok()) {
      if (auto s = start(); !s) {
        for (auto& o : outcomes) o = {Outcome::retriable, s.error().message};
        return;
      }
    }
    buf_.clear();
    for (auto& o : outcomes) o = {Outcome::delivered, {}};
    // Messages that cannot become rows (too large, not JSON under the dead-letter policy) come back
    // rejected; the others are inserted in one transaction.
    size_t rows = encode_inbox_rows(batch, rows_, buf_, outcomes);
    if (rows == 0) return;
    auto inserted = insert_rows(rows);
    if (inserted) {
      if (ctx_.metrics && *inserted < rows) ctx_.metrics->dedup_skipped.inc(rows - *inserted);
      return;
    }
    const Error& e = inserted.error();
    if (e.kind != ErrorKind::permanent || rows == 1) {
      for (auto& o : outcomes) {
        if (o.kind == Outcome::rejected) continue;
        o = {e.kind == ErrorKind::permanent ? Outcome::rejected : Outcome::retriable, e.message};
      }
      return;
    }
    // A permanent error in a batch: find the message(s) at fault one by one.
    for (size_t i = 0; i < batch.size(); ++i)
      if (outcomes[i].kind != Outcome::rejected) send(batch.subspan(i, 1), outcomes.subspan(i, 1), {});
  }

  bool healthy() override { return db_.ok(); }
  void stop(Deadline) override { db_ = pg::Connection(); }

 private:
  static constexpr const char* kStaging = "pg_temp.pgtrickle_inbox_staging";

  // Inserts the `rows` rows in buf_ in one transaction; returns how many were new. The fast way is a COPY
  // straight into the inbox; when a row's event_id is already there (a redelivery) that fails as a
  // whole, and the batch goes through the staging table instead.
  Result<size_t> insert_rows(size_t rows) {
    if (copy_straight_) {
      auto s = in_transaction([&]() -> Status { return db_.copy_in(copy_into_inbox_, buf_); });
      if (s) return rows;
      // A refused inbox table, a missing privilege: the staging way would fail alike.
      if (!db_.ok() || s.error().kind == ErrorKind::fatal) return s.error();
      bool duplicate = db_.last_sqlstate() == "23505";  // unique_violation
      auto merged = merge_through_staging();
      // The staging way worked where COPY did not, for another reason than a duplicate (e.g. row
      // level security refuses COPY): use it from now on.
      if (merged && !duplicate) copy_straight_ = false;
      return merged;
    }
    return merge_through_staging();
  }

  Result<size_t> merge_through_staging() {
    size_t inserted = 0;
    auto s = in_transaction([&]() -> Status {
      if (auto c = db_.copy_in(copy_into_staging_, buf_); !c) return c;
      auto r = db_.exec_prepared("inbox_merge", {});
      if (!r) return r.error();
      inserted = static_cast<size_t>(std::atoll(PQcmdTuples(r->get())));
      return {};
    });
    if (!s) return s.error();
    return inserted;
  }

  // BEGIN (and the inbox table locked and checked), `body`, COMMIT; ROLLBACK when either fails.
  Status in_transaction(const std::function<Status()>& body) {
    auto begun = db_.exec(begin_);
    Status s = begun ? body() : Status(begun.error());
    if (s) {
      auto c = db_.exec("COMMIT");
      if (c) return {};
      return c.error();
    }
    if (db_.ok()) (void)db_.exec("ROLLBACK");
    return s;
  }

  // A missing inbox is created with the standard columns and views: create_inbox(name) for
  // pgtrickle.inbox_<name>, create_inbox_table for any other table name.
  Status create_inbox() {
    const ConfigSection s = config_.sink_section();
    std::string retries = std::to_string(s.integer("max_retries")), retention = std::to_string(s.integer("retention_hours"));
    std::string dead_letter = s.flag("with_dead_letter") ? "true" : "false";
    auto r = !inbox_name_.empty()
                 ? db_.exec("SELECT pgtrickle.create_inbox($1, $2, $3::int, $4, $5::bool, true, $6::int)",
                            {inbox_name_, schema_, retries, s.text("schedule"), dead_letter, retention})
                 : db_.exec("SELECT pgtrickle.create_inbox_table($1, $2, $3::int, $4::bool, $5::int)",
                            {table_, schema_, retries, dead_letter, retention});
    if (!r) {
      return Error{r.error().kind, fmt::format("the inbox {}.{} does not exist and creating it failed: {} "
                                               "(run pgtrickle-relay install on that database)",
                                               schema_, table_, r.error().message)};
    }
    ctx_.log->info("Created the missing inbox.", {{"inbox", schema_ + "." + table_}});
    return {};
  }

  const PipelineConfig& config_;
  BuildContext ctx_;
  InboxRowOptions rows_;
  std::string url_, schema_, table_, inbox_name_;
  pg::Connection db_;
  std::string begin_;  // BEGIN, and for a pipeline defined in SQL the inbox table locked and checked
  std::string copy_into_inbox_, copy_into_staging_;
  bool copy_straight_ = true;
  std::string buf_;  // the batch's rows, as COPY text
};

}  // namespace

Result<std::unique_ptr<Sink>> make_inbox_sink(const PipelineConfig& config, const BuildContext& ctx) {
  auto rows = InboxRowOptions::from_config(config.sink_section(), config.direction == Direction::forward);
  if (!rows) return rows.error();
  return std::unique_ptr<Sink>(std::make_unique<PgInboxSink>(config, ctx, std::move(*rows)));
}

}  // namespace relay::postgres
