#include "backends/kafka/kafka_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

namespace relay::kafka {

Result<ClientPtr> make_client(rd_kafka_type_t type, const std::vector<Property>& props, const ClientOwner& owner) {
  std::unique_ptr<rd_kafka_conf_t, KafkaDeleter> conf(rd_kafka_conf_new());
  char err[512];
  for (const auto& p : props)
    if (rd_kafka_conf_set(conf.get(), p.name.c_str(), p.value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      return fatal(fmt::format("{}: {}", owner.role, refused_property(p, err)));
  rd_kafka_conf_set_opaque(conf.get(), owner.opaque);
  if (owner.wire) owner.wire(conf.get());
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
  if (!rk)
    return fatal(fmt::format("{}: cannot create the {}: {}", owner.role, type == RD_KAFKA_PRODUCER ? "producer" : "consumer", err));
  conf.release();  // rd_kafka_new took it
  return ClientPtr(rk);
}

int ms_until(Deadline d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(ms, 0, 3600000));
}

}  // namespace relay::kafka
