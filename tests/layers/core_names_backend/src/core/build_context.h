// A forward declaration of a backend's class in the core: refused as an include of it would be.
#pragma once

namespace relay {
namespace postgres {
class OutboxListener;
}

struct BuildContext {
  postgres::OutboxListener* listener = nullptr;
};
}  // namespace relay
