// Avro as Kafka Connect's Avro converter writes it (src/format/avro.h): schemas and binary values;
// and read back as a consumer with the converter reads it (src/format/avro_reader.h).
#include <gtest/gtest.h>

#include "format/avro.h"
#include "format/avro_reader.h"

namespace relay::avro {
namespace {

std::string hex(const std::string& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (!out.empty()) out += ' ';
    out += digits[c >> 4];
    out += digits[c & 0xf];
  }
  return out;
}

std::string long_bytes(std::int64_t v) {
  std::string out;
  append_long(out, v);
  return hex(out);
}

TEST(Avro, LongsAreZigZagVarintsAsTheSpecificationShows) {
  EXPECT_EQ(long_bytes(0), "00");
  EXPECT_EQ(long_bytes(-1), "01");
  EXPECT_EQ(long_bytes(1), "02");
  EXPECT_EQ(long_bytes(-2), "03");
  EXPECT_EQ(long_bytes(2), "04");
  EXPECT_EQ(long_bytes(-64), "7f");
  EXPECT_EQ(long_bytes(64), "80 01");
  EXPECT_EQ(long_bytes(INT64_MAX), "fe ff ff ff ff ff ff ff ff 01");
  EXPECT_EQ(long_bytes(INT64_MIN), "ff ff ff ff ff ff ff ff ff 01");
}

TEST(Avro, TheConfluentHeaderIsAZeroByteAndTheIdBigEndian) {
  std::string out;
  append_confluent_header(out, 0x01020304);
  EXPECT_EQ(hex(out), "00 01 02 03 04");
}

// A change event's shape: the row's struct twice (before, after), optional fields, a version.
constexpr std::string_view kEnvelope =
    R"({"type":"struct","fields":[)"
    R"({"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"name"}],"optional":true,"name":"srv.public.t.Value","field":"before"},)"
    R"({"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"name"}],"optional":true,"name":"srv.public.t.Value","field":"after"},)"
    R"({"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"}],)"
    R"("optional":false,"name":"srv.public.t.Envelope","version":2})";

TEST(Avro, AnEnvelopeBecomesRecordsNamedAfterTheConnectNamesTheRowsRecordWrittenOnce) {
  Converter c;
  std::string error;
  ASSERT_TRUE(Converter::from_connect(kEnvelope, c, error)) << error;
  EXPECT_EQ(c.schema(),
            R"({"type":"record","name":"Envelope","namespace":"srv.public.t","fields":[)"
            R"({"name":"before","type":["null",{"type":"record","name":"Value","fields":[{"name":"id","type":"int"},)"
            R"({"name":"name","type":["null","string"],"default":null}],"connect.name":"srv.public.t.Value"}],"default":null},)"
            R"({"name":"after","type":["null","Value"],"default":null},{"name":"op","type":"string"},)"
            R"({"name":"ts_ms","type":["null","long"],"default":null}],"connect.version":2,"connect.name":"srv.public.t.Envelope"})");
}

TEST(Avro, AValueIsWrittenFieldByFieldWithEachUnionsBranch) {
  Converter c;
  std::string error;
  ASSERT_TRUE(Converter::from_connect(kEnvelope, c, error)) << error;
  std::string out;
  ASSERT_TRUE(c.write(R"({"before":null,"after":{"id":1,"name":"a"},"op":"c","ts_ms":5})", out, error)) << error;
  EXPECT_EQ(hex(out), "00 02 02 02 02 61 02 63 02 0a");
  // A field the payload leaves out is null; the order of the payload's fields does not matter.
  out.clear();
  ASSERT_TRUE(c.write(R"({"op":"d","before":{"name":null,"id":-1}})", out, error)) << error;
  EXPECT_EQ(hex(out), "02 01 00 00 02 64 00");
}

TEST(Avro, AValueThatDoesNotFitItsSchemaIsRefusedNamingTheField) {
  Converter c;
  std::string error;
  ASSERT_TRUE(Converter::from_connect(kEnvelope, c, error)) << error;
  std::string out;
  EXPECT_FALSE(c.write(R"({"after":{"id":"one"},"op":"c"})", out, error));
  EXPECT_NE(error.find("after.id"), std::string::npos) << error;
  EXPECT_FALSE(c.write(R"({"after":{"id":1},"op":null})", out, error));
  EXPECT_NE(error.find("\"op\" is null"), std::string::npos) << error;
  EXPECT_FALSE(c.write(R"({"after":{"id":4294967296},"op":"c"})", out, error));
  EXPECT_NE(error.find("32-bit"), std::string::npos) << error;
}

TEST(Avro, LogicalTypesAndSmallIntegersKeepWhatConnectNeedsToReadThemBack) {
  Converter c;
  std::string error;
  ASSERT_TRUE(Converter::from_connect(
                  R"({"type":"struct","fields":[)"
                  R"({"type":"int16","optional":false,"field":"s"},)"
                  R"({"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"price"},)"
                  R"({"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Date","version":1,"field":"day"},)"
                  R"({"type":"int64","optional":false,"name":"io.debezium.time.MicroTimestamp","version":1,"default":0,"field":"at"}],)"
                  R"("optional":false,"name":"srv.public.p.Value"})",
                  c, error))
      << error;
  EXPECT_EQ(c.schema(),
            R"({"type":"record","name":"Value","namespace":"srv.public.p","fields":[)"
            R"({"name":"s","type":{"type":"int","connect.type":"int16"}},)"
            R"({"name":"price","type":["null",{"type":"bytes","scale":2,"precision":10,"connect.version":1,"connect.parameters":{"scale":"2","connect.decimal.precision":"10"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}],"default":null},)"
            R"({"name":"day","type":{"type":"int","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Date","logicalType":"date"}},)"
            R"({"name":"at","type":{"type":"long","connect.version":1,"connect.default":0,"connect.name":"io.debezium.time.MicroTimestamp"},"default":0}],)"
            R"("connect.name":"srv.public.p.Value"})");
  std::string out;
  // 12.34 as a Decimal of scale 2: the unscaled 1234 (0x04d2) in base64, as JsonConverter writes it.
  ASSERT_TRUE(c.write(R"({"s":-3,"price":"BNI=","day":19000,"at":1})", out, error)) << error;
  EXPECT_EQ(hex(out), "05 02 04 04 d2 f0 a8 02 02");
}

TEST(Avro, ArraysMapsAndUnnamedStructs) {
  Converter c;
  std::string error;
  ASSERT_TRUE(Converter::from_connect(
                  R"({"type":"struct","fields":[)"
                  R"({"type":"array","items":{"type":"string","optional":true},"optional":false,"field":"tags"},)"
                  R"({"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int32","optional":false},"optional":false,"field":"counts"},)"
                  R"({"type":"map","keys":{"type":"int32","optional":false},"values":{"type":"boolean","optional":false},"optional":false,"field":"flags"}],)"
                  R"("optional":false})",
                  c, error))
      << error;
  EXPECT_EQ(c.schema(),
            R"({"type":"record","name":"ConnectDefault","namespace":"io.confluent.connect.avro","fields":[)"
            R"({"name":"tags","type":{"type":"array","items":["null","string"]}},)"
            R"({"name":"counts","type":{"type":"map","values":"int"}},)"
            R"({"name":"flags","type":{"type":"array","items":{"type":"record","name":"MapEntry","fields":[{"name":"key","type":"int"},{"name":"value","type":"boolean"}]}}}]})");
  std::string out;
  ASSERT_TRUE(c.write(R"({"tags":["a",null],"counts":{"x":1},"flags":[[7,true]]})", out, error)) << error;
  EXPECT_EQ(hex(out), "04 02 02 61 00 00 02 02 78 02 00 02 0e 01 00");
  out.clear();
  ASSERT_TRUE(c.write(R"({"tags":[],"counts":{},"flags":[]})", out, error)) << error;
  EXPECT_EQ(hex(out), "00 00 00");
}

TEST(Avro, NamesAvroWouldRefuseAreAdjustedAsDebeziumsAvroAdjustmentModeDoes) {
  Converter c;
  std::string error;
  ASSERT_TRUE(Converter::from_connect(R"({"type":"struct","fields":[{"type":"int32","optional":false,"field":"order-id"},)"
                                      R"({"type":"int32","optional":false,"field":"2nd"}],"optional":false,"name":"orders-db.public.9t.Key"})",
                                      c, error))
      << error;
  EXPECT_EQ(c.schema(), R"({"type":"record","name":"Key","namespace":"orders_db.public._t","fields":[{"name":"order_id","type":"int"},)"
                        R"({"name":"_nd","type":"int"}],"connect.name":"orders_db.public._t.Key"})");
  std::string out;
  ASSERT_TRUE(c.write(R"({"order-id":1,"2nd":2})", out, error)) << error;  // the payload keeps the column's name
  EXPECT_EQ(hex(out), "02 04");
}

TEST(Avro, ASchemaThatIsNotConnectsIsAClearError) {
  Converter c;
  std::string error;
  EXPECT_FALSE(Converter::from_connect("{", c, error));
  EXPECT_NE(error.find("not JSON"), std::string::npos) << error;
  EXPECT_FALSE(Converter::from_connect(R"({"type":"decimal"})", c, error));
  EXPECT_NE(error.find("unknown schema type \"decimal\""), std::string::npos) << error;
  EXPECT_FALSE(Converter::from_connect(R"({"type":"struct","fields":[{"type":"int32"}]})", c, error));
  EXPECT_NE(error.find("without its name"), std::string::npos) << error;
}


std::string bytes_of(const std::string& hex_text) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex_text.size(); i += 3) out += static_cast<char>(std::stoi(hex_text.substr(i, 2), nullptr, 16));
  return out;
}

// Writes `payload` with the converter's schema of `connect`, then reads it back with a Reader of
// that Avro schema (as a consumer fetching it from the registry would).
std::string round_trip(std::string_view connect, std::string_view payload) {
  Converter c;
  std::string error, bytes, json;
  EXPECT_TRUE(Converter::from_connect(connect, c, error)) << error;
  EXPECT_TRUE(c.write(payload, bytes, error)) << error;
  Reader r;
  EXPECT_TRUE(Reader::from_schema(c.schema(), r, error)) << error;
  EXPECT_TRUE(r.read(bytes, json, error)) << error;
  return json;
}

TEST(AvroReader, WhatTheConverterWroteReadsBackAsJsonConvertersPayload) {
  // Every field, in the schema's order, a union's null as null.
  EXPECT_EQ(round_trip(kEnvelope, R"({"before":null,"after":{"id":1,"name":"a"},"op":"c","ts_ms":5})"),
            R"({"before":null,"after":{"id":1,"name":"a"},"op":"c","ts_ms":5})");
  EXPECT_EQ(round_trip(kEnvelope, R"({"op":"d","before":{"name":null,"id":-1}})"),
            R"({"before":{"id":-1,"name":null},"after":null,"op":"d","ts_ms":null})");
  // Decimals and bytes in base64, dates and timestamps as numbers, small integers as numbers.
  EXPECT_EQ(round_trip(R"({"type":"struct","fields":[{"type":"int16","optional":false,"field":"s"},)"
                       R"({"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"},"field":"price"},)"
                       R"({"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Date","version":1,"field":"day"},)"
                       R"({"type":"double","optional":false,"field":"ratio"},{"type":"float","optional":false,"field":"f"},)"
                       R"({"type":"boolean","optional":false,"field":"ok"}],"optional":false,"name":"srv.public.p.Value"})",
                       R"({"s":-3,"price":"BNI=","day":19000,"ratio":0.1,"f":1.5,"ok":true})"),
            R"({"s":-3,"price":"BNI=","day":19000,"ratio":0.1,"f":1.5,"ok":true})");
  // Arrays, maps with string keys as objects, other maps as [key, value] pairs.
  EXPECT_EQ(round_trip(R"({"type":"struct","fields":[)"
                       R"({"type":"array","items":{"type":"string","optional":true},"optional":false,"field":"tags"},)"
                       R"({"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int32","optional":false},"optional":false,"field":"counts"},)"
                       R"({"type":"map","keys":{"type":"int32","optional":false},"values":{"type":"boolean","optional":false},"optional":false,"field":"flags"}],)"
                       R"("optional":false})",
                       R"({"tags":["a",null],"counts":{"x":1,"y":2},"flags":[[7,true]]})"),
            R"({"tags":["a",null],"counts":{"x":1,"y":2},"flags":[[7,true]]})");
}

TEST(AvroReader, EnumsFixedAndBlocksWithTheirSizeAsOtherWritersWriteThem) {
  Reader r;
  std::string error, out;
  ASSERT_TRUE(Reader::from_schema(R"({"type":"record","name":"R","namespace":"n","fields":[)"
                                  R"({"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},)"
                                  R"({"name":"x","type":{"type":"fixed","name":"F","size":2}},)"
                                  R"({"name":"again","type":"E"},{"name":"l","type":{"type":"array","items":"long"}}]})",
                                  r, error))
      << error;
  // A block of -2 items with its byte size (4), then the end.
  ASSERT_TRUE(r.read(bytes_of("02 ff 00 00 03 04 02 04 00"), out, error)) << error;
  EXPECT_EQ(out, R"({"e":"B","x":"/wA=","again":"A","l":[1,2]})");
}

TEST(AvroReader, BytesFromABrokerThatDoNotFitTheSchemaAreRefusedNamingWhy) {
  Reader r;
  std::string error, out;
  ASSERT_TRUE(Reader::from_schema(R"({"type":"record","name":"N","fields":[{"name":"v","type":["null","string"]},)"
                                  R"({"name":"next","type":["null","N"]}]})",
                                  r, error))
      << error;
  ASSERT_TRUE(r.read(bytes_of("02 02 61 00"), out, error)) << error;
  EXPECT_EQ(out, R"({"v":"a","next":null})");
  auto refused = [&](const std::string& hex_text) {
    out.clear();
    error.clear();
    EXPECT_FALSE(r.read(bytes_of(hex_text), out, error)) << hex_text;
    return error;
  };
  EXPECT_NE(refused("02 0a 61 00").find("ends early"), std::string::npos);
  EXPECT_NE(refused("04").find("union branch 2 of 2"), std::string::npos);
  EXPECT_NE(refused("00 00 00").find("1 bytes left"), std::string::npos);
  EXPECT_NE(refused("02 ff ff ff ff ff ff ff ff ff ff 01").find("longer than 10 bytes"), std::string::npos);
  EXPECT_NE(refused("02 01").find("negative length"), std::string::npos);
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += "00 02 ";
  EXPECT_NE(refused(deep + "00 00").find("nests deeper"), std::string::npos);
  Reader items;
  ASSERT_TRUE(Reader::from_schema(R"({"type":"array","items":"null"})", items, error)) << error;
  EXPECT_FALSE(items.read(bytes_of("fe ff ff ff ff ff ff ff ff 01"), out, error));
  EXPECT_NE(error.find("a block of"), std::string::npos) << error;
  Reader text;
  ASSERT_TRUE(Reader::from_schema(R"("string")", text, error)) << error;
  EXPECT_FALSE(text.read(bytes_of("04 c3 28"), out, error));
  EXPECT_NE(error.find("not UTF-8"), std::string::npos) << error;
  EXPECT_FALSE(Reader::from_schema(R"({"type":"record","name":"R","fields":[{"name":"a","type":"Missing"}]})", items, error));
  EXPECT_NE(error.find("\"Missing\""), std::string::npos) << error;
  EXPECT_FALSE(Reader::from_schema("{", items, error));
}

TEST(AvroReader, ASchemaFromTheRegistryWithAKeyOfAnotherTypeThanExpectedIsReadNotACrash) {
  // "connect.internal.type" as a number made the reader throw (the input is in fuzz/corpus/avro/).
  Reader r;
  std::string error, out;
  ASSERT_TRUE(Reader::from_schema(R"({"type":"record","name":"R","connect.internal.type":1,"fields":[{"name":"v","type":"int"}]})",
                                  r, error))
      << error;
  ASSERT_TRUE(r.read(bytes_of("04"), out, error)) << error;
  EXPECT_EQ(out, R"({"v":2})");
}

}  // namespace
}  // namespace relay::avro
