// The relay's reverse path beside Debezium's JDBC sink connector ("jdbc_sink", jdbc_sink_bench.cpp).
#pragma once

#include <functional>
#include <string>

namespace bench {

// The same Kafka topic (PGTRICKLE_BENCH_JDBC_ROWS messages, 200,000 by default, on the broker of
// PGTRICKLE_TEST_KAFKA_BROKERS) drained into PostgreSQL by the relay (an inbox) and by Debezium's
// JDBC sink in Kafka Connect (an upsert per record), one after the other; reports each figure
// through `report(key, value, unit)`. Skipped, with a line saying so, without a Kafka broker.
void jdbc_sink_costs(const std::function<void(const std::string&, double, const std::string&)>& report);

}  // namespace bench
