// The SQS source's wire format and bookkeeping: ReceiveMessage / DeleteMessageBatch /
// ChangeMessageVisibilityBatch bodies byte for byte, how a received message becomes a Message, and
// which visibility leases are due for an extension.
#if RELAY_WITH_SQS
#include <gtest/gtest.h>

#include "backends/sqs/sqs_receive.h"

using namespace relay;
using namespace relay::sqs;
using namespace std::chrono_literals;

namespace {

TEST(SqsSourceReceive, TheReceiveBodyAsksForEveryAttribute) {
  std::string out;
  encode_receive("http://sqs.us-east-1.localhost:1/000000000000/q", 10, 20, 0, out);
  EXPECT_EQ(out, R"({"QueueUrl":"http://sqs.us-east-1.localhost:1/000000000000/q","MaxNumberOfMessages":10,"WaitTimeSeconds":20,)"
                 R"("AttributeNames":["All"],"MessageSystemAttributeNames":["All"],"MessageAttributeNames":["All"]})");
  out.clear();
  encode_receive("u", 5, 0, 30, out);
  EXPECT_EQ(out, R"({"QueueUrl":"u","MaxNumberOfMessages":5,"WaitTimeSeconds":0,"VisibilityTimeout":30,)"
                 R"("AttributeNames":["All"],"MessageSystemAttributeNames":["All"],"MessageAttributeNames":["All"]})");
}

TEST(SqsSourceReceive, DeleteAndVisibilityBatchesNumberTheirEntries) {
  std::vector<std::string> handles = {"h\"1", "h2"};
  std::string out;
  encode_delete_batch("u", handles, out);
  EXPECT_EQ(out, R"({"QueueUrl":"u","Entries":[{"Id":"0","ReceiptHandle":"h\"1"},{"Id":"1","ReceiptHandle":"h2"}]})");
  out.clear();
  encode_visibility_batch("u", handles, 0, out);
  EXPECT_EQ(out, R"({"QueueUrl":"u","Entries":[{"Id":"0","ReceiptHandle":"h\"1","VisibilityTimeout":0},)"
                 R"({"Id":"1","ReceiptHandle":"h2","VisibilityTimeout":0}]})");
}

TEST(SqsSourceReceive, AReceivedMessageKeepsItsBodyIdentityAndStringAttributes) {
  auto got = parse_receive_answer(R"({"Messages":[
    {"MessageId":"id-1","ReceiptHandle":"rh-1","Body":"{\"n\":1}","Attributes":{"SentTimestamp":"1700000000123"},
     "MessageAttributes":{"traceparent":{"DataType":"String","StringValue":"00-abc"},
                          "count":{"DataType":"Number","StringValue":"3"},
                          "blob":{"DataType":"Binary","BinaryValue":"AAE="}}},
    {"MessageId":"id-2","ReceiptHandle":"rh-2","Body":"not json",
     "MessageAttributes":{"dedup_key":{"DataType":"String","StringValue":"outbox_orders:7:0"}}},
    {"MessageId":"id-3","ReceiptHandle":"rh-3","Body":"{}","Attributes":{"MessageDeduplicationId":"fifo-9","MessageGroupId":"g"},
     "MessageAttributes":{"dedup_key":{"DataType":"String","StringValue":"ignored"}}}]})", "orders");
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), 3u);
  const Message& a = (*got)[0].message;
  EXPECT_EQ((*got)[0].receipt_handle, "rh-1");
  EXPECT_EQ(a.dedup_key, "id-1") << "no deduplication id nor dedup_key attribute: the MessageId";
  EXPECT_EQ(a.data, "{\"n\":1}");
  EXPECT_EQ(a.subject, "orders");
  EXPECT_EQ(a.source, "sqs:orders");
  EXPECT_EQ(a.op, Op::event);
  EXPECT_DOUBLE_EQ(a.committed_at, 1700000000.123);
  std::vector<Header> expected = {{"count", "3"}, {"traceparent", "00-abc"}};
  std::sort(expected.begin(), expected.end());
  auto headers = a.headers;
  std::sort(headers.begin(), headers.end());
  EXPECT_EQ(headers, expected) << "binary attributes have no text form";
  EXPECT_EQ((*got)[1].message.dedup_key, "outbox_orders:7:0") << "the relay's SQS sink's attribute";
  EXPECT_EQ((*got)[1].message.data, "not json");
  EXPECT_EQ((*got)[2].message.dedup_key, "fifo-9") << "FIFO: the MessageDeduplicationId";
}

TEST(SqsSourceReceive, AnEmptyAnswerHasNoMessagesAndAnUnreadableOneIsAnError) {
  auto none = parse_receive_answer("{}", "q");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(parse_receive_answer("<html>", "q"));
  EXPECT_FALSE(parse_receive_answer(R"({"Messages":[{"Body":"x"}]})", "q")) << "no MessageId / ReceiptHandle";
}

TEST(SqsSourceReceive, LeasesAreDueOnceHalfTheirVisibilityIsUsedAndRenewedThen) {
  Leases leases;
  auto t0 = Leases::Time{} + 1000s;
  std::vector<std::string> a = {"a1", "a2"}, b = {"b1"};
  leases.add(a, t0, 10s);
  leases.add(b, t0 + 4s, 10s);
  EXPECT_TRUE(leases.due(t0 + 4s, 10s).empty());
  auto due = leases.due(t0 + 5s, 10s);
  std::sort(due.begin(), due.end());
  EXPECT_EQ(due, a);
  EXPECT_TRUE(leases.due(t0 + 6s, 10s).empty()) << "renewed at t0+5s for another 10 s";
  EXPECT_EQ(leases.due(t0 + 9s, 10s), b);
  leases.remove(b);
  EXPECT_EQ(leases.size(), 2u);
  auto rest = leases.take_all();
  std::sort(rest.begin(), rest.end());
  EXPECT_EQ(rest, a);
  EXPECT_EQ(leases.size(), 0u);
}

}  // namespace
#endif
