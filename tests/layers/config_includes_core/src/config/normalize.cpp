// The pure config library reaching into the core (which links libpq, servers, threads): refused.
#include "config/specs.h"
#include "core/registry.h"
