// The shared core reaching into one backend: the build must refuse it.
#include "core/supervisor.h"
#include "backends/nats/nats_connection.h"
