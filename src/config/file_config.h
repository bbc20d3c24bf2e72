// The TOML config file of seed 000: [global] settings and [[pipeline]] entries.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/pipeline_config.h"

namespace relay {

struct GlobalSettings {
  std::optional<std::string> postgres_url;
  std::optional<std::string> metrics_addr;    // metrics_bind in seed 000
  std::optional<std::string> log_format;
  std::optional<std::string> log_level;
  std::optional<std::string> relay_group_id;  // ha_group in seed 000
  std::optional<std::string> lease_timeout;   // seconds a stalled relay keeps its pipelines
  std::optional<std::string> database_pool_size;  // connections shared by the pipelines' short statements
  std::optional<std::string> state_dir;           // where the relay keeps files of its own (spilled transactions)
  std::optional<std::string> console_addr;        // the web console's host:port (off when unset)
  std::optional<std::string> console_tls_cert, console_tls_key;  // its HTTPS certificate and key (PEM files)
  std::optional<std::string> console_session_timeout;  // seconds a console login may stay unused
  // What pipelines defined in SQL may reach (config/host_access.h); lists are comma-separated.
  std::optional<std::string> sql_secrets_env_prefix;
  std::optional<std::string> sql_secrets_dir;
  std::optional<std::string> sql_file_dir;
  std::optional<std::string> sql_allow_destinations;
  std::optional<std::string> sql_deny_destinations;
};

struct FileConfig {
  std::string path;
  GlobalSettings global;
  std::vector<PipelineConfig> pipelines;
};

// Parses and validates the file; every problem (with its line where known) goes to `problems`.
FileConfig load_config_file(const std::string& path, std::vector<std::string>& problems);
FileConfig parse_config_text(const std::string& text, const std::string& path, std::vector<std::string>& problems);

}  // namespace relay
