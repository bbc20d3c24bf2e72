#include "backends/postgres/wal_source.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <deque>
#include <map>
#include <mutex>

#include "backends/postgres/change_source.h"
#include "backends/postgres/table_shape.h"
#include "backends/postgres/wal_reader.h"
#include "backends/postgres/wal_tables.h"
#include "format/debezium_event.h"
#include "pg/copy_text.h"
#include "util/digest.h"
#include "util/pg_text.h"

namespace relay::postgres {
namespace {

// A slot's lag is what the server's WAL holds beyond what the relay confirmed; with it, how the
// server rates the WAL the slot keeps, and how much more it may write before invalidating it.
constexpr const char* kSlotLagSql =
    "SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), confirmed_flush_lsn)::bigint, "
    "pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::bigint, wal_status, safe_wal_size "
    "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1";

// The slot as the pipeline finds it when it starts: whether it exists (its database), whether it
// is in use, how the server rates it (lost: invalidated, and why, from PostgreSQL 17 on), what it
// confirmed; and what the relay recorded of it (an operator's request to rebuild it, a rebuild
// under way or to announce).
constexpr const char* kSlotFoundSql =
    "SELECT s.active_pid, s.database, s.database = pg_catalog.current_database(), s.wal_status, "
    "pg_catalog.to_jsonb(s) ->> 'invalidation_reason', s.confirmed_flush_lsn::text, "
    "r.rebuild_requested, r.gap_state, r.gap_from::text "
    "FROM pgtrickle.relay_slots AS r LEFT JOIN pg_catalog.pg_replication_slots AS s ON s.slot_name = r.slot_name "
    "WHERE r.slot_name = $1";

// Why the server invalidated a slot, from pg_replication_slots.invalidation_reason (PostgreSQL 17+).
std::string invalidation_cause(const std::string& reason) {
  if (reason == "wal_removed" || reason.empty())
    return "its WAL was removed: it kept more than max_slot_wal_keep_size allows";
  if (reason == "idle_timeout") return "it stayed unused longer than idle_replication_slot_timeout";
  if (reason == "rows_removed") return "rows it still needed were removed (a standby's conflict with recovery)";
  if (reason == "wal_level_insufficient") return "wal_level is no longer logical";
  return reason;
}

class WalSource final : public ChangeSource {
 public:
  // `target`: the one table captured from the WAL; none for a pipeline of source type "wal".
  WalSource(const PipelineConfig& config, const BuildContext& ctx, std::optional<OutboxTarget> target)
      : ChangeSource(config, ctx), target_(std::move(target)) {}
  ~WalSource() override { stop(); }

  Status start() override { return target_ ? start_capture() : start_pipeline(); }

  // Its tables, and its slot as the lag measured it.
  SourceStatus status() override {
    SourceStatus s = ChangeSource::status();
    {
      std::lock_guard lock(tables_mu_);
      for (const auto& [name, t] : table_status_) s.tables.push_back({name, t.changes, t.problem});
    }
    if (!table_.slot.empty()) {
      s.slot = SlotStatus{table_.slot, wal_behind_bytes_, wal_retained_bytes_, wal_status_, safe_wal_bytes_, {}};
      std::lock_guard lock(streamed_mu_);
      s.slot->streamed = streamed_;
      if (streamed_began_)
        s.slot->streamed.oldest_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - *streamed_began_).count();
    }
    return s;
  }

  // A slot past its cap is invalidated at the server's next checkpoint unless the pipeline catches
  // up; a lost one stops the pipeline once its reader finds out.
  SourceTrouble trouble() override { return {.at_risk = at_risk()}; }

  std::string at_risk() {
    {
      std::lock_guard lock(streamed_mu_);
      if (!streamed_trouble_.empty()) return streamed_trouble_;
    }
    if (wal_status_ == "unreserved")
      return fmt::format("the replication slot \"{}\" keeps more WAL than max_slot_wal_keep_size allows ({}): the server "
                         "invalidates it at its next checkpoint unless the pipeline catches up", table_.slot,
                         safe_wal_bytes_ && *safe_wal_bytes_ > 0 ? fmt::format("{} bytes left", *safe_wal_bytes_) : "none left");
    if (wal_status_ == "lost") return fmt::format("the server invalidated the replication slot \"{}\"", table_.slot);
    return "";
  }

 private:
  // ---- start ----------------------------------------------------------------------------------

  // One table captured by enable_outbox(t, capture => 'wal'), or a pgstream stream read from the WAL.
  Status start_capture() {
    const OutboxTarget::Wal& wal = *target_->wal;
    outbox_table_ = target_->table.outbox;
    auto opt = pipeline_options();
    if (!opt) return opt.error();
    target_->fill(*opt, config_);
    if (debezium_family(config_.format)) {
      auto db = db_->borrow();
      if (!db) return db.error();
      auto table = outbox_source_table(**db, target_->table.outbox, target_->stream_table);
      if (!table) return table.error();
      if (auto s = attach_debezium(*opt, *table); !s) return s;
    }
    expander_.emplace(std::move(*opt));
    auto slot = pick_slot(wal.database_oid);
    if (!slot) return slot.error();
    table_ = WalReader::Table{wal.schema, wal.name, *slot, {wal.publication}, unavailable_placeholder(), text_types(), composites_as_text()};
    auto stored = load_position();
    if (!stored) return stored.error();
    if (auto s = check_stream_position(*stored, true); !s) return s;
    if (auto s = read_slot(*stored, {}); !s) return s;
    ctx_.log->info("Reading the table's changes from the WAL.",
                   {{"table", wal.schema + "." + wal.name}, {"slot", table_.slot}, {"publication", wal.publication},
                    {"position", pgoutput::format_lsn(static_cast<pgoutput::Lsn>(read_.seq))}});
    return {};
  }

  // A pipeline of source type "wal": the tables its publications publish and its "tables" and
  // "exclude" match, read through its slot.
  Status start_pipeline() {
    // A pipeline defined in SQL got its publication from set_relay_outbox, for the role that set it;
    // one of a relay's TOML file gets it now, for the relay's login.
    const std::string origin = config_.origin == "sql" ? std::string("sql") : "file:" + ctx_.relay_group_id;
    auto pub = config_.origin == "sql"
                   ? db_->exec("SELECT pgtrickle._wal_pipeline_publication($1, $2)", {config_.name, origin})
                   : db_->exec("SELECT pgtrickle._wal_file_pipeline_start($1, $2, $3::jsonb)",
                               {config_.name, ctx_.relay_group_id, config_.canonical["source"].dump()});
    if (!pub && pub.error().message.find("_wal_file_pipeline_start") != std::string::npos &&
        pub.error().message.find("does not exist") != std::string::npos)
      return fatal("this database has an older SQL install, without what a WAL pipeline of a TOML file needs: run "
                   "`pgtrickle-relay install` again");
    if (!pub) return pub.error();
    if (pub->rows() != 1 || pub->null(0, 0))
      return fatal(fmt::format("the pipeline's publication is missing: set the pipeline again (SELECT pgtrickle.set_relay_outbox('{}', "
                               "...)), which makes it", config_.name));
    outbox_table_ = pub->str(0, 0);
    if (auto t = db_->exec("SELECT stream_table, problem FROM pgtrickle._wal_pipeline_tables($1::jsonb)", {config_.canonical["source"].dump()})) {
      // Known now, shown in /health before the table's first change; logged once (tables_ logs a change).
      std::lock_guard lock(tables_mu_);
      for (int i = 0; i < t->rows(); ++i)
        if (!t->null(i, 1)) {
          table_status_[t->str(i, 0)].problem = t->str(i, 1);
          ctx_.log->warn("A table of the pipeline cannot be captured whole.", {{"table", t->str(i, 0)}, {"problem", t->str(i, 1)}});
        }
      ctx_.log->info("The pipeline's patterns match these tables now.", {{"tables", std::to_string(t->rows())}});
    }

    auto opt = pipeline_options();
    if (!opt) return opt.error();
    if (config_.format == Format::debezium) {
      opt->tombstones = config_.debezium.tombstones;
      opt->skipped_operations = config_.debezium.skipped;
      if (config_.debezium.transaction_metadata) opt->transaction = transaction_ = std::make_shared<debezium::TransactionCounts>();
    }
    tables_.emplace(outbox_table_, std::move(*opt), [this](const std::string& table, const std::string& problem) {
      std::lock_guard lock(tables_mu_);
      auto& t = table_status_[table];
      if (!problem.empty() && problem != t.problem)
        ctx_.log->warn("A table of the pipeline cannot be captured whole.", {{"table", table}, {"problem", problem}});
      t.problem = problem;
    }, debezium_family(config_.format) ? std::optional(config_.debezium) : std::nullopt);

    auto dboid = db_->exec("SELECT oid::text FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()");
    if (!dboid) return dboid.error();
    auto slot = pick_slot(dboid->str(0, 0));
    if (!slot) return slot.error();
    // Its publications: that of the patterns' schemas, that of the tables named.
    auto pubs = db_->exec("SELECT pgtrickle._wal_publications($1)", {outbox_table_});
    if (!pubs) return pubs.error();
    table_ = WalReader::Table{"", "", *slot, pg_text::parse_text_array(pubs->text(0, 0)), unavailable_placeholder(), text_types(), composites_as_text()};

    auto stored = load_position();
    if (!stored) return stored.error();
    if (auto s = read_slot(*stored, [this](const pgoutput::Relation& relation) { return tables_->decide(wal_->side_connection(), relation); });
        !s)
      return s;
    ctx_.log->info("Reading the tables' changes from the WAL.",
                   {{"publication", outbox_table_}, {"slot", table_.slot},
                    {"position", pgoutput::format_lsn(static_cast<pgoutput::Lsn>(read_.seq))}});
    return {};
  }

  // What both starts end with: the slot made ready and read from the position.
  // Debezium's events carry a placeholder for a TOASTed value the WAL left out; the other formats
  // read it from the table.
  std::string unavailable_placeholder() const {
    return config_.format == Format::debezium ? std::string(debezium::kUnavailablePlaceholder) : std::string();
  }

  // Debezium writes PostGIS values from their text (the EWKB), which to_jsonb's GeoJSON does not keep.
  std::vector<std::string> text_types() const {
    if (config_.format != Format::debezium) return {};
    return {std::string(debezium::kGeometryType), std::string(debezium::kGeographyType), "_" + std::string(debezium::kGeometryType),
            "_" + std::string(debezium::kGeographyType)};
  }

  // Debezium's include.unknown.datatypes sends a composite's text, which to_jsonb's object does not keep.
  bool composites_as_text() const { return config_.format == Format::debezium && config_.debezium.modes.include_unknown; }

  Status read_slot(bool stored, WalReader::Decider decide) {
    if (auto s = backfill_initial(stored); !s) return s;
    if (auto s = open_lag(kSlotLagSql); !s) return s;
    if (auto s = prepare_slot(); !s) return s;
    if (auto s = load_gap(); !s) return s;
    table_.resumed = stored;
    // A WAL pipeline's position keeps, beside its transaction's commit (seq), the end of the
    // transaction delivered before the one it stands in, or of the one it completes (see read_batch);
    // an older relay stored the commit again there.
    table_.resumed_after = stored && read_.id != read_.seq ? static_cast<pgoutput::Lsn>(read_.id) : 0;
    if (!target_) {  // a pipeline of source type wal; the others stream with the defaults
      table_.streaming = config_.source_section().flag("streaming");
      table_.streaming_memory = static_cast<std::size_t>(config_.source_section().integer("streaming_memory_mb")) << 20;
    }
    table_.spill_dir = ctx_.state_dir + "/spill";
    wal_.emplace(ctx_.postgres_url, "pgtrickle-relay wal " + config_.name, table_, std::move(decide));
    if (auto s = wal_->connect(); !s) return s;
    launch();
    return {};
  }

  // ---- the slot ---------------------------------------------------------------------------------

  // A pipeline defined in SQL has one position whichever relay group runs it, so one slot; a TOML
  // file's pipeline is its relay group's own. Slot names are the whole server's, so the database
  // (by oid, which a rename keeps) is part of the name: equally named pipelines of two databases
  // never share a slot.
  std::string slot_name(const std::string& database_oid) const {
    std::string owner = config_.origin == "sql" ? std::string("sql") : "file:" + ctx_.relay_group_id;
    return "pgtrickle_" + util::sha256_hex(database_oid + "/" + owner + "/" + config_.name).substr(0, 20);
  }

  // The slot the pipeline reads: its source's slot_name, else one named from the pipeline.
  Result<std::string> pick_slot(const std::string& database_oid) {
    named_slot_ = config_.source_section().text("slot_name");
    if (!named_slot_.empty() && !is_relay_slot_name(named_slot_))  // a reference resolved to something else
      return fatal("source key \"slot_name\": " + relay_slot_name_rule(named_slot_));
    return named_slot_.empty() ? slot_name(database_oid) : named_slot_;
  }

  // The slot this pipeline reads, created if missing and recorded so that delete_relay and
  // disable_outbox drop it; its reader, when a former owner's connection still holds it, ended.
  Status prepare_slot() {
    const std::string& slot = table_.slot;
    // A slot the config names is read only when it was created for this pipeline: never another
    // pipeline's, nor one another system made.
    if (!named_slot_.empty()) {
      auto owner = lag_db_.exec("SELECT r.pipeline, r.relay_group_id, "
                                "EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots AS s WHERE s.slot_name = $1) "
                                "FROM (SELECT 1) AS one LEFT JOIN pgtrickle.relay_slots AS r ON r.slot_name = $1",
                                {slot});
      if (!owner) return owner.error();
      bool recorded = !owner->null(0, 0);
      if (recorded && (owner->str(0, 0) != config_.name || (config_.origin != "sql" && owner->str(0, 1) != ctx_.relay_group_id)))
        return fatal(fmt::format("the replication slot \"{}\" is the slot of the pipeline \"{}\"; give this pipeline another "
                                 "slot_name", slot, owner->str(0, 0)));
      if (!recorded && owner->boolean(0, 2))
        return fatal(fmt::format("the replication slot \"{}\" exists but was not created for this pipeline, so it is not read "
                                 "(its changes may be another consumer's); name another slot_name, or drop it "
                                 "(SELECT pg_drop_replication_slot('{}')) if nothing reads it", slot, slot));
    }
    if (auto r = lag_db_.exec("INSERT INTO pgtrickle.relay_slots (slot_name, relay_group_id, pipeline, outbox) "
                              "VALUES ($1, $2, $3, $4) ON CONFLICT (slot_name) DO NOTHING",
                              {slot, ctx_.relay_group_id, config_.name, outbox_table_});
        !r)
      return r.error();
    auto found = lag_db_.exec(kSlotFoundSql, {slot});
    if (!found && lag_db_.last_sqlstate() == "42703")  // undefined column: relay_slots before its rebuild columns
      return fatal("this database has an older SQL install, without what a WAL pipeline's slot needs: run "
                   "`pgtrickle-relay install` again");
    if (!found) return found.error();
    if (found->rows() != 1) return retriable(fmt::format("the replication slot \"{}\" was forgotten meanwhile", slot));
    const bool exists = !found->null(0, 1);
    if (exists && !found->boolean(0, 2))
      return fatal(fmt::format("the replication slot \"{}\" belongs to the database \"{}\", not to this one; drop it there "
                               "(SELECT pg_drop_replication_slot('{}')) if nothing reads it",
                               slot, found->str(0, 1), slot));
    const std::string gap_state = found->null(0, 7) ? "" : found->str(0, 7);
    const bool lost = exists && found->str(0, 3) == "lost";
    if (gap_state == "rebuilding") {
      // A rebuild cut short: the new slot may be made already (then it starts where it confirmed).
      if (exists && !lost) return rebuilt(found->str(0, 8), found->str(0, 5));
      return rebuild_slot(found->str(0, 8), exists);
    }
    if (lost) {
      // The changes lost start after the last one delivered: the stored position, else what the slot confirmed.
      const std::string from = read_.seq > 0 ? pgoutput::format_lsn(static_cast<pgoutput::Lsn>(read_.seq))
                               : found->null(0, 5) ? "" : found->str(0, 5);
      if (config_.rebuild_lost_slot || (!found->null(0, 6) && found->boolean(0, 6))) return rebuild_slot(from, true);
      return fatal(fmt::format(
          "the server invalidated the replication slot \"{}\" ({}), so the changes committed since {} can no longer be read. "
          "Either SELECT pgtrickle.rebuild_relay_slot('{}') once, or set \"on_slot_lost\": \"rebuild\" on the pipeline: the "
          "relay then makes a new slot, sends a gap marker (op gap) and backfills {}; rows deleted, and states in between, "
          "within the gap are lost. To keep it from happening again, raise max_slot_wal_keep_size or keep the sink up "
          "(docs/capture.md, \"Slot limits\")",
          slot, invalidation_cause(found->null(0, 4) ? "" : found->str(0, 4)), from.empty() ? "its last position" : from,
          config_.name, table_.schema.empty() ? "every table it captures" : "the table"));
    }
    if (auto s = check_failover(exists); !s) return s;
    if (exists) {
      if (!found->null(0, 0))
        (void)lag_db_.exec("SELECT pg_catalog.pg_terminate_backend($1::int)", {found->str(0, 0)});
      return {};
    }
    auto created = create_slot();
    if (!created) return created.error();
    // A new slot starts at the server's present WAL: a position stored before (another capture
    // mode, an earlier slot) does not apply to it.
    read_ = Position{};
    return {};
  }

  // The source's "failover" (PostgreSQL 17+): refused below 17; a slot that exists and is not a
  // failover slot is made one (ALTER_REPLICATION_SLOT, on a replication connection).
  Status check_failover(bool exists) {
    if (!failover()) return {};
    auto v = lag_db_.exec("SELECT pg_catalog.current_setting('server_version_num')::int >= 170000, "
                          "pg_catalog.current_setting('server_version')");
    if (!v) return v.error();
    if (!v->boolean(0, 0))
      return fatal(fmt::format("source key \"failover\": failover slots need PostgreSQL 17 or later, and this server is "
                               "{}; remove \"failover\" (a slot of an older server is not kept on its standbys)",
                               v->str(0, 1)));
    if (!exists) return {};
    auto is = lag_db_.exec("SELECT failover FROM pg_catalog.pg_replication_slots WHERE slot_name = $1", {table_.slot});
    if (!is) return is.error();
    if (is->rows() == 1 && is->boolean(0, 0)) return {};
    auto repl = pg::Connection::open_replication(ctx_.postgres_url, "pgtrickle-relay failover " + config_.name);
    if (!repl) return repl.error();
    if (auto a = repl->exec(fmt::format("ALTER_REPLICATION_SLOT {} ( FAILOVER true )", table_.slot)); !a) return a.error();
    ctx_.log->info("Made the replication slot a failover slot.", {{"slot", table_.slot}});
    return {};
  }
  bool failover() const { return !target_ && config_.source_section().flag("failover"); }

  // Makes the slot (it does not exist); returns where it starts.
  Result<std::string> create_slot() {
    const std::string& slot = table_.slot;
    // PostgreSQL fixes a new slot's start once every transaction running on the server has ended:
    // a long one anywhere (another database's too) holds the pipeline here, so the log says so.
    ctx_.log->info("Creating the replication slot; it waits for the transactions now running on the server to end.",
                   {{"slot", slot}, {"for", captured()}});
    auto created = failover() ? lag_db_.exec("SELECT lsn::text FROM pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput', "
                                             "false, false, true)", {slot})
                              : lag_db_.exec("SELECT lsn::text FROM pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput')", {slot});
    if (!created) {
      if (lag_db_.last_sqlstate() == "42501")
        return fatal(fmt::format("cannot create the replication slot \"{}\" for {}: {}; give the relay's "
                                 "login the REPLICATION attribute (ALTER ROLE <login> REPLICATION)",
                                 slot, captured(), created.error().message));
      if (lag_db_.last_sqlstate() == "53400")
        return fatal(fmt::format("cannot create the replication slot \"{}\": {}; raise max_replication_slots (every WAL "
                                 "pipeline holds one) and restart PostgreSQL, or drop unused slots",
                                 slot, created.error().message));
      return created.error();
    }
    // Creating a slot waits for the transactions running meanwhile: a disable_outbox or
    // delete_relay among them may have dropped the slots just before this one existed. Then this
    // one would be abandoned, holding WAL forever: it is dropped again.
    auto wanted = lag_db_.exec(
        "SELECT (EXISTS (SELECT 1 FROM pgtrickle._outbox_wal_source($1)) OR pgtrickle._outbox_is_stream($1) "
        "OR EXISTS (SELECT 1 FROM pgtrickle.relay_wal_publications WHERE publication = $1)) "
        "AND EXISTS (SELECT 1 FROM pgtrickle.relay_slots WHERE slot_name = $2) "
        "AND ($3 <> 'sql' OR EXISTS (SELECT 1 FROM pgtrickle.relay_outbox_config WHERE name = $4))",
        {outbox_table_, slot, config_.origin, config_.name});
    if (!wanted) return wanted.error();
    if (!wanted->boolean(0, 0)) {
      (void)lag_db_.exec("SELECT pg_catalog.pg_drop_replication_slot($1)", {slot});
      (void)lag_db_.exec("DELETE FROM pgtrickle.relay_slots WHERE slot_name = $1", {slot});
      return retriable(fmt::format("{} or the pipeline was removed while its replication slot was "
                                   "being created; the slot is dropped again", captured()));
    }
    ctx_.log->info("Created the replication slot.", {{"slot", slot}, {"for", captured()}});
    return created->str(0, 0);
  }

  // ---- a slot the server invalidated, rebuilt ------------------------------------------------------

  // Replaces the invalidated slot by a new one: the changes after `from` (the last one delivered)
  // up to the new slot's start cannot be read. Recorded first, so that a relay stopped halfway
  // finishes it (rebuilt()) and the gap is never left unannounced.
  Status rebuild_slot(const std::string& from, bool exists) {
    const std::string& slot = table_.slot;
    ctx_.log->warn("The server invalidated the replication slot; making a new one, then announcing the gap and backfilling.",
                   {{"slot", slot}, {"gap_from", from}, {"for", captured()}});
    if (auto r = lag_db_.exec("UPDATE pgtrickle.relay_slots SET gap_state = 'rebuilding', gap_from = $2::pg_lsn, gap_to = NULL, "
                              "gap_at = pg_catalog.now(), rebuild_requested = false WHERE slot_name = $1",
                              {slot, from.empty() ? "0/0" : from});
        !r)
      return r.error();
    if (exists) {
      (void)lag_db_.exec("SELECT pg_catalog.pg_terminate_backend(active_pid) FROM pg_catalog.pg_replication_slots "
                         "WHERE slot_name = $1 AND active_pid IS NOT NULL", {slot});
      if (auto r = lag_db_.exec("SELECT pg_catalog.pg_drop_replication_slot($1)", {slot}); !r) return r.error();
    }
    auto to = create_slot();
    if (!to) return to.error();
    return rebuilt(from.empty() ? "0/0" : from, *to);
  }

  // The new slot starts at `to`: the gap is recorded where operators see it (relay_pipeline_status,
  // relay_slots), every table the pipeline captures is backfilled, and the marker goes out first.
  Status rebuilt(const std::string& from, const std::string& to) {
    // The backfill it starts plans the first table through its owner's policies: owner's code, kept
    // off the lag-counting session and its prepared statement.
    auto r = pg::Connection::exec_apart(
        ctx_.postgres_url, "pgtrickle-relay backfill " + config_.name,
        "SELECT b.backfill_id, b.tables::text FROM pgtrickle._relay_slot_rebuilt($1, $2, $3, $4, $5::pg_lsn) AS b",
        {table_.slot, config_.name, outbox_table_, ctx_.relay_group_id, to});
    if (!r) return r.error();
    read_ = Position{};
    ctx_.metrics->slot_rebuilds.inc();
    ctx_.log->warn("Rebuilt the replication slot: changes in the gap are not sent; every table is backfilled after a gap marker.",
                   {{"slot", table_.slot}, {"gap_from", from}, {"gap_to", to},
                    {"backfill_id", r->rows() == 1 && !r->null(0, 0) ? r->str(0, 0) : ""}});
    return {};
  }

  // A gap recorded and not yet announced: its marker goes out before anything else.
  Status load_gap() {
    auto r = lag_db_.exec("SELECT gap_from::text, gap_to::text, extract(epoch FROM gap_at)::float8, gap_tables::text "
                          "FROM pgtrickle.relay_slots WHERE slot_name = $1 AND gap_state = 'announce'", {table_.slot});
    if (!r) return r.error();
    if (r->rows() != 1) return {};
    gap_ = SlotGap{table_.slot, r->str(0, 0), r->null(0, 1) ? "" : r->str(0, 1), r->null(0, 2) ? 0 : r->float64(0, 2)};
    gap_tables_.clear();
    if (!r->null(0, 3))
      for (const auto& oid : pg_text::parse_text_array(r->str(0, 3))) gap_tables_.push_back(static_cast<std::uint32_t>(std::stoul(oid)));
    gap_queued_ = false;
    return {};
  }

  // The gap's markers: one on each table's routes (the one table's, for a single table).
  Result<Batch> gap_batch() {
    Batch batch;
    if (!tables_) {
      expander_->expand_gap(*gap_, batch.messages);
    } else {
      for (std::uint32_t oid : gap_tables_) {
        auto expander = tables_->expander_for(*side_connection(), oid);
        if (!expander) return expander.error();
        (*expander)->expand_gap(*gap_, batch.messages);
      }
    }
    batch.token = std::make_shared<Position>(read_);
    return batch;
  }

  // Debezium's heartbeats (heartbeat_interval_ms): one at start and one each interval after,
  // between transactions.
  bool heartbeat_due() {
    const int every = config_.debezium.heartbeat_interval_ms;
    if (every <= 0 || config_.format != Format::debezium) return false;
    const auto now = Clock::now();
    if (now < next_heartbeat_) return false;
    next_heartbeat_ = now + std::chrono::milliseconds(every);
    return true;
  }
  Batch heartbeat_batch() {
    Message m;
    m.op = Op::event;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    m.dedup_key = fmt::format("{}:heartbeat:{}", config_.name, ms);
    m.routes[0] = config_.debezium.heartbeat_topic;
    m.committed_at = static_cast<double>(ms) / 1000;
    debezium::append_heartbeat(config_.debezium.topic_prefix, config_.debezium.schemas, ms, m.key, m.body);
    Batch batch;
    batch.messages.push_back(std::move(m));
    batch.token = std::make_shared<Position>(read_);  // no move: the position as it is
    return batch;
  }

  // Debezium's BEGIN or END record of the transaction being read (provide_transaction_metadata).
  // BEGIN's id holds the LSN its message was read at, END's the commit's end, as Debezium's do.
  Message transaction_record(bool end) {
    Message m;
    m.op = Op::event;
    const std::uint64_t lsn = end ? wal_->end_of(static_cast<std::uint64_t>(row_.seq)) : row_.begin_lsn;
    const std::string id = debezium::transaction_id(row_.xid, lsn);
    m.dedup_key = fmt::format("{}:transaction:{}:{}", config_.name, id, end ? "end" : "begin");
    m.routes[0] = config_.debezium.transaction_topic;
    m.committed_at = row_.committed_at;
    const auto ms = static_cast<std::int64_t>(std::floor(row_.committed_at * 1000));
    debezium::append_transaction_record(id, end ? transaction_.get() : nullptr, ms, config_.debezium.schemas, m.key, m.body);
    return m;
  }

  // A transaction resumed inside (the relay restarted after some of its chunks were delivered):
  // its events before row `next_row` are counted again, expanded and not sent, so that the orders
  // of those that follow and its END's counts are Debezium's.
  Status count_delivered_events(std::int64_t next_row) {
    const auto most = static_cast<std::size_t>(std::max(1, config_.batch_size));
    std::vector<Message> discarded;
    for (std::int64_t from = 1; from < next_row;) {
      auto rows = wal_->delta_rows(from, std::min<std::size_t>(most, static_cast<std::size_t>(next_row - from)));
      if (!rows) return rows.error();
      if (rows->empty()) break;
      std::size_t consumed = 0;
      discarded.clear();
      expand_delta_rows(row_, *rows, true, consumed, discarded);
      from = rows->back().row_num + 1;
    }
    return {};
  }

  // What the slot reads, for messages: "the WAL capture of s.t", or the pipeline's publication.
  std::string captured() const {
    return table_.schema.empty() ? fmt::format("the tables of publication {}", table_.publications.front())
                                 : fmt::format("the WAL capture of {}.{}", table_.schema, table_.name);
  }

  // Tells the slot what the sink accepted and the pipeline stored (acked() sets confirm_lsn_). Each
  // status message costs the server's walsender work (and may write the slot to disk): the position
  // goes out at most ten times a second, and an unchanged one every 10 s to keep the connection.
  Status send_confirm() {
    auto now = Clock::now();
    std::uint64_t lsn = confirm_lsn_.load();
    if (lsn > confirmed_lsn_ && now - last_status_ >= std::chrono::milliseconds(100)) {
      if (auto s = wal_->confirm(lsn); !s) return s;
      confirmed_lsn_ = lsn;
      last_status_ = now;
      return {};
    }
    if (now - last_status_ < std::chrono::seconds(10)) return {};
    last_status_ = now;
    return wal_->keep_alive();
  }

  // ---- reading (reader) -----------------------------------------------------------------

  // What the reader holds of big transactions streamed while they run, for status() (another thread).
  void publish_streamed() {
    const auto held = wal_->streamed();
    std::lock_guard lock(streamed_mu_);
    streamed_ = {static_cast<std::int64_t>(held.transactions), static_cast<std::int64_t>(held.memory_bytes),
                 static_cast<std::int64_t>(held.spilled_bytes), 0};
    streamed_began_ = held.oldest;
    streamed_trouble_ = wal_->streamed_trouble().empty()
                            ? std::string()
                            : fmt::format("reading the WAL stopped: a big transaction held until its commit cannot be spilled ({}); it goes on "
                                          "when the relay's --state-dir has room, losing nothing",
                                          wal_->streamed_trouble());
  }

  // The next transactions, each a claim-check delta of its changes: small ones that already arrived
  // share a batch (up to batch_size messages); a large one goes out in chunks, its position moving
  // on inside it.
  Result<Batch> read_batch() override {
    Batch batch;
    publish_streamed();
    if (auto s = send_confirm(); !s) return s.error();
    if (gap_ && !gap_queued_) {  // a rebuilt slot's gap is announced before any row
      gap_queued_ = true;
      return gap_batch();
    }
    if (!cc_ && heartbeat_due()) return heartbeat_batch();
    const size_t most = static_cast<size_t>(std::max(1, config_.batch_size));
    auto wait = std::chrono::milliseconds(config_.poll_interval_ms);
    if (!cc_) {
      if (auto s = backfill_turn(); !s) return s.error();
      if (chunk_due_) return backfill_batch(std::move(batch));
    }
    while (batch.messages.size() < most) {
      if (!cc_) {
        auto more = wal_->next(row_, wait);
        if (!more) return more.error();
        if (!*more) {  // idle, nothing more arrived yet, or the chunk's marker came: its rows go out next
          if (wal_->marker_seen() && backfill_ && backfill_->has_chunk()) {
            wal_->watch_marker("");
            chunk_due_ = true;
            if (batch.messages.empty() && !batch.token) return backfill_batch(std::move(batch));
          }
          break;
        }
        wait = std::chrono::milliseconds(0);  // only what already arrived joins this batch
        bool resumed = row_.seq == read_.seq && read_.next_row >= 0;
        if (!resumed && row_.seq <= read_.seq) {  // delivered and stored before the restart
          if (auto s = wal_->skip_transaction(); !s) return s.error();
          continue;
        }
        {
          std::lock_guard lock(commits_mu_);
          unacked_commits_.emplace_back(row_.seq, row_.committed_at);
        }
        handed_xids_.push_back(row_.xid);
        if (handed_xids_.size() > kHandedXids) handed_xids_.pop_front();
        cc_ = ClaimCheck{row_, resumed ? read_.next_row : 1};
        if (resumed)
          ctx_.log->info("Resuming inside a transaction delivered in part before.",
                         {{"commit", pgoutput::format_lsn(static_cast<pgoutput::Lsn>(row_.seq))},
                          {"next_change", std::to_string(read_.next_row)}});
        if (transaction_) {
          transaction_->begin();
          if (!resumed) batch.messages.push_back(transaction_record(false));
          else if (auto s = count_delivered_events(read_.next_row); !s) return s.error();
        }
      }
      const size_t room = most - std::min(most - 1, batch.messages.size());
      auto chunk = claim_check_chunk(std::move(batch), room);
      if (!chunk) return chunk.error();
      batch = std::move(*chunk);
      if (transaction_ && !cc_) batch.messages.push_back(transaction_record(true));
      // The position's id keeps the end of the last transaction delivered (see read_slot).
      read_.id = static_cast<std::int64_t>(cc_ ? row_.previous_end : wal_->end_of(static_cast<std::uint64_t>(row_.seq)));
      batch.token = std::make_shared<Position>(read_);
      if (cc_) break;  // the transaction goes on in the next batch
    }
    return batch;
  }

  // A replication connection is kept alive while the sink is busy: the server ends one that stays
  // silent for wal_sender_timeout.
  Status keep_alive() override { return send_confirm(); }
  pg::Connection* side_connection() override { return &wal_->side_connection(); }

  Result<std::vector<DeltaRow>> delta_rows(const ClaimCheck& cc, std::size_t limit) override {
    return wal_->delta_rows(cc.next_row, limit);
  }
  // Each table's rows by its own Expander.
  void expand_delta_rows(const OutboxRow& row, std::span<DeltaRow> rows, bool last_chunk, std::size_t& consumed,
                         std::vector<Message>& out) override {
    if (tables_) tables_->expand_delta_rows(row, rows, last_chunk, consumed, out);
    else expander_->expand_delta_rows(row, rows, last_chunk, consumed, out);
  }

  // ---- backfill: a chunk's read sees transactions by xid; a logical message marks its end ----------

  bool after_chunk_read(const OutboxRow& row) override { return !backfill_->saw(row.xid); }
  bool of_backfilled_table(const DeltaRow& d) override { return !tables_ || d.table == backfill_->table_oid(); }
  Result<bool> send_chunk_read() override {
    chunk_marker_ = fmt::format("{}:{}:{}:{}", table_.slot, backfill_->id(), ::getpid(), ++chunks_read_);
    return backfill_->start_read(true, std::vector<std::uint32_t>(handed_xids_.begin(), handed_xids_.end()));
  }
  Status finish_chunk_read() override {
    if (auto s = backfill_->finish_read(chunk_marker_); !s) return s;
    wal_->watch_marker(chunk_marker_);
    // Those the read saw are settled: any later read sees them too.
    std::erase_if(handed_xids_, [&](std::uint32_t x) { return backfill_->settled(x); });
    return {};
  }
  void backfill_ended() override { wal_->watch_marker(""); }
  // A WAL pipeline's table: its own Expander.
  Result<Expander*> backfill_expander() override {
    if (tables_) return tables_->expander_for(*side_connection(), backfill_->table_oid());
    return &*expander_;
  }

  // ---- acknowledged (the pipeline's loop) ------------------------------------------------------------

  void acked(const Batch& batch, const Position& p) override {
    if (tables_) count_table_changes(batch);
    if (gap_announced_ == false && !batch.messages.empty() && batch.messages.front().op == Op::gap) {
      // Delivered: no later start announces it again.
      if (auto r = db_->exec("UPDATE pgtrickle.relay_slots SET gap_state = 'announced' WHERE slot_name = $1 AND gap_state = 'announce'",
                             {table_.slot});
          r)
        gap_announced_ = true;
    }
    // Stored: the slot may now release the WAL of every transaction done (the reader tells the server).
    confirm_lsn_.store(static_cast<std::uint64_t>(p.next_row >= 0 ? p.seq - 1 : p.seq));
  }

  // Each message counts for its table.
  void count_table_changes(const Batch& batch) {
    std::lock_guard lock(tables_mu_);
    const std::string* last = nullptr;
    TableCounts* counts = nullptr;
    for (const auto& m : batch.messages) {
      if (m.source.empty()) continue;  // a heartbeat
      if (!last || *last != m.source) {  // runs of one table's messages: one lookup each
        counts = &table_status_[m.source];
        last = &m.source;
      }
      ++counts->changes;
    }
  }

  bool send_lag() override { return lag_db_.send_prepared("ob_lag", {table_.slot}).has_value(); }
  void read_lag(const pg::PgResult& r) override {
    wal_behind_bytes_ = r.null(0, 0) ? -1 : std::max<std::int64_t>(0, r.int64(0, 0));
    wal_retained_bytes_ = r.null(0, 1) ? -1 : std::max<std::int64_t>(0, r.int64(0, 1));
    wal_status_ = r.null(0, 2) ? "" : r.str(0, 2);
    safe_wal_bytes_ = r.null(0, 3) ? std::nullopt : std::optional<std::int64_t>(r.int64(0, 3));
    lag_seconds_ = oldest_unacked_age();
  }

  // The age of the oldest transaction read and not yet acknowledged; 0 when there is none.
  double oldest_unacked_age() {
    std::lock_guard lock(commits_mu_);
    auto done = [&](std::int64_t commit) { return commit < acked_.seq || (commit == acked_.seq && acked_.next_row < 0); };
    while (!unacked_commits_.empty() && done(unacked_commits_.front().first)) unacked_commits_.pop_front();
    if (unacked_commits_.empty()) return 0;
    double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    return std::max(0.0, now - unacked_commits_.front().second);
  }

  std::optional<OutboxTarget> target_;
  std::optional<Expander> expander_;  // the one table's
  std::optional<WalTables> tables_;   // a pipeline of source type "wal": its tables, each with its Expander
  WalReader::Table table_;            // what the slot streams
  std::optional<WalReader> wal_;
  std::string named_slot_;                     // the source's slot_name, when given
  std::atomic<std::uint64_t> confirm_lsn_{0};  // stored by acked(): the slot may confirm it
  Clock::time_point last_status_{};            // when the reader last told the slot its position
  std::uint64_t confirmed_lsn_ = 0;            // confirmed to the server (reader)
  std::int64_t wal_behind_bytes_ = -1, wal_retained_bytes_ = -1;
  std::string wal_status_;                      // the slot's wal_status, as of the last lag count
  std::optional<std::int64_t> safe_wal_bytes_;  // its safe_wal_size
  // A rebuilt slot's gap, to announce before anything else (the reader), and the tables announced to.
  std::optional<SlotGap> gap_;
  std::vector<std::uint32_t> gap_tables_;
  bool gap_queued_ = false;
  Clock::time_point next_heartbeat_{};  // when the next heartbeat is due
  std::shared_ptr<debezium::TransactionCounts> transaction_;  // provide_transaction_metadata: the transaction's events
  bool gap_announced_ = false;  // the pipeline's loop stored that its marker was delivered
  std::mutex streamed_mu_;
  StreamedStatus streamed_;  // the reader's held transactions, as of its last read (publish_streamed)
  std::string streamed_trouble_;  // why reading stopped: what is held cannot be spilled
  std::optional<std::chrono::steady_clock::time_point> streamed_began_;
  std::mutex commits_mu_;
  std::deque<std::pair<std::int64_t, double>> unacked_commits_;  // (commit LSN, commit time) read, for the lag

  // Backfill (reader).
  static constexpr std::size_t kHandedXids = 65536;  // transactions handed out lately, for the chunk's check
  std::deque<std::uint32_t> handed_xids_;
  std::uint64_t chunks_read_ = 0;
  std::string chunk_marker_;  // the marker of the chunk read in flight

  // A WAL pipeline's tables (the reader and the pipeline's loop): changes acknowledged, and the problem each has.
  struct TableCounts {
    std::uint64_t changes = 0;
    std::string problem;
  };
  std::mutex tables_mu_;
  std::map<std::string, TableCounts> table_status_;
};

}  // namespace

Result<std::unique_ptr<Source>> make_wal_source(const PipelineConfig& config, const BuildContext& ctx) {
  return std::unique_ptr<Source>(std::make_unique<WalSource>(config, ctx, std::nullopt));
}

std::unique_ptr<Source> make_wal_capture_source(const PipelineConfig& config, const BuildContext& ctx, OutboxTarget target) {
  return std::make_unique<WalSource>(config, ctx, std::move(target));
}

}  // namespace relay::postgres
