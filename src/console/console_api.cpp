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

http::Response set_pipeline_enabled(pg::Connection& db, const std::string& name, bool enabled) {
  auto r = db.exec(enabled ? "SELECT pgtrickle.enable_relay($1)" : "SELECT pgtrickle.disable_relay($1)", {name});
  if (!r) return refused(r.error(), db, (enabled ? "Enabling " : "Disabling ") + name);
  http::Response out;
  out.body = nlohmann::json{{"name", name}, {"enabled", enabled}}.dump();
  return out;
}

}  // namespace relay::console
