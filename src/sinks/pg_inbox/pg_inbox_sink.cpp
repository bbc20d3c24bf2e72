#include "sinks/pg_inbox/pg_inbox_sink.h"

#include <fmt/format.h>

#include "util/json_escape.h"
#include "util/strings.h"

namespace relay {
namespace {

class PgInboxSink final : public Sink {
 public:
  PgInboxSink(const PipelineConfig& config, const BuildContext& ctx) : config_(config), ctx_(ctx) {
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
      if (schema_ == "pgtrickle" && util::starts_with(table_, "inbox_")) inbox_name_ = table_.substr(6);
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
        "INSERT INTO {} (event_id, event_type, source, aggregate_id, payload, headers, trace_id) "
        "SELECT event_id, event_type, source, aggregate_id, payload, coalesce(headers, '{{}}'), trace_id "
        "FROM jsonb_to_recordset($1::jsonb) AS r(event_id text, event_type text, source text, aggregate_id text, "
        "payload jsonb, headers jsonb, trace_id text) ON CONFLICT (event_id) DO NOTHING", target));
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
    encode_inbox_rows(batch, buf_);
    auto r = db_.exec_prepared("inbox_insert", {buf_});
    if (r) {
      long long inserted = std::atoll(PQcmdTuples(r->get()));
      if (ctx_.metrics && inserted < static_cast<long long>(batch.size()))
        ctx_.metrics->dedup_skipped.inc(batch.size() - static_cast<size_t>(inserted));
      for (auto& o : outcomes) o = {Outcome::delivered, {}};
      return;
    }
    if (r.error().kind != ErrorKind::permanent || batch.size() == 1) {
      for (auto& o : outcomes)
        o = {r.error().kind == ErrorKind::permanent ? Outcome::rejected : Outcome::retriable, r.error().message};
      return;
    }
    // A permanent error in a batch: find the message(s) at fault one by one.
    for (size_t i = 0; i < batch.size(); ++i) send(batch.subspan(i, 1), outcomes.subspan(i, 1), {});
  }

  bool healthy() override { return db_.ok(); }
  void stop(Deadline) override { db_ = pg::Connection(); }

 private:
  Status create_inbox() {
    if (inbox_name_.empty())
      return fatal(fmt::format("inbox table {}.{} does not exist; create it with SELECT pgtrickle.create_inbox('<name>') "
                               "(which makes pgtrickle.inbox_<name>) and set inbox_name",
                               schema_, table_));
    const auto& s = config_.sink();
    auto r = db_.exec("SELECT pgtrickle.create_inbox($1, $2, $3::int, $4, $5::bool, true, $6::int)",
                      {inbox_name_, schema_, std::to_string(s.value("max_retries", 3)), s.value("schedule", "1s"),
                       s.value("with_dead_letter", true) ? "true" : "false", std::to_string(s.value("retention_hours", 72))});
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
  std::string url_, schema_, table_, inbox_name_;
  pg::Connection db_;
  std::string buf_;
};

std::string_view header_value(const Message& m, std::string_view name) {
  for (const auto& [k, v] : m.headers)
    if (k == name) return v;
  return {};
}

}  // namespace

void encode_inbox_rows(std::span<const Message> batch, std::string& out) {
  out += '[';
  for (size_t i = 0; i < batch.size(); ++i) {
    const Message& m = batch[i];
    if (i) out += ',';
    out += "{\"event_id\":";
    util::append_json_string(out, m.dedup_key);
    out += ",\"event_type\":";
    util::append_json_string_or_null(out, m.routes[0]);
    out += ",\"source\":";
    util::append_json_string_or_null(out, m.source);
    out += ",\"aggregate_id\":";
    util::append_json_string_or_null(out, m.key);
    out += ",\"payload\":";
    out += m.data.empty() ? "null" : m.data;
    out += ",\"headers\":{\"op\":\"";
    out += to_string(m.op);
    out += '"';
    for (const auto& [k, v] : m.headers) {
      out += ',';
      util::append_json_string(out, k);
      out += ':';
      util::append_json_string(out, v);
    }
    out += "},\"trace_id\":";
    util::append_json_string_or_null(out, header_value(m, "traceparent"));
    out += '}';
  }
  out += ']';
}

Result<std::unique_ptr<Sink>> make_pg_inbox_sink(const PipelineConfig& config, const BuildContext& ctx) {
  return std::unique_ptr<Sink>(std::make_unique<PgInboxSink>(config, ctx));
}

}  // namespace relay
