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
// POST /api/pipelines/<name>/enable and …/disable.
http::Response set_pipeline_enabled(pg::Connection& db, const std::string& name, bool enabled);

}  // namespace relay::console
