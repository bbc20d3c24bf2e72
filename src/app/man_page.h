// The manual page pgtrickle-relay(1), printed by `pgtrickle-relay man`: rendered from the same
// CLI definition as --help and from the same backend specs as docs/config-reference.md, so the
// three cannot disagree.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace relay::app {

std::string man_page(const CLI::App& app);

}  // namespace relay::app
