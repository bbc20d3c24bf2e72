// Renders the backend specs for other audiences: the SQL install's spec rows, the docs and the man page.
#pragma once

#include <string>
#include <string_view>

namespace relay {

std::string spec_as_sql();       // the block between the GENERATED CONFIG SPEC markers of the install
std::string spec_as_markdown();  // docs/config-reference.md
std::string spec_as_text(const std::string& backend);  // `pgtrickle-relay spec <backend>`
std::string spec_as_roff();      // the CONFIGURATION section of the man page (`pgtrickle-relay man`)

// Text for a roff line: backslashes and minus signs escaped, a leading '.' or '\'' made literal.
std::string roff_escape(std::string_view text);

}  // namespace relay
