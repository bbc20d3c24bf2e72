// What the console's pages ask of the database, each one statement on the logged-in role's own
// connection through the SQL API: whatever the role may not read or do, the database refuses, and
// the answer says so.
#pragma once

#include <string>

#include "http/server.h"
#include "pg/connection.h"

namespace relay::console {

// GET /api/pipelines: every pipeline the role may list (SQL and TOML), with its state, owner, lag and
// dead letters, in one statement however many there are.
http::Response list_pipelines(pg::Connection& db);
// GET /api/pipelines/<name>: its stored config (secrets masked as get_relay_config masks them), its
// status and backfill, its latest dead letters and its replication slots.
http::Response pipeline_detail(pg::Connection& db, const std::string& name);
// POST /api/pipelines/<name>/backfill: backfill_relay(name).
http::Response start_backfill(pg::Connection& db, const std::string& name);
// POST /api/pipelines/<name>/dead-letters/<id>/replay: the relay owning the pipeline sends it again
// (pgtrickle.replay_dead_letters()) and deletes it once the target accepted it.
http::Response replay_dead_letter(pg::Connection& db, const std::string& name, const std::string& id);
// POST /api/pipelines/<name>/dead-letters/<id>/discard.
http::Response discard_dead_letter(pg::Connection& db, const std::string& name, const std::string& id);
// GET /api/relays: the relays that own pipelines now, by group: what each owns, its version and
// since when it runs (pgtrickle.relay_pipeline_status, which their heartbeats keep fresh).
http::Response list_relays(pg::Connection& db);
// GET /api/inboxes: each inbox's pending, processed and dead-lettered counts and its oldest pending
// message's age (inbox_health of every inbox, in one statement).
http::Response list_inboxes(pg::Connection& db);
// POST /api/pipelines/<name>/enable and …/disable.
http::Response set_pipeline_enabled(pg::Connection& db, const std::string& name, bool enabled);

}  // namespace relay::console
