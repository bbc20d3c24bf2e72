#include "sinks/pg_inbox/pg_inbox_sink.h"

#include <fmt/format.h>

#include "sinks/pg_inbox/inbox_rows.h"
#include "util/strings.h"

namespace relay {
namespace {

class PgInboxSink final : public Sink {
 public:
  PgInboxSink(const PipelineConfig& config, const BuildContext& ctx, InboxRowOptions rows)
      : config_(config), ctx_(ctx), rows_(std::move(rows)) {
    const auto& s = config.sink();
    url_ = s.contains("postgres_url") ? s["postgres_url"].get<std::string>() : ctx.postgres_url;
    if (s.contains("inbox_name")) {
      inbox_name_ = s["inbox_name"].get<std::string>();
      schema_ = "pgtrickle";
      table_ = "inbox_" + inbox_name_;
    } else {
      std::string t = s["inbox_table"].get<std::string>();
      auto dot = t.find('.');
      schema_ = dot == std::string::npos ? "pgtrickle" : t.substr(0, dot);
      table_ = dot == std::string::npos ? t : t.substr(dot + 1);
      if (util::starts_with(table_, "inbox_")) inbox_name_ = table_.substr(6);
    }
  }

  Status start() override {
    auto c = pg::Connection::open(url_, "pgtrickle-relay inbox " + config_.name);
    if (!c) return c.error();
    db_ = std::move(*c);
    auto exists = db_.exec("SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NOT NULL", {schema_, table_});
    if (!exists) return exists.error();
    if (!exists->boolean(0, 0)) {
      if (auto s = create_inbox(); !s) return s;
    }
    std::string target = db_.quote_ident(schema_) + "." + db_.quote_ident(table_);
    auto p = db_.prepare("inbox_insert", fmt::format(
        "INSERT INTO {} (event_id, event_type, source, aggregate_id, payload, error, headers, trace_id) "
        "SELECT event_id, event_type, source, aggregate_id, payload, error, coalesce(headers, '{{}}'), trace_id "
        "FROM jsonb_to_recordset($1::jsonb) AS r(event_id text, event_type text, source text, aggregate_id text, "
        "payload jsonb, error text, headers jsonb, trace_id text) ON CONFLICT (event_id) DO NOTHING", target));
    if (!p) return p;
    return {};
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
    // rejected; the others are inserted in one statement, so in one transaction.
    size_t rows = encode_inbox_rows(batch, rows_, buf_, outcomes);
    if (rows == 0) return;
    auto r = db_.exec_prepared("inbox_insert", {buf_});
    if (r) {
      long long inserted = std::atoll(PQcmdTuples(r->get()));
      if (ctx_.metrics && inserted < static_cast<long long>(rows)) ctx_.metrics->dedup_skipped.inc(rows - static_cast<size_t>(inserted));
      return;
    }
    if (r.error().kind != ErrorKind::permanent || rows == 1) {
      for (auto& o : outcomes) {
        if (o.kind == Outcome::rejected) continue;
        o = {r.error().kind == ErrorKind::permanent ? Outcome::rejected : Outcome::retriable, r.error().message};
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
  // A missing inbox is created with the standard columns and views: create_inbox(name) for
  // pgtrickle.inbox_<name>, create_inbox_table for any other table name.
  Status create_inbox() {
    const auto& s = config_.sink();
    std::string retries = std::to_string(s.value("max_retries", 3)), retention = std::to_string(s.value("retention_hours", 72));
    std::string dead_letter = s.value("with_dead_letter", true) ? "true" : "false";
    auto r = !inbox_name_.empty()
                 ? db_.exec("SELECT pgtrickle.create_inbox($1, $2, $3::int, $4, $5::bool, true, $6::int)",
                            {inbox_name_, schema_, retries, s.value("schedule", "1s"), dead_letter, retention})
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
  std::string buf_;
};

}  // namespace

Result<std::unique_ptr<Sink>> make_pg_inbox_sink(const PipelineConfig& config, const BuildContext& ctx) {
  auto rows = InboxRowOptions::from_config(config.sink(), config.direction == Direction::forward);
  if (!rows) return rows.error();
  return std::unique_ptr<Sink>(std::make_unique<PgInboxSink>(config, ctx, std::move(*rows)));
}

}  // namespace relay
