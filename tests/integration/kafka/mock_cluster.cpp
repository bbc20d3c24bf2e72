#include "mock_cluster.h"

#include <gtest/gtest.h>

#include <vector>

namespace relay::test {

MockKafka::MockKafka() {
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "2", err, sizeof err);  // the mock's own chatter stays quiet
  rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk_) {
    rd_kafka_conf_destroy(conf);
    ADD_FAILURE() << "cannot create the handle of the mock cluster: " << err;
    return;
  }
  cluster_ = rd_kafka_mock_cluster_new(rk_, 1);
  if (!cluster_) {
    ADD_FAILURE() << "cannot create the mock cluster";
    return;
  }
  bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
}

MockKafka::~MockKafka() {
  if (cluster_) rd_kafka_mock_cluster_destroy(cluster_);
  if (rk_) rd_kafka_destroy(rk_);
}

std::pair<std::string, int> MockKafka::address() const {
  auto colon = bootstraps_.rfind(':');
  return {bootstraps_.substr(0, colon), std::stoi(bootstraps_.substr(colon + 1))};
}

void MockKafka::create_topic(const std::string& topic, int partitions) {
  auto err = rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1);
  EXPECT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
}

void MockKafka::set_up(bool up) {
  auto err = up ? rd_kafka_mock_broker_set_up(cluster_, 1) : rd_kafka_mock_broker_set_down(cluster_, 1);
  EXPECT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
}

void MockKafka::fail_produce(rd_kafka_resp_err_t err, size_t count) {
  std::vector<rd_kafka_resp_err_t> errors(count, err);
  rd_kafka_mock_push_request_errors_array(cluster_, 0 /* Produce */, count, errors.data());
}

}  // namespace relay::test
