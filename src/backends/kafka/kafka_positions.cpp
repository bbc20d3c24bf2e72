#include "backends/kafka/kafka_positions.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace relay::kafka {
namespace {

// librdkafka's logs of the short-lived consumer that reads the position go nowhere: its errors come
// back from the calls themselves.
void quiet(const rd_kafka_t*, int, const char*, const char*) noexcept {}

}  // namespace

PositionLog::PositionLog(std::vector<Property> props, std::string topic, std::string group)
    : props_(std::move(props)), topic_(std::move(topic)), group_(std::move(group)),
      group_metadata_(rd_kafka_consumer_group_metadata_new(group_.c_str())) {
  // The reading consumer takes the producer's connection and login; what only a producer has is
  // left out (librdkafka would warn about each).
  std::erase_if(props_, [](const Property& p) { return p.name == "transactional.id" || p.name == "enable.idempotence"; });
  props_.push_back({"group.id", group_, "transactional id"});
  props_.push_back({"isolation.level", "read_committed", "delivery"});
  props_.push_back({"enable.auto.commit", "false", "delivery"});
}

PositionLog::~PositionLog() { rd_kafka_consumer_group_metadata_destroy(group_metadata_); }

Status PositionLog::ensure_topic(rd_kafka_t* client, Deadline deadline) {
  if (topic_checked_) return {};
  char err[512];
  std::unique_ptr<rd_kafka_NewTopic_t, void (*)(rd_kafka_NewTopic_t*)> t(
      rd_kafka_NewTopic_new(topic_.c_str(), 1, -1, err, sizeof err), rd_kafka_NewTopic_destroy);
  if (!t) return fatal(fmt::format("key \"positions_topic\": {}", err));
  QueuePtr queue(rd_kafka_queue_new(client));
  std::unique_ptr<rd_kafka_AdminOptions_t, void (*)(rd_kafka_AdminOptions_t*)> options(
      rd_kafka_AdminOptions_new(client, RD_KAFKA_ADMIN_OP_CREATETOPICS), rd_kafka_AdminOptions_destroy);
  rd_kafka_AdminOptions_set_request_timeout(options.get(), std::max(1, ms_until(deadline)), nullptr, 0);
  rd_kafka_NewTopic_t* topics[] = {t.get()};
  rd_kafka_CreateTopics(client, topics, 1, options.get(), queue.get());
  EventPtr ev(rd_kafka_queue_poll(queue.get(), std::max(1, ms_until(deadline))));
  if (!ev) return retriable(fmt::format("could not learn whether the positions topic \"{}\" exists: no answer in time", topic_));
  rd_kafka_resp_err_t code = rd_kafka_event_error(ev.get());
  std::string reason = code ? rd_kafka_event_error_string(ev.get()) : "";
  if (!code) {
    size_t n = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &n);
    if (n == 1) {
      code = rd_kafka_topic_result_error(results[0]);
      if (code) reason = rd_kafka_topic_result_error_string(results[0]) ? rd_kafka_topic_result_error_string(results[0]) : rd_kafka_err2str(code);
    }
  }
  if (code && code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
    if (code == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED || code == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED)
      return retriable(fmt::format("the positions topic \"{}\" cannot be created by this login ({}): create it (one partition) "
                                   "or allow the login to", topic_, rd_kafka_err2name(code)));
    return retriable(fmt::format("the positions topic \"{}\" cannot be created: {}: {}", topic_, rd_kafka_err2name(code), reason));
  }
  topic_checked_ = true;
  return {};
}

Result<std::string> PositionLog::read(Deadline deadline) const {
  std::unique_ptr<rd_kafka_conf_t, KafkaDeleter> conf(rd_kafka_conf_new());
  char err[512];
  for (const auto& p : props_)
    if (rd_kafka_conf_set(conf.get(), p.name.c_str(), p.value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      return fatal(fmt::format("kafka sink: {}", refused_property(p, err)));
  rd_kafka_conf_set_log_cb(conf.get(), &quiet);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof err);
  if (!rk) return fatal(fmt::format("kafka sink: cannot create the consumer that reads the pipeline's position: {}", err));
  conf.release();
  // It never joined the group: destroyed without leaving it.
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> consumer(rk, [](rd_kafka_t* c) { rd_kafka_destroy_flags(c, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE); });
  ListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), 0);
  rd_kafka_resp_err_t code = rd_kafka_committed(rk, list.get(), std::max(1, ms_until(deadline)));
  const rd_kafka_topic_partition_t& p = list->elems[0];
  if (!code) code = p.err;
  if (code)
    return retriable(fmt::format("the pipeline's position committed in Kafka (consumer group \"{}\") cannot be read: {}: {}", group_,
                                 rd_kafka_err2name(code), rd_kafka_err2str(code)));
  if (p.offset < 0 || !p.metadata) return std::string();
  return std::string(static_cast<const char*>(p.metadata), p.metadata_size);
}

rd_kafka_error_t* PositionLog::add_to_transaction(rd_kafka_t* producer, std::string_view record, Deadline deadline) const {
  ListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_t* p = rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), 0);
  p->offset = 1;  // any valid offset: what matters is its metadata
  p->metadata = std::malloc(std::max<size_t>(1, record.size()));  // freed with the list
  std::memcpy(p->metadata, record.data(), record.size());
  p->metadata_size = record.size();
  return rd_kafka_send_offsets_to_transaction(producer, list.get(), group_metadata_, std::max(1, ms_until(deadline)));
}

}  // namespace relay::kafka
