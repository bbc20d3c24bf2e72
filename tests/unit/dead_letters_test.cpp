// A dead letter's message as kept to send again, read back as the same message.
#include "core/dead_letters.h"

#include <gtest/gtest.h>

namespace relay::dead_letters {
namespace {

TEST(DeadLetters, AMessageReadBackIsTheMessageSetAside) {
  Message m;
  m.dedup_key = "orders:7:0";
  m.routes[0] = "orders.insert";
  m.routes[1] = "group-\x01";
  m.key = std::string("\x00\x02key", 5);  // an Avro key: binary
  m.op = Op::delete_;
  m.body = std::string("\x00\x00\x00\x00\x05\xff", 6);
  m.data = "{\"id\":7}";
  m.headers = {{"traceparent", "00-ab"}, {"bin", std::string("\x00\xfe", 2)}, {"traceparent", "twice"}};
  m.source = "orders";
  m.subject = "in.orders";
  m.content_type = "application/avro";
  m.tombstone = true;
  auto back = replayed_message(replay_record(m), m.body);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->dedup_key, m.dedup_key);
  EXPECT_EQ(back->routes[0], m.routes[0]);
  EXPECT_EQ(back->routes[1], m.routes[1]);
  EXPECT_EQ(back->key, m.key);
  EXPECT_EQ(back->op, Op::delete_);
  EXPECT_EQ(back->body, m.body);
  EXPECT_EQ(back->data, m.data);
  EXPECT_EQ(back->headers, m.headers) << "every header, in order, repeated ones too";
  EXPECT_EQ(back->source, m.source);
  EXPECT_EQ(back->subject, m.subject);
  EXPECT_EQ(back->content_type, m.content_type);
  EXPECT_TRUE(back->tombstone);

  m.data = m.body = "{\"id\":8}";
  back = replayed_message(replay_record(m), m.body);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->data, "{\"id\":8}") << "a body that is the payload is kept once";
}

TEST(DeadLetters, AnUnreadableRecordIsNamed) {
  EXPECT_NE(replayed_message("[]", "").error().message.find("not a JSON object"), std::string::npos);
  EXPECT_NE(replayed_message(R"({"op":"upsert"})", "").error().message.find("\"op\""), std::string::npos);
  auto e = replayed_message(R"({"op":"insert","dedup_key":"!!","routes":["",""],"key":"","headers":[],"source":"","subject":""})", "");
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("dedup_key is not base64"), std::string::npos) << e.error().message;
  e = replayed_message(R"({"op":"insert","dedup_key":"","routes":[""],"key":"","headers":[]})", "");
  EXPECT_NE(e.error().message.find("routes"), std::string::npos) << e.error().message;
  // A record edited in SQL with keys of other types is named, not a crash.
  e = replayed_message(R"({"op":7})", "");
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("\"op\""), std::string::npos) << e.error().message;
  e = replayed_message(R"({"op":"insert","dedup_key":"","routes":["",""],"key":"","headers":[],"source":"","subject":"",)"
                       R"("content_type":1,"tombstone":"yes"})",
                       "");
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("\"tombstone\" is not true or false"), std::string::npos) << e.error().message;
}

TEST(DeadLetters, TextThatCouldBeReadAsAnEncodingIsEncoded) {
  EXPECT_EQ(as_text("plain"), "plain");
  EXPECT_EQ(as_text(std::string("a\0b", 3)), "base64:YQBi");
  EXPECT_EQ(as_text("base64:abc"), "base64:YmFzZTY0OmFiYw==") << "else it would read as the bytes \"abc\" encode";
}

}  // namespace
}  // namespace relay::dead_letters
