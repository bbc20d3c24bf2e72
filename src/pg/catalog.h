// Reading the pipeline catalog (pgtrickle.relay_outbox_config / relay_inbox_config) into configs.
#pragma once

#include <string>
#include <vector>

#include "config/pipeline_config.h"
#include "pg/connection.h"

namespace relay::pg {

struct CatalogEntry {
  PipelineConfig config;
  std::vector<std::string> problems;  // validation problems; the pipeline cannot run while any
};

Result<std::vector<CatalogEntry>> load_catalog(Connection& db);

// Applies the SQL install (idempotent). The script is compiled into the binary.
Status install_schema(Connection& db);
std::string_view install_script();

}  // namespace relay::pg
