#include "backends/registry.h"

#include "config/specs.h"

namespace relay {
namespace {

// The factory when the backend is compiled in (RELAY_WITH_<FLAG>), else null.
#define RELAY_WITH_ALWAYS 1
#define RELAY_IF(flag, factory) RELAY_IF_(RELAY_WITH_##flag, factory)
#define RELAY_IF_(on, factory) RELAY_IF__(on, factory)
#define RELAY_IF__(on, factory) RELAY_IF_##on(factory)
#define RELAY_IF_1(factory) factory
#define RELAY_IF_0(factory) nullptr
#define RELAY_ENTRY_source(spec, factory) {&spec, factory, nullptr},
#define RELAY_ENTRY_sink(spec, factory) {&spec, nullptr, factory},
#define RELAY_ENTRY(spec, role, flag, factory) RELAY_ENTRY_##role(spec, RELAY_IF(flag, factory))

const BackendEntry kBackends[] = {RELAY_BACKEND_LIST(RELAY_ENTRY)};

}  // namespace

std::span<const BackendEntry> compiled_backends() { return kBackends; }

}  // namespace relay
