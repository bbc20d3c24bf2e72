#include "pg/catalog.h"

#include <nlohmann/json.hpp>

namespace relay {
extern const std::string_view relay_install_sql;
}

namespace relay::pg {

Result<std::vector<CatalogEntry>> load_catalog(Connection& db) {
  auto r = db.exec(
      "SELECT name, 'forward', enabled, config::text FROM pgtrickle.relay_outbox_config "
      "UNION ALL SELECT name, 'reverse', enabled, config::text FROM pgtrickle.relay_inbox_config ORDER BY 1");
  if (!r) {
    if (r.error().message.find("does not exist") != std::string::npos)
      return fatal("the relay catalog is missing in this database: run `pgtrickle-relay install --postgres-url ...` first (" +
                   r.error().message + ")");
    return r.error();
  }
  std::vector<CatalogEntry> out;
  for (int i = 0; i < r->rows(); ++i) {
    CatalogEntry e;
    std::string name = r->str(i, 0);
    Direction dir = r->text(i, 1) == "forward" ? Direction::forward : Direction::reverse;
    auto json = nlohmann::json::parse(r->text(i, 3), nullptr, false);
    e.config = build_pipeline_config(name, dir, r->boolean(i, 2), json, "sql", e.problems);
    e.config.name = name;
    e.config.direction = dir;
    e.config.enabled = r->boolean(i, 2) && e.config.enabled;
    out.push_back(std::move(e));
  }
  return out;
}

std::string_view install_script() { return relay_install_sql; }

Status install_schema(Connection& db) {
  auto r = db.exec(std::string(relay_install_sql));
  if (!r) return r.error();
  return {};
}

}  // namespace relay::pg
