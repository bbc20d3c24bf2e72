// A backend reaching into another backend: the build must refuse it.
#include "backends/kafka/kafka_config.h"
#include "backends/nats/nats_connection.h"
