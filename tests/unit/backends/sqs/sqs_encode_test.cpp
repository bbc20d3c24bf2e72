// The SQS sink's SendMessageBatch body, byte for byte, and its classification of SQS errors.
#if RELAY_WITH_SQS
#include <gtest/gtest.h>

#include "backends/sqs/sqs_encode.h"

using namespace relay;
using namespace relay::sqs;
using namespace std::string_literals;

namespace {

Message msg(std::string dedup, std::string body, std::string group = "orders") {
  Message m;
  m.dedup_key = std::move(dedup);
  m.body = std::move(body);
  m.source = "orders";
  m.routes[0] = std::move(group);
  return m;
}

TEST(SqsEncode, AStandardQueueBatchCarriesBodiesAndTheDedupKeyAsAnAttribute) {
  Message a = msg("outbox_orders:1:0", R"({"id":1,"s":"a\"b"})");
  Message b = msg("outbox_orders:1:1", "{}");
  b.op = Op::delete_;
  b.headers = {{"traceparent", "00-1"}, {"AWS.bad", "x"}, {"dedup_key", "spoof"}, {"empty", ""}};
  std::vector<const Message*> batch = {&a, &b};
  std::string out;
  encode_batch("http://sqs.us-east-1.localhost:1/000000000000/q", false, batch, out);
  EXPECT_EQ(out,
            R"({"QueueUrl":"http://sqs.us-east-1.localhost:1/000000000000/q","Entries":[)"
            R"({"Id":"0","MessageBody":"{\"id\":1,\"s\":\"a\\\"b\"}","MessageAttributes":{)"
            R"("dedup_key":{"DataType":"String","StringValue":"outbox_orders:1:0"},)"
            R"("op":{"DataType":"String","StringValue":"insert"},)"
            R"("stream_table":{"DataType":"String","StringValue":"orders"}}},)"
            R"({"Id":"1","MessageBody":"{}","MessageAttributes":{)"
            R"("dedup_key":{"DataType":"String","StringValue":"outbox_orders:1:1"},)"
            R"("op":{"DataType":"String","StringValue":"delete"},)"
            R"("stream_table":{"DataType":"String","StringValue":"orders"},)"
            R"("traceparent":{"DataType":"String","StringValue":"00-1"}}}]})");
}

TEST(SqsEncode, AFifoQueueBatchCarriesGroupAndDeduplicationIds) {
  Message a = msg("outbox_orders:1:0", "{}", "customer-7");
  Message b = msg("outbox_orders:1:1", "{}", "");
  std::vector<const Message*> batch = {&a, &b};
  std::string out;
  encode_batch("q.fifo", true, batch, out);
  const std::string attrs0 = R"("MessageAttributes":{"dedup_key":{"DataType":"String","StringValue":"outbox_orders:1:0"},"op":{"DataType":"String","StringValue":"insert"},"stream_table":{"DataType":"String","StringValue":"orders"}})";
  const std::string attrs1 = R"("MessageAttributes":{"dedup_key":{"DataType":"String","StringValue":"outbox_orders:1:1"},"op":{"DataType":"String","StringValue":"insert"},"stream_table":{"DataType":"String","StringValue":"orders"}})";
  EXPECT_EQ(out, R"({"QueueUrl":"q.fifo","Entries":[{"Id":"0","MessageBody":"{}",)" + attrs0 +
                     R"(,"MessageGroupId":"customer-7","MessageDeduplicationId":"outbox_orders:1:0"},{"Id":"1","MessageBody":"{}",)" + attrs1 +
                     R"(,"MessageGroupId":"default","MessageDeduplicationId":"outbox_orders:1:1"}]})");
}

TEST(SqsEncode, IdsSqsWouldRefuseAreHashedDeterministically) {
  EXPECT_EQ(fifo_id("outbox_orders:12:3"), "outbox_orders:12:3");
  EXPECT_EQ(fifo_id(std::string(128, 'a')), std::string(128, 'a'));
  // Python: hashlib.sha256(b'has space').hexdigest()
  EXPECT_EQ(fifo_id("has space"), "sha256:47b5c36fc0b017ba576f10f988d0cbcbc78256dab5de0e4689980898e7c715e3");
  EXPECT_EQ(fifo_id("outbox_orders:" + std::string(130, '9')),
            "sha256:879644f588cffb377dec0eb09fd51c609ac054214d9090faf15090773a624650");
  EXPECT_EQ(fifo_id("é").rfind("sha256:", 0), 0u);
  EXPECT_EQ(fifo_id("").rfind("sha256:", 0), 0u);
}

TEST(SqsEncode, TheSizeCountsBodyAndAttributesAsSqsDoes) {
  Message m = msg("k:1:0", "12345");
  // body 5 + dedup_key(9+6+5) + op(2+6+6) + stream_table(12+6+6)
  EXPECT_EQ(message_size(m), 5u + 20u + 14u + 24u);
}

TEST(SqsEncode, AtMostTenAttributes) {
  Message m = msg("k", "{}");
  for (int i = 0; i < 20; ++i) m.headers.emplace_back("h" + std::to_string(i), "v");
  AttributeBuffers buf;
  std::vector<std::pair<std::string_view, std::string_view>> attrs;
  attributes(m, buf, attrs);
  EXPECT_EQ(attrs.size(), 10u);
  EXPECT_EQ(attrs[0].first, "dedup_key");
}

// A table's owner names it; its name is the stream_table attribute and the first part of the
// identity: whatever it holds, the attributes carry no control character (a consumer may make them
// headers), and the FIFO ids stay what SQS accepts.
TEST(SqsEncode, ANameWithLineBreaksIsHeaderSafeInTheAttributesAndHashedInTheFifoIds) {
  Message m = msg("orders\r\nAuthorization: x%\0:7:0"s, "{}", "orders\r\nAuthorization: x"s);
  m.source = "orders\r\nAuthorization: x"s;
  std::vector<const Message*> batch = {&m};
  std::string out;
  encode_batch("q.fifo", true, batch, out);
  EXPECT_EQ(out, R"({"QueueUrl":"q.fifo","Entries":[{"Id":"0","MessageBody":"{}","MessageAttributes":{)"
                 R"("dedup_key":{"DataType":"String","StringValue":"orders%0D%0AAuthorization: x%25%00:7:0"},)"
                 R"("op":{"DataType":"String","StringValue":"insert"},)"
                 R"("stream_table":{"DataType":"String","StringValue":"orders%0D%0AAuthorization: x"}},)"
                 R"("MessageGroupId":")" + fifo_id("orders\r\nAuthorization: x") +
                 R"(","MessageDeduplicationId":")" + fifo_id("orders\r\nAuthorization: x%\0:7:0"s) + R"("}]})");
  EXPECT_EQ(fifo_id("orders\r\nAuthorization: x").rfind("sha256:", 0), 0u);
  // Counted as sent: body 2 + dedup_key(9+6+38) + op(2+6+6) + stream_table(12+6+28).
  EXPECT_EQ(message_size(m), 2u + 53u + 14u + 46u);
}

TEST(SqsEncode, TheAnswerGivesEachEntryItsResult) {
  auto r = parse_batch_answer(R"({"Successful":[{"Id":"0","MessageId":"m"},{"Id":"2","MessageId":"n"}],)"
                              R"("Failed":[{"Id":"1","SenderFault":true,"Code":"InvalidParameterValue","Message":"too long"}]})",
                              4);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 4u);
  EXPECT_TRUE((*r)[0] && (*r)[0]->ok);
  EXPECT_TRUE((*r)[1] && !(*r)[1]->ok && (*r)[1]->sender_fault);
  EXPECT_EQ((*r)[1]->code, "InvalidParameterValue");
  EXPECT_EQ((*r)[1]->message, "too long");
  EXPECT_TRUE((*r)[2] && (*r)[2]->ok);
  EXPECT_FALSE((*r)[3]) << "an entry the answer does not mention has no result";
  EXPECT_FALSE(parse_batch_answer("<html>", 1));
  // An endpoint that writes SenderFault as text is read, not a crash: not the sender's fault.
  r = parse_batch_answer(R"({"Failed":[{"Id":"0","SenderFault":"true","Code":"X"}]})", 1);
  ASSERT_TRUE(r && (*r)[0]);
  EXPECT_FALSE((*r)[0]->ok);
  EXPECT_FALSE((*r)[0]->sender_fault);
}

TEST(SqsEncode, ErrorAnswersGiveTheirCode) {
  EXPECT_EQ(error_code(R"({"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"nope"})"), "QueueDoesNotExist");
  EXPECT_EQ(error_message(R"({"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"nope"})"), "nope");
  EXPECT_EQ(error_code(R"({"__type":"ThrottlingException"})"), "ThrottlingException");
  EXPECT_EQ(error_code("<html>"), "");
}

struct RequestRow {
  long status;
  const char* code;
  Fault fault;
};
void PrintTo(const RequestRow& r, std::ostream* os) { *os << r.status << " " << r.code; }  // names the test case
class SqsRequestErrors : public testing::TestWithParam<RequestRow> {};
TEST_P(SqsRequestErrors, AreClassified) {
  EXPECT_EQ(classify_request_error(GetParam().status, GetParam().code), GetParam().fault) << GetParam().status << " " << GetParam().code;
}
INSTANTIATE_TEST_SUITE_P(Table, SqsRequestErrors,
                         testing::Values(RequestRow{400, "ThrottlingException", Fault::transient},
                                         RequestRow{400, "RequestThrottled", Fault::transient},
                                         RequestRow{503, "ServiceUnavailable", Fault::transient},
                                         RequestRow{500, "InternalError", Fault::transient},
                                         RequestRow{400, "KmsThrottled", Fault::transient},
                                         RequestRow{502, "", Fault::transient},
                                         RequestRow{400, "", Fault::transient},
                                         RequestRow{400, "QueueDoesNotExist", Fault::setup},
                                         RequestRow{400, "AWS.SimpleQueueService.NonExistentQueue", Fault::setup},
                                         RequestRow{400, "InvalidClientTokenId", Fault::setup},
                                         RequestRow{400, "UnrecognizedClientException", Fault::setup},
                                         RequestRow{403, "SignatureDoesNotMatch", Fault::setup},
                                         RequestRow{400, "AccessDenied", Fault::setup},
                                         RequestRow{400, "ExpiredToken", Fault::setup},
                                         RequestRow{400, "KmsAccessDenied", Fault::setup},
                                         RequestRow{403, "Whatever", Fault::setup},
                                         RequestRow{400, "InvalidParameterValue", Fault::message},
                                         RequestRow{400, "BatchRequestTooLong", Fault::message},
                                         RequestRow{400, "InvalidMessageContents", Fault::message}));

TEST(SqsEncode, EntryErrorsFollowTheTableThenSenderFault) {
  EXPECT_EQ(classify_entry_error("InvalidParameterValue", true), Fault::message);
  EXPECT_EQ(classify_entry_error("InvalidMessageContents", true), Fault::message);
  EXPECT_EQ(classify_entry_error("MissingParameter", true), Fault::message);
  EXPECT_EQ(classify_entry_error("InternalError", false), Fault::transient);
  EXPECT_EQ(classify_entry_error("ServiceUnavailable", false), Fault::transient);
  EXPECT_EQ(classify_entry_error("SomethingNew", false), Fault::transient);
  EXPECT_EQ(classify_entry_error("KmsAccessDenied", true), Fault::setup);
}

}  // namespace
#endif
