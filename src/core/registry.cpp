#include "core/registry.h"

#include "config/specs.h"

namespace relay {

const BackendEntry* find_backend(std::span<const BackendEntry> backends, Role role, std::string_view type) {
  const BackendSpec* spec = find_spec(role, type);
  for (const auto& b : backends)
    if (b.spec == spec) return &b;
  return nullptr;
}

}  // namespace relay
