// Where a pipeline defined in SQL may send the relay on the network: its destinations are checked
// against the operator's --sql-deny-destinations (link-local and cloud metadata by default) and,
// when set, --sql-allow-destinations. Names are resolved and every address checked, so a name
// that resolves to a denied address is denied; the HTTP client checks again the address each
// connection really goes to (DNS may answer differently the second time).
#pragma once

#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "config/host_access.h"
#include "relay/config_spec.h"
#include "relay/result.h"

namespace relay {

// Why `host` (a name or an address literal) at `port` (0 when unknown), reached at the addresses
// `addresses` (its resolved addresses; empty when not resolved), is refused; "" when allowed.
std::string destination_refusal(const HostAccess& access, std::string_view host, int port,
                                const std::vector<sockaddr_storage>& addresses);
// Resolves `host` and checks it with every address it resolves to. A name that does not resolve
// now is judged by its name (the client resolves and checks it again when it connects).
std::string check_destination(const HostAccess& access, std::string_view host, int port);
// Checks every destination a backend section names in its keys marked as destinations (and the
// Kafka broker properties of its rdkafka object); a refusal names the key and the setting.
Status check_section_destinations(const HostAccess& access, const BackendSpec& spec, const nlohmann::json& section,
                                  std::string_view part);

}  // namespace relay
