// What the binary was built from: the version (CMake's project version, RELAY_VERSION) and the git
// revision (generated at build time by cmake/BuildInfo.cmake).
#pragma once

namespace relay::app {
extern const char* const kGitRevision;  // short hash, "-modified" when the tree had changes; or "unknown"
}  // namespace relay::app
