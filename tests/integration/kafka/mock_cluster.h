// librdkafka's mock cluster hosted inside the test process: a private Kafka (real protocol, real
// sockets) whose brokers a test can take down and whose requests it can make fail, without
// touching the shared test broker other tests use.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <string>
#include <utility>

namespace relay::test {

class MockKafka {
 public:
  MockKafka();
  ~MockKafka();
  MockKafka(const MockKafka&) = delete;
  MockKafka& operator=(const MockKafka&) = delete;

  const std::string& bootstraps() const { return bootstraps_; }  // "127.0.0.1:port"
  std::pair<std::string, int> address() const;
  void create_topic(const std::string& topic, int partitions);
  void set_up(bool up);
  // The next `count` Produce requests fail with `err` (librdkafka retries the retriable ones itself).
  void fail_produce(rd_kafka_resp_err_t err, size_t count);

 private:
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstraps_;
};

}  // namespace relay::test
