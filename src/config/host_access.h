// What a pipeline defined in SQL may reach on the relay's host and network. Whoever may call
// set_relay_* is trusted with the database, not with the relay's host: a pipeline stored in SQL
// reads only the secrets, writes only the directory and reaches only the destinations the operator
// allowed (flags, environment or the TOML [global] table). Pipelines of the operator's own TOML
// file are not limited.
#pragma once

#include <string>
#include <vector>

namespace relay {

// Link-local addresses (cloud metadata services among them) and the metadata names clouds use.
inline constexpr const char* kDefaultDenyDestinations =
    "169.254.0.0/16,fe80::/10,fd00:ec2::254,100.100.100.200,metadata.google.internal";

struct HostAccess {
  std::string secrets_env_prefix;               // ${ENV:NAME} only for NAME starting with it; empty: none
  std::string secrets_dir;                      // ${FILE:path} only under this directory; empty: none
  std::string file_dir;                         // file sinks write only under this directory; empty: none
  std::vector<std::string> allow_destinations;  // hosts, host:port or CIDRs; empty: any not denied
  std::vector<std::string> deny_destinations;   // checked first
};

}  // namespace relay
