#include "console/console_api.h"

#include <nlohmann/json.hpp>

namespace relay::console {
namespace {

// The database's refusal as the page shows it: 403 for a right the role lacks (with what to grant),
// 400 for a request it refused, 503 when the connection is gone (log in again).
http::Response refused(const Error& e, const pg::Connection& db, const std::string& what) {
  const std::string& state = db.last_sqlstate();
  if (state == "42501")
    return http::error_response(403, what + ": " + e.message +
                                         ". Your role lacks the right; an administrator can grant it pgtrickle_relay_admin.");
  if (!db.ok()) return http::error_response(503, what + ": the database connection was lost; log in again");
  return http::error_response(400, what + ": " + e.message);
}

}  // namespace

http::Response list_pipelines(pg::Connection& db) {
  // One statement for all the pipelines (the page refreshes it every few seconds): the dead letters
  // counted by pipeline once, not per row.
  static const std::string kSql = R"(
    SELECT coalesce(json_agg(json_build_object(
             'name', p.name, 'direction', p.direction, 'enabled', p.enabled, 'origin', p.origin,
             'source', p.config #>> '{source,type}', 'sink', p.config #>> '{sink,type}',
             'format', coalesce(p.config ->> 'format', p.config #>> '{sink,format}'),
             'relay_group_id', p.relay_group_id, 'owner', p.owner, 'state', p.state,
             'lag', p.lag, 'lag_seconds', p.lag_seconds, 'last_error', p.last_error,
             'dead_letters', coalesce(d.n, 0), 'backfill', p.backfill, 'updated_at', p.updated_at)
           ORDER BY p.name), '[]')::text
    FROM pgtrickle.list_relay_configs() AS p
    LEFT JOIN (SELECT pipeline, count(*) AS n FROM pgtrickle.relay_dead_letters GROUP BY pipeline) AS d
      ON d.pipeline = p.name)";
  auto r = db.exec(kSql);
  if (!r) return refused(r.error(), db, "Listing the pipelines");
  http::Response out;
  out.body = "{\"pipelines\":" + r->str(0, 0) + "}";
  return out;
}

http::Response pipeline_detail(pg::Connection& db, const std::string& name) {
  static const std::string kSql = R"(
    SELECT json_build_object(
      'status', (SELECT row_to_json(p) FROM pgtrickle.list_relay_configs() AS p WHERE p.name = $1),
      'config', (SELECT c.config FROM pgtrickle.get_relay_config($1) AS c),
      'dead_letters', (SELECT coalesce(json_agg(d ORDER BY d.id DESC), '[]') FROM (
          SELECT id, created_at, error, dedup_key, position, attempts, replay IS NOT NULL AS replayable,
                 replay_requested_at IS NOT NULL AS replay_requested,
                 left(coalesce(payload::text, raw_payload), 400) AS preview
          FROM pgtrickle.relay_dead_letters WHERE pipeline = $1 ORDER BY id DESC LIMIT 50) AS d),
      'dead_letter_count', (SELECT count(*) FROM pgtrickle.relay_dead_letters WHERE pipeline = $1),
      'slots', (SELECT coalesce(json_agg(json_build_object(
          'slot', s.slot_name, 'active', r.active, 'wal_status', r.wal_status, 'safe_wal_size', r.safe_wal_size,
          'retained_bytes', pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.restart_lsn),
          'gap_state', s.gap_state, 'gap_from', s.gap_from, 'gap_to', s.gap_to) ORDER BY s.slot_name), '[]')
        FROM pgtrickle.relay_slots AS s LEFT JOIN pg_catalog.pg_replication_slots AS r ON r.slot_name = s.slot_name
        WHERE s.pipeline = $1))::text)";
  auto r = db.exec(kSql, {name});
  if (!r) return refused(r.error(), db, "Reading pipeline " + name);
  auto j = nlohmann::json::parse(r->str(0, 0), nullptr, false);
  if (j.is_discarded() || j["status"].is_null()) return http::error_response(404, "No pipeline " + name + " that your role may see.");
  http::Response out;
  out.body = r->str(0, 0);
  return out;
}

http::Response start_backfill(pg::Connection& db, const std::string& name) {
  auto r = db.exec("SELECT pgtrickle.backfill_relay($1)::text", {name});
  if (!r) return refused(r.error(), db, "Starting a backfill of " + name);
  http::Response out;
  out.body = nlohmann::json{{"name", name}, {"backfill", r->str(0, 0)}}.dump();
  return out;
}

http::Response replay_dead_letter(pg::Connection& db, const std::string& name, const std::string& id) {
  if (id.empty() || id.size() > 18 || id.find_first_not_of("0123456789") != std::string::npos)
    return http::error_response(400, "a dead letter's id is a whole number");
  auto r = db.exec("SELECT pgtrickle.replay_dead_letters($1, ARRAY[$2::bigint])", {name, id});
  if (!r) return refused(r.error(), db, "Sending dead letter " + id + " again");
  http::Response out;
  out.body = nlohmann::json{{"name", name}, {"replaying", id}}.dump();
  return out;
}

http::Response discard_dead_letter(pg::Connection& db, const std::string& name, const std::string& id) {
  if (id.empty() || id.size() > 18 || id.find_first_not_of("0123456789") != std::string::npos)
    return http::error_response(400, "a dead letter's id is a whole number");
  auto r = db.exec("DELETE FROM pgtrickle.relay_dead_letters WHERE pipeline = $1 AND id = $2::bigint", {name, id});
  if (!r) return refused(r.error(), db, "Discarding dead letter " + id);
  if (r->affected() == 0) return http::error_response(404, "No dead letter " + id + " of " + name + " (discarded already?)");
  http::Response out;
  out.body = nlohmann::json{{"name", name}, {"discarded", id}}.dump();
  return out;
}

http::Response list_relays(pg::Connection& db) {
  // Every live relay writes its own row (standbys too); what each owns comes from the status rows.
  auto r = db.exec(R"(
    SELECT coalesce(json_agg(r ORDER BY r.relay_group_id, r.owner), '[]')::text FROM (
      SELECT coalesce(i.relay_group_id, s.relay_group_id) AS relay_group_id, coalesce(i.worker_id, s.owner) AS owner,
             coalesce(i.version, s.version) AS version, coalesce(i.started_at, s.started_at) AS started_at,
             greatest(i.heartbeat_at, s.heartbeat_at) AS heartbeat_at, coalesce(s.pipelines, 0) AS pipelines,
             coalesce(s.not_running, 0) AS not_running, coalesce(s.owns, '{}') AS owns
      FROM (SELECT * FROM pgtrickle.relay_instances WHERE heartbeat_at > now() - interval '30 seconds') AS i
      FULL JOIN (
        SELECT min(s.relay_group_id) AS relay_group_id, s.owner, max(s.relay_version) AS version,
               min(s.relay_started_at) AS started_at, max(s.heartbeat_at) AS heartbeat_at, count(*) AS pipelines,
               count(*) FILTER (WHERE s.state IS DISTINCT FROM 'running') AS not_running,
               array_agg(s.pipeline ORDER BY s.pipeline) AS owns
        FROM pgtrickle.relay_pipeline_status AS s
        WHERE s.owner IS NOT NULL AND s.heartbeat_at > now() - interval '30 seconds'
        GROUP BY s.owner) AS s ON s.owner = i.worker_id) AS r)");
  if (!r) return refused(r.error(), db, "Listing the relays");
  http::Response out;
  out.body = "{\"relays\":" + r->str(0, 0) + "}";
  return out;
}

http::Response list_inboxes(pg::Connection& db) {
  auto r = db.exec("SELECT coalesce(json_agg(pgtrickle.inbox_health(c.inbox_name) ORDER BY c.inbox_name), '[]')::text "
                   "FROM pgtrickle.pgt_inbox_config AS c");
  if (!r) return refused(r.error(), db, "Listing the inboxes");
  http::Response out;
  out.body = "{\"inboxes\":" + r->str(0, 0) + "}";
  return out;
}

http::Response set_pipeline_enabled(pg::Connection& db, const std::string& name, bool enabled) {
  auto r = db.exec(enabled ? "SELECT pgtrickle.enable_relay($1)" : "SELECT pgtrickle.disable_relay($1)", {name});
  if (!r) return refused(r.error(), db, (enabled ? "Enabling " : "Disabling ") + name);
  http::Response out;
  out.body = nlohmann::json{{"name", name}, {"enabled", enabled}}.dump();
  return out;
}

}  // namespace relay::console
