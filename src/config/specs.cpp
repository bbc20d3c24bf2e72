#include "config/specs.h"

#include "util/strings.h"

namespace relay {
namespace {

#define RELAY_SPEC_POINTER(spec, role, flag, factory) &spec,
const BackendSpec* const kSpecs[] = {RELAY_BACKEND_LIST(RELAY_SPEC_POINTER)};
#undef RELAY_SPEC_POINTER

}  // namespace

std::span<const BackendSpec* const> backend_specs() { return kSpecs; }

const BackendSpec* find_spec(Role role, std::string_view type) {
  for (const auto* s : kSpecs) {
    if (s->role != role) continue;
    if (s->name == type || util::list_contains(s->type_aliases, type)) return s;
  }
  return nullptr;
}

bool is_forward_source(std::string_view type) { return type == "outbox" || type == "pgstream" || type == "wal"; }

}  // namespace relay
