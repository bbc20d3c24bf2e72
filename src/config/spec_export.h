// Renders the backend specs for other audiences: the SQL install's spec rows and the docs.
#pragma once

#include <string>

namespace relay {

std::string spec_as_sql();       // the block between the GENERATED CONFIG SPEC markers of the install
std::string spec_as_markdown();  // docs/config-reference.md
std::string spec_as_text(const std::string& backend);  // `pgtrickle-relay spec <backend>`

}  // namespace relay
